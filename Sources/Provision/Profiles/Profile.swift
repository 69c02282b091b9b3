import VBoxXML
import Yams
import Basics

/// One OS profile (`profiles/NAME.yaml`), as read and checked.
public struct Profile: Sendable, Codable, Equatable {
    /// The profile's name (its file name without `.yaml`).
    public var name: String = ""
    /// One line for `vmprov profiles`.
    public var description: String = ""
    /// VirtualBox guest OS type, then ids for hosts too old to know it.
    public var osType: String = ""
    /// Older OS type ids, tried in order when VirtualBox does not know `osType`.
    public var osTypeFallbacks: [String] = []
    /// `bios` or `efi`.
    public var firmware: FirmwareKind = .bios
    /// Ask for UEFI secure boot (enabled on the first start: `SecureBootRequest`).
    public var secureBoot = false
    /// Add a TPM 2.0.
    public var tpm = false
    /// Virtual CPUs.
    public var cpus = 1
    /// Memory in MiB.
    public var memoryMB = 1024
    /// Video memory in MiB.
    public var vramMB = 16
    /// Graphics controller: `VMSVGA`, `VBoxSVGA`, `VBoxVGA`.
    public var graphics = "VMSVGA"
    /// The disk's virtual size (`64G`, `512M`).
    public var diskSize = ""
    /// Network card model (`82540EM`, `virtio` …).
    public var nicType = "82540EM"
    /// The bus of the disk and drives: `sata`, `ide` or `nvme`.
    public var storageBus: StorageBus = .sata
    /// Where the installer comes from and how it is verified.
    public var iso = ISOSource()
    /// The VRDE server's port, list or range (`3389`, `5000-5050`).
    public var rdpPort = "3389"
    /// NAT port forwards of the first adapter.
    public var forwards: [ForwardSpec] = []
    /// The installer family `create --unattended` writes answer files for (`installer:` key); nil: the profile
    /// does not support `--unattended`.
    public var installer: InstallerFamily?
    /// Where the profile was read from (a file path, or `built-in:NAME`).
    public var source: String = ""

    /// An empty profile with every default; `ProfileLoader` fills it from YAML.
    public init() {}

    /// Where the installer comes from: one pinned URL per mirror (`urls`), or a release folder and a file-name
    /// pattern resolved through the publisher's signed checksum file (`mirrors` + `folder` + `pattern`).
    public struct ISOSource: Sendable, Codable, Equatable {
        /// Download URLs, mirrors in order; empty when the user must give `--iso PATH` (Windows) or when the
        /// profile names a release folder instead.
        public var urls: [String] = []
        /// Base URLs of mirrors that each hold the publisher's tree (release form), in order.
        public var mirrors: [String] = []
        /// The current release folder, relative to each mirror (`debian-cd/current/amd64/iso-cd/`).
        public var folder: String?
        /// Fallback folders (the publisher's archive): relative to each mirror or absolute http(s) URLs; `{release}`
        /// stands for the `--release` asked for (folders with it are tried only then).
        public var archive: [String] = []
        /// The installer's file name with one `{version}` (digits and dots), matched against the signed checksum
        /// file's entries: `debian-{version}-amd64-netinst.iso`.
        public var pattern: String?
        /// A checksum spec (see `ChecksumSpec`); nil when the publisher gives none.
        public var checksum: String?
        /// A detached signature (relative to the ISO's folder), when the publisher signs.
        public var signature: String?
        /// The signer's fingerprint, and where its public key is.
        public var keyFingerprint: String?
        /// URL of the signer's public key.
        public var keyURL: String?
        /// Where a person gets the ISO when there is no URL.
        public var note: String?

        /// No source: every list empty, every reference nil.
        public init() {}

        /// Whether the profile names a release folder and pattern rather than pinned URLs.
        public var isRelease: Bool { pattern != nil }
    }

    /// One NAT port forward of a profile (`forwards:` entries).
    public struct ForwardSpec: Sendable, Codable, Equatable {
        /// The rule's name, unique per adapter.
        public var name: String = ""
        /// `tcp` or `udp`.
        public var proto: String = "tcp"
        /// Host port, 1-65535.
        public var hostPort: Int = 0
        /// Guest port, 1-65535.
        public var guestPort: Int = 0
    }

    /// The disk size in bytes.
    public var diskBytes: UInt64? { SizeText.parse(diskSize) }

    /// Whether the profile downloads anything (pinned URLs or a release folder).
    public var isDownloadable: Bool { !iso.urls.isEmpty || iso.isRelease }

    /// Whether the publisher signs what this profile downloads.
    public var isSigned: Bool {
        iso.signature != nil || (iso.keyFingerprint != nil && iso.checksum != nil)
    }
}

/// A profile that cannot be used; names the file and the key.
public struct ProfileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure, for the exit code.
    public enum Kind: Sendable, Equatable, CaseIterable {
        /// The profile cannot be used: a bad file, key or value (the default).
        case invalid
        /// No profile of that name exists.
        case notFound
    }
    /// The profile file.
    public var file: String
    /// The key path in it (`iso.checksum`), nil for the file as a whole.
    public var key: String?
    /// What is wrong and what to do.
    public var message: String
    /// Invalid, or not found.
    public var kind: Kind = .invalid

    /// `FILE: KEY: message`.
    public var description: String {
        "\(file)" + (key.map { ": \($0)" } ?? "") + ": \(message)"
    }
}

/// One key of a profile mapping, declared once: its name, what it takes (for messages), whether it is required,
/// and how its YAML node is checked and stored. A new profile key is a property on `Profile` plus one line in
/// `ProfileLoader.fields` (or `isoFields`, `forwardFields`).
struct ProfileField<Root>: Sendable {
    let key: String
    /// What the key takes, for "is required (…)" and "must be a …" messages.
    let expects: String
    let required: Bool
    /// Decodes `node` into `root`; `path` is the key's full path (`iso.urls`, `forwards[0].host_port`).
    let apply: @Sendable (inout Root, Node, _ path: String, _ file: String) throws(ProfileError) -> Void

    /// A scalar read by `read` (which returns the value or throws naming the path) and stored at `keyPath`.
    static func value<V>(_ key: String, _ keyPath: WritableKeyPath<Root, V> & Sendable, _ expects: String,
                         required: Bool = false,
                         _ read: @escaping @Sendable (String, String, String) throws(ProfileError) -> V) -> ProfileField {
        ProfileField(key: key, expects: expects, required: required) { (root: inout Root, node: Node, path: String, file: String) throws(ProfileError) in
            guard let s = node.scalar?.string else {
                throw ProfileError(file: file, key: path, message: "must be a \(expects), not a list or mapping")
            }
            root[keyPath: keyPath] = try read(s, path, file)
        }
    }

    /// A string; `check` returns a message when the value is not acceptable.
    static func string(_ key: String, _ keyPath: WritableKeyPath<Root, String> & Sendable, _ expects: String = "string",
                       required: Bool = false, check: @escaping @Sendable (String) -> String? = { _ in nil }) -> ProfileField {
        value(key, keyPath, expects, required: required) { (s, path, file) throws(ProfileError) in
            if let problem = check(s) { throw ProfileError(file: file, key: path, message: "\"\(s)\" \(problem)") }
            return s
        }
    }

    /// An optional string; `transform` normalises it (fingerprints lose spaces).
    static func optional(_ key: String, _ keyPath: WritableKeyPath<Root, String?> & Sendable, _ expects: String = "string",
                         transform: @escaping @Sendable (String) -> String = { $0 }) -> ProfileField {
        value(key, keyPath, expects) { (s, _, _) throws(ProfileError) in transform(s) }
    }

    /// An integer in `range`.
    static func int(_ key: String, _ keyPath: WritableKeyPath<Root, Int> & Sendable, _ range: ClosedRange<Int>,
                    required: Bool = false) -> ProfileField {
        value(key, keyPath, "integer", required: required) { (s, path, file) throws(ProfileError) in
            guard let v = Int(s) else { throw ProfileError(file: file, key: path, message: "\"\(s)\" is not an integer") }
            guard range.contains(v) else {
                throw ProfileError(file: file, key: path, message: "\(v) is outside \(range.lowerBound)-\(range.upperBound)")
            }
            return v
        }
    }

    /// `true` or `false`.
    static func bool(_ key: String, _ keyPath: WritableKeyPath<Root, Bool> & Sendable) -> ProfileField {
        value(key, keyPath, "true or false") { (s, path, file) throws(ProfileError) in
            switch s {
            case "true": return true
            case "false": return false
            default: throw ProfileError(file: file, key: path, message: "\"\(s)\" is not true or false")
            }
        }
    }

    /// One of an enumeration's raw values (case-insensitive).
    static func choice<E: RawRepresentable & Sendable>(_ key: String, _ keyPath: WritableKeyPath<Root, E> & Sendable,
                                                       _ expects: String, required: Bool = false) -> ProfileField
        where E.RawValue == String {
        value(key, keyPath, expects, required: required) { (s, path, file) throws(ProfileError) in
            guard let v = E(rawValue: s.lowercased()) else {
                throw ProfileError(file: file, key: path, message: "\"\(s)\" is not \(expects)")
            }
            return v
        }
    }

    /// A list of strings; `check` returns a message for an unacceptable item.
    static func strings(_ key: String, _ keyPath: WritableKeyPath<Root, [String]> & Sendable,
                        check: @escaping @Sendable (String) -> String? = { _ in nil }) -> ProfileField {
        ProfileField(key: key, expects: "list of strings", required: false) { (root: inout Root, node: Node, path: String, file: String) throws(ProfileError) in
            guard let seq = node.sequence else { throw ProfileError(file: file, key: path, message: "must be a list") }
            var out: [String] = []
            for item in seq {
                guard let s = item.scalar?.string else {
                    throw ProfileError(file: file, key: path, message: "list items must be strings")
                }
                if let problem = check(s) { throw ProfileError(file: file, key: path, message: "\"\(s)\" \(problem)") }
                out.append(s)
            }
            root[keyPath: keyPath] = out
        }
    }

    /// A nested mapping decoded by its own fields.
    static func mapping<Sub>(_ key: String, _ keyPath: WritableKeyPath<Root, Sub> & Sendable, _ expects: String,
                             fields: [ProfileField<Sub>], required: Bool = false) -> ProfileField {
        ProfileField(key: key, expects: expects, required: required) { (root: inout Root, node: Node, path: String, file: String) throws(ProfileError) in
            guard let m = node.mapping else { throw ProfileError(file: file, key: path, message: "must be a \(expects)") }
            try ProfileLoader.decode(m, fields: fields, into: &root[keyPath: keyPath], prefix: path + ".", file: file)
        }
    }

    /// A list of mappings, each decoded by `fields` from `element`; `check` returns a message for a bad item.
    static func list<Sub>(_ key: String, _ keyPath: WritableKeyPath<Root, [Sub]> & Sendable, element: Sub,
                          fields: [ProfileField<Sub>], check: @escaping @Sendable (Sub) -> String? = { _ in nil })
        -> ProfileField where Sub: Sendable {
        ProfileField(key: key, expects: "list of mappings", required: false) { (root: inout Root, node: Node, path: String, file: String) throws(ProfileError) in
            guard let seq = node.sequence else { throw ProfileError(file: file, key: path, message: "must be a list") }
            var out: [Sub] = []
            for (n, item) in seq.enumerated() {
                let itemPath = "\(path)[\(n)]"
                guard let m = item.mapping else { throw ProfileError(file: file, key: itemPath, message: "must be a mapping") }
                var value = element
                try ProfileLoader.decode(m, fields: fields, into: &value, prefix: itemPath + ".", file: file)
                if let problem = check(value) { throw ProfileError(file: file, key: itemPath, message: problem) }
                out.append(value)
            }
            root[keyPath: keyPath] = out
        }
    }
}

/// Reads profiles strictly and declaratively: every key is declared once in a field table (`fields`, `isoFields`,
/// `forwardFields`); an unknown key, a wrong type or a bad value is an error naming the file and the key's path.
public enum ProfileLoader {
    static let nics: Set<String> = ["Am79C970A", "Am79C973", "Am79C960", "82540EM", "82543GC", "82545EM", "virtio"]
    static func httpURL(_ s: String) -> String? {
        s.hasPrefix("https://") || s.hasPrefix("http://") ? nil : "is not an http(s) URL"
    }

    static let isoFields: [ProfileField<Profile.ISOSource>] = [
        .strings("urls", \.urls, check: httpURL),
        .strings("mirrors", \.mirrors, check: httpURL),
        .optional("folder", \.folder, "folder path such as debian-cd/current/amd64/iso-cd/"),
        .strings("archive", \.archive),
        .optional("pattern", \.pattern, "file name with {version}"),
        .optional("checksum", \.checksum, "checksum spec (file:NAME, sha256:HEX or none)"),
        .optional("signature", \.signature, "signature file name"),
        .optional("key_fingerprint", \.keyFingerprint, "40-hex-digit fingerprint") { $0.uppercased().filter { $0 != " " } },
        .optional("key_url", \.keyURL, "URL"),
        .optional("note", \.note),
    ]

    static let forwardFields: [ProfileField<Profile.ForwardSpec>] = [
        .string("name", \.name), .string("proto", \.proto, "tcp or udp"),
        .int("host_port", \.hostPort, 1...65535), .int("guest_port", \.guestPort, 1...65535),
    ]

    static let fields: [ProfileField<Profile>] = [
        .string("name", \.name, required: true) { n in
            !n.isEmpty && n.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." })
                ? nil : "must be letters, digits, - _ or ."
        },
        .string("description", \.description, required: true),
        .string("os_type", \.osType, "VirtualBox guest OS type id", required: true, check: osTypeProblem),
        .strings("os_type_fallbacks", \.osTypeFallbacks, check: osTypeProblem),
        .choice("firmware", \.firmware, "bios or efi", required: true),
        .bool("secure_boot", \.secureBoot),
        .bool("tpm", \.tpm),
        .int("cpus", \.cpus, 1...64, required: true),
        .int("memory_mb", \.memoryMB, 4...2_097_152, required: true),
        .int("vram_mb", \.vramMB, 1...256),
        .string("graphics", \.graphics, "VMSVGA, VBoxSVGA or VBoxVGA") {
            ["VMSVGA", "VBoxSVGA", "VBoxVGA"].contains($0) ? nil : "is not VMSVGA, VBoxSVGA or VBoxVGA"
        },
        .string("disk_size", \.diskSize, "size such as 25G", required: true) {
            if let bytes = SizeText.parse($0), bytes >= 1 << 20, bytes % 512 == 0 { return nil }
            return "is not a disk size of at least 1 MiB (for example 25G, 512M, 2T; a bare number is MiB)"
        },
        .string("nic_type", \.nicType, "adapter type such as 82540EM") {
            nics.contains($0) ? nil : "is not one of " + nics.sorted().joined(separator: ", ")
        },
        .choice("storage_bus", \.storageBus, "sata or ide"),
        .mapping("iso", \.iso, "mapping (urls:, checksum:, … or mirrors:, folder:, pattern:, …)", fields: isoFields,
                 required: true),
        .string("rdp_port", \.rdpPort, "port or range") {
            if case .failure(let e) = ValueCheck.vrdePorts($0) { return ": \(e.message)" }
            return nil
        },
        .value("installer", \.installer, "installer family (ubuntu, debian, anaconda or windows)") { (s, path, file) throws(ProfileError) in
            guard let f = InstallerFamily(rawValue: s) else {
                throw ProfileError(file: file, key: path, message: "\"\(s)\" is not an installer family: give one of "
                    + InstallerFamily.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return f
        },
        .list("forwards", \.forwards, element: Profile.ForwardSpec(), fields: forwardFields) { f in
            !f.name.isEmpty && !f.name.contains(",") && ["tcp", "udp"].contains(f.proto) && f.hostPort > 0 && f.guestPort > 0
                ? nil : "needs name (no comma), proto tcp|udp, host_port and guest_port"
        },
    ]

    static func osTypeProblem(_ id: String) -> String? {
        GuestOSTypes.isKnown(id) ? nil : "is not a VirtualBox guest OS type id (for example Ubuntu_64, Debian12_64, "
            + "Windows11_64; see VBoxManage list ostypes)"
    }

    /// Decodes a mapping by a field table: unknown keys and missing required keys are errors naming the path.
    static func decode<Root>(_ mapping: Node.Mapping, fields: [ProfileField<Root>], into root: inout Root,
                             prefix: String, file: String) throws(ProfileError) {
        var seen = Set<String>()
        for (k, v) in mapping {
            guard let key = k.scalar?.string else {
                throw ProfileError(file: file, key: prefix.isEmpty ? nil : String(prefix.dropLast()), message: "keys must be strings")
            }
            guard let field = fields.first(where: { $0.key == key }) else {
                throw ProfileError(file: file, key: prefix + key,
                                   message: "unknown key; allowed: " + fields.map(\.key).sorted().joined(separator: ", "))
            }
            try field.apply(&root, v, prefix + key, file)
            seen.insert(key)
        }
        for field in fields where field.required && !seen.contains(field.key) {
            throw ProfileError(file: file, key: prefix + field.key, message: "is required (\(field.expects))")
        }
    }

    /// Parses and checks one profile's YAML.
    /// - Throws: `ProfileError` naming `source` and the key path of the first problem.
    public static func parse(_ text: String, source: String) throws(ProfileError) -> Profile {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ProfileError(file: source, key: nil, message: "not valid YAML: \(error)")
        }
        guard let root = node?.mapping else {
            throw ProfileError(file: source, key: nil, message: "the top level must be a mapping of keys "
                + "(name:, os_type:, …)")
        }
        var profile = Profile()
        profile.source = source
        try decode(root, fields: fields, into: &profile, prefix: "", file: source)
        try validate(profile)
        return profile
    }

    /// Rules between keys, after each key's own checks.
    static func validate(_ p: Profile) throws(ProfileError) {
        let file = p.source
        if p.secureBoot && p.firmware != .efi {
            throw ProfileError(file: file, key: "secure_boot", message: "needs firmware: efi")
        }
        let iso = p.iso
        if let fpr = iso.keyFingerprint, fpr.count != 40 || !fpr.allSatisfy(\.isHexDigit) {
            throw ProfileError(file: file, key: "iso.key_fingerprint", message: "must be a 40-hex-digit OpenPGP fingerprint")
        }
        if iso.signature != nil || iso.keyFingerprint != nil, iso.keyURL == nil {
            throw ProfileError(file: file, key: "iso.key_url", message: "is required when the profile names a signature or key")
        }
        let releaseKeys = [("iso.mirrors", !iso.mirrors.isEmpty), ("iso.folder", iso.folder != nil),
                           ("iso.archive", !iso.archive.isEmpty), ("iso.pattern", iso.pattern != nil)]
        if let pattern = iso.pattern {
            if !iso.urls.isEmpty {
                throw ProfileError(file: file, key: "iso.urls", message: "give either urls (pinned) or mirrors, folder and "
                    + "pattern (resolved through the checksum file), not both")
            }
            let parts = pattern.components("{version}")
            guard parts.count == 2, !pattern.contains("/"), !(parts[0] + parts[1]).contains("{") else {
                throw ProfileError(file: file, key: "iso.pattern", message: "\"\(pattern)\" must be a file name with "
                    + "exactly one {version} (for example debian-{version}-amd64-netinst.iso)")
            }
            guard !iso.mirrors.isEmpty else {
                throw ProfileError(file: file, key: "iso.mirrors", message: "is required with iso.pattern (base URLs of "
                    + "mirrors holding the publisher's tree)")
            }
            guard let folder = iso.folder, !folder.hasPrefix("/"), !folder.contains(".."), URLText.scheme(folder) == nil
            else {
                throw ProfileError(file: file, key: "iso.folder", message: "is required with iso.pattern: the current "
                    + "release folder relative to each mirror (no leading /, no .. and no scheme such as https:)")
            }
            guard case .file(let ref)? = iso.checksum.flatMap({ try? ChecksumSpec($0) }), !ref.contains("://"),
                  !ref.hasPrefix("/") else {
                throw ProfileError(file: file, key: "iso.checksum", message: "must be file:NAME with iso.pattern: the "
                    + "checksum file in the release folder whose (signed) entries name the installer")
            }
            // Whatever has a scheme (`file:/x`, `ftp://x`) is used as an absolute URL: only http(s) ones are allowed.
            for a in iso.archive where URLText.scheme(a) != nil && httpURL(a) != nil || a.contains("..") || a.hasPrefix("/") {
                throw ProfileError(file: file, key: "iso.archive", message: "\"\(a)\" must be a folder relative to each "
                    + "mirror (no leading /) or an http(s) URL, without ..")
            }
        } else if let (key, _) = releaseKeys.first(where: { $0.1 }) {
            throw ProfileError(file: file, key: key, message: "needs iso.pattern (the release form: mirrors, folder, "
                + "pattern, checksum)")
        }
    }
}

extension String {
    /// Splits at every occurrence of `separator` (keeping empty parts).
    func components(_ separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: separator) {
            parts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}

/// Guest OS type ids VirtualBox knows (Global.cpp, 6.1 to 7.2), for checking profiles.
public enum GuestOSTypes {
    static let known: Set<String> = [
        "Other", "Other_64", "Windows31", "Windows95", "Windows98", "WindowsMe", "WindowsNT3x", "WindowsNT4",
        "Windows2000", "WindowsXP", "WindowsXP_64", "Windows2003", "Windows2003_64", "WindowsVista", "WindowsVista_64",
        "Windows2008", "Windows2008_64", "Windows7", "Windows7_64", "Windows8", "Windows8_64", "Windows81",
        "Windows81_64", "Windows2012_64", "Windows10", "Windows10_64", "Windows2016_64", "Windows2019_64",
        "Windows11_64", "Windows2022_64", "Windows2025_64", "WindowsNT", "WindowsNT_64",
        "Linux22", "Linux24", "Linux24_64", "Linux26", "Linux26_64", "Linux", "Linux_64",
        "ArchLinux", "ArchLinux_64", "Debian", "Debian_64", "Debian8", "Debian8_64", "Debian9", "Debian9_64",
        "Debian10", "Debian10_64", "Debian11", "Debian11_64", "Debian12", "Debian12_64", "Debian13_64",
        "Fedora", "Fedora_64", "Gentoo", "Gentoo_64", "Mandriva", "Mandriva_64", "RedHat", "RedHat_64",
        "RedHat7_64", "RedHat8_64", "RedHat9_64", "RedHat10_64", "Oracle", "Oracle_64", "Oracle7_64", "Oracle8_64",
        "Oracle9_64", "Oracle10_64", "OpenSUSE", "OpenSUSE_64", "OpenSUSE_Leap_64", "OpenSUSE_Tumbleweed",
        "OpenSUSE_Tumbleweed_64", "SUSE_LE", "SUSE_LE_64", "Turbolinux", "Turbolinux_64", "Ubuntu", "Ubuntu_64",
        "Ubuntu20_LTS_64", "Ubuntu22_LTS_64", "Ubuntu22_64", "Ubuntu23_64", "Ubuntu231_64", "Ubuntu24_LTS_64",
        "Ubuntu24_64", "Ubuntu25_64", "Lubuntu", "Lubuntu_64", "Xubuntu", "Xubuntu_64", "Xandros", "Xandros_64",
        "Solaris", "Solaris_64", "OpenSolaris", "OpenSolaris_64", "Solaris11_64", "FreeBSD", "FreeBSD_64",
        "OpenBSD", "OpenBSD_64", "NetBSD", "NetBSD_64", "OS2Warp3", "OS2Warp4", "OS2Warp45", "OS2eCS", "OS2Warp4",
        "OS21x", "OS2", "MacOS", "MacOS_64", "MacOS106", "MacOS106_64", "MacOS107_64", "MacOS108_64", "MacOS109_64",
        "MacOS1010_64", "MacOS1011_64", "MacOS1012_64", "MacOS1013_64", "DOS", "Netware", "L4", "QNX", "JRockitVE",
        "VBoxBS_64",
    ]

    /// Case-insensitive, as `VirtualBox::i_findGuestOSType` looks ids up.
    public static func isKnown(_ id: String) -> Bool {
        known.contains { $0.lowercased() == id.lowercased() }
    }
}
