#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one open file descriptor and closes it in `deinit`, so that no path out of a function (a `throw`, an early
/// `return`) leaks it. `close()` closes it earlier and reports the error (a delayed write error can surface there);
/// `release()` hands the number to another owner.
///
/// Not `Sendable`: one owner, one thread (model: swift-nio `NIOFileHandle`).
public final class OwnedFD {
    /// The descriptor, or -1 once closed or released.
    public private(set) var raw: Int32

    /// Takes ownership of `raw`, which must be an open descriptor (≥ 0).
    public init(taking raw: Int32) {
        self.raw = raw
    }

    /// Opens `path` with `open(2)` (retrying `EINTR`); `O_CLOEXEC` is always added.
    /// - Parameters:
    ///   - flags: `O_RDONLY`, `O_WRONLY | O_CREAT | O_EXCL`, …
    ///   - mode: permission bits for a file that `O_CREAT` creates.
    ///   - operation: how a failure describes the attempt ("open", "create").
    /// - Throws: `IOError` naming `path`, `operation` and the `errno`.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0,
                            operation: String = "open") throws(IOError) -> OwnedFD {
        let fd = Syscall.retrying { openFile(path, flags | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw IOError(path: path, operation: operation, code: errno) }
        return OwnedFD(taking: fd)
    }

    /// Opens `path` like `open(_:_:mode:operation:)`, but returns nil with `errno` set instead of throwing.
    public static func openOrNil(_ path: String, _ flags: Int32, mode: mode_t = 0) -> OwnedFD? {
        let fd = Syscall.retrying { openFile(path, flags | O_CLOEXEC, mode) }
        return fd >= 0 ? OwnedFD(taking: fd) : nil
    }

    /// A pipe whose two ends close on exec.
    /// - Returns: the read end and the write end.
    /// - Throws: `IOError` (path "pipe") with the `errno` of `pipe(2)`.
    public static func pipe() throws(IOError) -> (read: OwnedFD, write: OwnedFD) {
        var fds: [Int32] = [-1, -1]
        guard makePipe(&fds) == 0 else { throw IOError(path: "pipe", operation: "create", code: errno) }
        let pair = (read: OwnedFD(taking: fds[0]), write: OwnedFD(taking: fds[1]))
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return pair
    }

    /// Closes the descriptor now.
    /// - Returns: nil when it closed cleanly (or was closed already), else the `errno` of `close(2)`. The descriptor
    ///   is gone either way (Linux frees it even when `close` fails, so it is never closed twice).
    @discardableResult
    public func close() -> Int32? {
        guard raw >= 0 else { return nil }
        let fd = raw
        raw = -1
        return closeFD(fd) == 0 ? nil : errno
    }

    /// Gives up ownership: the caller now closes the returned descriptor.
    public func release() -> Int32 {
        let fd = raw
        raw = -1
        return fd
    }

    deinit {
        if raw >= 0 { _ = closeFD(raw) }
    }
}

@usableFromInline func openFile(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
@usableFromInline func closeFD(_ fd: Int32) -> Int32 { close(fd) }
@usableFromInline func makePipe(_ fds: inout [Int32]) -> Int32 { pipe(&fds) }
