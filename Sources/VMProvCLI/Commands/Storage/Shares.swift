import ArgumentParser
import Provision
import VBoxXML

/// What `add-share`/`remove-share --json` print.
struct ShareEditJSON: Encodable {
    var path: String
    var changed: Bool
    var share: SharedFolderInfo?
    var removed: String?
    var warnings: [String]
    /// compose `volumes:` entries the container needs.
    var composeVolumes: [String]
}

enum ShareHints {
    /// The compose volume that makes the host folder visible at the same path inside the container, where
    /// VirtualBox (running there) opens `hostPath`.
    static func volume(_ folder: SharedFolderInfo) -> String {
        "\(folder.hostPath):\(folder.hostPath)" + (folder.writable ? "" : ":ro")
    }

    /// A warning when nothing suggests Guest Additions in the guest: shared folders need them (vboxsf).
    static func guestAdditionsWarning(_ settings: VBoxSettings) -> String? {
        let dvds = settings.elements.filter { $0.name == "Image" && ($0.attribute("location") ?? "").lowercased()
            .contains("guestadditions") }
        guard dvds.isEmpty else { return nil }
        return "no Guest Additions ISO is registered for this machine; the guest sees shared folders only with the "
            + "Guest Additions installed (vboxsf). Create the machine with the Guest Additions ISO (install "
            + "virtualbox-guest-iso before vmprov create) or install them in the guest."
    }
}

struct AddShare: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-share",
        abstract: "Share a host folder with the guest (a VirtualBox shared folder).",
        discussion: """
        Checked as VirtualBox checks it: a name without spaces, unique ignoring case; an absolute host path that \
        exists and is a folder; at most 64 folders. VirtualBox runs in the container, so the folder must be mounted \
        there at the same path: the compose volume line is printed.

        Example:
          vmprov add-share data --host-path /srv/data vms/ubuntu --automount
        """)

    @Argument(help: "Share name as the guest sees it.")
    var name: String

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("Absolute path of the host folder.", valueName: "path"))
    var hostPath: String

    @Flag(help: "The guest may only read.")
    var readonly = false

    @Flag(help: "The guest mounts it at boot.")
    var automount = false

    @Option(help: ArgumentHelp("Where the guest mounts it (settings 1.17+).", valueName: "path"))
    var mountPoint: String?

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let folder = SharedFolderInfo(name: name, hostPath: hostPath, writable: !readonly, autoMount: automount,
                                      autoMountPoint: mountPoint ?? "")
        var added = folder
        let result = try EditSession.run(target, context) { settings in
            let r = try settings.addingSharedFolder(folder)
            added = r.settings.sharedFolders.first { $0.folder.name == name }?.folder ?? folder
            return r
        }
        var warnings = result.warnings
        if let w = ShareHints.guestAdditionsWarning(result.settings) {
            Output.warn(w)
            warnings.append(w)
        }
        let volume = ShareHints.volume(added)
        if json {
            return try JSONOut.print(ShareEditJSON(path: result.settings.path, changed: result.changed, share: added,
                                                   removed: nil, warnings: warnings, composeVolumes: [volume]))
        }
        if result.changed {
            Output.out("Added shared folder \"\(added.name)\" -> \(added.hostPath) (\(added.writable ? "writable" : "read-only")"
                + (added.autoMount ? ", auto-mounted" + (added.autoMountPoint.isEmpty ? "" : " at \(added.autoMountPoint)") : "")
                + ") in \(result.settings.path).")
        }
        Output.out("Mount it into the container in compose.yml (VirtualBox there opens the host path):")
        Output.out("    volumes:")
        Output.out("      - \(volume)")
    }
}

struct RemoveShare: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-share",
        abstract: "Remove a shared folder (the host folder is not touched).",
        discussion: "Example:\n  vmprov remove-share data vms/ubuntu")

    @Argument(help: "Share name (exact case).")
    var name: String

    @OptionGroup var target: TargetOptions

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let result = try EditSession.run(target, context) { try $0.removingSharedFolder(named: name) }
        if json {
            return try JSONOut.print(ShareEditJSON(path: result.settings.path, changed: true, share: nil, removed: name,
                                                   warnings: result.warnings, composeVolumes: []))
        }
        Output.out("Removed shared folder \"\(name)\" from \(result.settings.path). Its compose volume can go too.")
    }
}
