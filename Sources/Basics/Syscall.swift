#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one place where interrupted system calls are retried.
///
/// A call that a signal interrupts before it did anything fails with `EINTR` (signal(7), "Interruption of system
/// calls and library functions by signal handlers"); it is simply made again. Every raw call that can block
/// (`read`, `write`, `pwrite`, `open` of a FIFO, `poll`, `waitpid`, `flock`, `nanosleep` …) goes through here
/// instead of a hand-written loop (model: swift-nio `NIOPosix/System.swift` `syscall(blocking:)`).
public enum Syscall {
    /// Runs `call` again for as long as it fails with `EINTR`.
    /// - Returns: the first result that is not an `EINTR` failure: a value ≥ 0, or a negative one with `errno` set
    ///   by that call.
    @inlinable
    public static func retrying<T: SignedInteger>(_ call: () -> T) -> T {
        while true {
            let r = call()
            if r >= 0 || errno != EINTR { return r }
        }
    }

    /// Runs `call` (retrying `EINTR`) and turns a failure into an error naming the file and the operation.
    /// - Parameters:
    ///   - path: the file the call works on, for the message.
    ///   - operation: what was being done, as a verb phrase ("read", "open", "write").
    /// - Returns: the call's result (≥ 0).
    /// - Throws: `IOError` with the call's `errno`.
    @inlinable
    public static func check<T: SignedInteger>(_ path: String, _ operation: String,
                                               _ call: () -> T) throws(IOError) -> T {
        let r = retrying(call)
        guard r >= 0 else { throw IOError(path: path, operation: operation, code: errno) }
        return r
    }
}
