#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Provision

extension SnapshotOperation: ExpressibleByArgument {}

struct Snapshot: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take, restore or delete a snapshot through the running `vmprov run` (inside its container).",
        discussion: """
        VirtualBox changes snapshots only through VBoxSVC, which runs in the guest's container while `vmprov run` \
        owns the machine. This command asks that runner over its control socket ($VMDIR/.vmprov/control.sock: a \
        private folder, mode 700, and the caller's uid must be the runner's); the runner runs `VBoxManage \
        snapshot` through its own process loop, so a stop signal meanwhile is still handled (after the call). \
        Without a runner the request is refused (69).

        take works while the guest runs (it is paused while its state is saved). delete works while it runs. \
        restore needs the machine powered off or saved, so for a running guest it is refused (65) with the steps; \
        --power-off lets the runner power the guest off (unsaved work in the guest is lost), restore, and end, so \
        the container's restart policy starts the restored state.

        Exit codes: 0 done, 65 refused, 69 no runner or VBoxManage failed, 75 busy (the guest is starting or \
        stopping) or no answer in time.

        Examples (in the guest's container):
          docker exec vm vmprov snapshot take before-upgrade
          docker exec vm vmprov snapshot restore before-upgrade --power-off
        """)

    @Argument(help: ArgumentHelp("take, restore or delete.", valueName: "operation"))
    var operation: SnapshotOperation

    @Argument(help: ArgumentHelp("The snapshot's name (restore and delete also take its UUID).", valueName: "name"))
    var name: String

    @Argument(help: ArgumentHelp("The runner's $VMDIR, or a machine folder or .vbox under it (default: $VMDIR, then .).",
                                 valueName: "target"))
    var target: String?

    @Flag(help: "restore only: power a running guest off first (unsaved work is lost); the runner then ends.")
    var powerOff = false

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var global: GlobalOptions

    /// What `--json` prints.
    struct Report: Encodable {
        var operation: String
        var name: String
        var outcome: String
        var uuid: String?
        var message: String
        var socket: String
    }

    /// A bad name or `--power-off` without restore is a usage error, before anything is sent.
    func validate() throws {
        do { _ = try ControlRequest(operation, name: name, powerOff: powerOff) } catch {
            throw ValidationError(error.description)
        }
    }

    func run(_ context: CommandContext) throws {
        let request: ControlRequest
        do {
            request = try ControlRequest(operation, name: name, powerOff: powerOff)
        } catch {
            throw CLIError(error.description, kind: .usage)
        }
        let vmDir = Self.runnerFolder(target ?? context.vmDir ?? ".")
        let reply = try ControlChannel.send(request, vmDir: vmDir, timeout: .seconds(900))
        if json {
            try JSONOut.print(Report(operation: operation.rawValue, name: name, outcome: reply.outcome.rawValue,
                                     uuid: reply.uuid, message: reply.message,
                                     socket: ControlChannel.socketPath(vmDir: vmDir)))
        } else if reply.outcome == .done {
            Output.out(reply.message)
        }
        let error: CLIError
        switch reply.outcome {
        case .done: return
        case .refused: error = CLIError(reply.message, kind: .dataError)
        case .failed: error = CLIError(reply.message, kind: .unavailable)
        case .busy: error = CLIError(reply.message, kind: .tempFailure)
        }
        // With --json the reply (message included) is on stdout already.
        if json { throw AlreadyReported(error) }
        throw error
    }

    /// The folder whose `.vmprov` holds the runner's socket: `start` (a `.vbox`'s folder when it is a file) or the
    /// nearest of its 3 parents that has one (the runner finds machines up to 3 levels below $VMDIR); `start`
    /// itself when none has.
    static func runnerFolder(_ start: String) -> String {
        var st = stat()
        var folder = start
        if stat(start, &st) == 0, st.st_mode & S_IFMT != S_IFDIR {
            folder = start.contains("/") ? String(start[..<(start.lastIndex(of: "/") ?? start.endIndex)]) : "."
            if folder.isEmpty { folder = "/" }
        }
        var candidate = folder
        for _ in 0...3 {
            if lstat(ControlChannel.folder(vmDir: candidate), &st) == 0 { return candidate }
            guard let slash = candidate.dropLast().lastIndex(of: "/") else {
                if candidate == "." || candidate.hasPrefix("/") { break }
                candidate = "."
                continue
            }
            candidate = slash == candidate.startIndex ? "/" : String(candidate[..<slash])
        }
        return folder
    }
}
