#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A child's stdout and stderr, drained from two owned pipes until both close: the one read loop that
/// `ProcessRunner.run` and the runner's bounded VirtualBox calls share. An extra descriptor (the runner's signalfd)
/// may be polled alongside; it is only watched, never read, and not owned here.
package struct OutputPipes {
    private var fds: [pollfd]
    private var readers: [OwnedFD?]
    /// Everything read from stdout so far.
    package private(set) var stdout: [UInt8] = []
    /// Everything read from stderr so far.
    package private(set) var stderr: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 65536)

    /// Takes ownership of the read ends `stdout` and `stderr`; `extra` is only polled.
    package init(stdout: OwnedFD, stderr: OwnedFD, watching extra: Int32? = nil) {
        readers = [stdout, stderr]
        fds = [pollfd(fd: stdout.raw, events: Int16(POLLIN), revents: 0),
               pollfd(fd: stderr.raw, events: Int16(POLLIN), revents: 0)]
        if let extra { fds.append(pollfd(fd: extra, events: Int16(POLLIN), revents: 0)) }
    }

    /// Whether either pipe is still open.
    package var isOpen: Bool { fds[0].fd >= 0 || fds[1].fd >= 0 }

    /// Whether the watched extra descriptor was reported ready by the last `pump`.
    package var extraReady: Bool { fds.count > 2 && fds[2].revents != 0 }

    /// Waits up to `timeoutMS` (-1: no limit) and reads what is ready.
    /// - Returns: poll(2)'s result (negative with `errno` on failure; EINTR is the caller's to judge, because a
    ///   signal may be what the caller waits for).
    @discardableResult
    package mutating func pump(timeoutMS: Int32) -> Int32 {
        let n = poll(&fds, nfds_t(fds.count), timeoutMS)
        guard n > 0 else { return n }
        for k in 0..<2 where fds[k].fd >= 0 && fds[k].revents != 0 {
            let r = Syscall.retrying { FileIO.read(fds[k].fd, into: &buffer) }
            if r > 0 {
                if k == 0 { stdout.append(contentsOf: buffer[0..<r]) } else { stderr.append(contentsOf: buffer[0..<r]) }
            } else if r == 0 || errno != EAGAIN {
                closeReader(k)
            }
        }
        return n
    }

    /// Closes the pipes still open (a grandchild may hold their write ends).
    package mutating func closeAll() {
        for k in 0..<2 { closeReader(k) }
    }

    private mutating func closeReader(_ k: Int) {
        _ = readers[k]?.close()
        readers[k] = nil
        fds[k].fd = -1
    }
}

/// Ends a child's process group the way every bounded call does: SIGTERM once the time is up (or on request),
/// SIGKILL a second later if it is still there.
package struct GroupTerminator {
    /// The group leader's pid (the group id).
    package let pid: pid_t
    /// When SIGTERM was sent (monotonic seconds), nil before.
    package private(set) var terminatedAt: Double?

    /// A terminator for the group led by `pid`.
    package init(pid: pid_t) { self.pid = pid }

    /// Sends SIGTERM to the group when `expired` and not yet sent; SIGKILL once a second has passed since.
    /// - Parameter now: monotonic seconds (`Clock.now()`).
    package mutating func check(expired: Bool, now: Double) {
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

extension ProcessRunner {
    /// Spawns `exe` with stdout and stderr into fresh close-on-exec pipes and `stdin` as given (-1: the parent's),
    /// closing the child's ends here: the one spawn-and-collect setup of `run` and the runner's bounded calls.
    /// Every descriptor made here is owned, so each is closed on every path out, a failed spawn included.
    /// - Returns: the child's pid and its pipes, watching `extra` too.
    /// - Throws: `SpawnError` when a pipe cannot be made or the program cannot be started.
    package static func spawnCollecting(exe: String, argv: [String], environment: [String]?, newSession: Bool,
                                        stdin: Int32, watching extra: Int32? = nil) throws(SpawnError)
        -> (pid_t, OutputPipes) {
        let outPipe, errPipe: (read: OwnedFD, write: OwnedFD)
        do {
            outPipe = try OwnedFD.pipe()
            errPipe = try OwnedFD.pipe()
        } catch {
            throw SpawnError(argv: argv, code: error.code)
        }
        let pid = try spawn(exe: exe, argv: argv, environment: environment, newSession: newSession,
                            stdin: stdin, stdout: outPipe.write.raw, stderr: errPipe.write.raw)
        _ = outPipe.write.close()
        _ = errPipe.write.close()
        return (pid, OutputPipes(stdout: outPipe.read, stderr: errPipe.read, watching: extra))
    }
}
