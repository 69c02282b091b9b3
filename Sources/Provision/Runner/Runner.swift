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
    public var vmDir: String
    public var policy: StopPolicy
    /// How long to wait for the VM to reach `running` before treating start-up as failed.
    public var startupTimeout: Double = 120
    /// How long to wait for VBoxSVC and VBoxXPCOMIPCD to exit at the end.
    public var serviceExitTimeout: Double = 30
    /// How often to ask for the state while starting.
    public var pollInterval: Double = 0.25
    /// The longest one VBoxManage call may take before its process group is killed (seconds).
    public var callTimeout: Double = 30
    public var verbose = false
    public var uid: UInt32 = getuid()

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
    public var finalState: VMState?
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
/// Not `Sendable` (it was `@unchecked Sendable` without need): all its state belongs to the one thread that blocked
/// the signals and runs `run()`.
public final class Runner {
    let config: RunnerConfig
    let tools: VirtualBoxTools
    let log: @Sendable (LogLevel, String) -> Void
    /// VBoxHeadless's output, forwarded line by line.
    let forward: @Sendable (String) -> Void

    /// The signalfd for the signals the runner takes over, once `prepareSignals` opened it.
    private var signals: OwnedFD?
    private var signalFD: Int32 { signals?.raw ?? -1 }
    private var headlessPID: pid_t = 0
    private var headlessStatus: Int32?
    private var recentOutput: [String] = []
    private var partialLine: [UInt8] = []

    public init(config: RunnerConfig, tools: VirtualBoxTools, log: @escaping @Sendable (LogLevel, String) -> Void,
                forward: @escaping @Sendable (String) -> Void) {
        self.config = config
        self.tools = tools
        self.log = log
        self.forward = forward
    }

    /// Every signal the runner takes over (signal(7): all whose default action terminates, dumps core or stops,
    /// the real-time signals, and SIGCHLD): blocked and read from a signalfd, so none can end the runner and leave
    /// VBoxHeadless unsupervised. TERM, INT and QUIT stop the guest; the others are logged and ignored.
    public static var handledSignals: [Int32] {
        var mask = sigset_t()
        vmp_runner_signal_mask(&mask)
        return (1..<65).filter { sigismember(&mask, $0) == 1 }
    }

    /// Blocks the signals vmprov handles and opens a signalfd for them. Call first, before any thread starts.
    /// - Throws: `RunnerError.signals` when the mask or the signalfd cannot be set up.
    public func prepareSignals() throws(RunnerError) {
        var mask = sigset_t()
        vmp_runner_signal_mask(&mask)
        guard pthread_sigmask(SIG_BLOCK, &mask, nil) == 0 else { throw .signals("cannot block signals") }
        let fd = vmp_signalfd(&mask)
        guard fd >= 0 else { throw .signals("cannot open a signalfd: \(String(cString: strerror(errno)))") }
        signals = OwnedFD(taking: fd)
        if getpid() != 1 { _ = vmp_set_child_subreaper() }
    }

    private func verbose(_ argv: [String]) {
        if config.verbose { log(.info, "$ " + Shell.quote(argv)) }
    }

    @discardableResult
    private func manage(_ args: [String], abortIf: (Int32) -> Bool = { _ in false }) throws(VirtualBoxError) -> ProcessOutput {
        verbose([tools.vboxManage] + args)
        let out = try call([tools.vboxManage] + args, timeout: config.callTimeout, abortIf: abortIf)
        guard out.status == 0 else { throw .failed(out) }
        return out
    }

    private func state(_ vm: String, abortIf: (Int32) -> Bool = { _ in false }) throws(VirtualBoxError) -> VMState {
        let out = try manage(VirtualBoxTools.showVMInfo(vm), abortIf: abortIf)
        guard let state = MachineInfo(parsing: out.stdoutText).state else {
            throw .unparsable(what: "VBoxManage showvminfo", output: out.stdoutText)
        }
        return state
    }

    // MARK: bounded calls

    private var callPID: pid_t = 0
    private var callStatus: Int32?
    /// Signals that arrived during a call, in order, not yet acted on (already logged).
    private var queued: [Int32] = []

    /// Runs a VirtualBox tool in its own session, collecting its output, while still reading signals (queued, and
    /// logged at once) and reaping children. Kills its process group (TERM, then KILL a second later) when it runs
    /// longer than `timeout` seconds, or as soon as a signal arrives for which `abortIf` is true.
    /// - Throws: `VirtualBoxError.missing`, `.timedOut` or `.interrupted`; a non-zero exit is returned, not thrown.
    private func call(_ argv: [String], timeout: Double, abortIf: (Int32) -> Bool) throws(VirtualBoxError) -> ProcessOutput {
        guard let exe = ProcessRunner.locate(argv[0]) else { throw .missing(tool: argv[0]) }
        // Owned: every descriptor is closed on every way out, a failed spawn included.
        let outPipe, errPipe: (read: OwnedFD, write: OwnedFD)
        do {
            outPipe = try OwnedFD.pipe()
            errPipe = try OwnedFD.pipe()
        } catch { throw .missing(tool: argv[0]) }
        let devNull = OwnedFD.openOrNil("/dev/null", O_RDONLY)
        let pid: pid_t
        do {
            pid = try ProcessRunner.spawn(exe: exe, argv: argv, environment: tools.environment, newSession: true,
                                       stdin: devNull?.raw ?? -1, stdout: outPipe.write.raw, stderr: errPipe.write.raw)
        } catch {
            throw .missing(tool: error.description)
        }
        outPipe.write.close(); errPipe.write.close(); devNull?.close()
        let readers = [outPipe.read, errPipe.read]
        callPID = pid
        callStatus = nil
        defer { callPID = 0 }
        var fds = [pollfd(fd: outPipe.read.raw, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: errPipe.read.raw, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)]
        var out: [UInt8] = []
        var err: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let started = Clock.now()
        var killedAt: Double?
        var abortedBy: Int32?
        var exitedAt: Double?
        while true {
            let open = fds[0].fd >= 0 || fds[1].fd >= 0
            if let status = callStatus {
                // Done once its output is closed (or shortly after it exited, if a grandchild holds the pipes).
                if !open || (exitedAt.map { Clock.now() - $0 > 1 } ?? false) {
                    for k in 0..<2 where fds[k].fd >= 0 { readers[k].close() }
                    let (code, sig) = ProcessRunner.decode(status)
                    let output = ProcessOutput(argv: argv, status: code, signal: sig, stdout: out, stderr: err)
                    if killedAt != nil {
                        if let abortedBy { throw .interrupted(argv: argv, by: Self.name(of: abortedBy)) }
                        throw .timedOut(argv: argv, seconds: timeout, pid: pid)
                    }
                    return output
                }
                if exitedAt == nil { exitedAt = Clock.now() }
            }
            let n = Syscall.retrying { poll(&fds, 3, 100) }
            if n < 0 { Clock.sleep(0.05) }
            for k in 0..<2 where fds[k].fd >= 0 && fds[k].revents != 0 {
                let r = Syscall.retrying { FileIO.read(fds[k].fd, into: &buffer) }
                if r > 0 {
                    if k == 0 { out.append(contentsOf: buffer[0..<r]) } else { err.append(contentsOf: buffer[0..<r]) }
                } else if r == 0 || errno != EAGAIN {
                    readers[k].close()
                    fds[k].fd = -1
                }
            }
            for sig in readSignals() where sig != SIGCHLD {
                log(.info, "received \(Self.name(of: sig))")
                queued.append(sig)
                if killedAt == nil && abortedBy == nil && abortIf(sig) { abortedBy = sig }
            }
            reapChildren()
            let now = Clock.now()
            if callStatus == nil {
                if killedAt == nil && (abortedBy != nil || now - started > timeout) {
                    kill(-pid, SIGTERM)
                    killedAt = now
                } else if let k = killedAt, now - k > 1 {
                    kill(-pid, SIGKILL)
                }
            }
        }
    }

    // MARK: finding the machine

    /// The first registered machine, registering the first `.vbox` under VMDIR when none is.
    func findMachine() throws(RunnerError) -> VMListEntry {
        let listed: [VMListEntry]
        do {
            listed = VMListParser.parse(try manage(VirtualBoxTools.listVMs()).stdoutText)
        } catch { throw .virtualBox(error) }
        if let first = listed.first(where: { !$0.inaccessible }) {
            if listed.count > 1 {
                log(.info, "\(listed.count) machines are registered; using the first, \"\(first.name)\"")
            }
            return first
        }
        let found = VBoxFileDiscovery.under(config.vmDir, depth: 3)
        let files = found.machines
        guard let file = files.first else {
            var searched = config.vmDir + " (and 3 levels below)"
            if !found.backups.isEmpty {
                searched += "; found only copies VirtualBox keeps when it raises the settings format, which are "
                    + "never registered (" + found.backups.joined(separator: ", ") + "); restore the machine's own "
                    + "NAME.vbox from one of them to use it"
            }
            throw .noMachine(searched: [searched])
        }
        log(.info, "no machine is registered; registering \(file) (the first .vbox under \(config.vmDir))")
        if files.count > 1 {
            log(.warning, "\(files.count) .vbox files found; ignoring " + files.dropFirst().joined(separator: ", "))
        }
        do throws(VirtualBoxError) {
            try manage(VirtualBoxTools.registerVM(file))
            let after = VMListParser.parse(try manage(VirtualBoxTools.listVMs()).stdoutText)
            guard let entry = after.first(where: { !$0.inaccessible }) else {
                throw VirtualBoxError.unparsable(what: "VBoxManage list vms after registervm", output: "")
            }
            return entry
        } catch { throw .registration(path: file, error) }
    }

    /// Carries out a secure-boot request that `vmprov create` recorded, once.
    func secureBootIfRequested(_ vm: VMListEntry) {
        let text = (try? manage(VirtualBoxTools.getExtraData(vm.uuid, SecureBootRequest.key)).stdoutText) ?? ""
        let value = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("Value: ") }.map { String($0.dropFirst(7)) }
        guard value == SecureBootRequest.requested else { return }
        log(.info, "\"\(vm.name)\" asks for secure boot: initialising its UEFI variable store")
        for step in VirtualBoxTools.secureBootSteps(vm.uuid) {
            do {
                try manage(step)
            } catch {
                log(.warning, "secure boot setup failed at \(step.dropFirst(2).joined(separator: " ")): \(error); "
                    + "the machine starts without it")
                return
            }
        }
        _ = try? manage(VirtualBoxTools.setExtraData(vm.uuid, SecureBootRequest.key, SecureBootRequest.done))
        log(.info, "secure boot is enabled for \"\(vm.name)\" (Microsoft and Oracle keys enrolled)")
    }

    // MARK: the run

    /// Runs the guest until VBoxHeadless exits. Signals must have been prepared.
    /// - Throws: `RunnerError` when no machine is found, registration fails, or VBoxHeadless fails to start.
    public func run() throws(RunnerError) -> RunOutcome {
        if signalFD < 0 { try prepareSignals() }
        let vm = try findMachine()
        secureBootIfRequested(vm)
        try startHeadless(vm)
        log(.info, "\"\(vm.name)\" is starting (VBoxHeadless pid \(headlessPID))")

        var started = false
        var pending: [Int32] = []
        var stop: StopState?
        let startedAt = Clock.now()
        var lastPoll = 0.0

        /// One signal, already logged as received.
        func act(_ sig: Int32) {
            guard Self.stopSignals.contains(sig) else {
                log(.info, "\(Self.name(of: sig)) ignored (the guest keeps running; TERM, INT and QUIT stop it)")
                return
            }
            if !started {
                log(.info, "the guest has not started yet; \(Self.name(of: sig)) will be carried out once it has")
                pending.append(sig)
                return
            }
            stop = handle(sig, vm: vm, stop: stop)
        }

        while headlessStatus == nil {
            while !queued.isEmpty && headlessStatus == nil { act(queued.removeFirst()) }
            waitForEvents(timeout: 0.2)
            for sig in readSignals() {
                if sig == SIGCHLD { reapChildren(); continue }
                log(.info, "received \(Self.name(of: sig))")
                act(sig)
            }
            reapChildren()
            if headlessStatus != nil { break }
            let now = Clock.now()
            if !started && now - lastPoll >= config.pollInterval {
                lastPoll = now
                if let state = try? self.state(vm.uuid), state == .running || state == .paused {
                    started = true
                    log(.info, "\"\(vm.name)\" has started")
                    for sig in pending { stop = handle(sig, vm: vm, stop: stop) }
                    pending.removeAll()
                } else if Clock.now() - startedAt > config.startupTimeout {
                    log(.warning, "\"\(vm.name)\" is not running after \(Self.seconds(config.startupTimeout)) s; still waiting")
                    lastPoll = Clock.now() + 30
                }
            }
            if let current = stop, let next = config.policy.actionOnTick(current: current, now: Clock.now()) {
                log(.warning, "\"\(vm.name)\" is still running \(Self.seconds(config.policy.stopTimeout)) s after the ACPI "
                    + "request (STOP_TIMEOUT); saving its state instead")
                stop = perform(next, vm: vm, stop: stop)
            }
        }
        drainOutput()
        let status = headlessStatus ?? 1
        if !started {
            throw .headlessStartFailed(status: status, output: recentOutput)
        }
        let finalState = try? self.state(vm.uuid)
        let outcome = RunOutcome(finalState: finalState, headlessStatus: status, poweroffRequested: poweroffRequested)
        log(outcome.exitCode == 0 ? .info : .error, "\"\(vm.name)\" has stopped: VBoxHeadless exit \(status), state "
            + "\(finalState?.rawValue ?? "unknown")")
        if status != 0 && outcome.exitCode == 0 {
            log(.info, "the poweroff was vmprov's own request and the machine is powered off: a clean end")
        }
        waitForServices()
        return outcome
    }

    /// The signals that stop the guest; every other handled signal is logged and ignored.
    static let stopSignals: Set<Int32> = [SIGTERM, SIGINT, SIGQUIT]
    /// Whether vmprov has sent (or tried to send) `controlvm poweroff`.
    private var poweroffRequested = false

    /// Carries out what a signal asks for.
    private func handle(_ sig: Int32, vm: VMListEntry, stop: StopState?) -> StopState? {
        guard let action = config.policy.action(for: sig, current: stop) else {
            if let stop { log(.info, "a stop (\(stop.action.rawValue)) is already under way") }
            return stop
        }
        return perform(action, vm: vm, stop: stop)
    }

    /// Sends an action after checking the state; escalates when it fails or does not answer in time. A signal
    /// that asks for something stronger while the call runs abandons it (the signal is then acted on at once).
    private func perform(_ action: GuestAction, vm: VMListEntry, stop: StopState?) -> StopState? {
        var next: GuestAction? = action
        var current = stop
        while let a = next {
            let pendingStop = StopState(action: a, since: Clock.now())
            let stronger: (Int32) -> Bool = { [config] sig in config.policy.action(for: sig, current: pendingStop) != nil }
            let state: VMState?
            do { state = try self.state(vm.uuid, abortIf: stronger) } catch {
                if case .interrupted = error {
                    // A stronger request arrived before `a` went out; it is queued and escalates from `a`.
                    log(.info, "\(a.rawValue) abandoned for a stronger request")
                    return pendingStop
                }
                log(.warning, "cannot read the state of \"\(vm.name)\": \(error)")
                state = nil
            }
            if let state, state.isDown {
                log(.info, "\"\(vm.name)\" is \(state.rawValue); nothing to send")
                return current
            }
            if a == .acpi, let state, !state.acceptsACPI {
                log(.info, "\"\(vm.name)\" is \(state.rawValue) and cannot take an ACPI request; saving its state")
                next = .savestate
                continue
            }
            log(.info, "sending \(a.rawValue) to \"\(vm.name)\"")
            if a == .poweroff { poweroffRequested = true }
            do {
                try manage(VirtualBoxTools.controlVM(vm.uuid, a), abortIf: stronger)
                return StopState(action: a, since: Clock.now())
            } catch {
                if case .interrupted = error {
                    // A stronger request arrived; it is queued and carried out next.
                    log(.info, "\(a.rawValue) abandoned for a stronger request")
                    return StopState(action: a, since: Clock.now())
                }
                let reason: String
                if case let .failed(out) = error { reason = VBoxErrorText.firstError(out.stderrText) ?? out.failureDescription }
                else { reason = error.description }
                log(.warning, "\(a.rawValue) failed: \(reason)")
                current = StopState(action: a, since: Clock.now())
                next = config.policy.actionAfterFailure(of: a)
                // The machine may have gone down meanwhile; the loop checks again.
                reapChildren()
                if headlessStatus != nil { return current }
            }
        }
        return current
    }

    // MARK: VBoxHeadless

    /// VBoxHeadless's stdout and stderr (read end), while it is open.
    private var output: OwnedFD?
    private var outputFD: Int32 { output?.raw ?? -1 }

    private func startHeadless(_ vm: VMListEntry) throws(RunnerError) {
        // Owned ends: the old code leaked both when VBoxHeadless was not found after the pipe was made.
        let pipe: (read: OwnedFD, write: OwnedFD)
        do { pipe = try OwnedFD.pipe() } catch { throw .signals("cannot make a pipe") }
        let argv = [tools.vboxHeadless] + VirtualBoxTools.startHeadless(vm.uuid)
        verbose(argv)
        guard let exe = ProcessRunner.locate(tools.vboxHeadless) else {
            throw .virtualBox(.missing(tool: tools.vboxHeadless))
        }
        do {
            headlessPID = try ProcessRunner.spawn(exe: exe, argv: argv, environment: tools.environment, newSession: true,
                                               stdin: -1, stdout: pipe.write.raw, stderr: pipe.write.raw)
        } catch {
            throw .virtualBox(.missing(tool: error.description))
        }
        pipe.write.close()
        output = pipe.read
        _ = fcntl(outputFD, F_SETFL, fcntl(outputFD, F_GETFL) | O_NONBLOCK)
    }

    private func waitForEvents(timeout: Double) {
        var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)]
        let n = poll(&fds, outputFD >= 0 ? 2 : 1, Int32(timeout * 1000))
        if n > 0, outputFD >= 0, fds[1].revents != 0 { readOutput() }
    }

    private func readOutput() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while outputFD >= 0 {
            let n = Syscall.retrying { FileIO.read(outputFD, into: &buffer) }
            if n > 0 {
                for b in buffer[0..<n] {
                    if b == 0x0A {
                        emit(String(decoding: partialLine, as: UTF8.self))
                        partialLine.removeAll(keepingCapacity: true)
                    } else {
                        partialLine.append(b)
                    }
                }
            } else if n == 0 {
                output = nil  // closes it
            } else {
                if errno != EAGAIN { output = nil }
                return
            }
        }
    }

    private func emit(_ line: String) {
        forward(line)
        recentOutput.append(line)
        if recentOutput.count > 40 { recentOutput.removeFirst() }
    }

    private func drainOutput() {
        if outputFD >= 0 {
            _ = fcntl(outputFD, F_SETFL, fcntl(outputFD, F_GETFL) & ~O_NONBLOCK)
            readOutput()
        }
        if !partialLine.isEmpty {
            emit(String(decoding: partialLine, as: UTF8.self))
            partialLine.removeAll()
        }
    }

    // MARK: signals and children

    private func readSignals() -> [Int32] {
        var out: [Int32] = []
        while true {
            var sender: Int32 = 0
            let s = vmp_read_signal(signalFD, &sender)
            if s <= 0 { return out }
            out.append(s)
        }
    }

    /// Reaps every exited child (VBoxHeadless, and orphans handed to us as PID 1 or subreaper).
    private func reapChildren() {
        while true {
            var st: Int32 = 0
            let pid = waitpid(-1, &st, WNOHANG)
            if pid <= 0 { return }
            if pid == headlessPID {
                let (code, sig) = ProcessRunner.decode(st)
                headlessStatus = code
                if let sig { log(.warning, "VBoxHeadless was killed by signal \(sig)") }
            } else if pid == callPID {
                callStatus = st
            }
        }
    }

    private func waitForServices() {
        let names: Set<String> = ["VBoxSVC", "VBoxXPCOMIPCD"]
        // As PID 1 the services are our orphans: reap the ones that have exited already (a zombie is not running,
        // so it would not be waited for, and nobody else would ever reap it).
        reapChildren()
        var left = ProcessTable.find(names: names, uid: config.uid)
        guard !left.isEmpty else {
            log(.info, "VirtualBox's services have exited")
            return
        }
        log(.info, "waiting for " + left.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")
            + " to exit (up to \(Self.seconds(config.serviceExitTimeout)) s)")
        let deadline = Clock.now() + config.serviceExitTimeout
        while !left.isEmpty && Clock.now() < deadline {
            Clock.sleep(0.1)
            reapChildren()
            for sig in readSignals() where sig != SIGCHLD {
                log(.info, "received \(Self.name(of: sig)); the guest has stopped already, waiting for VirtualBox's services")
            }
            left = ProcessTable.find(names: names, uid: config.uid)
        }
        if left.isEmpty {
            log(.info, "VirtualBox's services have exited")
        } else {
            log(.warning, left.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")
                + " still running after \(Self.seconds(config.serviceExitTimeout)) s; exiting anyway")
        }
    }

    /// Whole seconds for a log line; never traps (a library caller may pass any Double).
    static func seconds(_ value: Double) -> String {
        value.isFinite && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
    }

    /// "SIGTERM", "SIGUSR1", "SIGRTMIN+3"… or "signal N".
    static func name(of sig: Int32) -> String {
        if let abbrev = vmp_signal_abbrev(sig) { return "SIG" + String(cString: abbrev) }
        switch sig {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGQUIT: return "SIGQUIT"
        case SIGHUP: return "SIGHUP"
        case SIGCHLD: return "SIGCHLD"
        default: return "signal \(sig)"
        }
    }
}

/// The ExtraData key `vmprov create` writes for machines that want secure boot.
public enum SecureBootRequest {
    public static let key = "vmprov/SecureBoot"
    public static let requested = "requested"
    public static let done = "enabled"
}

/// Finding `.vbox` files under a folder.
public enum VBoxFiles {
    /// Every machine settings file under `root` (to `depth` levels), sorted by path; VirtualBox's format backups
    /// (`NAME-1.16-linux.vbox`), `-prev` and `-tmp` files are left out (``VBoxFileDiscovery``).
    public static func find(under root: String, depth: Int) -> [String] {
        VBoxFileDiscovery.under(root, depth: depth).machines
    }
}
