import Basics
/// A disk registered in `Machine/MediaRegistry/HardDisks` (nested elements are differencing children).
public struct RegisteredDisk: Sendable, Equatable, Codable {
    /// `HardDisk@uuid`, normalised (lowercase, no braces).
    public var uuid: String
    /// `location` as written (relative = inside the machine folder).
    public var location: String
    /// `format` as written.
    public var format: String
    /// UUID of the parent disk for a differencing image, nil for a base disk.
    public var parent: String?
    /// Element index in the settings.
    public var index: Int
}

/// Where a new disk goes: controller name, port, device, and the `PortCount` the controller needs.
public struct DiskSlot: Sendable, Equatable, Codable {
    /// `StorageController@name`.
    public var controller: String
    /// `StorageController@type` (`AHCI`, `PIIX4`, …).
    public var bus: String
    /// Port, 0-based.
    public var port: Int
    /// Device on the port (IDE master 0 / slave 1; 0 elsewhere).
    public var device: Int
    /// The controller's `PortCount` after the edit (raised when the port is beyond the present count).
    public var portCount: Int
    /// Element index of the controller.
    public var index: Int
}

extension VBoxSettings {
    /// The `StorageControllers` element VirtualBox reads for the current state: under `Hardware` (1.17+), else
    /// under `Machine` (settings §4.2).
    public var storageControllersElement: Int? {
        child(of: hardwareIndex, named: "StorageControllers") ?? child(of: machineIndex, named: "StorageControllers")
    }

    /// Every `HardDisk` of `Machine/MediaRegistry/HardDisks`, depth first, with its parent for differencing images.
    public var registeredDisks: [RegisteredDisk] {
        guard let hardDisks = descend(from: machineIndex, "MediaRegistry", "HardDisks") else { return [] }
        var out: [RegisteredDisk] = []
        func walk(_ i: Int, parent: String?) {
            let e = elements[i]
            let uuid = e.attribute("uuid").flatMap(VBoxUUID.init)?.description ?? ""
            out.append(RegisteredDisk(uuid: uuid, location: e.attribute("location") ?? "",
                                      format: e.attribute("format") ?? "", parent: parent, index: i))
            for c in children(of: i, named: "HardDisk") { walk(c, parent: uuid) }
        }
        for d in children(of: hardDisks, named: "HardDisk") { walk(d, parent: nil) }
        return out
    }

    /// The (port, device) slots used on a controller, any device type.
    func usedSlots(of controller: Int) -> Set<StorageSlot> {
        Set(children(of: controller, named: "AttachedDevice").compactMap { d in
            let e = elements[d]
            guard let p = VBoxValue.uint(e.attribute("port")), let dv = VBoxValue.uint(e.attribute("device")) else { return nil }
            return StorageSlot(port: p, device: dv)
        })
    }

    /// Chooses the slot for a new hard disk: on `controller` (by name) or, without one, the first controller in the
    /// file that is not USB or floppy; at `port` or the first free one, raising `PortCount` when the bus allows
    /// (AHCI up to 30, SAS/NVMe 255, virtio-scsi 256: ``StorageBusLimits``). The slot comes from a ``PortAllocator``
    /// over the controller's bus limits with its attachments claimed, the one allocator `MachineBuilder` uses too.
    /// - Throws: `VBoxXMLError.conflict` for a missing controller, a floppy controller, a port out of range or in
    ///   use, or controllers that are full (naming the ports in use).
    public func freeDiskSlot(controller name: String? = nil, port wanted: Int? = nil) throws(VBoxXMLError) -> DiskSlot {
        guard let parent = storageControllersElement else {
            throw .conflict(path: path, message: "the machine has no storage controller. Add one first "
                + "(VBoxManage storagectl NAME --name SATA --add sata).")
        }
        let all = children(of: parent, named: "StorageController")
        let candidates: [Int]
        if let name {
            guard let c = all.first(where: { elements[$0].attribute("name") == name }) else {
                let names = all.map { "\"\(elements[$0].attribute("name") ?? "")\"" }.joined(separator: ", ")
                throw .conflict(path: path, message: "there is no storage controller named \"\(name)\"; the machine has "
                    + (names.isEmpty ? "none." : "\(names)."))
            }
            guard elements[c].attribute("type") != "I82078" else {
                throw .conflict(path: path, message: "\"\(name)\" is a floppy controller; hard disks cannot go there. "
                    + "Pick a SATA, SCSI, SAS, NVMe or IDE controller with --controller.")
            }
            candidates = [c]
        } else {
            candidates = all.filter { !["USB", "I82078"].contains(elements[$0].attribute("type") ?? "") }
        }
        var full: [String] = []
        for c in candidates {
            let e = elements[c]
            let type = e.attribute("type") ?? ""
            let cname = e.attribute("name") ?? ""
            let portCount = VBoxValue.uint(e.attribute("PortCount")) ?? 2
            let used = usedSlots(of: c)
            // Every port the bus allows (PortCount is raised to the chosen port + 1), and the file's own count when it
            // is beyond that; the ports below PortCount come first in the allocator's order, so they are used first.
            guard let limits = StorageBusLimits(type: type),
                  var allocator = StorageControllerSpec(name: cname, type: type,
                                                        portCount: max(portCount, limits.portCount.upperBound))
                      .map({ PortAllocator(controller: $0, occupied: used) }) else {
                full.append("\"\(cname)\" has the unknown type \"\(type)\"")
                continue
            }
            if let wanted {
                guard (0..<limits.portCount.upperBound).contains(wanted) else {
                    throw .conflict(path: path, message: "port \(wanted) is out of range for \(type) controller "
                        + "\"\(cname)\" (ports 0-\(limits.portCount.upperBound - 1)).")
                }
                guard let slot = (0..<limits.devicesPerPort).lazy.map({ StorageSlot(port: wanted, device: $0) })
                    .first(where: { (try? allocator.claim($0)) != nil }) else {
                    throw .conflict(path: path, message: "port \(wanted) of \"\(cname)\" is in use. "
                        + Self.describeUsed(used) + " Pick another --port or leave it out.")
                }
                return DiskSlot(controller: cname, bus: type, port: slot.port, device: slot.device,
                                portCount: max(portCount, slot.port + 1), index: c)
            }
            guard let slot = try? allocator.next() else {
                full.append("\"\(cname)\" (\(type), \(limits.portCount.upperBound) ports) is full: " + Self.describeUsed(used))
                continue
            }
            return DiskSlot(controller: cname, bus: type, port: slot.port, device: slot.device,
                            portCount: max(portCount, slot.port + 1), index: c)
        }
        throw .conflict(path: path, message: "no free port for a disk: " + (full.isEmpty ? "no SATA, SCSI, SAS, NVMe or "
            + "IDE controller" : full.joined(separator: "; ")) + ". Remove a disk (vmprov remove-disk) or add a "
            + "controller (VBoxManage storagectl).")
    }

    /// `ports in use: 0, 0:1, 1.` (device shown when not 0), sorted.
    static func describeUsed(_ used: Set<StorageSlot>) -> String {
        "ports in use: " + used.sorted().map { $0.device == 0 ? "\($0.port)" : "\($0.port):\($0.device)" }
            .joined(separator: ", ") + "."
    }

    /// Registers the VDI `location` (relative to the machine folder, or absolute) with `uuid` (its header's
    /// uuidCreate) in `Machine/MediaRegistry/HardDisks` as `format="VDI" type="Normal"`, and attaches it to the
    /// current state at `slot` (from ``freeDiskSlot(controller:port:)``): `AttachedDevice type="HardDisk"`
    /// (`hotpluggable="false"` from 1.15), its `Image`, and a raised `PortCount` when needed. Registry elements are
    /// created when missing. A machine with snapshots gets `currentStateModified` dropped.
    /// - Throws: `VBoxXMLError.conflict` when the UUID or location is registered already, or the slot is taken;
    ///   `.invalid` below 1.12.
    public func addingDisk(uuid: VBoxUUID, location: String, at slot: DiskSlot) throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        let registered = registeredDisks
        if let clash = registered.first(where: { $0.uuid == uuid.description || $0.location == location }) {
            throw .conflict(path: path, message: "the media registry already has \(clash.location) "
                + "({\(clash.uuid)}); VirtualBox refuses a second entry with the same UUID or location. Choose another --name.")
        }
        guard slot.index < elements.count, elements[slot.index].name == "StorageController",
              !usedSlots(of: slot.index).contains(StorageSlot(port: slot.port, device: slot.device)) else {
            throw .conflict(path: path, message: "port \(slot.port) device \(slot.device) of \"\(slot.controller)\" is "
                + "not free.")
        }
        var batch = EditBatch(self)
        let disk = XMLMarkup("HardDisk", [("uuid", uuid.braced), ("location", location), ("format", "VDI"),
                                          ("type", "Normal")])
        if let hardDisks = descend(from: machineIndex, "MediaRegistry", "HardDisks") {
            try batch.insertChildren([disk], into: hardDisks)
        } else if let registry = child(of: machineIndex, named: "MediaRegistry") {
            try batch.insertChildren([XMLMarkup("HardDisks", children: [disk])], into: registry)
        } else {
            let markup = XMLMarkup("MediaRegistry", children: [XMLMarkup("HardDisks", children: [disk])])
            try batch.insertBefore(markup, sibling: elements[machineIndex].children.first, parent: machineIndex)
        }
        var attrs = [("type", "HardDisk")]
        if version >= SettingsVersion(major: 1, minor: 15, raw: "1.15") { attrs.append(("hotpluggable", "false")) }
        attrs += [("port", String(slot.port)), ("device", String(slot.device))]
        let attached = XMLMarkup("AttachedDevice", attrs, children: [XMLMarkup("Image", [("uuid", uuid.braced)])])
        let current = VBoxValue.uint(elements[slot.index].attribute("PortCount")) ?? 2
        if slot.portCount > current {
            try batch.setAttributes([("PortCount", String(slot.portCount))], on: slot.index)
        }
        try batch.insertChildren([attached], into: slot.index)
        try batch.noteCurrentStateModified()
        return EditResult(settings: try batch.commit(), changed: true, warnings: [])
    }

    /// The current-state hard-disk attachments: controller element, attached-device element, port, device, UUID.
    public var diskAttachments: [(controller: Int, device: Int, port: Int, slotDevice: Int, uuid: String)] {
        guard let parent = storageControllersElement else { return [] }
        var out: [(Int, Int, Int, Int, String)] = []
        for c in children(of: parent, named: "StorageController") {
            for d in children(of: c, named: "AttachedDevice") where elements[d].attribute("type") == "HardDisk" {
                let uuid = child(of: d, named: "Image").flatMap { elements[$0].attribute("uuid") }
                    .flatMap(VBoxUUID.init)?.description ?? ""
                out.append((c, d, VBoxValue.uint(elements[d].attribute("port")) ?? -1,
                            VBoxValue.uint(elements[d].attribute("device")) ?? -1, uuid))
            }
        }
        return out
    }

    /// Finds a registered disk by UUID (with or without braces), location as written, or file name.
    /// - Throws: `VBoxXMLError.conflict` naming the registered disks when none matches, or several do.
    public func registeredDisk(_ query: String) throws(VBoxXMLError) -> RegisteredDisk {
        let disks = registeredDisks
        let uuid = VBoxUUID(query)?.description
        let matches = disks.filter { d in
            d.uuid == uuid || d.location == query || FileIO.basename(d.location) == query
                || FileIO.basename(d.location) == query + ".vdi"
        }
        guard matches.count == 1 else {
            let list = disks.map { "\($0.location) ({\($0.uuid)})" }.joined(separator: ", ")
            throw .conflict(path: path, message: (matches.isEmpty ? "no registered disk matches \"\(query)\"" :
                "\(matches.count) registered disks match \"\(query)\"") + "; the machine has "
                + (list.isEmpty ? "no disks in its media registry." : "\(list). Name one by UUID or location."))
        }
        return matches[0]
    }

    /// Whether `uuid` is attached anywhere but `except` (the current state and every snapshot), for
    /// `Medium::i_canClose`.
    func attachedElsewhere(_ uuid: String, except: Int?) -> Bool {
        for (i, e) in elements.enumerated() where e.name == "Image" && i != except {
            guard let p = e.parent, elements[p].name == "AttachedDevice",
                  e.attribute("uuid").flatMap(VBoxUUID.init)?.description == uuid else { continue }
            return true
        }
        return false
    }

    /// What ``removingDisk(_:unregister:)`` did.
    public struct DiskRemoval: Sendable {
        /// The edit.
        public var result: EditResult
        /// The disk.
        public var disk: RegisteredDisk
        /// Whether its registry entry was removed too (only then may its file be deleted).
        public var unregistered: Bool
    }

    /// Detaches a disk from the current state (`Machine::detachDevice`) and, when nothing else uses it (no other
    /// attachment in the current state or any snapshot, no differencing children: `Medium::i_canClose`), removes
    /// its registry entry. Never touches the file.
    /// - Parameter requireUnregister: refuse (rather than keep the registry entry) when the disk cannot be
    ///   unregistered; for `--delete`.
    /// - Throws: `VBoxXMLError.conflict` when the disk is unknown, or (with `requireUnregister`) still used.
    public func removingDisk(_ query: String, requireUnregister: Bool) throws(VBoxXMLError) -> DiskRemoval {
        try requireEditable()
        let disk = try registeredDisk(query)
        let attachment = diskAttachments.first { $0.uuid == disk.uuid }
        let imageOfAttachment = attachment.flatMap { child(of: $0.device, named: "Image") }
        let hasChildren = registeredDisks.contains { $0.parent == disk.uuid }
        let elsewhere = attachedElsewhere(disk.uuid, except: imageOfAttachment)
        let canUnregister = !hasChildren && !elsewhere
        if requireUnregister, !canUnregister {
            throw .conflict(path: path, message: "\(disk.location) is " + (hasChildren ? "the parent of differencing "
                + "images (snapshots)" : "still attached in a snapshot or elsewhere") + "; VirtualBox needs it, so vmprov "
                + "will not delete it. Delete the snapshots first, or remove the disk without --delete.")
        }
        guard attachment != nil || canUnregister else {
            throw .conflict(path: path, message: "\(disk.location) is not attached to the current state and is still "
                + "used by a snapshot or has differencing children; nothing to remove.")
        }
        var batch = EditBatch(self)
        if let attachment { try batch.removeElement(attachment.device) }
        if canUnregister { try batch.removeElement(disk.index) }
        try batch.noteCurrentStateModified()
        return DiskRemoval(result: EditResult(settings: try batch.commit(), changed: true, warnings: []),
                           disk: disk, unregistered: canUnregister)
    }
}

extension EditBatch {
    /// Inserts `markup` on its own line before `sibling` (a child of `parent`), in the file's style; as the last
    /// child when there is no sibling.
    mutating func insertBefore(_ markup: XMLMarkup, sibling: Int?, parent: Int) throws(VBoxXMLError) {
        guard let sibling else { return try insertChildren([markup], into: parent) }
        let bytes = base.bytes
        let start = base.elements[sibling].span.startTag.lowerBound
        let indent = base.indentation(of: sibling)
        let text = markup.withPrefix(base.prefix(of: parent)).render(indent: indent, unit: base.indentUnit,
                                                                      newline: base.newline)
        if !indent.isEmpty || (start > 0 && (bytes[start - 1] == 0x0A || bytes[start - 1] == 0x0D)) {
            let lineStart = start - indent.utf8.count
            try splice(lineStart..<lineStart, with: indent + text + base.newline)
        } else {
            try splice(start..<start, with: text)
        }
    }
}
