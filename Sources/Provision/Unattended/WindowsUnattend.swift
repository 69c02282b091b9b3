import DiskImages
import VBoxXML

/// What Windows Setup needs besides `UnattendedInput`, and what the machine has (for the Windows 11 checks).
public struct WindowsSetupOptions: Sendable, Equatable {
    /// Firmware of the machine: decides the partition layout.
    public enum Firmware: String, Sendable {
        /// Legacy BIOS: one active NTFS partition.
        case bios
        /// UEFI: EFI system partition, MSR, Windows.
        case efi
    }

    /// The account password. Windows takes no hashes: it is written obfuscated (`PlainText=false`: base64 of
    /// UTF-16LE of password + element name, the form Microsoft's examples decode to), which is not encryption.
    public var password: String
    /// A product key `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`, or nil.
    public var productKey: String?
    /// The image to install: `/IMAGE/INDEX` value (1-based).
    public var imageIndex: Int
    /// Windows time zone name (`UTC`, `W. Europe Standard Time`).
    public var timeZone: String
    /// The machine's firmware.
    public var firmware: Firmware
    /// The machine has a TPM 2.0 (`TrustedPlatformModule type="v2_0"`).
    public var hasTPM2: Bool
    /// Secure Boot is enabled with keys enrolled (a `.vbox` written without VirtualBox has none).
    public var hasSecureBoot: Bool
    /// Guest memory in MiB (Windows 11 wants 4096).
    public var memoryMB: Int
    /// Disk size in MiB (Windows 11 wants 64 GiB).
    public var diskMB: Int
    /// Virtual CPUs (Windows 11 wants 2).
    public var cpus: Int

    /// Options for a Windows install; defaults describe a machine that meets Windows 11's minimums.
    public init(password: String, productKey: String? = nil, imageIndex: Int = 1, timeZone: String = "UTC",
                firmware: Firmware = .efi, hasTPM2: Bool = true, hasSecureBoot: Bool = true,
                memoryMB: Int = 4096, diskMB: Int = 65536, cpus: Int = 2) {
        self.password = password
        self.productKey = productKey
        self.imageIndex = imageIndex
        self.timeZone = timeZone
        self.firmware = firmware
        self.hasTPM2 = hasTPM2
        self.hasSecureBoot = hasSecureBoot
        self.memoryMB = memoryMB
        self.diskMB = diskMB
        self.cpus = cpus
    }

    /// The LabConfig values Windows 11 Setup needs to skip its checks on this machine, in a fixed order: only
    /// for what the machine lacks (reference unattended.md §7.3).
    public var bypassValues: [String] {
        var v: [String] = []
        if cpus < 2 { v.append("BypassCPUCheck") }
        if memoryMB < 4096 { v.append("BypassRAMCheck") }
        if !hasSecureBoot { v.append("BypassSecureBootCheck") }
        if diskMB < 65536 { v.append("BypassStorageCheck") }
        if !hasTPM2 { v.append("BypassTPMCheck") }
        return v
    }
}

/// Windows Setup `autounattend.xml` on a second CD (Setup searches the root of removable media, Microsoft's
/// "implicit answer file search order"); the installer ISO boots untouched. Built as an element tree and
/// serialised by libxml2 (`XMLTreeWriter`). The install ends with an automatic first logon whose last command
/// is `shutdown.exe /s /t 0` (no unattend setting powers off after OOBE). Component and setting names follow
/// VirtualBox's `win_nt6_unattended.xml` and Microsoft's unattend reference.
public enum WindowsUnattend {
    /// The answer file's namespace.
    public static let namespace = "urn:schemas-microsoft-com:unattend"
    /// The `wcm` namespace of `wcm:action`.
    public static let wcmNamespace = "http://schemas.microsoft.com/WMIConfig/2002/State"
    /// The seed's volume label (Setup does not look at labels; this one says what the disc is).
    public static let seedLabel = "VMPROV_UNATTEND"
    /// The post-install script's name at the seed's root.
    public static let postInstallName = "vmprov-post-install.cmd"

    /// The answer files for `input` and `options`.
    /// - Throws: `UnattendedError.invalid` for a bad input (host names longer than 15 characters, a malformed
    ///   product key …).
    public static func answerFiles(_ input: UnattendedInput, _ options: WindowsSetupOptions) throws(UnattendedError) -> AnswerFiles {
        let xml = try render(input, options)
        var files: [SeedImage.File] = [.init(path: "autounattend.xml", bytes: xml)]
        if let script = input.postInstall { files.append(.init(path: postInstallName, bytes: script)) }
        return AnswerFiles(family: .windows, files: files, placement: .seed(label: seedLabel), kernelParameters: [],
                           removedKernelParameters: [])
    }

    /// The XML bytes.
    /// - Throws: `UnattendedError.invalid`.
    public static func render(_ input: UnattendedInput, _ options: WindowsSetupOptions) throws(UnattendedError) -> [UInt8] {
        try input.validate()
        try check(input, options)
        let lang = input.localeUTF8.split(separator: ".")[0].replacingUnderscore()
        func component(_ name: String, _ children: [XMLTreeElement]) -> XMLTreeElement {
            XMLTreeElement("component", attributes: [
                .init("name", name), .init("processorArchitecture", "amd64"), .init("publicKeyToken", "31bf3856ad364e35"),
                .init("language", "neutral"), .init("versionScope", "nonSxS"),
            ], children: children)
        }
        func el(_ name: String, _ text: String) -> XMLTreeElement { XMLTreeElement(name, text: text) }
        func el(_ name: String, add: Bool = false, _ children: [XMLTreeElement]) -> XMLTreeElement {
            XMLTreeElement(name, attributes: add ? [.init("wcm:action", "add")] : [], children: children)
        }
        func password(_ element: String) -> XMLTreeElement {
            el(element, [el("Value", obfuscate(options.password, element: element)), el("PlainText", "false")])
        }
        let international = [el("InputLocale", lang), el("SystemLocale", lang), el("UILanguage", lang), el("UserLocale", lang)]

        let efi = options.firmware == .efi
        let create: [XMLTreeElement] = efi ? [
            el("CreatePartition", add: true, [el("Order", "1"), el("Type", "EFI"), el("Size", "100")]),
            el("CreatePartition", add: true, [el("Order", "2"), el("Type", "MSR"), el("Size", "16")]),
            el("CreatePartition", add: true, [el("Order", "3"), el("Type", "Primary"), el("Extend", "true")]),
        ] : [
            el("CreatePartition", add: true, [el("Order", "1"), el("Type", "Primary"), el("Extend", "true")]),
        ]
        let modify: [XMLTreeElement] = efi ? [
            el("ModifyPartition", add: true, [el("Order", "1"), el("PartitionID", "1"), el("Format", "FAT32"), el("Label", "System")]),
            el("ModifyPartition", add: true, [el("Order", "2"), el("PartitionID", "3"), el("Format", "NTFS"), el("Label", "Windows"), el("Letter", "C")]),
        ] : [
            el("ModifyPartition", add: true, [el("Order", "1"), el("PartitionID", "1"), el("Format", "NTFS"), el("Label", "Windows"),
                                              el("Letter", "C"), el("Active", "true")]),
        ]
        var setup: [XMLTreeElement] = [
            el("DiskConfiguration", [el("Disk", add: true, [el("DiskID", "0"), el("WillWipeDisk", "true"),
                                                           el("CreatePartitions", create), el("ModifyPartitions", modify)])]),
            el("ImageInstall", [el("OSImage", [
                el("InstallFrom", [el("MetaData", add: true, [el("Key", "/IMAGE/INDEX"), el("Value", String(options.imageIndex))])]),
                el("InstallTo", [el("DiskID", "0"), el("PartitionID", efi ? "3" : "1")]),
                el("WillShowUI", "OnError"),
            ])]),
        ]
        var userData: [XMLTreeElement] = [el("AcceptEula", "true")]
        if let key = options.productKey { userData.append(el("ProductKey", [el("Key", key), el("WillShowUI", "OnError")])) }
        setup.append(el("UserData", userData))
        let bypass = options.bypassValues
        if !bypass.isEmpty {
            setup.append(el("RunSynchronous", bypass.enumerated().map { i, value in
                el("RunSynchronousCommand", add: true, [
                    el("Order", String(i + 1)),
                    el("Path", "reg.exe ADD HKLM\\SYSTEM\\Setup\\LabConfig /v \(value) /t REG_DWORD /d 1 /f"),
                ])
            }))
        }
        var logon: [XMLTreeElement] = []
        if input.postInstall != nil {
            logon.append(el("SynchronousCommand", add: true, [
                el("Order", "1"),
                el("CommandLine", "cmd.exe /c for %d in (D E F G H I J K L M N O P Q R S T U V W X Y Z) do "
                   + "if exist %d:\\\(postInstallName) call %d:\\\(postInstallName)"),
                el("Description", "vmprov post-install script"),
            ]))
        }
        logon.append(el("SynchronousCommand", add: true, [
            el("Order", String(logon.count + 1)),
            el("CommandLine", "shutdown.exe /s /t 0"),
            el("Description", "vmprov: power off at the end of the install"),
        ]))
        let root = XMLTreeElement("unattend", children: [
            XMLTreeElement("settings", attributes: [.init("pass", "windowsPE")], children: [
                component("Microsoft-Windows-International-Core-WinPE", [el("SetupUILanguage", [el("UILanguage", lang)])] + international),
                component("Microsoft-Windows-Setup", setup),
            ]),
            XMLTreeElement("settings", attributes: [.init("pass", "specialize")], children: [
                component("Microsoft-Windows-Shell-Setup", [el("ComputerName", input.hostname), el("TimeZone", options.timeZone)]),
            ]),
            XMLTreeElement("settings", attributes: [.init("pass", "oobeSystem")], children: [
                component("Microsoft-Windows-International-Core", international),
                component("Microsoft-Windows-Shell-Setup", [
                    el("UserAccounts", [el("LocalAccounts", [el("LocalAccount", add: true, [
                        password("Password"), el("DisplayName", input.fullName), el("Group", "Administrators"),
                        el("Name", input.user),
                    ])])]),
                    el("AutoLogon", [password("Password"), el("Enabled", "true"), el("LogonCount", "1"), el("Username", input.user)]),
                    el("OOBE", [el("HideEULAPage", "true"), el("HideOEMRegistrationScreen", "true"),
                                el("HideOnlineAccountScreens", "true"), el("HideWirelessSetupInOOBE", "true"),
                                el("ProtectYourPC", "3")]),
                    el("FirstLogonCommands", logon),
                    el("TimeZone", options.timeZone),
                ]),
            ]),
        ])
        do {
            return try XMLTreeWriter.serialize(root, namespaces: [.init(prefix: nil, uri: namespace), .init(prefix: "wcm", uri: wcmNamespace)],
                                               context: "autounattend.xml")
        } catch {
            throw .invalid(field: "autounattend.xml", message: error.description)
        }
    }

    /// `PlainText=false` form: base64 of the UTF-16LE bytes of password + element name.
    static func obfuscate(_ password: String, element: String) -> String {
        var bytes: [UInt8] = []
        for unit in (password + element).utf16 { bytes += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        return Base64.encode(bytes)
    }

    static func check(_ input: UnattendedInput, _ options: WindowsSetupOptions) throws(UnattendedError) {
        guard input.hostname.utf8.count <= 15 else {
            throw .invalid(field: "hostname \"\(input.hostname)\"", message: "a Windows computer name has at most 15 characters")
        }
        guard input.user.utf8.count <= 20 else {
            throw .invalid(field: "user \"\(input.user)\"", message: "a Windows user name has at most 20 characters")
        }
        guard !options.password.isEmpty, !options.password.unicodeScalars.contains(where: isControl),
              options.password.utf16.count <= 127 else {
            throw .invalid(field: "password", message: "must be 1 to 127 characters without control characters")
        }
        if let key = options.productKey {
            let groups = key.split(separator: "-", omittingEmptySubsequences: false)
            guard groups.count == 5, groups.allSatisfy({ $0.utf8.count == 5 && $0.utf8.allSatisfy { isUpper($0) || isDigit($0) } }) else {
                throw .invalid(field: "product key", message: "give it as XXXXX-XXXXX-XXXXX-XXXXX-XXXXX (letters and digits)")
            }
        }
        guard (1...64).contains(options.imageIndex) else {
            throw .invalid(field: "image index \(options.imageIndex)", message: "give the 1-based index of the edition in install.wim")
        }
        guard !options.timeZone.isEmpty, options.timeZone.utf8.count <= 64,
              options.timeZone.utf8.allSatisfy({ isLower($0) || isUpper($0) || isDigit($0) || Array(" .()+-".utf8).contains($0) }) else {
            throw .invalid(field: "Windows time zone \"\(options.timeZone)\"", message: "give a Windows time zone name such as "
                + "UTC or W. Europe Standard Time")
        }
    }
}

extension Substring {
    /// `en_US` → `en-US`.
    func replacingUnderscore() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}
