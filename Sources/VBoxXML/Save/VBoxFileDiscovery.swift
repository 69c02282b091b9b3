#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Basics

/// Which files in a machine folder are a machine's settings: the one rule for `vmprov run` (registration), the
/// default TARGET of the editing commands, and the names suggested in messages.
///
/// Besides `NAME.vbox`, VirtualBox leaves:
/// - `NAME-X.Y-PLATFORM.vbox` (for example `up-1.16-linux.vbox`): a copy of the file as it was before VirtualBox
///   raised its settings format (`MachineConfigFile::specialBackupIfFirstBump` in `Settings.cpp`; the platform is
///   one of `VBOX_XML_PLATFORM`'s values). It is an old copy of the same machine, never the machine.
/// - `NAME.vbox-prev` and `NAME.vbox-tmp` (`XmlFileWriter::write`), and vmprov's `NAME.vbox-tmp.XXXXXX`.
/// Names starting with `.` (for example macOS's `._NAME.vbox` resource forks on copied folders) are not settings.
public enum VBoxFileDiscovery {
    /// What a file name is, for discovery.
    public enum Kind: Equatable, Sendable {
        /// A machine's settings file.
        case machine
        /// A copy VirtualBox kept when it raised the format; `original` is the machine's own file name.
        case formatBackup(original: String)
        /// `NAME.vbox-prev`, the file as it was before the last save.
        case previous
        /// A temporary file of a save (`NAME.vbox-tmp`, `NAME.vbox-tmp.XXXXXX`).
        case temporary
        /// Anything else (including hidden `.NAME.vbox` files).
        case other
    }

    /// The host platforms VirtualBox writes after the settings version (`VBOX_XML_PLATFORM`).
    public static let platforms: Set<String> = ["linux", "windows", "macosx", "solaris", "freebsd", "netbsd",
                                                "openbsd", "os2"]

    /// Classifies one file name (no folder part).
    public static func classify(_ name: String) -> Kind {
        if name.hasPrefix(".") { return .other }
        if name.hasSuffix(".vbox-prev") { return .previous }
        if name.hasSuffix(".vbox-tmp") { return .temporary }
        let base = String(name.dropLast(6 + 5))  // BASE + "-tmp." + six letters
        if base.hasSuffix(".vbox"), AtomicSave.isTemporary(name, of: base) { return .temporary }
        guard name.hasSuffix(".vbox"), name.count > 5 else { return .other }
        let stem = name.dropLast(5)
        // BASE-X.Y-PLATFORM: split off the last two dash-separated fields.
        let fields = stem.split(separator: "-", omittingEmptySubsequences: false)
        if fields.count >= 3, platforms.contains(String(fields[fields.count - 1])) {
            let version = fields[fields.count - 2].split(separator: ".", omittingEmptySubsequences: false)
            let base = fields.dropLast(2).joined(separator: "-")
            if version.count == 2, version.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
               !base.isEmpty {
                return .formatBackup(original: base + ".vbox")
            }
        }
        return .machine
    }

    /// The settings files found in one folder or tree.
    public struct Found: Sendable, Equatable {
        /// Machines' settings files, sorted by path.
        public var machines: [String] = []
        /// Format backups (never machines), sorted by path.
        public var backups: [String] = []

        /// - Parameters: paths as found.
        public init(machines: [String] = [], backups: [String] = []) {
            self.machines = machines
            self.backups = backups
        }
    }

    /// The settings files directly in `folder` (paths are `folder/NAME`); symlinks to files count.
    /// - Throws: `.notFound` when the folder does not exist, `.io` when it cannot be listed.
    public static func inFolder(_ folder: String) throws(VBoxXMLError) -> Found {
        guard let names = FileIO.names(in: folder) else {
            let e = errno
            if e == ENOENT {
                throw .notFound(path: folder, reason: "no such folder. Give a .vbox file or the folder that holds it.")
            }
            throw .io(path: folder, operation: "list the folder", reason: FileIO.describe(e))
        }
        let base = folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        var found = Found()
        for name in names {
            let path = base + "/" + name
            var st = stat()
            guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            switch classify(name) {
            case .machine: found.machines.append(path)
            case .formatBackup: found.backups.append(path)
            case .previous, .temporary, .other: break
            }
        }
        found.machines.sort()
        found.backups.sort()
        return found
    }

    /// The settings files under `root`, down to `depth` folder levels below it; folders reached through a
    /// symlink are not entered. Folders that cannot be listed are skipped.
    public static func under(_ root: String, depth: Int) -> Found {
        var found = Found()
        func walk(_ dir: String, _ level: Int) {
            for name in FileIO.names(in: dir) ?? [] {
                let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    if level < depth { walk(path, level + 1) }
                    continue
                }
                // A symlink to a settings file counts, as it does for TARGET.
                var target = stat()
                guard stat(path, &target) == 0, (target.st_mode & S_IFMT) == S_IFREG else { continue }
                switch classify(name) {
                case .machine: found.machines.append(path)
                case .formatBackup: found.backups.append(path)
                case .previous, .temporary, .other: break
                }
            }
        }
        walk(root, 0)
        found.machines.sort()
        found.backups.sort()
        return found
    }
}
