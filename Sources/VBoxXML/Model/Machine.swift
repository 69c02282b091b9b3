/// What an adapter is attached to: the element name of its active mode (`NAT`, `BridgedInterface`, …).
public struct NetworkAdapterInfo: Sendable, Equatable, Codable {
    /// 1-based, as VBoxManage numbers NICs (`--nic1`).
    public var number: Int
    /// `Adapter@slot`, 0-based.
    public var slot: Int
    /// `Adapter@enabled`.
    public var enabled: Bool
    /// `Adapter@type`: the card model (`82540EM`, `virtio` …); nil when not written.
    public var type: String?
    /// `Adapter@MACAddress`, 12 hex digits; nil when not written.
    public var macAddress: String?
    /// `NAT`, `BridgedInterface`, `InternalNetwork`, `HostOnlyInterface`, … or `Null` when none.
    public var mode: String
    /// NAT port forwards (`NAT/Forwarding`), empty unless NAT.
    public var forwards: [PortForward]
}

/// One NAT port-forwarding rule as VirtualBox stores it.
public struct PortForward: Sendable, Equatable, Codable {
    /// `Forwarding@proto`: 0 UDP, 1 TCP.
    public enum Proto: String, Sendable, Codable {
        case udp, tcp
        /// `NATProtocol`: 0 UDP, 1 TCP.
        public var number: Int { self == .udp ? 0 : 1 }
    }

    /// `Forwarding@name`, unique per adapter.
    public var name: String
    /// UDP or TCP.
    public var proto: Proto
    /// `Forwarding@hostip`; empty: every address.
    public var hostIP: String
    /// `Forwarding@hostport`, 1-65535.
    public var hostPort: Int
    /// `Forwarding@guestip`; empty: the guest's DHCP address.
    public var guestIP: String
    /// `Forwarding@guestport`, 1-65535.
    public var guestPort: Int

    /// A rule from its fields.
    public init(name: String, proto: Proto, hostIP: String, hostPort: Int, guestIP: String, guestPort: Int) {
        self.name = name
        self.proto = proto
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.guestIP = guestIP
        self.guestPort = guestPort
    }

    /// The rule in VBoxManage's `--natpf` syntax.
    public var ruleString: String {
        "\(name),\(proto.rawValue),\(hostIP),\(hostPort),\(guestIP),\(guestPort)"
    }
}

/// The VRDE (RDP) server settings of a machine.
public struct RemoteDisplayInfo: Sendable, Equatable, Codable {
    /// A `RemoteDisplay` element exists.
    public var present: Bool
    /// `RemoteDisplay@enabled`.
    public var enabled: Bool
    /// `RemoteDisplay@authType`: `Null`, `External` or `Guest`.
    public var authType: String
    /// `RemoteDisplay@authLibrary`, when set.
    public var authLibrary: String?
    /// `VRDEProperties` `TCP/Ports`.
    public var ports: String
    /// `VRDEProperties` `TCP/Address`.
    public var address: String
    /// `RemoteDisplay@allowMultiConnection`.
    public var allowMultiConnection: Bool
    /// Users with a `VBoxAuthSimple` password hash in ExtraData.
    public var users: [String]
}

/// A storage attachment.
public struct AttachmentInfo: Sendable, Equatable, Codable {
    /// `StorageController@name`.
    public var controller: String
    /// `StorageController@type` (`AHCI`, `PIIX4` …).
    public var bus: String
    /// `AttachedDevice@port`.
    public var port: Int
    /// `AttachedDevice@device`.
    public var device: Int
    /// `AttachedDevice@type`: `HardDisk`, `DVD`, `Floppy`.
    public var type: String
    /// The medium's UUID or host drive; nil for an empty drive.
    public var medium: String?
}

/// A short reading of a machine's settings.
public struct MachineSummary: Sendable, Equatable, Codable {
    /// The settings file.
    public var path: String
    /// `Machine@name`.
    public var name: String
    /// `Machine@uuid`, lowercase without braces.
    public var uuid: String
    /// `Machine@OSType`.
    public var osType: String
    /// `VirtualBox@version`.
    public var settingsVersion: String
    /// `Memory@RAMSize`, MiB; nil when absent.
    public var memoryMB: Int?
    /// `CPU@count` (1 when absent).
    public var cpus: Int
    /// `Firmware@type` as written.
    public var firmware: String
    /// The VRDE (RDP) server.
    public var remoteDisplay: RemoteDisplayInfo
    /// Network adapters, by slot.
    public var adapters: [NetworkAdapterInfo]
    /// Current-state storage attachments.
    public var storage: [AttachmentInfo]
    /// Shared folders of the current state.
    public var sharedFolders: [SharedFolderInfo] = []
    /// USB controller types (`OHCI`, `EHCI`, `XHCI`) and the device filters VirtualBox loads.
    public var usbControllers: [String] = []
    /// USB device filters of the current state.
    public var usbFilters: [USBFilterInfo] = []
    /// Number of snapshots; `vmprov snapshots` shows the tree.
    public var snapshots: Int = 0
}

/// How VirtualBox reads a value (IPRT `getAttributeValue`): exact lowercase booleans, base-0 integers.
public enum VBoxValue {
    /// `true`/`yes`/`1` and `false`/`no`/`0`; anything else is absent.
    public static func bool(_ s: String?) -> Bool? {
        switch s {
        case "true", "yes", "1": return true
        case "false", "no", "0": return false
        default: return nil
        }
    }

    /// Unsigned integer in base 0 (`0x` hex, leading `0` octal); trailing garbage or a sign make it absent.
    public static func uint(_ s: String?) -> Int? {
        guard let s, !s.isEmpty else { return nil }
        if s.hasPrefix("0x") || s.hasPrefix("0X") {
            let digits = s.dropFirst(2)
            guard !digits.isEmpty else { return nil }
            return Int(digits, radix: 16)
        }
        if s.count > 1, s.hasPrefix("0") { return Int(s.dropFirst(), radix: 8) }
        guard s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(s)
    }
}

extension VBoxSettings {
    /// The chipset and its number of network slots (`Global::getMaxNetworkAdapters`).
    public var networkSlots: (chipset: String, slots: Int) {
        let chipsetElement = descend(from: hardwareIndex, "Chipset")
            ?? descend(from: machineIndex, "Platform", "Chipset")
        let type = chipsetElement.flatMap { elements[$0].attribute("type") } ?? "PIIX3"
        switch type {
        case "ICH9": return (type, 36)
        case "ARMv8Virtual": return (type, 64)
        default: return (type, 8)
        }
    }

    /// The `Machine/Hardware/Network/Adapter` element VirtualBox uses for `slot`: with two elements of one slot
    /// the later one (`Machine::i_loadHardware` loads it over the earlier), none past an out-of-range slot.
    public func adapterElement(slot: Int) -> Int? {
        NetworkModel(self).keptAdapter(slot: slot)?.element
    }

    /// The active mode child of an adapter (not `DisabledModes`).
    public func modeElement(ofAdapter adapter: Int) -> Int? {
        elements[adapter].children.first { elements[$0].name != "DisabledModes" }
    }

    /// Forwarding rules under a NAT element.
    public func forwards(inNAT nat: Int) -> [(index: Int, rule: PortForward)] {
        children(of: nat, named: "Forwarding").map { i in
            let e = elements[i]
            let hostPort = VBoxValue.uint(e.attribute("hostport")) ?? 0
            let proto: PortForward.Proto = VBoxValue.uint(e.attribute("proto")) == 0 ? .udp : .tcp
            return (i, PortForward(
                name: e.attribute("name") ?? "", proto: proto, hostIP: e.attribute("hostip") ?? "",
                hostPort: hostPort & 0xFFFF, guestIP: e.attribute("guestip") ?? "",
                guestPort: (VBoxValue.uint(e.attribute("guestport")) ?? hostPort) & 0xFFFF))
        }
    }

    /// The adapters listed under `Machine/Hardware/Network` that VirtualBox loads (see ``adapterElement(slot:)``),
    /// by slot.
    public var adapters: [NetworkAdapterInfo] {
        NetworkModel(self).adapters.filter(\.loaded).compactMap { a in
            let i = a.element
            let e = elements[i]
            guard let slot = a.slot else { return nil }
            let mode = modeElement(ofAdapter: i)
            let rules = mode.flatMap { elements[$0].name == "NAT" ? forwards(inNAT: $0).map(\.rule) : nil } ?? []
            return NetworkAdapterInfo(
                number: slot + 1, slot: slot, enabled: VBoxValue.bool(e.attribute("enabled")) ?? false,
                type: e.attribute("type"), macAddress: e.attribute("MACAddress"),
                mode: mode.map { elements[$0].name } ?? "Null", forwards: rules)
        }.sorted { $0.slot < $1.slot }
    }

    /// `Machine/Hardware/RemoteDisplay`.
    public var remoteDisplayElement: Int? { child(of: hardwareIndex, named: "RemoteDisplay") }

    /// A VRDE property's element, if present.
    public func vrdeProperty(_ name: String) -> Int? {
        guard let rd = remoteDisplayElement, let props = child(of: rd, named: "VRDEProperties") else { return nil }
        return children(of: props, named: "Property").first { elements[$0].attribute("name") == name }
    }

    /// The RDP settings as VirtualBox reads them, version defaults included.
    public var remoteDisplay: RemoteDisplayInfo {
        let rd = remoteDisplayElement.map { elements[$0] }
        let versionDefault = version < SettingsVersion(major: 1, minor: 16, raw: "1.16")
        let ports = vrdeProperty("TCP/Ports").flatMap { elements[$0].attribute("value") }
            ?? rd?.attribute("port") ?? "3389"
        let address = vrdeProperty("TCP/Address").flatMap { elements[$0].attribute("value") }
            ?? rd?.attribute("netAddress") ?? ""
        return RemoteDisplayInfo(
            present: rd != nil,
            enabled: VBoxValue.bool(rd?.attribute("enabled")) ?? versionDefault,
            authType: rd?.attribute("authType") ?? "Null",
            authLibrary: rd?.attribute("authLibrary"),
            ports: ports == "0" ? "3389" : ports,
            address: address,
            allowMultiConnection: VBoxValue.bool(rd?.attribute("allowMultiConnection")) ?? false,
            users: extraDataItems.compactMap { item in
                item.name.hasPrefix(Self.authSimplePrefix) ? String(item.name.dropFirst(Self.authSimplePrefix.count)) : nil
            })
    }

    static let authSimplePrefix = "VBoxAuthSimple/users/"

    /// `Machine/ExtraData/ExtraDataItem` name/value pairs.
    public var extraDataItems: [(index: Int, name: String, value: String)] {
        guard let extra = child(of: machineIndex, named: "ExtraData") else { return [] }
        return children(of: extra, named: "ExtraDataItem").map {
            ($0, elements[$0].attribute("name") ?? "", elements[$0].attribute("value") ?? "")
        }
    }

    /// A summary for `vmprov show`.
    public var summary: MachineSummary {
        let machine = elements[machineIndex]
        let cpu = child(of: hardwareIndex, named: "CPU") ?? descend(from: machineIndex, "Platform", "CPU")
        let firmware = (descend(from: hardwareIndex, "Firmware") ?? descend(from: machineIndex, "Platform", "Firmware"))
            .flatMap { elements[$0].attribute("type") } ?? "BIOS"
        return MachineSummary(
            path: path, name: machine.attribute("name") ?? "", uuid: machine.attribute("uuid") ?? "",
            osType: machine.attribute("OSType") ?? "", settingsVersion: version.raw,
            memoryMB: descend(from: hardwareIndex, "Memory").flatMap { VBoxValue.uint(elements[$0].attribute("RAMSize")) },
            cpus: cpu.flatMap { VBoxValue.uint(elements[$0].attribute("count")) } ?? 1,
            firmware: firmware, remoteDisplay: remoteDisplay, adapters: adapters, storage: attachments,
            sharedFolders: sharedFolders.map(\.folder), usbControllers: usbControllers.map(\.type),
            usbFilters: usbFilters.map(\.filter), snapshots: snapshotTree.count)
    }

    /// Storage attachments with the location of their media.
    public var attachments: [AttachmentInfo] {
        var media: [String: String] = [:]
        for (i, e) in elements.enumerated() where ["HardDisk", "Image"].contains(e.name) {
            guard let uuid = e.attribute("uuid"), let location = e.attribute("location") else { continue }
            var p = e.parent
            var inRegistry = false
            while let q = p {
                if elements[q].name == "MediaRegistry" { inRegistry = true; break }
                p = elements[q].parent
            }
            if inRegistry { media[uuid.lowercased()] = location }
            _ = i
        }
        let controllersParent = child(of: hardwareIndex, named: "StorageControllers")
            ?? child(of: machineIndex, named: "StorageControllers")
        guard let parent = controllersParent else { return [] }
        var out: [AttachmentInfo] = []
        for controller in children(of: parent, named: "StorageController") {
            let c = elements[controller]
            for device in children(of: controller, named: "AttachedDevice") {
                let d = elements[device]
                let image = child(of: device, named: "Image").flatMap { elements[$0].attribute("uuid") }
                let host = child(of: device, named: "HostDrive").flatMap { elements[$0].attribute("src") }
                out.append(AttachmentInfo(
                    controller: c.attribute("name") ?? "", bus: c.attribute("type") ?? "",
                    port: VBoxValue.uint(d.attribute("port")) ?? 0, device: VBoxValue.uint(d.attribute("device")) ?? 0,
                    type: d.attribute("type") ?? "", medium: image.map { media[$0.lowercased()] ?? $0 } ?? host))
            }
        }
        return out
    }
}
