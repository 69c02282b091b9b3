#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import CSystem
import Basics

/// Settings of `vmprov run`, from the environment (VMDIR, STOP_ACTION, STOP_TIMEOUT).
public struct RunnerConfig: Sendable {
    /// The folder holding the machine (`$VMDIR`).
    public var vmDir: String
    /// What TERM and STOP_TIMEOUT do.
    public var policy: StopPolicy
    /// How long to wait for the VM to reach `running` before treating start-up as failed.
    public var startupTimeout: Duration = .seconds(120)
    /// How long to wait for VBoxSVC and VBoxXPCOMIPCD to exit at the end.
    public var serviceExitTimeout: Duration = .seconds(30)
    /// How often to ask for the state while starting.
    public var pollInterval: Duration = .milliseconds(250)
    /// The longest one VBoxManage call may take before its process group is killed.
    public var callTimeout: Duration = .seconds(30)
    /// The longest one `VBoxManage snapshot` call may take (an online snapshot saves the guest's memory).
    public var snapshotTimeout: Duration = .seconds(600)
    /// Log every VBoxManage call and decision (`--verbose`).
    public var verbose = false
    /// The user whose VBoxSVC processes are waited for.
    public var uid: UInt32 = getuid()

    /// Settings for the machine in `vmDir` stopped by `policy`; the rest at their defaults.
    public init(vmDir: String, policy: StopPolicy) {
        self.vmDir = vmDir
        self.policy = policy
    }

    /// The most seconds any setting may hold: a day.
    public static let maximumSeconds = 86_400.0

    /// A seconds setting from the environment: a finite decimal number from 0 (or above 0 when `allowZero` is
    /// false) to a day. `inf`, `nan`, negative numbers, hex floats and absurdly large values are refused.
    /// - Returns: the value, or `fallback` when the variable is unset.
    /// - Throws: `RunnerError.setting` naming the variable, the value and what is accepted.
    public static func seconds(_ name: String, _ text: String?, fallback: Double, allowZero: Bool = true)
        throws(RunnerError) -> Double {
        guard let text else { return fallback }
        let trimmed = text.trimmingSpacesAndNewlines
        let plain = !trimmed.isEmpty && trimmed.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
            && trimmed.filter({ $0 == "." }).count <= 1 && trimmed != "."
        guard plain, let value = Double(trimmed), value.isFinite, value >= 0, value <= maximumSeconds,
              allowZero || value > 0 else {
            throw .setting("\(name)=\(text): give a number of seconds from \(allowZero ? "0" : "more than 0") to "
                + "\(Int(maximumSeconds)) (a day), for example \(name)=120; not inf, nan, a negative or an exponent.")
        }
        return value
    }
}

/// Log levels in the original entrypoint's style (`printf "%-8s %s"`).
public enum LogLevel: String, Sendable {
    case info = "Info"
    case warning = "Warning"
    case error = "Error"
}

/// Why `run` failed before or while the guest ran.
public enum RunnerError: Error, Sendable, CustomStringConvertible {
    case noMachine(searched: [String])
    case registration(path: String, VirtualBoxError)
    case virtualBox(VirtualBoxError)
    case headlessStartFailed(status: Int32, output: [String])
    case signals(String)
    /// A bad setting (an environment variable), named in the text.
    case setting(String)

    /// What failed and what to do.
    public var description: String {
        switch self {
        case let .noMachine(searched):
            return "no machine is registered and no .vbox file was found; looked in: "
                + searched.joined(separator: ", ") + ". Create one (vmprov create) or mount the VM folder at $VMDIR."
        case let .registration(path, e):
            return "cannot register \(path): \(e)"
        case let .virtualBox(e):
            return e.description
        case let .headlessStartFailed(status, output):
            return "VBoxHeadless exited during start-up (exit \(status)); its output:\n"
                + output.map { "    " + $0 }.joined(separator: "\n")
        case let .signals(text):
            return text
        case let .setting(text):
            return text
        }
    }
}

/// How a run ended.
public struct RunOutcome: Sendable, Equatable {
    /// The machine state VBoxManage reported last; nil when it could not be read.
    public var finalState: VMState?
    /// VBoxHeadless's exit status (128 + signal when it was killed).
    public var headlessStatus: Int32
    /// Whether vmprov itself asked for a poweroff (QUIT, or escalation).
    public var poweroffRequested: Bool
    /// 0 when the guest powered off or saved cleanly.
    public var exitCode: Int32

    /// Judges a run by the machine's final state as well as VBoxHeadless's exit status: a clean end is
    /// VBoxHeadless exiting 0 with the machine `poweroff` or `saved`, or a poweroff vmprov itself requested that
    /// left the machine `poweroff`, whatever VBoxHeadless returned for it. Everything else (aborted, still running,
    /// unknown state, a non-zero exit without a requested poweroff) is a failure (1).
    public init(finalState: VMState?, headlessStatus: Int32, poweroffRequested: Bool) {
        self.finalState = finalState
        self.headlessStatus = headlessStatus
        self.poweroffRequested = poweroffRequested
        let normal = headlessStatus == 0 && (finalState == .poweroff || finalState == .saved)
        let requested = poweroffRequested && finalState == .poweroff
        exitCode = normal || requested ? 0 : 1
    }
}

/// Supervises one guest: registers it if needed, starts VBoxHeadless in its own session, turns signals into
/// guest actions, reaps every child (it may be PID 1), and waits for VirtualBox's services to go.
///
/// `@unchecked Sendable`: its mutable state is touched only by the thread that blocked the signals
/// (`prepareSignals`), which `run` checks with a precondition; it is never shared across threads.
public final class Runner: @unchecked Sendable {
    let config: RunnerConfig
    let tools: VirtualBoxTools
    let log: @Sendable (LogLevel, String) -> Void
    /// VBoxHeadless's output, forwarded line by line.
    let forward: @Sendable (String) -> Void

    // MARK: state (one thread: the signal loop)

    /// The signalfd for the signals the runner takes over, once `prepareSignals` opened it.
    var signals: OwnedFD?
    var signalFD: Int32 { signals?.raw ?? -1 }
    var headlessPID: pid_t = 0
    var headlessStatus: Int32?
    var recentOutput: [String] = []
    var partialLine: [UInt8] = []
    var callPID: pid_t = 0
    var callStatus: Int32?
    /// Signals that arrived during a call, in order, not yet acted on (already logged).
    var queued: [Int32] = []
    /// The thread that blocked the signals: the only one that may run the signal loop (another thread would
    /// neither see the signalfd's signals blocked for it nor be the one that reaps).
    var signalThread: pthread_t?
    /// VBoxHeadless's output pipe (read end), -1 once closed.
    var output: OwnedFD?
    var outputFD: Int32 { output?.raw ?? -1 }
    /// The control socket (listening) and its private folder, when `openControl` could open them.
    var control: OwnedFD?
    var controlFolder: OwnedFD?
    var controlFD: Int32 { control?.raw ?? -1 }
    /// Accepted control connections waiting for their answer, by request id.
    var connections: [Int: OwnedFD] = [:]
    /// Parsed requests not yet taken by the decision loop.
    var controlRequests: [PendingRequest] = []
    var nextRequestID = 0

    /// A runner for `config` calling `tools`, logging through `log`. Call it from the thread that will run it.
    public init(config: RunnerConfig, tools: VirtualBoxTools, log: @escaping @Sendable (LogLevel, String) -> Void,
                forward: @escaping @Sendable (String) -> Void) {
        self.config = config
        self.tools = tools
        self.log = log
        self.forward = forward
    }

    // MARK: the run

    /// Runs the guest until VBoxHeadless exits. Signals must have been prepared.
    /// - Throws: `RunnerError` when no machine is found, registration fails, or VBoxHeadless fails to start.
    public func run() throws(RunnerError) -> RunOutcome {
        if signalFD < 0 { try prepareSignals() }
        precondition(signalThread.map { pthread_equal($0, pthread_self()) != 0 } ?? false,
                     "Runner.run must run on the thread that called prepareSignals (signals are blocked only there)")
        let vm = try findMachine()
        // A run that stopped while finishing an unattended install resumes it before the guest starts.
        if let pending = pendingInstall(vm), pending.finishing {
            _ = try finishInstall(vm, pending.0, finishing: true)
        }
        secureBootIfRequested(vm)
        try startHeadless(vm)
        log(.info, "\"\(vm.name)\" is starting (VBoxHeadless pid \(headlessPID))")
        openControl()
        defer { closeControl() }

        var loop = RunLoop(policy: config.policy, pollInterval: config.pollInterval,
                           startupTimeout: config.startupTimeout, vmName: vm.name,
                           tools: LiveRunTools(runner: self, vm: vm.uuid), clock: MonotonicClock(), log: log)
        loop.run()
        let started = loop.started
        drainOutput()
        if let restore = loop.restoreAfterExit { restoreAfterExit(restore, vm: vm) }
        let status = headlessStatus ?? 1
        if !started {
            throw .headlessStartFailed(status: status, output: recentOutput)
        }
        let finalState = try? self.state(vm.uuid)
        let outcome = RunOutcome(finalState: finalState, headlessStatus: status, poweroffRequested: loop.poweroffRequested)
        log(outcome.exitCode == 0 ? .info : .error, "\"\(vm.name)\" has stopped: VBoxHeadless exit \(status), state "
            + "\(finalState?.rawValue ?? "unknown")")
        if status != 0 && outcome.exitCode == 0 {
            log(.info, "the poweroff was vmprov's own request and the machine is powered off: a clean end")
        }
        // The guest powered itself off (no stop vmprov asked for) with an unattended install pending: the installer
        // is done. Take the media away and start the guest again, from its disk.
        if outcome.exitCode == 0, finalState == .poweroff, !loop.poweroffRequested,
           let pending = pendingInstall(vm), try finishInstall(vm, pending.0, finishing: pending.finishing) {
            headlessStatus = nil
            recentOutput = []
            return try run()
        }
        waitForServices()
        return outcome
    }

    /// The signals that stop the guest; every other handled signal is logged and ignored.
    static let stopSignals: Set<Int32> = [SIGTERM, SIGINT, SIGQUIT]
}

/// The real tools of the decision loop: the runner's signalfd, VBoxHeadless and VBoxManage calls for one machine.
final class LiveRunTools: RunLoopTools {
    let runner: Runner
    /// The machine's UUID.
    let vm: String

    init(runner: Runner, vm: String) {
        self.runner = runner
        self.vm = vm
    }

    var headlessExited: Bool {
        runner.reapChildren()
        return runner.headlessStatus != nil
    }

    func takeQueuedSignals() -> [Int32] {
        defer { runner.queued.removeAll() }
        return runner.queued
    }

    func waitForSignals(upTo timeout: Duration) -> [Int32] {
        runner.waitForEvents(timeout: timeout)
        var signals: [Int32] = []
        for sig in runner.readSignals() {
            if sig == SIGCHLD { runner.reapChildren() } else { signals.append(sig) }
        }
        runner.reapChildren()
        return signals
    }

    func state(abortIf: (Int32) -> Bool) throws(VirtualBoxError) -> VMState {
        try runner.state(vm, abortIf: abortIf)
    }

    func send(_ action: GuestAction, abortIf: (Int32) -> Bool) throws(VirtualBoxError) {
        try runner.manage(VirtualBoxTools.controlVM(vm, action), abortIf: abortIf)
    }

    func takeRequests() -> [PendingRequest] {
        defer { runner.controlRequests.removeAll() }
        return runner.controlRequests
    }

    func snapshot(_ request: ControlRequest, abortIf: (Int32) -> Bool) throws(VirtualBoxError) -> ProcessOutput {
        try runner.manage(VirtualBoxTools.snapshot(vm, request.operation, request.name),
                          timeout: runner.config.snapshotTimeout, abortIf: abortIf)
    }

    func answer(_ request: PendingRequest, _ reply: ControlReply) {
        runner.answer(request.id, reply)
    }
}
