#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML
import CSystem

/// The signal loop: blocked signals read from a signalfd, the one `waitpid` caller, and bounded VirtualBox calls.
extension Runner {
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
        signalThread = pthread_self()
        var mask = sigset_t()
        vmp_runner_signal_mask(&mask)
        guard pthread_sigmask(SIG_BLOCK, &mask, nil) == 0 else { throw .signals("cannot block signals") }
        let fd = vmp_signalfd(&mask)
        guard fd >= 0 else { throw .signals("cannot open a signalfd: \(String(cString: strerror(errno)))") }
        signals = OwnedFD(taking: fd)
        if getpid() != 1 { _ = vmp_set_child_subreaper() }
    }

    func verbose(_ argv: [String]) {
        if config.verbose { log(.info, "$ " + Shell.quote(argv)) }
    }

    @discardableResult
    func manage(_ args: [String], timeout: Duration? = nil,
                abortIf: (Int32) -> Bool = { _ in false }) throws(VirtualBoxError) -> ProcessOutput {
        verbose([tools.vboxManage] + args)
        let out = try call([tools.vboxManage] + args, timeout: timeout ?? config.callTimeout, abortIf: abortIf)
        guard out.status == 0 else { throw .failed(out) }
        return out
    }

    func state(_ vm: String, abortIf: (Int32) -> Bool = { _ in false }) throws(VirtualBoxError) -> VMState {
        let out = try manage(VirtualBoxTools.showVMInfo(vm), abortIf: abortIf)
        guard let state = MachineInfo(parsing: out.stdoutText).state else {
            throw .unparsable(what: "VBoxManage showvminfo", output: out.stdoutText)
        }
        return state
    }

    // MARK: bounded calls

    /// Runs a VirtualBox tool in its own session, collecting its output, while still reading signals (queued, and
    /// logged at once) and reaping children. Kills its process group (TERM, then KILL a second later) when it runs
    /// longer than `timeout`, or as soon as a signal arrives for which `abortIf` is true.
    /// - Throws: `VirtualBoxError.missing`, `.timedOut` or `.interrupted`; a non-zero exit is returned, not thrown.
    func call(_ argv: [String], timeout: Duration, abortIf: (Int32) -> Bool) throws(VirtualBoxError) -> ProcessOutput {
        guard let exe = ProcessRunner.locate(argv[0]) else { throw .missing(tool: argv[0]) }
        let devNull = OwnedFD.openOrNil("/dev/null", O_RDONLY)
        let pid: pid_t
        var pipes: OutputPipes
        do {
            (pid, pipes) = try ProcessRunner.spawnCollecting(exe: exe, argv: argv, environment: tools.environment,
                                                          newSession: true, stdin: devNull?.raw ?? -1,
                                                             watching: signalFD)
        } catch { throw .missing(tool: error.description) }
        callPID = pid
        callStatus = nil
        defer { callPID = 0 }
        var terminator = GroupTerminator(pid: pid)
        let limit = timeout.inSeconds
        let started = Clock.now()
        var abortedBy: Int32?
        var exitedAt: Double?
        while true {
            if let status = callStatus {
                // Done once its output is closed (or shortly after it exited, if a grandchild holds the pipes).
                if !pipes.isOpen || (exitedAt.map { Clock.now() - $0 > 1 } ?? false) {
                    pipes.closeAll()
                    let (code, sig) = ProcessRunner.decode(status)
                    let output = ProcessOutput(argv: argv, status: code, signal: sig, stdout: pipes.stdout,
                                               stderr: pipes.stderr)
                    if terminator.terminatedAt != nil {
                        if let abortedBy { throw .interrupted(argv: argv, by: Self.name(of: abortedBy)) }
                        throw .timedOut(argv: argv, seconds: limit, pid: pid)
                    }
                    return output
                }
                if exitedAt == nil { exitedAt = Clock.now() }
            }
            if pipes.pump(timeoutMS: 100) < 0 && errno != EINTR { Clock.sleep(0.05) }
            for sig in readSignals() where sig != SIGCHLD {
                log(.info, "received \(Self.name(of: sig))")
                queued.append(sig)
                if terminator.terminatedAt == nil && abortedBy == nil && abortIf(sig) { abortedBy = sig }
            }
            reapChildren()
            if callStatus == nil {
                let now = Clock.now()
                terminator.check(expired: abortedBy != nil || now - started > limit, now: now)
            }
        }
    }

    // MARK: signals and children

    func readSignals() -> [Int32] {
        var out: [Int32] = []
        while true {
            var sender: Int32 = 0
            let s = vmp_read_signal(signalFD, &sender)
            if s <= 0 { return out }
            out.append(s)
        }
    }

    /// Reaps every exited child (VBoxHeadless, and orphans handed to us as PID 1 or subreaper).
    func reapChildren() {
        while true {
            var st: Int32 = 0
            let pid = Syscall.retrying { waitpid(-1, &st, WNOHANG) }
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

    /// Whole seconds for a log line.
    static func seconds(_ value: Duration) -> String {
        String(value.components.seconds)
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
