#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystem

/// A finished child process.
public struct ProcessOutput: Sendable {
    public var argv: [String]
    /// Exit code, or 128 + signal number when a signal ended it.
    public var status: Int32
    public var signal: Int32?
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// True when the child ran past its time limit and its process group was killed.
    public var timedOut = false

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }

    /// "argv (exit N)" and the indented stderr, for error messages.
    public var failureDescription: String {
        let how = signal.map { "killed by signal \($0)" } ?? "exit \(status)"
        let err = stderrText.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        return "\(Shell.quote(argv)) (\(how))" + (err.isEmpty ? "" : "\n" + err)
    }
}

/// Errors starting a child.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    public var argv: [String]
    public var code: Int32
    public var description: String {
        "cannot run \(Shell.quote(argv)): \(String(cString: strerror(code)))"
            + (code == ENOENT ? " (is it installed and on PATH?)" : "")
    }
}

/// Shell-style quoting for showing an argv to a person (never for running it).
public enum Shell {
    public static func quote(_ argv: [String]) -> String {
        argv.map { arg in
            if !arg.isEmpty, arg.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@+%".contains($0) }) { return arg }
            return "'" + arg.replacingAll("'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

extension Substring {
    func range(of needle: String) -> Range<Substring.Index>? {
        guard let first = needle.first else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i] == first, self[i...].hasPrefix(needle) {
                return i..<index(i, offsetBy: needle.count)
            }
            i = index(after: i)
        }
        return nil
    }
}

/// Starts children with an argv (no shell), an empty signal mask and default signal dispositions.
public enum Subprocess {
    /// Finds `name` on PATH (or returns it when it has a slash).
    public static func locate(_ name: String, path: String? = nil) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let search = path ?? (getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin")
        for dir in search.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Spawns `argv` with stdin from /dev/null (or `input`), collecting stdout and stderr. With `timeout`
    /// (seconds), the child runs in its own session and its whole process group is killed (TERM, then KILL a
    /// second later) once the time is up; the output then says `timedOut`.
    /// - Throws: `SpawnError` when the program cannot be found or started.
    public static func run(_ argv: [String], input: [UInt8]? = nil, environment: [String]? = nil,
                           newSession: Bool = false, timeout: Double? = nil) throws(SpawnError) -> ProcessOutput {
        let newSession = newSession || timeout != nil
        guard let first = argv.first, let exe = locate(first) else { throw SpawnError(argv: argv, code: ENOENT) }
        var inPipe: [Int32] = [-1, -1]
        guard cloexecPipe(&inPipe) else { throw SpawnError(argv: argv, code: errno) }
        let pid: pid_t
        var pipes: OutputPipes
        do {
            (pid, pipes) = try spawnCollecting(exe: exe, argv: argv, environment: environment, newSession: newSession,
                                               stdin: inPipe[0])
        } catch {
            close(inPipe[0]); close(inPipe[1])
            throw error
        }
        close(inPipe[0])
        // Feed stdin (small inputs only) then close it.
        if let input, !input.isEmpty {
            var off = 0
            while off < input.count {
                let n = input.withUnsafeBytes { write(inPipe[1], $0.baseAddress! + off, input.count - off) }
                if n <= 0 { if errno == EINTR { continue }; break }
                off += n
            }
        }
        close(inPipe[1])
        var terminator = GroupTerminator(pid: pid)
        let started = Clock.now()
        while pipes.isOpen {
            if let timeout {
                let now = Clock.now()
                terminator.check(expired: now - started > timeout, now: now)
            }
            if pipes.pump(timeoutMS: timeout == nil ? -1 : 100) < 0 {
                if errno == EINTR { continue }
                pipes.closeAll()
                break
            }
        }
        let killedAt = terminator.terminatedAt
        if killedAt != nil { kill(-pid, SIGKILL) }
        let (status, sig) = wait(pid)
        return ProcessOutput(argv: argv, status: status, signal: sig, stdout: pipes.stdout, stderr: pipes.stderr,
                             timedOut: killedAt != nil)
    }

    /// A pipe whose ends close on exec.
    public static func cloexecPipe(_ fds: inout [Int32]) -> Bool {
        guard pipe(&fds) == 0 else { return false }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return true
    }

    /// Waits for a child; returns (exit code or 128+signal, signal).
    public static func wait(_ pid: pid_t) -> (Int32, Int32?) {
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 {
            if errno != EINTR { return (127, nil) }
        }
        return decode(st)
    }

    /// Decodes a wait status.
    public static func decode(_ st: Int32) -> (Int32, Int32?) {
        let low = st & 0x7F
        if low == 0 { return ((st >> 8) & 0xFF, nil) }
        return (128 + low, low)
    }

    /// posix_spawn with a clean signal state; -1 for a descriptor keeps the parent's.
    public static func spawn(exe: String, argv: [String], environment: [String]?, newSession: Bool,
                             stdin: Int32, stdout: Int32, stderr: Int32) throws(SpawnError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdin >= 0 { posix_spawn_file_actions_adddup2(&actions, stdin, 0) }
        if stdout >= 0 { posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
        if stderr >= 0 { posix_spawn_file_actions_adddup2(&actions, stderr, 2) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attr, &all)
        var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newSession { flags |= vmp_spawn_setsid_flag() }
        posix_spawnattr_setflags(&attr, flags)
        let env = environment ?? currentEnvironment()
        var pid: pid_t = 0
        let rc = withCStrings(argv) { cargv in
            withCStrings(env) { cenv in
                posix_spawn(&pid, exe, &actions, &attr, cargv, cenv)
            }
        }
        guard rc == 0 else { throw SpawnError(argv: argv, code: rc) }
        return pid
    }

    /// The process environment as KEY=VALUE strings.
    public static func currentEnvironment() -> [String] {
        var out: [String] = []
        var p = environ
        while let entry = p.pointee {
            out.append(String(cString: entry))
            p += 1
        }
        return out
    }

    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
