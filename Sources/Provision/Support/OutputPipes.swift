#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A child's stdout and stderr, drained from two pipes until both close: the one read loop that
/// `Subprocess.run` and the runner's bounded VirtualBox calls share. An extra descriptor (the runner's signalfd)
/// may be polled alongside; it is only watched, never read.
struct OutputPipes {
    private var fds: [pollfd]
    private(set) var stdout: [UInt8] = []
    private(set) var stderr: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 65536)

    /// Takes ownership of the read ends `stdout` and `stderr`.
    init(stdout: Int32, stderr: Int32, watching extra: Int32? = nil) {
        fds = [pollfd(fd: stdout, events: Int16(POLLIN), revents: 0),
               pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)]
        if let extra { fds.append(pollfd(fd: extra, events: Int16(POLLIN), revents: 0)) }
    }

    /// Whether either pipe is still open.
    var isOpen: Bool { fds[0].fd >= 0 || fds[1].fd >= 0 }

    /// Waits up to `timeoutMS` (-1: no limit) and reads what is ready.
    /// - Returns: poll(2)'s result (negative with `errno` on failure; EINTR is the caller's to judge).
    @discardableResult
    mutating func pump(timeoutMS: Int32) -> Int32 {
        let n = poll(&fds, nfds_t(fds.count), timeoutMS)
        guard n > 0 else { return n }
        for k in 0..<2 where fds[k].fd >= 0 && fds[k].revents != 0 {
            let r = buffer.withUnsafeMutableBytes { read(fds[k].fd, $0.baseAddress, 65536) }
            if r > 0 {
                if k == 0 { stdout.append(contentsOf: buffer[0..<r]) } else { stderr.append(contentsOf: buffer[0..<r]) }
            } else if r == 0 || (errno != EINTR && errno != EAGAIN) {
                close(fds[k].fd)
                fds[k].fd = -1
            }
        }
        return n
    }

    /// Closes the pipes still open (a grandchild may hold their write ends).
    mutating func closeAll() {
        for k in 0..<2 where fds[k].fd >= 0 {
            close(fds[k].fd)
            fds[k].fd = -1
        }
    }
}

/// Ends a child's process group the way every bounded call does: SIGTERM once the time is up (or on request),
/// SIGKILL a second later if it is still there.
struct GroupTerminator {
    let pid: pid_t
    /// When SIGTERM was sent (monotonic seconds), nil before.
    private(set) var terminatedAt: Double?

    init(pid: pid_t) { self.pid = pid }

    /// Sends SIGTERM to the group when `expired` and not yet sent; SIGKILL once a second has passed since.
    mutating func check(expired: Bool, now: Double) {
        if terminatedAt == nil {
            if expired {
                kill(-pid, SIGTERM)
                terminatedAt = now
            }
        } else if let t = terminatedAt, now - t > 1 {
            kill(-pid, SIGKILL)
        }
    }
}

extension Subprocess {
    /// Spawns `exe` with stdout and stderr into fresh close-on-exec pipes and `stdin` as given (-1: the parent's),
    /// closing the child's ends here: the one spawn-and-collect setup of `run` and the runner's bounded calls.
    /// On failure every descriptor made here is closed again.
    /// - Returns: the child's pid and its pipes, watching `extra` too.
    /// - Throws: `SpawnError` when a pipe cannot be made or the program cannot be started.
    static func spawnCollecting(exe: String, argv: [String], environment: [String]?, newSession: Bool, stdin: Int32,
                                watching extra: Int32? = nil) throws(SpawnError) -> (pid_t, OutputPipes) {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard cloexecPipe(&outPipe) else { throw SpawnError(argv: argv, code: errno) }
        guard cloexecPipe(&errPipe) else {
            let code = errno
            close(outPipe[0]); close(outPipe[1])
            throw SpawnError(argv: argv, code: code)
        }
        let pid: pid_t
        do {
            pid = try spawn(exe: exe, argv: argv, environment: environment, newSession: newSession,
                            stdin: stdin, stdout: outPipe[1], stderr: errPipe[1])
        } catch {
            for fd in outPipe + errPipe { close(fd) }
            throw error
        }
        close(outPipe[1]); close(errPipe[1])
        return (pid, OutputPipes(stdout: outPipe[0], stderr: errPipe[0], watching: extra))
    }
}
