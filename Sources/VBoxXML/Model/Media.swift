/// What kind of medium a drive holds, and how its registry entry is written.
///
/// Mirrors VirtualBox's `MediaRegistry` (`MachineConfigFile::readMediaRegistry`/`buildMediaRegistry`, V70
/// `Settings.cpp`): hard disks go to `HardDisks/HardDisk` (format required), DVD images to `DVDImages/Image`
/// (format only for a non-ISO backend such as `VBoxIsoMaker`).
public enum MediumKind: Sendable, Equatable {
    /// A disk image attached as `type="HardDisk"`; `format` is the backend (`VDI`).
    case hardDisk(format: String)
    /// An ISO image in a DVD drive (`type="DVD"`).
    case dvdImage
    /// A VirtualBox ISO-maker description (`.viso`, registered with `format="VBoxIsoMaker"`) in a DVD drive.
    case viso

    /// The `AttachedDevice@type` value.
    public var deviceType: String {
        switch self {
        case .hardDisk: return "HardDisk"
        case .dvdImage, .viso: return "DVD"
        }
    }
}

/// What a medium is for: decides nothing in the XML, but lets the creator and later edits find "the installer".
public enum MediumRole: String, Sendable, Equatable {
    /// The disk the guest is installed on.
    case systemDisk
    /// The installer ISO's drive (empty when there is none).
    case installer
    /// VirtualBox's Guest Additions ISO.
    case guestAdditions
    /// An unattended-install seed (cloud-init NoCloud image, answer-file VISO …).
    case seed
    /// Anything else.
    case other
}

/// A storage slot on one controller: `port` and `device` as in `AttachedDevice@port`/`@device`.
public struct StorageSlot: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `AttachedDevice@port`: 0 … PortCount−1.
    public var port: Int
    /// `AttachedDevice@device`: 0, or 0 … 1 on IDE (master, slave).
    public var device: Int

    /// A slot; not checked here (``PortAllocator`` checks it against its controller).
    public init(port: Int, device: Int) {
        self.port = port
        self.device = device
    }

    /// Port first, then device.
    public static func < (a: StorageSlot, b: StorageSlot) -> Bool {
        (a.port, a.device) < (b.port, b.device)
    }

    /// `port P device D`.
    public var description: String { "port \(port) device \(device)" }
}

/// One drive of a new machine: the medium in it (or an empty DVD drive) and, optionally, the slot it must take.
public struct MediumAttachment: Sendable, Equatable {
    /// What the drive holds.
    public var kind: MediumKind
    /// What it is for.
    public var role: MediumRole
    /// File name relative to the machine folder, or an absolute path; nil for an empty DVD drive (no registry
    /// entry, no `Image` child). A hard disk always has one.
    public var location: String?
    /// The medium's UUID (registry `uuid` and the attachment's `Image@uuid`); nil exactly when `location` is nil.
    public var uuid: VBoxUUID?
    /// A slot the drive must take (the allocator refuses it when taken); nil: the next free one.
    public var slot: StorageSlot?

    /// A drive; `slot` nil lets the allocator choose.
    public init(kind: MediumKind, role: MediumRole, location: String?, uuid: VBoxUUID?, slot: StorageSlot? = nil) {
        self.kind = kind
        self.role = role
        self.location = location
        self.uuid = uuid
        self.slot = slot
    }
}

/// The ports and devices of one storage bus: the one table of bus limits (reference `vbox-storage-devices.md` §2.3,
/// from V70 `SystemPropertiesImpl.cpp` `getMin/MaxPortCountForStorageBus`, `getMaxDevicesPerPortForStorageBus`).
/// The machine builder, add-disk and the reader rules all read it.
public struct StorageBusLimits: Sendable, Equatable {
    /// The `PortCount` values VirtualBox accepts (`StorageController::setPortCount`).
    public var portCount: ClosedRange<Int>
    /// Devices per port: 2 on IDE (master/slave) and floppy, 1 elsewhere.
    public var devicesPerPort: Int

    /// The limits for a `StorageController@type` (`AHCI`, `PIIX3`/`PIIX4`/`ICH6`, `LsiLogic`, `BusLogic`,
    /// `LsiLogicSas`, `NVMe`, `VirtioSCSI`, `USB`, `I82078`); nil for a type VirtualBox does not know.
    public init?(type: String) {
        switch type {
        case "AHCI": (portCount, devicesPerPort) = (1...30, 1)
        case "PIIX3", "PIIX4", "ICH6": (portCount, devicesPerPort) = (2...2, 2)
        case "LsiLogic", "BusLogic": (portCount, devicesPerPort) = (16...16, 1)
        case "LsiLogicSas", "NVMe": (portCount, devicesPerPort) = (1...255, 1)
        case "VirtioSCSI": (portCount, devicesPerPort) = (1...256, 1)
        case "USB": (portCount, devicesPerPort) = (8...8, 1)
        case "I82078": (portCount, devicesPerPort) = (1...1, 2)
        default: return nil
        }
    }
}

/// A storage controller of a new machine and the limits of its bus (reference `vbox-storage-devices.md` §2.3,
/// from V70 `SystemPropertiesImpl.cpp` `getMin/MaxPortCountForStorageBus`, `getMaxDevicesPerPortForStorageBus`).
public struct StorageControllerSpec: Sendable, Equatable {
    /// `StorageController@name`, unique per machine.
    public var name: String
    /// `StorageController@type`: `AHCI`, `PIIX4`, `NVMe` …
    public var type: String
    /// `@PortCount`: ports the allocator may use (0..portCount−1).
    public var portCount: Int
    /// Devices per port: 2 on IDE (master/slave) and floppy, 1 elsewhere.
    public var devicesPerPort: Int
    /// `@useHostIOCache`.
    public var useHostIOCache: Bool

    /// A controller as given; the factory methods below hold each bus's limits.
    public init(name: String, type: String, portCount: Int, devicesPerPort: Int, useHostIOCache: Bool) {
        self.name = name
        self.type = type
        self.portCount = portCount
        self.devicesPerPort = devicesPerPort
        self.useHostIOCache = useHostIOCache
    }

    /// A controller of bus `type` with `portCount` ports and the devices per port of ``StorageBusLimits``; nil for
    /// an unknown type. `portCount` is taken as given (an existing file's `PortCount`, or a raised one).
    public init?(name: String, type: String, portCount: Int, useHostIOCache: Bool = false) {
        guard let limits = StorageBusLimits(type: type) else { return nil }
        self.init(name: name, type: type, portCount: portCount, devicesPerPort: limits.devicesPerPort,
                  useHostIOCache: useHostIOCache)
    }

    /// An AHCI (SATA) controller: 1..30 ports, one device each.
    public static func sata(name: String = "SATA", portCount: Int) -> StorageControllerSpec {
        known(name: name, type: "AHCI", portCount: portCount, useHostIOCache: false)
    }

    /// A PIIX4 (IDE) controller: exactly 2 ports (primary, secondary) × 2 devices (master, slave).
    public static func ide(name: String = "IDE") -> StorageControllerSpec {
        known(name: name, type: "PIIX4", portCount: 2, useHostIOCache: true)
    }

    /// An NVMe controller: 1..255 ports, one device each (an Extension Pack device in Oracle builds).
    public static func nvme(name: String = "NVMe", portCount: Int) -> StorageControllerSpec {
        known(name: name, type: "NVMe", portCount: portCount, useHostIOCache: false)
    }

    /// A controller of a bus type in ``StorageBusLimits``'s table (the factories above), one device per port if not.
    private static func known(name: String, type: String, portCount: Int, useHostIOCache: Bool) -> StorageControllerSpec {
        StorageControllerSpec(name: name, type: type, portCount: portCount,
                              devicesPerPort: StorageBusLimits(type: type)?.devicesPerPort ?? 1,
                              useHostIOCache: useHostIOCache)
    }
}

/// Why a drive cannot be attached.
public struct StorageAllocationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The controller's name.
    public var controller: String
    /// Its slots taken at the time, sorted.
    public var occupied: [StorageSlot]
    /// What is wrong.
    public var reason: String

    /// The controller, what is wrong, its occupied slots and what to do.
    public var description: String {
        let taken = occupied.isEmpty ? "none" : occupied.sorted().map(\.description).joined(separator: ", ")
        return "storage controller \"\(controller)\": \(reason) (occupied: \(taken)); use another controller or "
            + "detach a drive first."
    }
}

/// Hands out (port, device) slots on one controller: the next free one in port-then-device order, or a requested
/// one if it is free and inside the controller's limits. VirtualBox refuses two attachments on one slot at load
/// ("Duplicate attachments for storage controller '%s', port %d, device %d", `Machine::i_loadStorageDevices`) and
/// out-of-range slots in the API (`StorageController::i_checkPortAndDeviceValid`); this refuses both up front.
public struct PortAllocator: Sendable {
    /// The controller whose slots are handed out.
    public let controller: StorageControllerSpec
    /// The slots taken so far.
    public private(set) var occupied: Set<StorageSlot> = []

    /// An allocator for `controller`, with `occupied` slots taken already (an existing machine's attachments).
    public init(controller: StorageControllerSpec, occupied: Set<StorageSlot> = []) {
        self.controller = controller
        self.occupied = occupied
    }

    /// Takes the first free slot.
    /// - Throws: `StorageAllocationError` naming the controller and its occupied slots when every slot is taken.
    public mutating func next() throws(StorageAllocationError) -> StorageSlot {
        for port in 0..<max(controller.portCount, 0) {
            for device in 0..<max(controller.devicesPerPort, 0) {
                let slot = StorageSlot(port: port, device: device)
                if !occupied.contains(slot) {
                    occupied.insert(slot)
                    return slot
                }
            }
        }
        throw error("all \(controller.portCount) port(s) × \(controller.devicesPerPort) device(s) are taken")
    }

    /// Takes `slot`.
    /// - Throws: `StorageAllocationError` when it is taken or outside the controller's ports and devices.
    public mutating func claim(_ slot: StorageSlot) throws(StorageAllocationError) {
        guard (0..<controller.portCount).contains(slot.port), (0..<controller.devicesPerPort).contains(slot.device) else {
            throw error("\(slot) is outside its ports 0…\(controller.portCount - 1) and devices "
                + "0…\(controller.devicesPerPort - 1)")
        }
        guard !occupied.contains(slot) else { throw error("\(slot) is taken already") }
        occupied.insert(slot)
    }

    /// Frees `slot` (after a drive is detached); freeing a free slot does nothing.
    public mutating func release(_ slot: StorageSlot) {
        occupied.remove(slot)
    }

    private func error(_ reason: String) -> StorageAllocationError {
        StorageAllocationError(controller: controller.name, occupied: Array(occupied).sorted(), reason: reason)
    }
}
