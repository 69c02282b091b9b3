#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small file helpers for the download and signature code.
public enum TempFiles {
    /// `$TMPDIR`, else /tmp.
    public static var base: String {
        if let t = getenv("TMPDIR"), t.pointee != 0 { return String(cString: t) }
        return "/tmp"
    }

    /// The current working folder, or `.` when it cannot be named (removed, or too long).
    public static func cwd() -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { return "." }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads a whole file.
    /// - Throws: `IOError` naming `path` when it cannot be opened or read.
    public static func read(_ path: String) throws(IOError) -> [UInt8] {
        let fd = try OwnedFD.open(path, O_RDONLY)
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try Syscall.check(path, "read") { FileIO.read(fd.raw, into: &buffer) }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    /// Writes a whole file (created with `mode`, default 0600, truncated); a symbolic link at `path` is not
    /// followed (ELOOP).
    /// - Throws: `IOError` naming `path` when it cannot be created or written.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws(IOError) {
        let fd = try OwnedFD.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode: mode, operation: "create")
        if let e = FileIO.writeAll(fd: fd.raw, bytes) { throw IOError(path: path, operation: "write", code: e) }
    }
}

/// An operating-system error on a named file.
public struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file (or resource) the operation was on.
    public var path: String
    /// What was being done, as a verb phrase ("read", "create a private folder in").
    public var operation: String
    /// The `errno` value.
    public var code: Int32

    /// An error for `operation` on `path` that failed with `code`.
    public init(path: String, operation: String, code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    /// `PATH: cannot OPERATION: strerror text`.
    public var description: String { "\(path): cannot \(operation): \(String(cString: strerror(code)))" }
}
