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
