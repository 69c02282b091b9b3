#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// One `Machine/Hardware/SharedFolders/SharedFolder` as VirtualBox reads it (`MachineConfigFile::readHardware`;
/// defaults from the `SharedFolder` constructor: `writable` and `autoMount` false when absent).
public struct SharedFolderInfo: Sendable, Equatable, Codable {
    /// The share name the guest sees.
    public var name: String
    /// Absolute host path, as written.
    public var hostPath: String
    /// `writable` (absent = false in the reader, whatever the XSD says).
    public var writable: Bool
    /// `autoMount` (absent = false).
    public var autoMount: Bool
    /// `autoMountPoint` (settings 1.17+; empty = the guest's default).
    public var autoMountPoint: String

    /// A folder with these values.
    public init(name: String, hostPath: String, writable: Bool, autoMount: Bool, autoMountPoint: String) {
        self.name = name
        self.hostPath = hostPath
        self.writable = writable
        self.autoMount = autoMount
        self.autoMountPoint = autoMountPoint
    }
}

extension VBoxSettings {
    /// The shared folders of the current state (`Machine/Hardware/SharedFolders/SharedFolder`; the first
    /// `SharedFolders` only), with their element indices. Snapshots keep their own and are not listed.
    public var sharedFolders: [(index: Int, folder: SharedFolderInfo)] {
        guard let parent = child(of: hardwareIndex, named: "SharedFolders") else { return [] }
        return children(of: parent, named: "SharedFolder").map { i in
            let e = elements[i]
            return (i, SharedFolderInfo(name: e.attribute("name") ?? "", hostPath: e.attribute("hostPath") ?? "",
                                        writable: VBoxValue.bool(e.attribute("writable")) ?? false,
                                        autoMount: VBoxValue.bool(e.attribute("autoMount")) ?? false,
                                        autoMountPoint: e.attribute("autoMountPoint") ?? ""))
        }
    }

    /// The most mappings the shared-folder service holds (`SHFL_MAX_MAPPINGS`, include/VBox/shflsvc.h).
    public static let maximumSharedFolders = 64

    /// Adds a shared folder under `Machine/Hardware/SharedFolders` (created after `AudioAdapter`/`Network` when
    /// missing), with `writable` and `autoMount` always written and `autoMountPoint` only when non-empty, as
    /// `buildHardwareXML` writes them. The rules are VirtualBox's API rules (`Machine::createSharedFolder`,
    /// `SharedFolder::i_protectedInit` with fFailOnError, VBoxManage `handleSharedFolderAdd`, the HGCM service's
    /// `vbsfMappingsAdd`): a non-empty name without whitespace or control characters, unique ignoring case, fewer
    /// than 2048 bytes; an absolute host path without `.`/`..` components that exists and is a directory (a trailing
    /// slash is dropped, as VirtualBox stores it); at most 64 folders. An identical folder already present is not an
    /// error: nothing changes. A machine with snapshots gets `currentStateModified` dropped (= true).
    /// - Parameter checkHostPath: false skips the existence check (for files edited on another host).
    /// - Throws: `VBoxXMLError.conflict` naming the rule broken; `.invalid` below settings 1.12, or for an
    ///   auto-mount point in a file older than 1.17 (vmprov does not raise settings versions).
    public func addingSharedFolder(_ requested: SharedFolderInfo, checkHostPath: Bool = true) throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        var folder = requested
        let name = folder.name
        guard !name.isEmpty else {
            throw .conflict(path: path, message: "the shared folder name is empty; VirtualBox refuses the file. Give a name.")
        }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == " " }) else {
            throw .conflict(path: path, message: "the shared folder name \"\(NATRules.escaped(name))\" contains a space "
                + "or a control character; VBoxManage refuses such names. Choose a name without them.")
        }
        guard name.utf8.count < 2048 else {
            throw .conflict(path: path, message: "the shared folder name is \(name.utf8.count) bytes long; VirtualBox "
                + "takes fewer than 2048. Choose a shorter name.")
        }
        var host = folder.hostPath
        while host.count > 1, host.hasSuffix("/") { host.removeLast() }
        folder.hostPath = host
        guard host.hasPrefix("/") else {
            throw .conflict(path: path, message: "the host path \"\(NATRules.escaped(host))\" is not absolute; VirtualBox "
                + "does not set up a relative shared folder (\"Shared folder path is not absolute\"). Give an absolute "
                + "path such as /srv/data.")
        }
        let parts = host.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard !parts.contains(where: { $0 == "." || $0 == ".." || ($0.isEmpty && host != "/") }),
              !host.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .conflict(path: path, message: "the host path \"\(NATRules.escaped(host))\" is not in canonical form "
                + "(it has ., .., an empty component or a control character); VirtualBox compares it with its absolute "
                + "form and refuses it. Give the plain absolute path.")
        }
        if checkHostPath {
            var st = stat()
            guard stat(host, &st) == 0 else {
                throw .conflict(path: path, message: "the host path \(host) does not exist (\(FileIO.describe(errno))); "
                    + "VirtualBox refuses a shared folder whose path is missing. Create the folder first.")
            }
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw .conflict(path: path, message: "the host path \(host) is not a directory; a shared folder must be "
                    + "one. Share the folder that holds it.")
            }
        }
        if !folder.autoMountPoint.isEmpty {
            guard version >= SettingsVersion(major: 1, minor: 17, raw: "1.17") else {
                throw .invalid(path: path, message: "an auto-mount point needs settings 1.17 (VirtualBox 6.0); this file "
                    + "is \(version.raw) and vmprov does not raise settings versions. Leave out --mount-point, or save the "
                    + "machine once with VirtualBox 6.0 or later.")
            }
            guard !folder.autoMountPoint.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw .conflict(path: path, message: "the mount point contains a control character. Give a plain path.")
            }
        }
        let existing = sharedFolders
        if existing.contains(where: { $0.folder == folder }) {
            return EditResult(settings: self, changed: false,
                              warnings: ["the shared folder \"\(name)\" is already there with these settings; nothing to do."])
        }
        if let clash = existing.first(where: { $0.folder.name.lowercased() == name.lowercased() }) {
            throw .conflict(path: path, message: "a shared folder named \"\(clash.folder.name)\" (\(clash.folder.hostPath)) "
                + "exists already; VirtualBox refuses two names that differ only in case. Remove it first "
                + "(vmprov remove-share \(clash.folder.name)) or choose another name.")
        }
        guard existing.count < Self.maximumSharedFolders else {
            throw .conflict(path: path, message: "the machine has \(existing.count) shared folders; VirtualBox's "
                + "shared-folder service maps at most \(Self.maximumSharedFolders). Remove one first (vmprov remove-share NAME).")
        }
        var attributes = [("name", name), ("hostPath", host), ("writable", folder.writable ? "true" : "false"),
                          ("autoMount", folder.autoMount ? "true" : "false")]
        if !folder.autoMountPoint.isEmpty { attributes.append(("autoMountPoint", folder.autoMountPoint)) }
        let markup = XMLMarkup("SharedFolder", attributes)
        var batch = EditBatch(self)
        if let parent = child(of: hardwareIndex, named: "SharedFolders") {
            try batch.insertChildren([markup], into: parent)
        } else {
            let after = ["AudioAdapter", "LPT", "UART", "Network"].lazy.compactMap { self.child(of: self.hardwareIndex, named: $0) }.first
            try batch.insertChildren([XMLMarkup("SharedFolders", children: [markup])], into: hardwareIndex, after: after)
        }
        try batch.noteCurrentStateModified()
        return EditResult(settings: try batch.commit(), changed: true, warnings: [])
    }

    /// Removes the shared folder `name` (exact case, as `Machine::removeSharedFolder` finds it) from the current
    /// state. A `SharedFolders` left empty closes up (`<SharedFolders/>`).
    /// - Throws: `VBoxXMLError.conflict` when there is no such folder (naming the ones there); `.invalid` below 1.12.
    public func removingSharedFolder(named name: String) throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        let existing = sharedFolders
        guard let match = existing.first(where: { $0.folder.name == name }) else {
            let names = existing.map { "\"\($0.folder.name)\"" }.joined(separator: ", ")
            throw .conflict(path: path, message: "there is no shared folder named \"\(NATRules.escaped(name))\""
                + (names.isEmpty ? " (the machine has none)." : "; the machine has \(names)."))
        }
        var batch = EditBatch(self)
        try batch.removeElement(match.index)
        try batch.noteCurrentStateModified()
        return EditResult(settings: try batch.commit(), changed: true, warnings: [])
    }

    /// Whether the machine has snapshots (`Machine/Snapshot`).
    public var hasSnapshots: Bool { child(of: machineIndex, named: "Snapshot") != nil }
}

extension EditBatch {
    /// After a change of the current state of a machine with snapshots, drops `Machine@currentStateModified`
    /// (absent = true), as `Machine::i_setModified` would set it (vbox-storage-devices §5.4).
    mutating func noteCurrentStateModified() throws(VBoxXMLError) {
        guard base.hasSnapshots, base.elements[base.machineIndex].attribute("currentStateModified") != nil else { return }
        try removeAttribute("currentStateModified", on: base.machineIndex)
    }
}
