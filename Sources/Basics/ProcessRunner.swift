#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSystem

/// A finished child process.
public struct ProcessOutput: Sendable {
    /// The argv it ran (argv[0] as given, not the resolved path).
    public var argv: [String]
    /// Exit code, or 128 + signal number when a signal ended it.
    public var status: Int32
    /// The signal that ended it, if one did.
    public var signal: Int32?
    /// Everything it wrote to stdout.
    public var stdout: [UInt8]
    /// Everything it wrote to stderr.
    public var stderr: [UInt8]
    /// True when the child ran past its time limit and its process group was killed.
    public var timedOut = false

    /// A finished child's outcome and output.
    public init(argv: [String], status: Int32, signal: Int32?, stdout: [UInt8], stderr: [UInt8], timedOut: Bool = false) {
        self.argv = argv
        self.status = status
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
    }

    /// stdout as UTF-8 (invalid bytes repaired).
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// stderr as UTF-8 (invalid bytes repaired).
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
    /// The argv that could not be started.
    public var argv: [String]
    /// The errno (ENOENT when the program was not found).
    public var code: Int32

    /// An error starting `argv`, with the errno `code`.
    public init(argv: [String], code: Int32) {
        self.argv = argv
        self.code = code
    }

    /// `cannot run ARGV: reason`, with a hint when the program was not found.
    public var description: String {
        "cannot run \(Shell.quote(argv)): \(String(cString: strerror(code)))"
            + (code == ENOENT ? " (is it installed and on PATH?)" : "")
    }
}

/// Shell-style quoting for showing an argv to a person (never for running it).
public enum Shell {
    /// The argv as one line a person could paste into a shell: plain words as they are, others single-quoted.
    public static func quote(_ argv: [String]) -> String {
        argv.map { arg in
            if !arg.isEmpty, arg.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@+%".contains($0) }) { return arg }
            return "'" + arg.replacingAll("'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation).
    package func replacingAll(_ target: String, with replacement: String) -> String {
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
    /// The first range where `needle` occurs (no Foundation).
    package func range(of needle: String) -> Range<Substring.Index>? {
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
/// (Named so that it cannot clash with swift-subprocess's `Subprocess` module.)
public enum ProcessRunner {
    /// Finds `name` on PATH (or returns it when it has a slash).
    /// - Parameter path: the search path; default `$PATH`, else `/usr/local/bin:/usr/bin:/bin`.
    /// - Returns: an executable path, or nil when there is none.
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
    /// - Parameters:
    ///   - input: bytes for its stdin (small inputs only: written before the output is read).
    ///   - environment: `KEY=VALUE` strings; default this process's environment.
    /// - Throws: `SpawnError` when the program cannot be found or started, or a pipe cannot be made.
    public static func run(_ argv: [String], input: [UInt8]? = nil, environment: [String]? = nil,
                           newSession: Bool = false, timeout: Double? = nil) throws(SpawnError) -> ProcessOutput {
        let newSession = newSession || timeout != nil
        guard let first = argv.first, let exe = locate(first) else { throw SpawnError(argv: argv, code: ENOENT) }
        // Owned ends: every one is closed on every path out, a failed spawn included.
        let inPipe: (read: OwnedFD, write: OwnedFD)
        do {
            inPipe = try OwnedFD.pipe()
        } catch {
            throw SpawnError(argv: argv, code: error.code)
        }
        let (pid, collected) = try spawnCollecting(exe: exe, argv: argv, environment: environment,
                                                   newSession: newSession, stdin: inPipe.read.raw)
        var pipes = collected
        _ = inPipe.read.close()
        // Feed stdin (small inputs only) then close it. A child that exits without reading it is not an error.
        if let input, !input.isEmpty { _ = FileIO.writeAll(fd: inPipe.write.raw, input) }
        _ = inPipe.write.close()
        var terminator = GroupTerminator(pid: pid)
        let started = Clock.now()
        while pipes.isOpen {
            if let timeout {
                let now = Clock.now()
                terminator.check(expired: now - started > timeout, now: now)
            }
            // An interrupted poll is simply made again: with a timeout it waits at most 100 ms per call.
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

    /// Waits for a child (retrying EINTR).
    /// - Returns: (exit code or 128+signal, signal); (127, nil) when it cannot be waited for.
    public static func wait(_ pid: pid_t) -> (Int32, Int32?) {
        var st: Int32 = 0
        guard Syscall.retrying({ waitpid(pid, &st, 0) }) >= 0 else { return (127, nil) }
        return decode(st)
    }

    /// Decodes a wait status.
    /// - Returns: (exit code, nil) for an exit, (128 + signal, signal) for a death by signal.
    public static func decode(_ st: Int32) -> (Int32, Int32?) {
        let low = st & 0x7F
        if low == 0 { return ((st >> 8) & 0xFF, nil) }
        return (128 + low, low)
    }

    /// posix_spawn with a clean signal state (empty mask, default dispositions) and, with `newSession`, its own
    /// session (`setsid`).
    /// - Parameters:
    ///   - stdin: the descriptor for its fd 0; -1 keeps the parent's (likewise `stdout`, `stderr`).
    /// - Returns: the child's pid.
    /// - Throws: `SpawnError` with posix_spawn's error.
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

    /// The process environment as `KEY=VALUE` strings.
    public static func currentEnvironment() -> [String] {
        var out: [String] = []
        var p = environ
        while let entry = p.pointee {
            out.append(String(cString: entry))
            p += 1
        }
        return out
    }

    /// `body` gets a NULL-terminated array of C strings (copies, freed afterwards).
    static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { (array + i).initialize(to: strdup(s)) }
        (array + strings.count).initialize(to: nil)
        defer {
            for i in 0..<strings.count { free(array[i]) }
            array.deinitialize(count: strings.count + 1)
            array.deallocate()
        }
        return body(array)
    }
}
