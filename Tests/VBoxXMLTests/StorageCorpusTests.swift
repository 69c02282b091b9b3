import Foundation
import Testing
import TestSupport
import VBoxXML

/// The storage edits (shared folders, disks) on every machine file VirtualBox wrote (../shared/corpus/vbox).
@Suite("Storage edits on the corpus")
struct StorageCorpusTests {
    static let files = TestPaths.corpusVBoxFiles()

    /// The original, with `currentStateModified` dropped when the machine has snapshots: what every current-state
    /// edit also does (vbox-storage-devices §5.4).
    static func baseline(_ doc: VBoxSettings) throws -> [UInt8] {
        guard doc.hasSnapshots, doc.elements[doc.machineIndex].attribute("currentStateModified") != nil else {
            return doc.bytes
        }
        return try doc.removingAttribute("currentStateModified", on: doc.machineIndex).bytes
    }

    static func path(_ s: VBoxSettings, _ index: Int) -> [String] {
        var out: [String] = []
        var cursor: Int? = index
        while let c = cursor { out.insert(s.elements[c].name, at: 0); cursor = s.elements[c].parent }
        return out
    }

    /// xmllint's schema errors, without file names and line numbers, as a multiset.
    static func schemaErrors(_ bytes: [UInt8]) throws -> [String: Int] {
        guard let xmllint = which("xmllint"), let corpus = TestPaths.corpus else { return [:] }
        let dir = TempDir()
        let url = dir.write("m.vbox", bytes: Data(bytes))
        let r = try run(xmllint, ["--noout", "--nonet", "--schema", corpus.appendingPathComponent("xsd/VirtualBox-settings.xsd").path, url.path])
        var out: [String: Int] = [:]
        for line in r.stderr.split(separator: "\n") where line.contains("error") && !line.hasSuffix("fails to validate") {
            // "file:LINE: element X: Schemas validity error : MESSAGE"
            let parts = line.split(separator: ":", maxSplits: 2)
            let message = parts.count == 3 ? String(parts[2]) : String(line)
            out[message, default: 0] += 1
        }
        return out
    }

    static func newSchemaErrors(before: [UInt8], after: [UInt8]) throws -> [String] {
        var old = try schemaErrors(before)
        var added: [String] = []
        for (message, n) in try schemaErrors(after) {
            let had = old[message] ?? 0
            if n > had { added.append(message) }
            old[message] = nil
        }
        return added
    }

    static func errors(_ s: VBoxSettings) -> [String] {
        ReaderRules.check(s).filter { $0.severity == .error }.map(\.message)
    }

    @Test(arguments: files)
    func addShareEverywhere(file: URL) throws {
        let doc = try VBoxSettings(bytes: Array(bytes(file)), path: file.lastPathComponent)
        let host = TempDir()
        let folder = SharedFolderInfo(name: "vmprov_data", hostPath: host.path + "/", writable: true, autoMount: true,
                                      autoMountPoint: "")
        let result = try doc.addingSharedFolder(folder)
        let edited = result.settings
        #expect(result.changed)
        let added = try #require(edited.sharedFolders.first { $0.folder.name == "vmprov_data" })
        // Where VirtualBox reads it, the trailing slash dropped as VirtualBox stores it.
        #expect(Self.path(edited, added.index) == ["VirtualBox", "Machine", "Hardware", "SharedFolders", "SharedFolder"])
        #expect(added.folder.hostPath == host.path && added.folder.writable && added.folder.autoMount)
        #expect(edited.elements[added.index].attributes.map(\.name) == ["name", "hostPath", "writable", "autoMount"])
        #expect(edited.version.raw == doc.version.raw)
        // Nothing outside the element (or the SharedFolders it created) changed.
        let created = doc.child(of: doc.hardwareIndex, named: "SharedFolders") == nil
        let outer = created ? try #require(edited.elements[added.index].parent) : added.index
        #expect(try Fixture.without(edited, outer) == Self.baseline(doc))
        // Repeating is harmless.
        let again = try edited.addingSharedFolder(folder)
        #expect(!again.changed && again.settings.bytes == edited.bytes)
        // A name differing in case is refused.
        #expect(throws: VBoxXMLError.self) {
            try edited.addingSharedFolder(SharedFolderInfo(name: "VMPROV_DATA", hostPath: host.path, writable: false,
                                                           autoMount: false, autoMountPoint: ""))
        }
        #expect(Self.errors(edited) == Self.errors(doc))
        #expect(try Self.newSchemaErrors(before: doc.bytes, after: edited.bytes) == [])
        // Removing it takes away exactly the element.
        let removed = try edited.removingSharedFolder(named: "vmprov_data").settings
        #expect(!removed.sharedFolders.contains { $0.folder.name == "vmprov_data" })
        if !created { #expect(try removed.bytes == Self.baseline(doc)) }
        #expect(try Self.newSchemaErrors(before: doc.bytes, after: removed.bytes) == [])
    }

    @Test(arguments: files)
    func addDiskEverywhere(file: URL) throws {
        let doc = try VBoxSettings(bytes: Array(bytes(file)), path: file.lastPathComponent)
        let slot: DiskSlot
        do {
            slot = try doc.freeDiskSlot()
        } catch {
            // Refused: no controller or every controller full; the message names the ports or says what to add.
            #expect("\(error)".contains("storage controller") || "\(error)".contains("ports in use"), "\(error)")
            return
        }
        let uuid = VBoxUUID("0badc0de-1111-4222-8333-444455556666")!
        let result = try doc.addingDisk(uuid: uuid, location: "vmprov-extra.vdi", at: slot)
        let edited = result.settings
        let disk = try #require(edited.registeredDisks.first { $0.uuid == uuid.description })
        #expect(Self.path(edited, disk.index) == ["VirtualBox", "Machine", "MediaRegistry", "HardDisks", "HardDisk"])
        #expect(disk.location == "vmprov-extra.vdi" && disk.format == "VDI" && disk.parent == nil)
        let attachment = try #require(edited.diskAttachments.first { $0.uuid == uuid.description })
        #expect(edited.elements[attachment.controller].attribute("name") == slot.controller)
        #expect(attachment.port == slot.port && attachment.slotDevice == slot.device)
        let parentOfControllers = try #require(edited.elements[attachment.controller].parent)
        #expect(parentOfControllers == edited.storageControllersElement)
        // VirtualBox's load checks: nothing new (no duplicate slot, PortCount in range, the disk registered).
        #expect(Self.errors(edited) == Self.errors(doc))
        #expect(try Self.newSchemaErrors(before: doc.bytes, after: edited.bytes) == [])
        // Nothing outside the new elements changed: take them out again (and PortCount back).
        var back = try edited.removingElement(attachment.device)
        let oldPortCount = doc.elements[slot.index].attribute("PortCount")
        if let controller = back.storageControllersElement.flatMap({ c in
            back.children(of: c, named: "StorageController").first { back.elements[$0].attribute("name") == slot.controller } }),
           back.elements[controller].attribute("PortCount") != oldPortCount {
            back = try oldPortCount.map { try back.settingAttribute("PortCount", to: $0, on: controller) }
                ?? back.removingAttribute("PortCount", on: controller)
        }
        let registryOuter: Int
        let d = try #require(back.registeredDisks.first { $0.uuid == uuid.description })
        if doc.child(of: doc.machineIndex, named: "MediaRegistry") == nil {
            registryOuter = try #require(back.child(of: back.machineIndex, named: "MediaRegistry"))
        } else if doc.descend(from: doc.machineIndex, "MediaRegistry", "HardDisks") == nil {
            registryOuter = try #require(back.descend(from: back.machineIndex, "MediaRegistry", "HardDisks"))
        } else {
            registryOuter = d.index
        }
        #expect(try back.removingElement(registryOuter).bytes == Self.baseline(doc))
        // remove-disk takes it out of the current state and the registry.
        let removal = try edited.removingDisk("vmprov-extra.vdi", requireUnregister: true)
        #expect(removal.unregistered)
        #expect(!removal.result.settings.registeredDisks.contains { $0.uuid == uuid.description })
        #expect(!removal.result.settings.diskAttachments.contains { $0.uuid == uuid.description })
        #expect(Self.errors(removal.result.settings) == Self.errors(doc))
        // A second disk with the same UUID or location is refused.
        #expect(throws: VBoxXMLError.self) { try edited.addingDisk(uuid: uuid, location: "other.vdi", at: try edited.freeDiskSlot()) }
    }

    @Test func snapshotDisksAreNotUnregistered() throws {
        guard let corpus = TestPaths.corpus else { return TestPaths.corpusMissing("snapshot disks") }
        // luiscidade17: base Ubuntu.vdi with one differencing child attached to the current state.
        let file = corpus.appendingPathComponent("vbox").appendingPathComponent(
            try #require(Self.files.map(\.lastPathComponent).first { $0.hasPrefix("luiscidade17__") }))
        let doc = try VBoxSettings(bytes: Array(bytes(file)), path: file.lastPathComponent)
        let all = doc.registeredDisks
        let base = try #require(all.first { d in d.parent == nil && all.contains { c in c.parent == d.uuid } })
        #expect(throws: VBoxXMLError.self) { try doc.removingDisk(base.uuid, requireUnregister: true) }
        let leaf = try #require(doc.registeredDisks.first { $0.parent == base.uuid })
        let removal = try doc.removingDisk(leaf.uuid, requireUnregister: false)
        // The leaf is attached in the current state only, so it goes; the base stays registered for the snapshot.
        #expect(removal.result.settings.registeredDisks.contains { $0.uuid == base.uuid })
        #expect(removal.result.settings.elements[removal.result.settings.machineIndex].attribute("currentStateModified") == nil)
    }

    @Test(arguments: files)
    func addUSBEverywhere(file: URL) throws {
        let doc = try VBoxSettings(bytes: Array(bytes(file)), path: file.lastPathComponent)
        let hadWorking = doc.usbControllers.contains { $0.type == "OHCI" || $0.type == "XHCI" }
        // Below 1.14 (old USBController layout) always, below 1.15 when an xHCI controller would have to be added.
        if doc.version < SettingsVersion(major: 1, minor: 14, raw: "1.14")
            || (doc.version < SettingsVersion(major: 1, minor: 15, raw: "1.15") && !hadWorking) {
            let refused = (try? doc.addingUSBFilter(name: "stick", vendorId: "781", productId: "5567", controller: .xhci)) == nil
            #expect(refused)
            return
        }
        let result = try doc.addingUSBFilter(name: "stick", vendorId: "781", productId: "5567", controller: .xhci)
        let edited = result.settings
        let filter = try #require(edited.usbFilters.first { $0.filter.name == "stick" })
        #expect(filter.filter == USBFilterInfo(name: "stick", active: true, vendorId: "0781", productId: "5567"))
        #expect(Self.path(edited, filter.index) == ["VirtualBox", "Machine", "Hardware", "USB", "DeviceFilters", "DeviceFilter"])
        // A controller that works alone is there (the existing OHCI/XHCI, or the new XHCI).
        let types = edited.usbControllers.map(\.type)
        #expect(types.contains("XHCI") || types.contains("OHCI"))
        #expect(edited.usbControllers.count == doc.usbControllers.count + (hadWorking ? 0 : 1))
        #expect(Self.errors(edited) == Self.errors(doc))
        #expect(try Self.newSchemaErrors(before: doc.bytes, after: edited.bytes) == [])
        // Nothing outside USB changed.
        let base = try VBoxSettings(bytes: Self.baseline(doc), path: doc.path)
        let usbAfter = try #require(edited.child(of: edited.hardwareIndex, named: "USB"))
        #expect(try Fixture.without(edited, usbAfter) == Fixture.without(base, base.child(of: base.hardwareIndex, named: "USB")))
        let again = try edited.addingUSBFilter(name: "stick", vendorId: "0781", productId: "5567", controller: .xhci)
        #expect(!again.changed && again.settings.bytes == edited.bytes)
        let removed = try edited.removingUSBFilter(named: "stick").settings
        #expect(!removed.usbFilters.contains { $0.filter.name == "stick" })
    }

    @Test(arguments: files)
    func snapshotTreeAgreesWithTheFile(file: URL) throws {
        let doc = try VBoxSettings(bytes: Array(bytes(file)), path: file.lastPathComponent)
        let tree = doc.snapshotTree
        let elementsNamedSnapshot = doc.elements.filter { $0.name == "Snapshot" }.count
        #expect(tree.count == elementsNamedSnapshot)
        var currents: [String] = []
        var names: [String] = []
        func walk(_ n: SnapshotInfo) {
            if n.current { currents.append(n.uuid) }
            names.append(n.name)
            #expect(n.timeStamp.count == 20 && n.timeStamp.hasSuffix("Z"), "\(n.timeStamp)")
            n.children.forEach(walk)
        }
        if let root = tree.root { walk(root) }
        if elementsNamedSnapshot > 0 {
            #expect(currents == [try #require(tree.currentSnapshot)])
        } else {
            #expect(tree.root == nil && currents.isEmpty)
        }
        let name = file.lastPathComponent
        if name.hasPrefix("Marvint-dev__") { #expect(tree.count == 18) }
        if name.hasPrefix("joco-kad__") { #expect(tree.root?.children.count == 2) }
        if name.hasPrefix("luiscidade17__") {
            // The snapshot holds the base; the current state its differencing child.
            #expect(tree.root?.disks.map(\.differencing) == [false])
            #expect(tree.currentStateDisks.map(\.differencing) == [true])
        }
    }
}
