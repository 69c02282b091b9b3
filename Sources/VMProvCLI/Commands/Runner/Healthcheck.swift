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

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        if console { try probeRDP(context) }
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

    /// The RDP probe of `--console`: exit 1 when no RDP server answers.
    func probeRDP(_ context: CommandContext) throws {
        let port: Int
        if let rdpPort {
            guard (1...65535).contains(rdpPort) else { throw CLIError("--rdp-port \(rdpPort) is outside 1-65535.", kind: .usage) }
            port = rdpPort
        } else {
            let settings = try TargetResolver.load(nil, context)
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
