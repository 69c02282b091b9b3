#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Firmware of a new machine.
public enum FirmwareKind: String, Sendable, Codable, CaseIterable {
    case bios, efi
}

/// Where the disk and the DVD drives hang.
public enum StorageBus: String, Sendable, Codable, CaseIterable {
    case sata, ide

    var controller: (name: String, type: String, portCount: Int, hostIOCache: Bool) {
        switch self {
        case .sata: return ("SATA", "AHCI", 3, false)
        case .ide: return ("IDE", "PIIX4", 2, true)
        }
    }

    /// (port, device) for the disk, the installer and the Guest Additions.
    var slots: [(Int, Int)] {
        switch self {
        case .sata: return [(0, 0), (1, 0), (2, 0)]
        case .ide: return [(0, 0), (1, 0), (1, 1)]
        }
    }
}

/// Everything a new machine's settings file says.
public struct MachineSpec: Sendable {
    public var name: String
    public var osType: String
    public var cpus: Int
    public var memoryMB: Int
    public var vramMB: Int
    public var graphics: String
    public var firmware: FirmwareKind
    public var tpm2: Bool
    public var secureBoot: Bool
    public var nicType: String
    public var storageBus: StorageBus
    /// Disk image file name, relative to the machine folder.
    public var diskFile: String
    /// Installer ISO: a name in the machine folder, or an absolute path.
    public var installerISO: String?
    public var guestAdditionsISO: String?
    public var rdpPorts: String
    public var forwards: [PortForward]
    public var extraData: [(String, String)]

    public init(name: String, osType: String, cpus: Int, memoryMB: Int, vramMB: Int, graphics: String,
                firmware: FirmwareKind, tpm2: Bool, secureBoot: Bool, nicType: String, storageBus: StorageBus,
                diskFile: String, installerISO: String?, guestAdditionsISO: String?, rdpPorts: String,
                forwards: [PortForward], extraData: [(String, String)]) {
        self.name = name
        self.osType = osType
        self.cpus = cpus
        self.memoryMB = memoryMB
        self.vramMB = vramMB
        self.graphics = graphics
        self.firmware = firmware
        self.tpm2 = tpm2
        self.secureBoot = secureBoot
        self.nicType = nicType
        self.storageBus = storageBus
        self.diskFile = diskFile
        self.installerISO = installerISO
        self.guestAdditionsISO = guestAdditionsISO
        self.rdpPorts = rdpPorts
        self.forwards = forwards
        self.extraData = extraData
    }
}

/// The identifiers of a new machine; random by default, fixed in golden tests.
public struct MachineIdentity: Sendable {
    public var machine: VBoxUUID
    public var disk: VBoxUUID
    public var installer: VBoxUUID
    public var guestAdditions: VBoxUUID
    /// 12 hex digits, unicast.
    public var macAddress: String
    /// Seconds since 1970 (UTC).
    public var time: Int

    public init(machine: VBoxUUID, disk: VBoxUUID, installer: VBoxUUID, guestAdditions: VBoxUUID, macAddress: String,
                time: Int) {
        self.machine = machine
        self.disk = disk
        self.installer = installer
        self.guestAdditions = guestAdditions
        self.macAddress = macAddress
        self.time = time
    }

    /// Random UUIDs and MAC address (VirtualBox's 08:00:27 prefix), the current time.
    public static func random() -> MachineIdentity {
        var g = SystemRandomNumberGenerator()
        let mac = "080027" + (0..<3).map { _ in
            let b = UInt8.random(in: 0...255, using: &g)
            let hex = Array("0123456789ABCDEF")
            return String([hex[Int(b >> 4)], hex[Int(b & 0x0F)]])
        }.joined()
        return MachineIdentity(machine: .random(using: &g), disk: .random(using: &g), installer: .random(using: &g),
                               guestAdditions: .random(using: &g), macAddress: mac, time: Int(Glibc.time(nil)))
    }
}

/// Writes settings files for new machines at version 1.19 (read with full meaning by VirtualBox 7.0, 7.1 and
/// 7.2; 7.1 keeps x86 machines at 1.19, and 7.0 would lose the 1.20 Platform element's contents).
public enum MachineBuilder {
    public static let settingsVersion = "1.19-linux"

    /// VirtualBox's timestamp format (`stringifyTimestamp`): `YYYY-MM-DDTHH:MM:SSZ`.
    public static func timestamp(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):"
            + "\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    public static func document(_ spec: MachineSpec, _ id: MachineIdentity) -> String {
        typealias M = XMLMarkup
        var registryDVDs: [M] = []
        if spec.installerISO != nil || spec.guestAdditionsISO != nil {
            if let iso = spec.installerISO { registryDVDs.append(M("Image", [("uuid", id.installer.braced), ("location", iso)])) }
            if let ga = spec.guestAdditionsISO { registryDVDs.append(M("Image", [("uuid", id.guestAdditions.braced), ("location", ga)])) }
        }
        var registry = [M("HardDisks", children: [
            M("HardDisk", [("uuid", id.disk.braced), ("location", spec.diskFile), ("format", "VDI"), ("type", "Normal")]),
        ])]
        if !registryDVDs.isEmpty { registry.append(M("DVDImages", children: registryDVDs)) }

        var hardware: [M] = [
            M("CPU", [("count", String(spec.cpus))], children: [
                M("PAE", [("enabled", "true")]),
                M("LongMode", [("enabled", "true")]),
                M("X2APIC", [("enabled", "true")]),
                M("HardwareVirtExLargePages", [("enabled", "false")]),
            ]),
            M("Memory", [("RAMSize", String(spec.memoryMB))]),
        ]
        if spec.firmware == .efi { hardware.append(M("Firmware", [("type", "EFI")])) }
        hardware.append(M("Boot", children: [
            M("Order", [("position", "1"), ("device", "HardDisk")]),
            M("Order", [("position", "2"), ("device", "DVD")]),
            M("Order", [("position", "3"), ("device", "None")]),
            M("Order", [("position", "4"), ("device", "None")]),
        ]))
        hardware.append(M("Display", [("controller", spec.graphics), ("VRAMSize", String(spec.vramMB))]))
        hardware.append(M("RemoteDisplay", [("enabled", "true")], children: [
            M("VRDEProperties", children: [M("Property", [("name", "TCP/Ports"), ("value", spec.rdpPorts)])]),
        ]))
        hardware.append(M("BIOS", children: [
            M("IOAPIC", [("enabled", "true")]),
            M("SmbiosUuidLittleEndian", [("enabled", "true")]),
        ]))
        if spec.tpm2 { hardware.append(M("TrustedPlatformModule", [("type", "v2_0"), ("location", "")])) }
        let rules = spec.forwards.sorted { $0.name < $1.name }.map { f in
            M("Forwarding", [("name", f.name), ("proto", String(f.proto.number)), ("hostip", f.hostIP),
                             ("hostport", String(f.hostPort)), ("guestip", f.guestIP), ("guestport", String(f.guestPort))])
        }
        hardware.append(M("Network", children: [
            M("Adapter", [("slot", "0"), ("enabled", "true"), ("MACAddress", id.macAddress), ("type", spec.nicType)], children: [
                M("NAT", [("localhost-reachable", "false")], children: rules),
            ]),
        ]))
        hardware.append(M("AudioAdapter", [("driver", "Null"), ("enabled", "false")]))
        hardware.append(M("RTC", [("localOrUTC", spec.osType.hasPrefix("Windows") ? "local" : "UTC")]))
        let c = spec.storageBus.controller
        let slots = spec.storageBus.slots
        var devices = [M("AttachedDevice", [("type", "HardDisk"), ("hotpluggable", "false"), ("port", String(slots[0].0)),
                                            ("device", String(slots[0].1))], children: [M("Image", [("uuid", id.disk.braced)])])]
        devices.append(M("AttachedDevice", [("passthrough", "false"), ("type", "DVD"), ("hotpluggable", "false"),
                                            ("port", String(slots[1].0)), ("device", String(slots[1].1))],
                         children: spec.installerISO == nil ? [] : [M("Image", [("uuid", id.installer.braced)])]))
        if spec.guestAdditionsISO != nil {
            devices.append(M("AttachedDevice", [("passthrough", "false"), ("type", "DVD"), ("hotpluggable", "false"),
                                                ("port", String(slots[2].0)), ("device", String(slots[2].1))],
                             children: [M("Image", [("uuid", id.guestAdditions.braced)])]))
        }
        hardware.append(M("StorageControllers", children: [
            M("StorageController", [("name", c.name), ("type", c.type), ("PortCount", String(c.portCount)),
                                    ("useHostIOCache", c.hostIOCache ? "true" : "false"), ("Bootable", "true")],
              children: devices),
        ]))

        var machineChildren: [M] = [M("MediaRegistry", children: registry)]
        var extra = spec.extraData
        if spec.secureBoot { extra.append(("vmprov/SecureBoot", "requested")) }
        if !extra.isEmpty {
            machineChildren.append(M("ExtraData", children: extra.map { M("ExtraDataItem", [("name", $0.0), ("value", $0.1)]) }))
        }
        machineChildren.append(M("Hardware", children: hardware))
        let machine = M("Machine", [("uuid", id.machine.braced), ("name", spec.name), ("OSType", spec.osType),
                                    ("snapshotFolder", "Snapshots"), ("lastStateChange", timestamp(id.time))],
                        children: machineChildren)
        let root = M("VirtualBox", [("xmlns", VBoxNamespace.current), ("version", settingsVersion)], children: [machine])
        return """
        <?xml version="1.0"?>
        <!--
        ** DO NOT EDIT THIS FILE.
        ** If you make changes to this file while any VirtualBox related application
        ** is running, your changes will be overwritten later, without taking effect.
        ** Use VBoxManage or vmprov (with VirtualBox stopped) to make changes.
        -->

        """ + root.render(indent: "", unit: "  ", newline: "\n") + "\n"
    }
}
