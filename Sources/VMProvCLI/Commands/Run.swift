#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision

/// One log line in the original entrypoint's format: `printf "%-8s %s\n" LEVEL MESSAGE`.
func logLine(_ level: LogLevel, _ message: String) {
    let padded = level.rawValue + String(repeating: " ", count: max(1, 9 - level.rawValue.count))
    Output.out(padded + message)
}

extension RunnerError {
    var exitCode: Int32 {
        switch self {
        case .noMachine: return VMProvExit.noInput
        case .registration: return VMProvExit.dataError
        case .virtualBox: return VMProvExit.unavailable
        case .headlessStartFailed: return VMProvExit.failure
        case .signals: return 70
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Boot the guest headless and supervise it (the container's main process).",
        discussion: """
        Registers the first .vbox under $VMDIR when no machine is registered, starts VBoxHeadless in its own \
        session, and turns signals into guest actions: TERM → $STOP_ACTION (acpi, savestate or poweroff; default \
        acpi), INT → savestate, QUIT → poweroff. A guest still running $STOP_TIMEOUT seconds (default 120) after \
        an ACPI request is saved, never powered off, unless saving fails. A second TERM escalates at once. \
        Exits 0 when the guest powered off or saved cleanly, 1 when it aborted or VBoxHeadless failed.

        Example (what the container does):
          VMDIR=/vms STOP_TIMEOUT=90 vmprov run
        """)

    @Flag(help: "Also log every VBoxManage command line.")
    var verbose = false

    func run() throws {
        let stopAction: GuestAction
        if let s = Output.env("STOP_ACTION") {
            guard let a = GuestAction(userValue: s) else {
                throw CLIError("STOP_ACTION=\(s): use acpi, savestate or poweroff.", code: VMProvExit.usage)
            }
            stopAction = a
        } else {
            stopAction = .acpi
        }
        var timeout = 120.0
        if let s = Output.env("STOP_TIMEOUT") {
            guard let t = Double(s), t >= 0 else {
                throw CLIError("STOP_TIMEOUT=\(s): give a number of seconds.", code: VMProvExit.usage)
            }
            timeout = t
        }
        var config = RunnerConfig(vmDir: Output.env("VMDIR") ?? ".", policy: StopPolicy(termAction: stopAction, stopTimeout: timeout))
        config.verbose = verbose
        if let s = Output.env("VMPROV_SERVICE_WAIT").flatMap(Double.init) { config.serviceExitTimeout = s }
        if let s = Output.env("VMPROV_STARTUP_TIMEOUT").flatMap(Double.init) { config.startupTimeout = s }
        if verbose {
            for key in ["VMDIR", "STOP_ACTION", "STOP_TIMEOUT", "VBOX_USER_HOME"] {
                if let v = Output.env(key) { logLine(.info, "\(key)=\(v)") }
            }
        }
        let runner = Runner(config: config, tools: VirtualBoxTools(), log: logLine, forward: { Output.out($0) })
        do {
            try runner.prepareSignals()
            let outcome = try runner.run()
            if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
        } catch let e as RunnerError {
            logLine(.error, e.description)
            throw ExitCode(e.exitCode)
        }
    }
}

/// The first registered machine (or the one named), for the queries.
struct MachineOption: ParsableArguments {
    @Option(help: ArgumentHelp("Machine name or UUID (default: the first registered one).", valueName: "vm"))
    var vm: String?

    func resolve(_ tools: VirtualBoxTools) throws -> String {
        if let vm { return vm }
        let list: [VMListEntry]
        do { list = try tools.listVMs() } catch { throw CLIError(error.description, code: VMProvExit.unavailable) }
        guard let first = list.first(where: { !$0.inaccessible }) else {
            throw CLIError("no machine is registered with VirtualBox for this user.", code: VMProvExit.noInput)
        }
        return first.uuid
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the registered machines (Name= and ID= lines).",
        discussion: "Example:\n  vmprov list")

    func run() throws {
        let list: [VMListEntry]
        do { list = try VirtualBoxTools().listVMs() } catch { throw CLIError(error.description, code: VMProvExit.unavailable) }
        for vm in list {
            Output.out("Name=\(vm.name)")
            Output.out("ID=\(vm.uuid)")
        }
    }
}

struct State: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the machine's state (VMState: running, poweroff, saved, aborted, …).",
        discussion: "Example:\n  vmprov state --json")

    @OptionGroup var machine: MachineOption

    @Flag(help: "Print JSON.")
    var json = false

    struct Report: Encodable {
        var vm: String
        var state: String
        var healthy: Bool
    }

    func run() throws {
        let tools = VirtualBoxTools()
        let vm = try machine.resolve(tools)
        let state: VMState
        do { state = try tools.state(vm) } catch { throw CLIError(error.description, code: VMProvExit.unavailable) }
        if json { return try JSONOut.print(Report(vm: vm, state: state.rawValue, healthy: state.isHealthy)) }
        Output.out(state.rawValue)
    }
}

struct Healthcheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when the guest is healthy (running, restoring, saving, paused or saved).",
        discussion: """
        When $HEALTHCHECK_CMD (a path to an executable) or /usr/local/bin/healthcheck exists, it runs instead and \
        its exit code is the answer (no shell is involved).

        Example (compose):
          healthcheck: { test: ["CMD", "vmprov", "healthcheck"] }
        """)

    @OptionGroup var machine: MachineOption

    func run() throws {
        let custom = Output.env("HEALTHCHECK_CMD") ?? "/usr/local/bin/healthcheck"
        if access(custom, X_OK) == 0 {
            let out: ProcessOutput
            do { out = try Subprocess.run([custom]) } catch { throw CLIError(error.description, code: VMProvExit.unavailable) }
            if !out.stdout.isEmpty { Output.write(1, out.stdoutText) }
            if !out.stderr.isEmpty { Output.write(2, out.stderrText) }
            throw ExitCode(out.status)
        } else if Output.env("HEALTHCHECK_CMD") != nil {
            throw CLIError("HEALTHCHECK_CMD=\(custom) is not an executable file.", code: VMProvExit.unavailable)
        }
        let tools = VirtualBoxTools()
        let vm = try machine.resolve(tools)
        let state: VMState
        do { state = try tools.state(vm) } catch { throw CLIError(error.description, code: VMProvExit.unavailable) }
        Output.out(state.rawValue)
        if !state.isHealthy { throw ExitCode(1) }
    }
}
