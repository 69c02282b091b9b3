#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import CSystem

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
    public var verbose = false
    public var uid: UInt32 = getuid()

    public init(vmDir: String, policy: StopPolicy) {
        self.vmDir = vmDir
        self.policy = policy
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
        }
    }
}

/// How a run ended.
public struct RunOutcome: Sendable {
    public var finalState: VMState?
    public var headlessStatus: Int32
    /// 0 when the guest powered off or saved cleanly.
    public var exitCode: Int32
}

/// Supervises one guest: registers it if needed, starts VBoxHeadless in its own session, turns signals into
/// guest actions, reaps every child (it may be PID 1), and waits for VirtualBox's services to go.
public final class Runner: @unchecked Sendable {
    let config: RunnerConfig
    let tools: VirtualBoxTools
    let log: @Sendable (LogLevel, String) -> Void
    /// VBoxHeadless's output, forwarded line by line.
    let forward: @Sendable (String) -> Void

    private var signalFD: Int32 = -1
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

    static let handledSignals: [Int32] = [SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGCHLD]

    /// Blocks the signals vmprov handles and opens a signalfd for them. Call first, before any thread starts.
    public func prepareSignals() throws(RunnerError) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in Self.handledSignals { sigaddset(&mask, s) }
        guard pthread_sigmask(SIG_BLOCK, &mask, nil) == 0 else { throw .signals("cannot block signals") }
        signalFD = vmp_signalfd(&mask)
        guard signalFD >= 0 else { throw .signals("cannot open a signalfd: \(String(cString: strerror(errno)))") }
        if getpid() != 1 { _ = vmp_set_child_subreaper() }
    }

    private func verbose(_ argv: [String]) {
        if config.verbose { log(.info, "$ " + Shell.quote(argv)) }
    }

    @discardableResult
    private func manage(_ args: [String]) throws(VirtualBoxError) -> ProcessOutput {
        verbose([tools.vboxManage] + args)
        return try tools.manage(args)
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
        guard let value = try? tools.extraData(vm.uuid, SecureBootRequest.key), value == SecureBootRequest.requested else {
            return
        }
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
        while headlessStatus == nil {
            waitForEvents(timeout: 0.2)
            for sig in readSignals() {
                if sig == SIGCHLD { reapChildren(); continue }
                log(.info, "received \(Self.name(of: sig))")
                if !started {
                    log(.info, "the guest has not started yet; \(Self.name(of: sig)) will be carried out once it has")
                    pending.append(sig)
                    continue
                }
                stop = handle(sig, vm: vm, stop: stop)
            }
            reapChildren()
            if headlessStatus != nil { break }
            let now = Clock.now()
            if !started && now - lastPoll >= config.pollInterval {
                lastPoll = now
                if let state = try? tools.state(vm.uuid), state == .running || state == .paused {
                    started = true
                    log(.info, "\"\(vm.name)\" has started")
                    for sig in pending { stop = handle(sig, vm: vm, stop: stop) }
                    pending.removeAll()
                } else if now - startedAt > config.startupTimeout {
                    log(.warning, "\"\(vm.name)\" is not running after \(Int(config.startupTimeout)) s; still waiting")
                    lastPoll = now + 30
                }
            }
            if let current = stop, let next = config.policy.actionOnTick(current: current, now: Clock.now()) {
                log(.warning, "\"\(vm.name)\" is still running \(Int(config.policy.stopTimeout)) s after the ACPI "
                    + "request (STOP_TIMEOUT); saving its state instead")
                stop = perform(next, vm: vm, stop: stop)
            }
        }
        drainOutput()
        let status = headlessStatus ?? 1
        if !started {
            throw .headlessStartFailed(status: status, output: recentOutput)
        }
        let finalState = try? tools.state(vm.uuid)
        let clean = status == 0 && (finalState == .poweroff || finalState == .saved)
        log(clean ? .info : .error, "\"\(vm.name)\" has stopped: VBoxHeadless exit \(status), state "
            + "\(finalState?.rawValue ?? "unknown")")
        waitForServices()
        return RunOutcome(finalState: finalState, headlessStatus: status, exitCode: clean ? 0 : 1)
    }

    /// Carries out what a signal asks for.
    private func handle(_ sig: Int32, vm: VMListEntry, stop: StopState?) -> StopState? {
        guard let action = config.policy.action(for: sig, current: stop) else {
            if sig == SIGHUP { log(.info, "SIGHUP ignored (the guest keeps running)") }
            else if stop != nil { log(.info, "a stop (\(stop!.action.rawValue)) is already under way") }
            return stop
        }
        return perform(action, vm: vm, stop: stop)
    }

    /// Sends an action after checking the state; escalates when it fails.
    private func perform(_ action: GuestAction, vm: VMListEntry, stop: StopState?) -> StopState? {
        var next: GuestAction? = action
        var current = stop
        while let a = next {
            let state = try? tools.state(vm.uuid)
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
            do {
                try manage(VirtualBoxTools.controlVM(vm.uuid, a))
                return StopState(action: a, since: Clock.now())
            } catch {
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

    private var outputFD: Int32 = -1

    private func startHeadless(_ vm: VMListEntry) throws(RunnerError) {
        var fds: [Int32] = [-1, -1]
        guard Subprocess.cloexecPipe(&fds) else { throw .signals("cannot make a pipe") }
        let argv = [tools.vboxHeadless] + VirtualBoxTools.startHeadless(vm.uuid)
        verbose(argv)
        guard let exe = Subprocess.locate(tools.vboxHeadless) else {
            throw .virtualBox(.missing(tool: tools.vboxHeadless))
        }
        do {
            headlessPID = try Subprocess.spawn(exe: exe, argv: argv, environment: tools.environment, newSession: true,
                                               stdin: -1, stdout: fds[1], stderr: fds[1])
        } catch {
            close(fds[0]); close(fds[1])
            throw .virtualBox(.missing(tool: error.description))
        }
        close(fds[1])
        outputFD = fds[0]
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
            let n = buffer.withUnsafeMutableBytes { read(outputFD, $0.baseAddress, 8192) }
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
                close(outputFD)
                outputFD = -1
            } else {
                if errno == EINTR { continue }
                if errno != EAGAIN { close(outputFD); outputFD = -1 }
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
                let (code, sig) = Subprocess.decode(st)
                headlessStatus = code
                if let sig { log(.warning, "VBoxHeadless was killed by signal \(sig)") }
            }
        }
    }

    private func waitForServices() {
        let names: Set<String> = ["VBoxSVC", "VBoxXPCOMIPCD"]
        var left = ProcessTable.find(names: names, uid: config.uid)
        guard !left.isEmpty else { return }
        log(.info, "waiting for " + left.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")
            + " to exit (up to \(Int(config.serviceExitTimeout)) s)")
        let deadline = Clock.now() + config.serviceExitTimeout
        while !left.isEmpty && Clock.now() < deadline {
            Clock.sleep(0.1)
            reapChildren()
            _ = readSignals()
            left = ProcessTable.find(names: names, uid: config.uid)
        }
        if left.isEmpty {
            log(.info, "VirtualBox's services have exited")
        } else {
            log(.warning, left.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")
                + " still running after \(Int(config.serviceExitTimeout)) s; exiting anyway")
        }
    }

    static func name(of sig: Int32) -> String {
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
