#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Provision
import VBoxXML
import Basics

enum TargetResolver {
    /// Resolves TARGET and reads the settings file, printing the document's own warnings.
    static func load(_ given: String?, _ context: CommandContext) throws -> VBoxSettings {
        let settings = try VBoxSettings.load(path: try resolve(given, vmDir: context.vmDir))
        for w in settings.warnings { Output.warn(w) }
        return settings
    }

    /// The `.vbox` path TARGET names: `given`, else `vmDir` (`$VMDIR`), else the current folder; a folder must hold
    /// exactly one machine settings file.
    /// - Throws: `CLIError` 66 when nothing is there or the folder holds no `.vbox`, 64 when it holds several.
    static func resolve(_ given: String?, vmDir: String?) throws -> String {
        let candidate = given ?? vmDir ?? "."
        var st = stat()
        guard stat(candidate, &st) == 0 else {
            throw CLIError("\(candidate): no such file or folder. Give a .vbox file or the folder that holds it"
                + (given == nil ? " (from $VMDIR or the current folder)." : "."), kind: .noInput)
        }
        if (st.st_mode & S_IFMT) != S_IFDIR { return candidate }
        let found: VBoxFileDiscovery.Found
        found = try VBoxFileDiscovery.inFolder(candidate)
        let names = found.machines.map(FileIO.basename)
        let base = candidate.hasSuffix("/") ? String(candidate.dropLast()) : candidate
        switch names.count {
        case 0:
            if let backup = found.backups.first {
                let name = FileIO.basename(backup)
                var original = "NAME.vbox"
                if case .formatBackup(let o) = VBoxFileDiscovery.classify(name) { original = o }
                let all = found.backups.map(FileIO.basename).joined(separator: ", ")
                throw CLIError("\(candidate): no machine settings file in this folder, only \(all): "
                    + "a copy VirtualBox keeps of \(original) when it raises the settings format, never the machine "
                    + "itself. Restore the machine's file (\(original), or \(original)-prev if present), or give "
                    + "the copy's path explicitly (\(base)/\(name)) to use it anyway.", kind: .noInput)
            }
            throw CLIError("\(candidate): no .vbox file in this folder. Give the path of the machine's .vbox file.",
                           kind: .noInput)
        case 1:
            return found.machines[0]
        default:
            throw CLIError("\(candidate): \(names.count) .vbox files in this folder (\(names.joined(separator: ", "))); "
                + "name the one to use, for example \(base)/\(names[0]).", kind: .usage)
        }
    }
}

/// Loads, edits and saves one settings file with the checks every edit needs.
enum EditSession {
    /// Refuses when VirtualBox holds settings in memory.
    static func checkNotBusy(force: Bool, path: String) throws {
        let running = ProcessTable.find(names: ["VBoxSVC"], uid: getuid())
        guard !running.isEmpty else { return }
        let pids = running.map { String($0.pid) }.joined(separator: ", ")
        if force {
            Output.warn("VBoxSVC is running (pid \(pids)); editing \(path) anyway because of --force. VirtualBox "
                + "may overwrite this change from its own copy of the settings.")
            return
        }
        throw CLIError("\(path): VBoxSVC is running for this user (pid \(pids)). VirtualBox keeps its own copy of "
            + "registered machines' settings and would overwrite this change. Stop the machine and wait for VBoxSVC "
            + "to exit (about 5 s after the last VirtualBox client), or use --force.", kind: .tempFailure)
    }

    /// Runs an edit on TARGET, saves it if anything changed, and prints warnings and the compose hint.
    static func run(_ options: TargetOptions, _ context: CommandContext,
                    _ edit: (VBoxSettings) throws -> EditResult) throws -> EditResult {
        try run(path: try options.resolve(context), force: options.force, context, edit)
    }

    /// Runs an edit on the settings file `path` under its folder's lock (see `run(_:_:_:)`).
    static func run(path: String, force: Bool, _ context: CommandContext,
                    _ edit: (VBoxSettings) throws -> EditResult) throws -> EditResult {
        let timeout = try context.lockTimeout()
        // One writer at a time: the folder lock is held from before the read until after the save (or the error).
        let lock = try SettingsLock(for: path, timeout: timeout)
        defer { withExtendedLifetime(lock) {} }
        try checkNotBusy(force: force, path: path)
        lock.removeLeftovers()
        let settings = try VBoxSettings.load(path: path)
        for w in settings.warnings { Output.warn(w) }
        let result = try edit(settings)
        for w in result.warnings { Output.warn(w) }
        if result.changed {
            try AtomicSave(faultHook: context.testHooks.saveFaultHook()).write(result.settings.bytes, to: path)
        }
        return result
    }

    /// The compose `ports:` entries that publish host ports on loopback.
    static func composeHint(_ opened: [PublishedPort]) {
        guard !opened.isEmpty else { return }
        Output.out("Publish it in compose.yml (the container exposes only what compose maps):")
        Output.out("    ports:")
        for line in ComposePorts.lines(opened, indent: "      ") { Output.out(line) }
    }
}
