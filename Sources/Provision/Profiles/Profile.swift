import VBoxXML
import Yams
import Basics

/// One OS profile (`profiles/NAME.yaml`), as read and checked.
public struct Profile: Sendable, Codable, Equatable {
    public var name: String
    public var description: String
    /// VirtualBox guest OS type, then ids for hosts too old to know it.
    public var osType: String
    public var osTypeFallbacks: [String]
    public var firmware: FirmwareKind
    public var secureBoot: Bool
    public var tpm: Bool
    public var cpus: Int
    public var memoryMB: Int
    public var vramMB: Int
    public var graphics: String
    public var diskSize: String
    public var nicType: String
    public var storageBus: StorageBus
    public var iso: ISOSource
    public var rdpPort: String
    public var forwards: [ForwardSpec]
    /// Where the profile was read from.
    public var source: String

    public struct ISOSource: Sendable, Codable, Equatable {
        /// Download URLs, mirrors in order; empty when the user must give `--iso PATH` (Windows).
        public var urls: [String]
        /// A checksum spec (see `ChecksumSpec`); nil when the publisher gives none.
        public var checksum: String?
        /// A detached signature (relative to the ISO's folder), when the publisher signs.
        public var signature: String?
        /// The signer's fingerprint, and where its public key is.
        public var keyFingerprint: String?
        public var keyURL: String?
        /// Where a person gets the ISO when there is no URL.
        public var note: String?
    }

    public struct ForwardSpec: Sendable, Codable, Equatable {
        public var name: String
        public var proto: String
        public var hostPort: Int
        public var guestPort: Int
    }

    /// The disk size in bytes.
    public var diskBytes: UInt64? { SizeText.parse(diskSize) }

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
    public var file: String
    public var key: String?
    public var message: String
    public var kind: Kind = .invalid

    public var description: String {
        "\(file)" + (key.map { ": \($0)" } ?? "") + ": \(message)"
    }
}

/// Reads profiles strictly: an unknown key, a wrong type or a bad value is an error naming file and key.
public enum ProfileLoader {
    static let topKeys: [String: String] = [
        "name": "string", "description": "string", "os_type": "string", "os_type_fallbacks": "list of strings",
        "firmware": "bios or efi", "secure_boot": "true or false", "tpm": "true or false", "cpus": "integer",
        "memory_mb": "integer", "vram_mb": "integer", "graphics": "VMSVGA, VBoxSVGA or VBoxVGA",
        "disk_size": "size such as 25G", "nic_type": "adapter type such as 82540EM", "storage_bus": "sata or ide",
        "iso": "mapping", "rdp_port": "port or range", "forwards": "list of mappings",
    ]
    static let isoKeys: Set<String> = ["urls", "checksum", "signature", "key_fingerprint", "key_url", "note"]
    static let forwardKeys: Set<String> = ["name", "proto", "host_port", "guest_port"]
    static let required: [String] = ["name", "description", "os_type", "firmware", "cpus", "memory_mb", "disk_size", "iso"]

    /// Parses and checks one profile's YAML.
    public static func parse(_ text: String, source: String) throws(ProfileError) -> Profile {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ProfileError(file: source, key: nil, message: "not valid YAML: \(error)")
        }
        guard let root = node?.mapping else {
            throw ProfileError(file: source, key: nil, message: "the top level must be a mapping of keys "
                + "(name:, os_type:, …)")
        }
        func scalar(_ key: String, _ n: Node?) throws(ProfileError) -> String? {
            guard let n else { return nil }
            guard let s = n.scalar else { throw ProfileError(file: source, key: key, message: "must be a \(topKeys[key] ?? "value"), not a list or mapping") }
            return s.string
        }
        func int(_ key: String, _ n: Node?, _ range: ClosedRange<Int>) throws(ProfileError) -> Int? {
            guard let s = try scalar(key, n) else { return nil }
            guard let v = Int(s) else { throw ProfileError(file: source, key: key, message: "\"\(s)\" is not an integer") }
            guard range.contains(v) else {
                throw ProfileError(file: source, key: key, message: "\(v) is outside \(range.lowerBound)-\(range.upperBound)")
            }
            return v
        }
        func bool(_ key: String, _ n: Node?) throws(ProfileError) -> Bool? {
            guard let s = try scalar(key, n) else { return nil }
            switch s { case "true": return true; case "false": return false
            default: throw ProfileError(file: source, key: key, message: "\"\(s)\" is not true or false") }
        }
        func strings(_ key: String, _ n: Node?) throws(ProfileError) -> [String] {
            guard let n else { return [] }
            guard let seq = n.sequence else { throw ProfileError(file: source, key: key, message: "must be a list") }
            var out: [String] = []
            for item in seq {
                guard let s = item.scalar?.string else { throw ProfileError(file: source, key: key, message: "list items must be strings") }
                out.append(s)
            }
            return out
        }
        var values: [String: Node] = [:]
        for (k, v) in root {
            guard let key = k.scalar?.string else { throw ProfileError(file: source, key: nil, message: "keys must be strings") }
            guard topKeys[key] != nil else {
                throw ProfileError(file: source, key: key, message: "unknown key; allowed: " + topKeys.keys.sorted().joined(separator: ", "))
            }
            values[key] = v
        }
        for key in required where values[key] == nil {
            throw ProfileError(file: source, key: key, message: "is required (\(topKeys[key] ?? "see profiles/README"))")
        }
        let name = try scalar("name", values["name"]) ?? ""
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw ProfileError(file: source, key: "name", message: "\"\(name)\" must be letters, digits, - _ or .")
        }
        let osType = try scalar("os_type", values["os_type"]) ?? ""
        let fallbacks = try strings("os_type_fallbacks", values["os_type_fallbacks"])
        for (key, id) in [("os_type", osType)] + fallbacks.map({ ("os_type_fallbacks", $0) }) where !GuestOSTypes.isKnown(id) {
            throw ProfileError(file: source, key: key, message: "\"\(id)\" is not a VirtualBox guest OS type id (for "
                + "example Ubuntu_64, Debian12_64, Windows11_64; see VBoxManage list ostypes)")
        }
        let firmwareText = try scalar("firmware", values["firmware"]) ?? "bios"
        guard let firmware = FirmwareKind(rawValue: firmwareText.lowercased()) else {
            throw ProfileError(file: source, key: "firmware", message: "\"\(firmwareText)\" is not bios or efi")
        }
        let secureBoot = try bool("secure_boot", values["secure_boot"]) ?? false
        if secureBoot && firmware != .efi {
            throw ProfileError(file: source, key: "secure_boot", message: "needs firmware: efi")
        }
        let graphics = try scalar("graphics", values["graphics"]) ?? "VMSVGA"
        guard ["VMSVGA", "VBoxSVGA", "VBoxVGA"].contains(graphics) else {
            throw ProfileError(file: source, key: "graphics", message: "\"\(graphics)\" is not VMSVGA, VBoxSVGA or VBoxVGA")
        }
        let disk = try scalar("disk_size", values["disk_size"]) ?? ""
        guard let bytes = SizeText.parse(disk), bytes >= 1 << 20, bytes % 512 == 0 else {
            throw ProfileError(file: source, key: "disk_size", message: "\"\(disk)\" is not a disk size of at least 1 MiB "
                + "(for example 25G, 512M, 2T; a bare number is MiB)")
        }
        let nic = try scalar("nic_type", values["nic_type"]) ?? "82540EM"
        let nics: Set<String> = ["Am79C970A", "Am79C973", "Am79C960", "82540EM", "82543GC", "82545EM", "virtio"]
        guard nics.contains(nic) else {
            throw ProfileError(file: source, key: "nic_type", message: "\"\(nic)\" is not one of " + nics.sorted().joined(separator: ", "))
        }
        let busText = try scalar("storage_bus", values["storage_bus"]) ?? "sata"
        guard let bus = StorageBus(rawValue: busText.lowercased()) else {
            throw ProfileError(file: source, key: "storage_bus", message: "\"\(busText)\" is not sata or ide")
        }
        let rdp = try scalar("rdp_port", values["rdp_port"]) ?? "3389"
        if case .failure(let e) = ValueCheck.vrdePorts(rdp) {
            throw ProfileError(file: source, key: "rdp_port", message: "\"\(rdp)\": \(e.message)")
        }
        // iso
        guard let isoMap = values["iso"]?.mapping else {
            throw ProfileError(file: source, key: "iso", message: "must be a mapping (urls:, checksum:, …)")
        }
        var iso = Profile.ISOSource(urls: [], checksum: nil, signature: nil, keyFingerprint: nil, keyURL: nil, note: nil)
        for (k, v) in isoMap {
            let key = k.scalar?.string ?? ""
            let path = "iso.\(key)"
            guard isoKeys.contains(key) else {
                throw ProfileError(file: source, key: path, message: "unknown key; allowed: " + isoKeys.sorted().joined(separator: ", "))
            }
            switch key {
            case "urls": iso.urls = try strings(path, v)
            case "checksum": iso.checksum = try scalar(path, v)
            case "signature": iso.signature = try scalar(path, v)
            case "key_fingerprint": iso.keyFingerprint = try scalar(path, v)?.uppercased().filter { $0 != " " }
            case "key_url": iso.keyURL = try scalar(path, v)
            default: iso.note = try scalar(path, v)
            }
        }
        for url in iso.urls where !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
            throw ProfileError(file: source, key: "iso.urls", message: "\"\(url)\" is not an http(s) URL")
        }
        if let fpr = iso.keyFingerprint, fpr.count != 40 || !fpr.allSatisfy(\.isHexDigit) {
            throw ProfileError(file: source, key: "iso.key_fingerprint", message: "must be a 40-hex-digit OpenPGP fingerprint")
        }
        if iso.signature != nil || iso.keyFingerprint != nil, iso.keyURL == nil {
            throw ProfileError(file: source, key: "iso.key_url", message: "is required when the profile names a signature or key")
        }
        var forwards: [Profile.ForwardSpec] = []
        if let list = values["forwards"] {
            guard let seq = list.sequence else { throw ProfileError(file: source, key: "forwards", message: "must be a list") }
            for (n, item) in seq.enumerated() {
                let path = "forwards[\(n)]"
                guard let m = item.mapping else { throw ProfileError(file: source, key: path, message: "must be a mapping") }
                var f = Profile.ForwardSpec(name: "", proto: "tcp", hostPort: 0, guestPort: 0)
                for (k, v) in m {
                    let key = k.scalar?.string ?? ""
                    guard forwardKeys.contains(key) else {
                        throw ProfileError(file: source, key: "\(path).\(key)", message: "unknown key; allowed: " + forwardKeys.sorted().joined(separator: ", "))
                    }
                    switch key {
                    case "name": f.name = try scalar("\(path).name", v) ?? ""
                    case "proto": f.proto = try scalar("\(path).proto", v) ?? "tcp"
                    case "host_port": f.hostPort = try int("\(path).host_port", v, 1...65535) ?? 0
                    default: f.guestPort = try int("\(path).guest_port", v, 1...65535) ?? 0
                    }
                }
                guard !f.name.isEmpty, !f.name.contains(","), ["tcp", "udp"].contains(f.proto), f.hostPort > 0, f.guestPort > 0 else {
                    throw ProfileError(file: source, key: path, message: "needs name (no comma), proto tcp|udp, host_port and guest_port")
                }
                forwards.append(f)
            }
        }
        return Profile(
            name: name, description: try scalar("description", values["description"]) ?? "", osType: osType,
            osTypeFallbacks: fallbacks, firmware: firmware, secureBoot: secureBoot, tpm: try bool("tpm", values["tpm"]) ?? false,
            cpus: try int("cpus", values["cpus"], 1...64) ?? 1, memoryMB: try int("memory_mb", values["memory_mb"], 4...2_097_152) ?? 1024,
            vramMB: try int("vram_mb", values["vram_mb"], 1...256) ?? 16, graphics: graphics, diskSize: disk, nicType: nic,
            storageBus: bus, iso: iso, rdpPort: rdp, forwards: forwards, source: source)
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
