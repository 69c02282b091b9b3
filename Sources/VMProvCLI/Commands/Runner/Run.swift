#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import Basics

/// One log line in the original entrypoint's format: `printf "%-8s %s\n" LEVEL MESSAGE`.
func logLine(_ level: LogLevel, _ message: String) {
    let padded = level.rawValue + String(repeating: " ", count: max(1, 9 - level.rawValue.count))
    Output.out(padded + message)
}

struct Run: ContextCommand {
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

    @Flag(help: "Also log every VBoxManage command line and every setting taken from the environment.")
    var verbose = false

    /// The settings from the environment, as runner log lines (stdout, the container's log).
    func report(_ overrides: [String]) {
        for line in overrides { logLine(.info, line) }
    }

    func run(_ context: CommandContext) throws {
        let config: RunnerConfig
        do {
            config = try context.runnerConfig()
        } catch let error as RunnerError {
            // A bad seconds setting goes to the runner's log; a bad STOP_ACTION (CLIError) to stderr, as always.
            logLine(.error, error.description)
            throw AlreadyReported(error)
        }
        let runner = Runner(config: config, tools: context.virtualBoxTools, log: logLine, forward: { Output.out($0) })
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
