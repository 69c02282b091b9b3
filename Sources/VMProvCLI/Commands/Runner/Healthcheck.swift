#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import ArgumentParser
import FoundationEssentials
import Provision

struct Healthcheck: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Exit 0 when the guest is healthy (running, restoring, saving, paused or saved).",
        discussion: """
        When $HEALTHCHECK_CMD (a path to an executable) or /usr/local/bin/healthcheck exists, it runs instead and \
        its exit code is the answer (no shell is involved).

        Example (compose):
          healthcheck: { test: ["CMD", "vmprov", "healthcheck"] }
        """)

    @OptionGroup var machine: MachineOption

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let custom = context.healthcheckCommand ?? "/usr/local/bin/healthcheck"
        if access(custom, X_OK) == 0 {
            let out: ProcessOutput
            out = try ProcessRunner.run([custom])
            if !out.stdout.isEmpty { Output.write(1, out.stdoutText) }
            if !out.stderr.isEmpty { Output.write(2, out.stderrText) }
            throw ExitCode(out.status)
        } else if context.healthcheckCommand != nil {
            throw CLIError("HEALTHCHECK_CMD=\(custom) is not an executable file.", kind: .unavailable)
        }
        let tools = try context.queryTools()
        let vm = try machine.resolve(tools)
        let state: VMState
        state = try tools.state(vm)
        Output.out(state.rawValue)
        if !state.isHealthy { throw ExitCode(VMProvExit.failure) }
    }
}
