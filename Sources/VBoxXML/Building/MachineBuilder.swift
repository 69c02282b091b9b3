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

    /// The one controller of a new machine on this bus: SATA (AHCI, 3 ports) or IDE (PIIX4, 2 × 2).
    public var controller: StorageControllerSpec {
        switch self {
        case .sata: return .sata(portCount: 3)
        case .ide: return .ide()
        }
    }

    /// The standard drives of a new machine: the system disk, the installer's DVD drive (empty when `installer` is
    /// nil) and, when given, the Guest Additions. On SATA each takes the next free port; on IDE the DVDs take the
    /// secondary channel (installer master, Guest Additions slave), as VirtualBox's own wizard places a DVD.
    /// UUIDs are drawn from `ids` in that order, one per medium that has a file.
    public func standardMedia(disk: String, installer: String?, guestAdditions: String?,
                              ids: inout some IdentitySource) -> [MediumAttachment] {
        var media = [MediumAttachment(kind: .hardDisk(format: "VDI"), role: .systemDisk, location: disk,
                                      uuid: ids.nextUUID())]
        media.append(MediumAttachment(kind: .dvdImage, role: .installer, location: installer,
                                      uuid: installer == nil ? nil : ids.nextUUID(),
                                      slot: self == .ide ? StorageSlot(port: 1, device: 0) : nil))
        if let guestAdditions {
            media.append(MediumAttachment(kind: .dvdImage, role: .guestAdditions, location: guestAdditions,
                                          uuid: ids.nextUUID(), slot: self == .ide ? StorageSlot(port: 1, device: 1) : nil))
        }
        return media
    }
}

/// Everything a new machine's settings file says.
public struct MachineSpec: Sendable {
    /// `Machine@name`.
    public var name: String
    /// `Machine@OSType` (an id VirtualBox knows, e.g. `Ubuntu_64`).
    public var osType: String
    /// `CPU@count`.
    public var cpus: Int
    /// `Memory@RAMSize`, MiB.
    public var memoryMB: Int
    /// `Display@VRAMSize`, MiB.
    public var vramMB: Int
    /// `Display@controller`: `VMSVGA`, `VBoxSVGA`, `VBoxVGA`.
    public var graphics: String
    /// BIOS or EFI (`Firmware@type`).
    public var firmware: FirmwareKind
    /// A TPM 2.0 (`TrustedPlatformModule@type="v2_0"`).
    public var tpm2: Bool
    /// Secure boot is wanted (enabled in the NVRAM on the first start, not in the XML).
    public var secureBoot: Bool
    /// `Adapter@type` of the NAT adapter (`82540EM`, `virtio` …).
    public var nicType: String
    /// The storage controller every medium hangs on.
    public var controller: StorageControllerSpec
    /// The drives, in the order they are written; each gets its requested slot or the next free one.
    public var media: [MediumAttachment]
    /// `VRDEProperties/TCP/Ports`: a port, list or range.
    public var rdpPorts: String
    /// NAT port forwards of adapter 1.
    public var forwards: [PortForward]
    /// `Machine/ExtraData` items, key and value, in order.
    public var extraData: [(String, String)]

    /// A spec with every field given.
    public init(name: String, osType: String, cpus: Int, memoryMB: Int, vramMB: Int, graphics: String,
                firmware: FirmwareKind, tpm2: Bool, secureBoot: Bool, nicType: String,
                controller: StorageControllerSpec, media: [MediumAttachment], rdpPorts: String,
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
        self.controller = controller
        self.media = media
        self.rdpPorts = rdpPorts
        self.forwards = forwards
        self.extraData = extraData
    }

    /// The medium with `role`, if any (the first).
    public func medium(_ role: MediumRole) -> MediumAttachment? { media.first { $0.role == role } }
}

/// The machine's own identifiers (the media carry theirs).
public struct MachineIdentity: Sendable {
    /// `Machine@uuid`.
    public var machine: VBoxUUID
    /// 12 hex digits, unicast.
    public var macAddress: String
    /// Seconds since 1970 (UTC).
    public var time: Int

    /// An identity from its parts.
    public init(machine: VBoxUUID, macAddress: String, time: Int) {
        self.machine = machine
        self.macAddress = macAddress
        self.time = time
    }

    /// The next UUID of `source` for the machine, its MAC address and time.
    public init(drawingFrom source: inout some IdentitySource) {
        self.init(machine: source.nextUUID(), macAddress: source.macAddress, time: source.time)
    }
}

/// Writes settings files for new machines at version 1.19 (read with full meaning by VirtualBox 7.0, 7.1 and
/// 7.2; 7.1 keeps x86 machines at 1.19, and 7.0 would lose the 1.20 Platform element's contents).
public enum MachineBuilder {
    /// The settings version written (`VirtualBox@version`).
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

    /// The slot of each medium, in list order: requested slots first (refused when taken or out of range), then
    /// the next free slot for the rest.
    /// - Throws: `StorageAllocationError` naming the controller and its occupied slots.
    public static func allocate(_ media: [MediumAttachment],
                                on controller: StorageControllerSpec) throws(StorageAllocationError) -> [StorageSlot] {
        var allocator = PortAllocator(controller: controller)
        for medium in media { if let slot = medium.slot { try allocator.claim(slot) } }
        var slots: [StorageSlot] = []
        for medium in media {
            if let slot = medium.slot { slots.append(slot) } else { slots.append(try allocator.next()) }
        }
        return slots
    }

    /// The settings file text for `spec`.
    /// - Throws: `StorageAllocationError` when the media do not fit the controller (a slot taken twice, out of
    ///   range, or no free slot left).
    public static func document(_ spec: MachineSpec, _ id: MachineIdentity) throws(StorageAllocationError) -> String {
        typealias M = XMLMarkup
        let slots = try allocate(spec.media, on: spec.controller)
        var disks: [M] = []
        var dvds: [M] = []
        for medium in spec.media {
            guard let location = medium.location, let uuid = medium.uuid else { continue }
            switch medium.kind {
            case let .hardDisk(format):
                disks.append(M("HardDisk", [("uuid", uuid.braced), ("location", location), ("format", format),
                                            ("type", "Normal")]))
            case .dvdImage:
                dvds.append(M("Image", [("uuid", uuid.braced), ("location", location)]))
            case .viso:
                dvds.append(M("Image", [("uuid", uuid.braced), ("location", location), ("format", "VBoxIsoMaker")]))
            }
        }
        var registry: [M] = []
        if !disks.isEmpty { registry.append(M("HardDisks", children: disks)) }
        if !dvds.isEmpty { registry.append(M("DVDImages", children: dvds)) }

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
        let c = spec.controller
        let devices = zip(spec.media, slots).map { medium, slot in
            let image = medium.uuid.map { [M("Image", [("uuid", $0.braced)])] } ?? []
            let place = [("hotpluggable", "false"), ("port", String(slot.port)), ("device", String(slot.device))]
            switch medium.kind {
            case .hardDisk:
                return M("AttachedDevice", [("type", "HardDisk")] + place, children: image)
            case .dvdImage, .viso:
                return M("AttachedDevice", [("passthrough", "false"), ("type", "DVD")] + place, children: image)
            }
        }
        hardware.append(M("StorageControllers", children: [
            M("StorageController", [("name", c.name), ("type", c.type), ("PortCount", String(c.portCount)),
                                    ("useHostIOCache", c.useHostIOCache ? "true" : "false"), ("Bootable", "true")],
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
