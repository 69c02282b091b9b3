#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Provision
import VBoxXML

/// TARGET and the editing options every `.vbox` command shares.
struct TargetOptions: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "A .vbox file, or a folder holding exactly one. Default: $VMDIR, then the current folder.",
        valueName: "target"))
    var target: String?

    @Flag(help: "Edit even while a VBoxSVC process of this user runs (VirtualBox may overwrite the change).")
    var force = false

    /// Resolves TARGET to one `.vbox` path.
    func resolve() throws -> String {
        try TargetResolver.resolve(target)
    }
}

/// TARGET and --json for the commands that only read a `.vbox`.
struct ReadOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("A .vbox file or its folder (default: $VMDIR, then .).", valueName: "target"))
    var target: String?

    @Flag(help: "Print JSON.")
    var json = false
}

enum TargetResolver {
    /// Resolves TARGET and reads the settings file, printing the document's own warnings.
    static func load(_ given: String?) throws -> VBoxSettings {
        let settings = try VBoxSettings.load(path: try resolve(given))
        for w in settings.warnings { Output.warn(w) }
        return settings
    }

    static func resolve(_ given: String?) throws -> String {
        let candidate = given ?? Output.env("VMDIR") ?? "."
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
    static func run(_ options: TargetOptions, _ edit: (VBoxSettings) throws -> EditResult) throws -> EditResult {
        try run(path: try options.resolve(), force: options.force, edit)
    }

    /// Runs an edit on the settings file `path` under its folder's lock (see `run(_:_:)`).
    static func run(path: String, force: Bool, _ edit: (VBoxSettings) throws -> EditResult) throws -> EditResult {
        let timeout = try lockTimeout()
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
            try AtomicSave(faultHook: testFaultHook()).write(result.settings.bytes, to: path)
        }
        return result
    }

    /// How long an edit waits for another vmprov edit of the same machine folder: `$VMPROV_LOCK_TIMEOUT`
    /// seconds, default 30, checked like every seconds setting (exit 64 naming the variable).
    static func lockTimeout() throws -> Double {
        try RunnerConfig.seconds("VMPROV_LOCK_TIMEOUT", Output.env("VMPROV_LOCK_TIMEOUT"), fallback: 30)
    }

    /// The compose `ports:` entries that publish host ports on loopback.
    static func composeHint(_ opened: [PublishedPort]) {
        guard !opened.isEmpty else { return }
        Output.out("Publish it in compose.yml (the container exposes only what compose maps):")
        Output.out("    ports:")
        for line in ComposePorts.lines(opened, indent: "      ") { Output.out(line) }
    }

    /// `VMPROV_TEST_SAVE_FAULT=STEP` stops a save after STEP with an error; `STEP:crash` ends the process there,
    /// as a crash would. For tests only.
    static func testFaultHook() -> (@Sendable (SaveStep) throws -> Void)? {
        guard let spec = Output.env("VMPROV_TEST_SAVE_FAULT") else { return nil }
        let parts = spec.split(separator: ":")
        let step = String(parts.first ?? "")
        let crash = parts.count > 1 && parts[1] == "crash"
        return { current in
            guard current.rawValue == step else { return }
            if crash { _exit(99) }
            throw CLIError("save stopped after \(step) (VMPROV_TEST_SAVE_FAULT)", kind: .ioError)
        }
    }
}
