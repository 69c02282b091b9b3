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

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Boot the guest headless and supervise it (the container's main process).",
        discussion: """
        Registers the first .vbox under $VMDIR when no machine is registered, starts VBoxHeadless in its own \
        session, and turns signals into guest actions: TERM → $STOP_ACTION (acpi, savestate or poweroff; default \
        acpi), INT → savestate, QUIT → poweroff. A guest still running $STOP_TIMEOUT seconds (default 120) after \
        an ACPI request is saved, never powered off, unless saving fails. A second TERM escalates at once. Every \
        other signal that would end the runner (HUP, USR1, USR2, ALRM, PIPE, …) is logged and ignored. Each \
        VBoxManage call is bounded by $VMPROV_CALL_TIMEOUT seconds (default 30), then its process group is killed \
        and the stop escalates. Exits 0 when VBoxHeadless exited 0 with the machine powered off or saved, or when \
        a poweroff vmprov requested left it powered off; 1 when it aborted or VBoxHeadless failed.

        Example (what the container does):
          VMDIR=/vms STOP_TIMEOUT=90 vmprov run
        """)

    @Flag(help: "Also log every VBoxManage command line.")
    var verbose = false

    func run() throws {
        let stopAction: GuestAction
        if let s = Output.env("STOP_ACTION") {
            guard let a = GuestAction(userValue: s) else {
                throw CLIError("STOP_ACTION=\(s): use acpi, savestate or poweroff.", kind: .usage)
            }
            stopAction = a
        } else {
            stopAction = .acpi
        }
        var config: RunnerConfig
        do {
            let timeout = try RunnerConfig.seconds("STOP_TIMEOUT", Output.env("STOP_TIMEOUT"), fallback: 120)
            config = RunnerConfig(vmDir: Output.env("VMDIR") ?? ".", policy: StopPolicy(termAction: stopAction, stopTimeout: timeout))
            config.serviceExitTimeout = try RunnerConfig.seconds("VMPROV_SERVICE_WAIT", Output.env("VMPROV_SERVICE_WAIT"),
                                                                 fallback: config.serviceExitTimeout)
            config.startupTimeout = try RunnerConfig.seconds("VMPROV_STARTUP_TIMEOUT", Output.env("VMPROV_STARTUP_TIMEOUT"),
                                                             fallback: config.startupTimeout)
            config.callTimeout = try RunnerConfig.seconds("VMPROV_CALL_TIMEOUT", Output.env("VMPROV_CALL_TIMEOUT"),
                                                          fallback: config.callTimeout, allowZero: false)
        } catch {
            logLine(.error, error.description)
            throw AlreadyReported(error)
        }
        config.verbose = verbose
        if verbose {
            for key in ["VMDIR", "STOP_ACTION", "STOP_TIMEOUT", "VMPROV_CALL_TIMEOUT", "VBOX_USER_HOME"] {
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
            throw AlreadyReported(e)
        }
    }
}

/// VirtualBox's tools for the queries, each call bounded by $VMPROV_CALL_TIMEOUT seconds (default 30), so a hung
/// VBoxSVC cannot hang `list`, `state` or `healthcheck`.
func queryTools() throws -> VirtualBoxTools {
    var tools = VirtualBoxTools()
    tools.timeout = try RunnerConfig.seconds("VMPROV_CALL_TIMEOUT", Output.env("VMPROV_CALL_TIMEOUT"), fallback: 30,
                                             allowZero: false)
    return tools
}

/// The first registered machine (or the one named), for the queries.
struct MachineOption: ParsableArguments {
    @Option(help: ArgumentHelp("Machine name or UUID (default: the first registered one).", valueName: "vm"))
    var vm: String?

    func resolve(_ tools: VirtualBoxTools) throws -> String {
        if let vm { return vm }
        let list: [VMListEntry]
        list = try tools.listVMs()
        guard let first = list.first(where: { !$0.inaccessible }) else {
            throw CLIError("no machine is registered with VirtualBox for this user.", kind: .noInput)
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
        let tools = try queryTools()
        list = try tools.listVMs()
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
        let tools = try queryTools()
        let vm = try machine.resolve(tools)
        let state: VMState
        state = try tools.state(vm)
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

        --console first asks the guest's RDP server for an X.224 Connection Confirm (no login), so a guest whose \
        VRDE server is missing (a VirtualBox upgrade without its module) is unhealthy too.

        Example (compose):
          healthcheck: { test: ["CMD", "vmprov", "healthcheck", "--console"] }
        """)

    @OptionGroup var machine: MachineOption

    @Flag(help: "Also ask the RDP server (X.224 Connection Request → Confirm, no login); unhealthy if it does not answer.")
    var console = false

    @Option(help: ArgumentHelp("With --console: the port (default: the VRDE port of the .vbox in $VMDIR).", valueName: "port"))
    var rdpPort: Int?

    @Option(help: ArgumentHelp("With --console: the address to probe.", valueName: "host"))
    var rdpHost = "127.0.0.1"

    func run() throws {
        if console { try probeRDP() }
        let custom = Output.env("HEALTHCHECK_CMD") ?? "/usr/local/bin/healthcheck"
        if access(custom, X_OK) == 0 {
            let out: ProcessOutput
            out = try Subprocess.run([custom])
            if !out.stdout.isEmpty { Output.write(1, out.stdoutText) }
            if !out.stderr.isEmpty { Output.write(2, out.stderrText) }
            throw ExitCode(out.status)
        } else if Output.env("HEALTHCHECK_CMD") != nil {
            throw CLIError("HEALTHCHECK_CMD=\(custom) is not an executable file.", kind: .unavailable)
        }
        let tools = try queryTools()
        let vm = try machine.resolve(tools)
        let state: VMState
        state = try tools.state(vm)
        Output.out(state.rawValue)
        if !state.isHealthy { throw ExitCode(VMProvExit.failure) }
    }

    /// The RDP probe of `--console`: exit 1 when no RDP server answers.
    func probeRDP() throws {
        let port: Int
        if let rdpPort {
            guard (1...65535).contains(rdpPort) else { throw CLIError("--rdp-port \(rdpPort) is outside 1-65535.", kind: .usage) }
            port = rdpPort
        } else {
            let settings = try TargetResolver.load(nil)
            guard let p = ComposeGuest(settings).rdpPort else {
                throw CLIError("\(settings.path): RDP (VRDE) is off, so --console has nothing to probe. Turn it on "
                    + "(vmprov enable-rdp) or drop --console.", kind: .dataError)
            }
            port = p
        }
        let outcome = RDPProbe.probe(host: rdpHost, port: port)
        Output.out("rdp \(rdpHost):\(port): \(outcome.text)")
        if !outcome.isRDP { throw ExitCode(VMProvExit.failure) }
    }
}
