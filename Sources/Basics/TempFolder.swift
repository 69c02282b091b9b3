#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns a private temporary folder (mode 0700, made by `mkdtemp(3)`) and removes it with everything in it in
/// `deinit`, so that no caller has to remember a `cleanup()` and no `throw` leaves it behind. `keep()` hands the
/// folder over (a staging folder that was renamed into place).
///
/// `Sendable`: the path is immutable, and only `deinit` (which runs once, after the last reference is gone) acts
/// on the file system; the `kept` flag is behind a lock.
public final class TempFolder: Sendable {
    /// The folder's absolute path (or as absolute as `base` was).
    public let path: String
    private let kept = LockedFlag()

    /// Creates `base/prefix-XXXXXX`.
    /// - Parameters:
    ///   - base: the folder to create it in; default `TempFiles.base` (`$TMPDIR`, else /tmp).
    ///   - prefix: the start of its name, e.g. `vmprov-gpg`.
    /// - Throws: `IOError` naming `base` when `mkdtemp` fails.
    public init(in base: String = TempFiles.base, prefix: String) throws(IOError) {
        var template = Array((base + "/" + prefix + "-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let start = buffer.baseAddress else { return false }
            return mkdtemp(start) != nil
        }
        guard made else { throw IOError(path: base, operation: "create a private folder in", code: errno) }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The path of `name` inside the folder.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Keeps the folder: `deinit` then leaves it (and whatever it holds, or wherever it was renamed) alone.
    public func keep() { kept.set() }

    deinit {
        if !kept.isSet { FileIO.removeTree(path) }
    }
}

/// A flag that is set once, read from any thread. A `pthread_mutex_t` at a stable, allocated address (never inside
/// a Swift value whose address may move), owned by this class.
final class LockedFlag: @unchecked Sendable {
    // @unchecked: `value` is only read and written while `mutex` is held.
    private let mutex = PThreadMutex()
    private var value = false

    func set() { mutex.withLock { value = true } }
    var isSet: Bool { mutex.withLock { value } }
}
