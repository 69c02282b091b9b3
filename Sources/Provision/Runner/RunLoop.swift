#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML

/// What the decision loop asks of the world while a guest runs. ``Runner`` provides the real one (signalfd,
/// VBoxHeadless, VBoxManage through the signal loop); tests give a fake that scripts signals and states.
protocol RunLoopTools: AnyObject {
    /// Whether VBoxHeadless has exited (reaping first).
    var headlessExited: Bool { get }
    /// Signals that arrived during a VBoxManage call, in order, already logged; taken (the queue is emptied).
    func takeQueuedSignals() -> [Int32]
    /// Waits up to `timeout` for a signal or VBoxHeadless output (forwarded), reaps children, and returns the
    /// signals that arrived, in order, without SIGCHLD and not yet logged.
    func waitForSignals(upTo timeout: Duration) -> [Int32]
    /// The machine's state. Abandoned with `.interrupted` when a signal arrives for which `abortIf` is true.
    func state(abortIf: (Int32) -> Bool) throws(VirtualBoxError) -> VMState
    /// Sends `action` (`VBoxManage controlvm`); abandoned like ``state(abortIf:)``.
    func send(_ action: GuestAction, abortIf: (Int32) -> Bool) throws(VirtualBoxError)
    /// Snapshot requests (`vmprov snapshot`) that arrived during the last wait, parsed and the peer checked; taken.
    func takeRequests() -> [PendingRequest]
    /// Runs `VBoxManage snapshot VM OPERATION NAME`, bounded by the snapshot timeout; signals that arrive meanwhile
    /// are queued (``takeQueuedSignals()``), and abandon it only when `abortIf` is true for them.
    func snapshot(_ request: ControlRequest, abortIf: (Int32) -> Bool) throws(VirtualBoxError) -> ProcessOutput
    /// Sends `reply` to the request's client and closes its connection.
    func answer(_ request: PendingRequest, _ reply: ControlReply)
}

extension Duration {
    /// The duration in (fractional) seconds, for `Clock`-style arithmetic and messages.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Monotonic time for the loop, as a duration since an arbitrary origin.
protocol RunLoopClock {
    func now() -> Duration
}

/// `CLOCK_MONOTONIC`.
struct MonotonicClock: RunLoopClock {
    func now() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
    }
}

/// The decisions of a run, over injected tools and clock: wait for the guest to start (signals that stop it are
/// kept until it has), turn signals into guest actions by the ``StopPolicy``, escalate an unanswered ACPI request
/// after STOP_TIMEOUT and a failed action to the next, until VBoxHeadless exits.
struct RunLoop {
    let policy: StopPolicy
    /// How often to ask for the state while starting.
    let pollInterval: Duration
    /// After this long without `running`, a warning (then the loop keeps waiting).
    let startupTimeout: Duration
    /// The longest one wait for events.
    let tick: Duration
    let vmName: String
    let tools: any RunLoopTools
    let clock: any RunLoopClock
    let log: (LogLevel, String) -> Void

    /// Whether the guest reached `running` (or `paused`).
    private(set) var started = false
    /// Whether a poweroff was sent (or tried).
    private(set) var poweroffRequested = false
    /// A `restore --power-off` request: the guest was powered off for it; the runner restores once VBoxHeadless
    /// has exited, then answers.
    private(set) var restoreAfterExit: PendingRequest?
    private var pending: [Int32] = []
    private var stop: StopState?

    init(policy: StopPolicy, pollInterval: Duration, startupTimeout: Duration, tick: Duration = .milliseconds(200),
         vmName: String, tools: any RunLoopTools, clock: any RunLoopClock,
         log: @escaping (LogLevel, String) -> Void) {
        self.policy = policy
        self.pollInterval = pollInterval
        self.startupTimeout = startupTimeout
        self.tick = tick
        self.vmName = vmName
        self.tools = tools
        self.clock = clock
        self.log = log
    }

    /// Runs until VBoxHeadless exits.
    mutating func run() {
        let startedAt = clock.now()
        var nextPoll = startedAt
        while !tools.headlessExited {
            var queued = tools.takeQueuedSignals()
            while !queued.isEmpty && !tools.headlessExited {
                act(queued.removeFirst())
                queued += tools.takeQueuedSignals()
            }
            for sig in tools.waitForSignals(upTo: tick) {
                log(.info, "received \(Runner.name(of: sig))")
                act(sig)
            }
            // After the signals of the same wait: a stop that arrived with a request wins.
            for request in tools.takeRequests() { serve(request) }
            if tools.headlessExited { break }
            if !started && clock.now() >= nextPoll {
                nextPoll = clock.now() + pollInterval
                if let state = try? tools.state(abortIf: { _ in false }), state == .running || state == .paused {
                    started = true
                    log(.info, "\"\(vmName)\" has started")
                    for sig in pending { handle(sig) }
                    pending.removeAll()
                } else if clock.now() - startedAt > startupTimeout {
                    log(.warning, "\"\(vmName)\" is not running after \(Runner.seconds(startupTimeout)) s; still waiting")
                    nextPoll = clock.now() + .seconds(30) + pollInterval
                }
            }
            if let current = stop, let next = policy.actionOnTick(current: current, now: clock.now()) {
                log(.warning, "\"\(vmName)\" is still running \(Runner.seconds(policy.stopTimeout)) s after the ACPI "
                    + "request (STOP_TIMEOUT); saving its state instead")
                perform(next)
            }
        }
    }

    /// One snapshot request. Refused (`busy`) while the guest starts or stops; a restore of a running guest is
    /// refused with what to do, or, with `--power-off`, carried out after a poweroff. Take and delete run at once,
    /// and a stop signal that arrives meanwhile waits until VBoxManage returns (a snapshot half taken is worse than
    /// a stop a little later): it is queued and acted on next, like any signal during a call.
    private mutating func serve(_ request: PendingRequest) {
        let r = request.request
        log(.info, "snapshot \(r.operation.rawValue) \"\(r.name)\" requested" + (r.powerOff ? " (--power-off)" : ""))
        if let stop {
            tools.answer(request, ControlReply(.busy, message: "\"\(vmName)\" is stopping (\(stop.action.rawValue) "
                + "sent); snapshots are not taken, restored or deleted now"))
            return
        }
        if !started || !pending.isEmpty {
            tools.answer(request, ControlReply(.busy, message: "\"\(vmName)\" has not started yet; ask again once "
                + "`vmprov state` says running"))
            return
        }
        if r.operation == .restore {
            let state = try? tools.state(abortIf: { _ in false })
            if state != .poweroff && state != .saved {
                if r.powerOff {
                    log(.warning, "powering \"\(vmName)\" off to restore snapshot \"\(r.name)\" (--power-off)")
                    restoreAfterExit = request
                    perform(.poweroff)
                    return
                }
                tools.answer(request, ControlReply(.refused, message: Self.restoreRefusal(r.name, vmName: vmName,
                                                                                         state: state)))
                return
            }
        }
        let reply = Self.reply(to: r, vmName: vmName) { () throws(VirtualBoxError) -> ProcessOutput in
            try tools.snapshot(r, abortIf: { _ in false })
        }
        log(reply.outcome == .done ? .info : .warning,
            reply.message.split(separator: "\n").first.map(String.init) ?? reply.outcome.rawValue)
        tools.answer(request, reply)
    }

    /// Why a restore of a running guest is refused, and the two ways to get there.
    static func restoreRefusal(_ name: String, vmName: String, state: VMState?) -> String {
        "\"\(vmName)\" is \(state?.rawValue ?? "running"), and VirtualBox restores a snapshot only while the machine "
            + "is powered off or saved (SessionMachine::restoreSnapshot: \"Cannot delete the current state of the "
            + "running machine\"); the runner ends when the guest stops. To restore \"\(name)\":\n"
            + "  1. optionally keep the current state: vmprov snapshot take NAME-OF-NOW\n"
            + "  2. vmprov snapshot restore \(Shell.quote([name])) --power-off: the runner powers the guest off (what "
            + "it has not saved is lost), restores the snapshot and ends; the container's restart policy (restart: "
            + "unless-stopped) then starts the restored state"
    }

    /// The reply for a snapshot call: VBoxManage's stdout when it succeeded, its error lines when it failed.
    static func reply(to request: ControlRequest, vmName: String,
                      run: () throws(VirtualBoxError) -> ProcessOutput) -> ControlReply {
        let what = "snapshot \(request.operation.rawValue) \"\(request.name)\" of \"\(vmName)\""
        do {
            let out = try run()
            let lines = out.stdoutText.split(whereSeparator: \.isNewline).map(String.init)
            return ControlReply(.done, uuid: lines.lazy.compactMap(snapshotUUID).first,
                                message: ([what + ": done"] + lines).joined(separator: "\n"))
        } catch {
            switch error {
            case let .failed(out):
                let errors = out.stderrText.split(whereSeparator: \.isNewline).filter { $0.contains(": error: ") }
                let first = VBoxErrorText.firstError(out.stderrText) ?? out.failureDescription
                return ControlReply(.failed, message: "\(what) failed: \(first)\n" + errors.joined(separator: "\n"))
            case let .timedOut(_, seconds, _):
                return ControlReply(.failed, message: "\(what) did not finish within \(Int(seconds)) s; VBoxManage was "
                    + "killed, but VirtualBox may still complete the operation: check `vmprov snapshots` before "
                    + "trying again")
            default:
                return ControlReply(.failed, message: "\(what) failed: \(error)")
            }
        }
    }

    /// The UUID in `Snapshot taken. UUID: U` or `Deleting|Restoring snapshot 'NAME' (U)` (VBoxManageSnapshot.cpp).
    static func snapshotUUID(_ line: String) -> String? {
        var candidate: Substring?
        if line.hasPrefix("Snapshot taken. UUID: ") {
            candidate = line.dropFirst("Snapshot taken. UUID: ".count)
        } else if line.hasPrefix("Deleting snapshot ") || line.hasPrefix("Restoring snapshot "),
                  let open = line.lastIndex(of: "("), line.hasSuffix(")") {
            candidate = line[line.index(after: open)..<line.index(before: line.endIndex)]
        }
        return candidate.flatMap { VBoxUUID(String($0))?.description }
    }

    /// One signal, already logged as received.
    private mutating func act(_ sig: Int32) {
        guard Runner.stopSignals.contains(sig) else {
            log(.info, "\(Runner.name(of: sig)) ignored (the guest keeps running; TERM, INT and QUIT stop it)")
            return
        }
        if !started {
            log(.info, "the guest has not started yet; \(Runner.name(of: sig)) will be carried out once it has")
            pending.append(sig)
            return
        }
        handle(sig)
    }

    /// Carries out what a signal asks for.
    private mutating func handle(_ sig: Int32) {
        guard let action = policy.action(for: sig, current: stop) else {
            if let stop { log(.info, "a stop (\(stop.action.rawValue)) is already under way") }
            return
        }
        perform(action)
    }

    /// Sends an action after checking the state; escalates when it fails or does not answer in time. A signal
    /// that asks for something stronger while the call runs abandons it (the signal is then acted on at once).
    private mutating func perform(_ action: GuestAction) {
        var next: GuestAction? = action
        while let a = next {
            let pendingStop = StopState(action: a, since: clock.now())
            let stronger: (Int32) -> Bool = { [policy] sig in policy.action(for: sig, current: pendingStop) != nil }
            let state: VMState?
            do { state = try tools.state(abortIf: stronger) } catch {
                if case .interrupted = error {
                    // A stronger request arrived before `a` went out; it is queued and escalates from `a`.
                    log(.info, "\(a.rawValue) abandoned for a stronger request")
                    stop = pendingStop
                    return
                }
                log(.warning, "cannot read the state of \"\(vmName)\": \(error)")
                state = nil
            }
            if let state, state.isDown {
                log(.info, "\"\(vmName)\" is \(state.rawValue); nothing to send")
                return
            }
            if a == .acpi, let state, !state.acceptsACPI {
                log(.info, "\"\(vmName)\" is \(state.rawValue) and cannot take an ACPI request; saving its state")
                next = .savestate
                continue
            }
            log(.info, "sending \(a.rawValue) to \"\(vmName)\"")
            if a == .poweroff { poweroffRequested = true }
            do {
                try tools.send(a, abortIf: stronger)
                stop = StopState(action: a, since: clock.now())
                return
            } catch {
                if case .interrupted = error {
                    // A stronger request arrived; it is queued and carried out next.
                    log(.info, "\(a.rawValue) abandoned for a stronger request")
                    stop = StopState(action: a, since: clock.now())
                    return
                }
                let reason: String
                if case let .failed(out) = error { reason = VBoxErrorText.firstError(out.stderrText) ?? out.failureDescription }
                else { reason = error.description }
                log(.warning, "\(a.rawValue) failed: \(reason)")
                stop = StopState(action: a, since: clock.now())
                next = policy.actionAfterFailure(of: a)
                // The machine may have gone down meanwhile; the loop checks again.
                if tools.headlessExited { return }
            }
        }
    }
}
