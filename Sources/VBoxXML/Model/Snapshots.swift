import Basics
/// A disk a snapshot (or the current state) attaches.
public struct SnapshotDisk: Sendable, Equatable, Codable {
    /// UUID (lowercase, no braces).
    public var uuid: String
    /// Registry location, nil when the UUID is not in this machine's registry.
    public var location: String?
    /// Whether it is a differencing image (a nested `HardDisk` in the registry).
    public var differencing: Bool
}

/// One node of the snapshot tree (vbox-storage-devices §5: `Machine/Snapshot`, children in `Snapshot/Snapshots`).
public struct SnapshotInfo: Sendable, Equatable, Codable {
    /// `uuid` (lowercase, no braces).
    public var uuid: String
    /// `name`.
    public var name: String
    /// `timeStamp` as written (`YYYY-MM-DDTHH:MM:SSZ`).
    public var timeStamp: String
    /// The `Description` child's text (or the legacy attribute), as written.
    public var description: String?
    /// Taken while the machine ran (has a `stateFile`).
    public var online: Bool
    /// Whether this is `Machine@currentSnapshot`: the current state is its child.
    public var current: Bool
    /// Hard disks it attaches.
    public var disks: [SnapshotDisk]
    /// Child snapshots (`Snapshot/Snapshots/Snapshot`), in file order.
    public var children: [SnapshotInfo]
}

/// The snapshot tree and the current state.
public struct SnapshotTree: Sendable, Equatable, Codable {
    /// The root snapshot (VirtualBox uses only the first `Machine/Snapshot`), nil without snapshots.
    public var root: SnapshotInfo?
    /// `Machine@currentSnapshot`.
    public var currentSnapshot: String?
    /// `Machine@currentStateModified` (absent = true) — meaningful only with snapshots.
    public var currentStateModified: Bool
    /// Disks the current state attaches.
    public var currentStateDisks: [SnapshotDisk]
    /// Number of snapshots.
    public var count: Int
}

extension VBoxSettings {
    /// The snapshot tree as `Machine::i_loadMachineDataFromSettings` reads it (first root only), with the disks each
    /// node attaches (`Snapshot/Hardware/StorageControllers` from 1.17, `Snapshot/StorageControllers` before).
    public var snapshotTree: SnapshotTree {
        let disks = registeredDisks
        let machine = elements[machineIndex]
        let current = machine.attribute("currentSnapshot").flatMap(VBoxUUID.init)?.description
        func attached(_ controllersParent: Int?) -> [SnapshotDisk] {
            guard let controllersParent else { return [] }
            var out: [SnapshotDisk] = []
            for c in children(of: controllersParent, named: "StorageController") {
                for d in children(of: c, named: "AttachedDevice") where elements[d].attribute("type") == "HardDisk" {
                    guard let uuid = child(of: d, named: "Image").flatMap({ elements[$0].attribute("uuid") })
                        .flatMap(VBoxUUID.init)?.description else { continue }
                    let reg = disks.first { $0.uuid == uuid }
                    out.append(SnapshotDisk(uuid: uuid, location: reg?.location, differencing: reg?.parent != nil))
                }
            }
            return out
        }
        var count = 0
        func node(_ i: Int) -> SnapshotInfo {
            count += 1
            let e = elements[i]
            let uuid = e.attribute("uuid").flatMap(VBoxUUID.init)?.description ?? ""
            let hw = child(of: i, named: "Hardware")
            let controllers = hw.flatMap { child(of: $0, named: "StorageControllers") }
                ?? child(of: i, named: "StorageControllers")
            let description = child(of: i, named: "Description").map { text(of: $0) } ?? e.attribute("Description")
            let kids = child(of: i, named: "Snapshots").map { children(of: $0, named: "Snapshot").map(node) } ?? []
            return SnapshotInfo(uuid: uuid, name: e.attribute("name") ?? "", timeStamp: e.attribute("timeStamp") ?? "",
                                description: description, online: e.attribute("stateFile") != nil,
                                current: uuid == current, disks: attached(controllers), children: kids)
        }
        let root = child(of: machineIndex, named: "Snapshot").map(node)
        return SnapshotTree(root: root, currentSnapshot: current,
                            currentStateModified: VBoxValue.bool(machine.attribute("currentStateModified")) ?? true,
                            currentStateDisks: attached(storageControllersElement), count: count)
    }

    /// The text between an element's tags (entities as written; enough for a description line).
    func text(of index: Int) -> String {
        let span = elements[index].span
        guard let end = span.endTag else { return "" }
        return String(decoding: bytes[span.startTag.upperBound..<end.lowerBound], as: UTF8.self)
    }
}
