#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// One thing `vmprov check` found.
public struct Finding: Sendable, Equatable, Codable, CustomStringConvertible {
    /// How serious a finding is: `error` (VirtualBox refuses the file) or `warning`.
    public enum Severity: String, Sendable, Codable {
        /// VirtualBox refuses the file, or the machine cannot start.
        case error
        /// VirtualBox reads it, but ignores or changes the value silently.
        case warning
    }

    /// Error or warning.
    public var severity: Severity
    /// Element path with its line, e.g. `VirtualBox/Machine/Hardware/Memory (line 12)`.
    public var location: String
    /// What is wrong, and what VirtualBox does about it.
    public var message: String

    /// `severity: location: message`.
    public var description: String { "\(severity.rawValue): \(location): \(message)" }

    /// A finding at `location` (an element path with its line, `VBoxSettings.location(of:)`).
    public init(severity: Severity, location: String, message: String) {
        self.severity = severity
        self.location = location
        self.message = message
    }
}

/// VirtualBox's reader rules (Settings.cpp and the API checks it relies on) applied to a settings file.
public struct ReaderRules {
    let doc: VBoxSettings
    /// Folder of the settings file, to find media with relative locations.
    let folder: String
    var findings: [Finding] = []

    /// Every finding for `doc`, in document order (the rules VirtualBox's reader applies at load: V70 `Settings.cpp`
    /// `MachineConfigFile::read*`, `Machine::i_load*`).
    public static func check(_ doc: VBoxSettings) -> [Finding] {
        var r = ReaderRules(doc: doc, folder: FileIO.directory(of: FileIO.resolved(doc.path)))
        r.run()
        return r.findings
    }

    mutating func add(_ s: Finding.Severity, _ index: Int, _ message: String) {
        findings.append(Finding(severity: s, location: doc.location(of: index), message: message))
    }

    static let booleanAttributes: Set<String> = [
        "enabled", "useHostIOCache", "Bootable", "hotpluggable", "passthrough", "allowMultiConnection",
        "reuseSingleConnection", "cable", "localhost-reachable", "nonrotational", "discard", "tempeject",
        "currentStateModified", "nameSync", "aborted", "enabledIn", "enabledOut", "useDefault", "autoMount",
        "writable", "pass-domain", "use-proxy", "use-host-resolver", "logging", "proxy-only", "use-same-ports",
    ]

    /// Integer attributes by element (attribute → required).
    static let integerAttributes: [String: [String: Bool]] = [
        "Memory": ["RAMSize": true],
        "CPU": ["count": false, "executionCap": false],
        "Display": ["VRAMSize": false, "monitorCount": false],
        "StorageController": ["PortCount": false, "Instance": false],
        "AttachedDevice": ["port": true, "device": true],
        "Adapter": ["slot": true, "speed": false, "bootPriority": false],
        "Forwarding": ["proto": false, "hostport": false, "guestport": false],
        "Order": ["position": true],
        "RemoteDisplay": ["authTimeout": false],
    ]

    static let exactEnums: [String: (attribute: String, values: Set<String>)] = [
        "Adapter": ("type", ["Am79C970A", "Am79C973", "Am79C960", "82540EM", "82543GC", "82545EM", "virtio", "NE1000",
                             "NE2000", "WD8003", "WD8013", "3C503", "3C501"]),
        "StorageController": ("type", ["AHCI", "PIIX3", "PIIX4", "ICH6", "LsiLogic", "BusLogic", "LsiLogicSas", "USB",
                                       "NVMe", "VirtioSCSI", "I82078"]),
        "Chipset": ("type", ["PIIX3", "ICH9", "ARMv8Virtual"]),
        "Firmware": ("type", ["BIOS", "EFI", "EFI32", "EFI64", "EFIDUAL"]),
        "Order": ("device", ["None", "Floppy", "DVD", "HardDisk", "Network"]),
    ]

    static let caseInsensitiveEnums: [String: (attribute: String, values: Set<String>)] = [
        "Display": ("controller", ["vboxvga", "vmsvga", "vboxsvga", "none", "qemuramfb"]),
        "RemoteDisplay": ("authType", ["null", "guest", "external"]),
        "HardDisk": ("type", ["normal", "immutable", "writethrough", "shareable", "readonly", "multiattach"]),
    ]

    mutating func run() {
        for (i, e) in doc.elements.enumerated() {
            checkValues(i, e)
        }
        checkMachine()
        checkStorage()
        checkVersion()
        checkNetwork()
        checkRemoteDisplay()
        checkMisplacedRemoteDisplay()
        checkBootOrder()
        checkSharedFolders()
        checkUSB()
    }

    /// USB (vbox-storage-devices §4): controller types exact case (else the load fails), a name and type on each;
    /// filters without `name` or `active` are dropped silently, an empty name fails the load; EHCI alone gives no USB.
    mutating func checkUSB() {
        guard let usb = doc.child(of: doc.hardwareIndex, named: "USB") else { return }
        var types: [String] = []
        if let list = doc.child(of: usb, named: "Controllers") {
            for c in doc.children(of: list, named: "Controller") {
                let e = doc.elements[c]
                let type = e.attribute("type") ?? ""
                if !["OHCI", "EHCI", "XHCI"].contains(type) {
                    add(.error, c, "USB controller type \"\(type)\" is not OHCI, EHCI or XHCI (exact case); VirtualBox "
                        + "refuses the file")
                }
                if (e.attribute("name") ?? "").isEmpty {
                    add(.error, c, "a USB controller without a name; VirtualBox cannot set it up")
                }
                types.append(type)
            }
        }
        if types.contains("EHCI"), !types.contains("OHCI"), !types.contains("XHCI") {
            add(.warning, usb, "an EHCI controller alone gives the guest no USB; VirtualBox enables EHCI only beside "
                + "OHCI or XHCI")
        }
        if let list = doc.child(of: usb, named: "DeviceFilters") {
            for f in doc.children(of: list, named: "DeviceFilter") {
                let e = doc.elements[f]
                guard let name = e.attribute("name"), e.attribute("active") != nil else {
                    add(.warning, f, "a USB device filter without name or active is dropped silently by VirtualBox")
                    continue
                }
                if name.isEmpty { add(.error, f, "a USB device filter with an empty name; VirtualBox refuses the file") }
            }
        }
    }

    /// Shared folders (vbox-storage-devices §1): `Machine::i_loadHardware` fails on an empty name or host path and on
    /// a duplicate name (exact case); the HGCM service refuses a second name differing only in case and holds 64
    /// mappings; a relative or missing host path is set up broken at VM start (a runtime warning, not a failure).
    mutating func checkSharedFolders() {
        if let misplaced = doc.child(of: doc.machineIndex, named: "SharedFolders") {
            add(.warning, misplaced, "SharedFolders directly under Machine is ignored; VirtualBox reads "
                + "Machine/Hardware/SharedFolders")
        }
        let folders = doc.sharedFolders
        var exact = Set<String>()
        var folded = Set<String>()
        for (i, f) in folders {
            if f.name.isEmpty { add(.error, i, "a shared folder without a name; VirtualBox refuses the file") }
            if f.hostPath.isEmpty { add(.error, i, "shared folder \"\(f.name)\" has no hostPath; VirtualBox refuses the file") }
            if !exact.insert(f.name).inserted {
                add(.error, i, "a second shared folder named \"\(f.name)\"; VirtualBox refuses the file (\"already exists\")")
            } else if !folded.insert(f.name.lowercased()).inserted {
                add(.warning, i, "shared folder \"\(f.name)\" differs from another only in case; the guest gets only "
                    + "the first of them")
            }
            folded.insert(f.name.lowercased())
            guard !f.hostPath.isEmpty else { continue }
            let windows = f.hostPath.count >= 3 && f.hostPath.dropFirst().hasPrefix(":\\")
            if !f.hostPath.hasPrefix("/") && !windows && !f.hostPath.hasPrefix("\\\\") {
                add(.warning, i, "shared folder \"\(f.name)\": host path \(f.hostPath) is not absolute; VirtualBox "
                    + "starts the machine without this folder")
            } else if f.hostPath.hasPrefix("/"), access(f.hostPath, F_OK) != 0 {
                add(.warning, i, "shared folder \"\(f.name)\": host path \(f.hostPath) does not exist on this host; "
                    + "VirtualBox starts the machine with the folder broken")
            }
        }
        if folders.count > VBoxSettings.maximumSharedFolders {
            add(.warning, folders[VBoxSettings.maximumSharedFolders].index, "more than \(VBoxSettings.maximumSharedFolders) "
                + "shared folders; the shared-folder service maps only the first 64")
        }
    }

    mutating func checkValues(_ i: Int, _ e: XMLElementInfo) {
        for (name, value) in e.attributes {
            if Self.booleanAttributes.contains(name), VBoxValue.bool(value) == nil {
                add(.warning, i, "\(name)=\"\(value)\" is not a boolean VirtualBox reads (true/false, yes/no, 1/0, "
                    + "lowercase); it counts as absent and the default applies")
            }
        }
        if let ints = Self.integerAttributes[e.name] {
            for (name, required) in ints {
                guard let value = e.attribute(name) else {
                    if required { add(.error, i, "the required attribute \(name) is missing") }
                    continue
                }
                if VBoxValue.uint(value) == nil {
                    add(required ? .error : .warning, i, "\(name)=\"\(value)\" is not a number VirtualBox reads"
                        + (required ? "; the file is refused" : "; the default applies"))
                } else if value.count > 1, value.hasPrefix("0"), !value.hasPrefix("0x") {
                    add(.warning, i, "\(name)=\"\(value)\" has a leading zero, so VirtualBox reads it as octal "
                        + "(\(VBoxValue.uint(value) ?? 0)); write plain decimal")
                }
            }
        }
        if let rule = Self.exactEnums[e.name], let value = e.attribute(rule.attribute), !rule.values.contains(value) {
            // A storage controller's or adapter's type outside Hardware is someone else's element.
            add(.error, i, "\(rule.attribute)=\"\(value)\" is not a value VirtualBox knows (exact case: "
                + rule.values.sorted().joined(separator: ", ") + "); registervm fails")
        }
        if let rule = Self.caseInsensitiveEnums[e.name], let value = e.attribute(rule.attribute),
           !rule.values.contains(value.lowercased()) {
            add(.error, i, "\(rule.attribute)=\"\(value)\" is not a value VirtualBox knows; registervm fails")
        }
        for name in ["uuid", "currentSnapshot"] {
            guard let value = e.attribute(name) else { continue }
            if ["Machine", "HardDisk", "Image", "Snapshot"].contains(e.name) || name == "currentSnapshot" {
                guard let uuid = VBoxUUID(value) else {
                    add(.error, i, "\(name)=\"\(value)\" is not a UUID; VirtualBox refuses the file")
                    continue
                }
                if uuid.isZero { add(.error, i, "\(name) is the all-zero UUID, which VirtualBox refuses") }
            }
        }
        for name in ["lastStateChange", "timeStamp"] {
            guard let value = e.attribute(name) else { continue }
            let chars = Array(value.utf8)
            if chars.count <= 19 {
                add(.warning, i, "\(name)=\"\(value)\" is too short for a timestamp; VirtualBox ignores it")
            } else if chars.count != 20 || chars[19] != UInt8(ascii: "Z") || !Self.isTimestamp(chars) {
                add(.error, i, "\(name)=\"\(value)\" is not in VirtualBox's format YYYY-MM-DDTHH:MM:SSZ "
                    + "(no fractions, no offset); registervm fails with \"is not UTC date\"")
            }
        }
        if e.name == "Adapter", let mac = e.attribute("MACAddress") {
            let hex = mac.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66) }
            let second = mac.count >= 2 ? Int(String(mac[mac.index(after: mac.startIndex)]), radix: 16) : nil
            if mac.count != 12 || !hex || (second ?? 1) % 2 != 0 {
                add(.error, i, "MACAddress=\"\(mac)\" is not 12 hex digits of a unicast address; the load fails "
                    + "(\"Invalid MAC address format\")")
            }
        }
    }

    static func isTimestamp(_ c: [UInt8]) -> Bool {
        let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        return digits.allSatisfy { c[$0] >= 0x30 && c[$0] <= 0x39 } && c[4] == 0x2D && c[7] == 0x2D && c[10] == 0x54
            && c[13] == 0x3A && c[16] == 0x3A
    }

    mutating func checkMachine() {
        let m = doc.elements[doc.machineIndex]
        if m.attribute("uuid") == nil || m.attribute("name") == nil {
            add(.error, doc.machineIndex, "Machine needs both uuid and name; VirtualBox refuses the file")
        }
        if doc.child(of: doc.hardwareIndex, named: "Memory").flatMap({ doc.elements[$0].attribute("RAMSize") }) == nil {
            add(.error, doc.hardwareIndex, "Hardware/Memory@RAMSize is missing; VirtualBox refuses the file")
        }
    }

    mutating func checkStorage() {
        let underHardware = doc.child(of: doc.hardwareIndex, named: "StorageControllers")
        let underMachine = doc.child(of: doc.machineIndex, named: "StorageControllers")
        if underHardware != nil && underMachine != nil {
            add(.error, underMachine!, "StorageControllers appear under both Machine and Hardware; VirtualBox "
                + "reports duplicate controllers")
        }
        // Media in the registry, by UUID.
        var media: [String: (index: Int, location: String, kind: String)] = [:]
        if let registry = doc.child(of: doc.machineIndex, named: "MediaRegistry") {
            var stack = [registry]
            while let i = stack.popLast() {
                let e = doc.elements[i]
                if ["HardDisk", "Image"].contains(e.name), let uuid = e.attribute("uuid").flatMap(VBoxUUID.init) {
                    let kind = e.name == "HardDisk" ? "HardDisk" : (doc.elements[e.parent ?? 0].name == "FloppyImages" ? "Floppy" : "DVD")
                    media[uuid.description] = (i, e.attribute("location") ?? "", kind)
                    if e.name == "HardDisk" || kind == "DVD" { checkMediumFile(i, e, kind: kind) }
                }
                stack.append(contentsOf: e.children)
            }
        }
        guard let parent = underHardware ?? underMachine else { return }
        var names = Set<String>()
        for controller in doc.children(of: parent, named: "StorageController") {
            let c = doc.elements[controller]
            let name = c.attribute("name") ?? ""
            if !names.insert(name).inserted {
                add(.error, controller, "a second storage controller named \"\(name)\"; registervm fails")
            }
            let type = c.attribute("type") ?? ""
            let portCount = VBoxValue.uint(c.attribute("PortCount")) ?? 2
            if let allowed = StorageBusLimits(type: type)?.portCount, !allowed.contains(portCount) {
                add(.error, controller, "PortCount \(portCount) is not allowed for a \(type) controller "
                    + "(\(allowed.lowerBound == allowed.upperBound ? "exactly \(allowed.lowerBound)" : "\(allowed.lowerBound)-\(allowed.upperBound)"))")
            }
            var used = Set<String>()
            for device in doc.children(of: controller, named: "AttachedDevice") {
                let d = doc.elements[device]
                guard let port = VBoxValue.uint(d.attribute("port")), let dev = VBoxValue.uint(d.attribute("device")) else { continue }
                if !used.insert("\(port):\(dev)").inserted {
                    add(.error, device, "port \(port) device \(dev) is used twice on \"\(name)\"; registervm fails "
                        + "(\"Duplicate attachments\")")
                }
                if port >= portCount {
                    add(.error, device, "port \(port) is beyond the controller's PortCount \(portCount)")
                }
                guard let type = d.attribute("type"), ["HardDisk", "DVD", "Floppy"].contains(type) else {
                    add(.warning, device, "type=\"\(d.attribute("type") ?? "")\" is not HardDisk, DVD or Floppy; "
                        + "VirtualBox ignores this attachment")
                    continue
                }
                let image = doc.child(of: device, named: "Image").flatMap { doc.elements[$0].attribute("uuid") }
                if type == "HardDisk" {
                    guard let image, let uuid = VBoxUUID(image) else {
                        add(.error, device, "a HardDisk attachment needs an Image with a uuid; registervm fails")
                        continue
                    }
                    if media[uuid.description] == nil {
                        add(.warning, device, "disk \(uuid.braced) is not in this machine's media registry; it must be "
                            + "registered globally, or registervm fails")
                    }
                } else if let image, let uuid = VBoxUUID(image), media[uuid.description] == nil {
                    add(.warning, device, "\(type) image \(uuid.braced) is not in the media registry; VirtualBox drops "
                        + "it silently")
                }
            }
        }
    }

    mutating func checkMediumFile(_ i: Int, _ e: XMLElementInfo, kind: String) {
        guard let location = e.attribute("location"), !location.isEmpty else {
            add(.error, i, "the medium has no location; VirtualBox refuses the file")
            return
        }
        if kind == "HardDisk", e.attribute("format") == nil {
            add(.error, i, "the disk has no format; VirtualBox refuses the file")
        }
        // A drive letter or a backslash: a path from a Windows host, which a Linux host cannot open.
        if location.contains("\\") || (location.count > 1 && Array(location)[1] == ":") {
            add(.warning, i, "\(location) is a Windows path; on a Linux host VirtualBox cannot open it, so the medium "
                + "is inaccessible and the machine will not start with it. Copy the file next to the .vbox and set a "
                + "relative location")
            return
        }
        let path = location.hasPrefix("/") ? location : folder + "/" + location
        var st = stat()
        guard stat(path, &st) == 0 else {
            add(.warning, i, "\(location) does not exist; VirtualBox registers the machine but marks the medium "
                + "inaccessible, and the machine will not start with it")
            return
        }
        if kind == "HardDisk", (e.attribute("format") ?? "").uppercased() == "VDI",
           let registered = e.attribute("uuid").flatMap(VBoxUUID.init) {
            if let header = VDIHeader.creationUUID(path: path) {
                if header != registered {
                    add(.error, i, "\(location) has UUID \(header.braced) in its header, but the registry says "
                        + "\(registered.braced); the machine will not start (\"UUID … does not match\")")
                }
            } else {
                add(.error, i, "\(location) is not a VDI image (no VDI signature)")
            }
        }
    }

    mutating func checkNetwork() {
        for f in NATRules.check(NetworkModel(doc)) {
            findings.append(Finding(severity: f.severity, location: doc.location(of: f.element), message: f.message))
        }
    }

    /// Settings versions as VirtualBox 7.x's `ConfigFileBase::parseVersion` and readers treat them.
    mutating func checkVersion() {
        let v = doc.version
        if v < SettingsVersion.oldestSupported {
            add(.warning, 0, "settings version \(v.raw) is from VirtualBox 4.0 or older; VirtualBox 7.x still reads "
                + "and converts it (its first save rewrites the file as 1.19 and keeps a backup), but vmprov does not "
                + "edit it: open and save the machine once in VirtualBox")
        }
        if v > SettingsVersion.newestKnown {
            add(.warning, 0, "settings version \(v.raw) is newer than VirtualBox 7.1 knows (1.20): 7.0 and 7.1 read "
                + "it as \"Future\", ignore what they do not know, and their next save rewrites it as 1.19/1.20 with "
                + "no backup, losing those settings (1.21 is VirtualBox 7.2, 1.22 is 7.3)")
        }
        if v == SettingsVersion(major: 1, minor: 20, raw: "1.20") {
            add(.warning, 0, "settings 1.20 is VirtualBox 7.1's format: 7.1 and later read it fully, but 7.0 reads it "
                + "as \"Future\" and ignores Machine/Platform and Firmware (CPU count, chipset and firmware fall back "
                + "to defaults)")
        }
        let platform = doc.child(of: doc.machineIndex, named: "Platform")
        if v >= SettingsVersion(major: 1, minor: 20, raw: "1.20") {
            if platform == nil {
                add(.error, doc.machineIndex, "a \(v.raw) file needs Machine/Platform (architecture, CPU, chipset); "
                    + "VirtualBox 7.1 cannot load it without one. Write it as 1.19 or add the Platform element")
            }
        } else if let platform {
            add(.warning, platform, "Machine/Platform belongs to settings 1.20; a \(v.raw) reader ignores it, so its "
                + "CPU, chipset and firmware settings fall back to defaults")
        }
    }

    /// `RemoteDisplay` is read only under `Machine/Hardware` (and a snapshot's own Hardware).
    mutating func checkMisplacedRemoteDisplay() {
        for (i, e) in doc.elements.enumerated() where e.name == "RemoteDisplay" {
            guard let parent = e.parent, doc.elements[parent].name != "Hardware" else { continue }
            add(.warning, i, "RemoteDisplay under \(doc.elements[parent].name) is ignored: VirtualBox reads it only "
                + "under Machine/Hardware (also in 1.20, where it does not move to Platform)")
        }
    }

    mutating func checkRemoteDisplay() {
        guard let rd = doc.remoteDisplayElement else { return }
        if let p = doc.vrdeProperty("TCP/Ports"), let value = doc.elements[p].attribute("value"), value != "0",
           case .failure(let e) = ValueCheck.vrdePorts(value) {
            add(.error, p, "TCP/Ports \"\(value)\": \(e.message); the RDP server cannot listen")
        }
        if let props = doc.child(of: rd, named: "VRDEProperties") {
            for p in doc.children(of: props, named: "Property") where doc.elements[p].attribute("name") == nil || doc.elements[p].attribute("value") == nil {
                add(.error, p, "a VRDE property needs both name and value; VirtualBox refuses the file")
            }
        }
        if let pack = doc.elements[rd].attribute("VRDEExtPack"), !pack.isEmpty {
            add(.warning, rd, "VRDEExtPack=\"\(pack)\" names an extension pack; if no pack of that name is installed "
                + "the machine fails to start (the name changed in 7.1)")
        }
    }

    mutating func checkBootOrder() {
        guard let boot = doc.child(of: doc.hardwareIndex, named: "Boot") else { return }
        var positions = Set<Int>()
        for order in doc.children(of: boot, named: "Order") {
            guard let p = VBoxValue.uint(doc.elements[order].attribute("position")) else { continue }
            if !(1...4).contains(p) { add(.error, order, "boot position \(p) is outside 1-4; VirtualBox refuses the file") }
            if !positions.insert(p).inserted { add(.error, order, "boot position \(p) appears twice") }
        }
    }
}
