#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// Hashing and copying local files with large sequential reads.
public enum FileHasher {
    static let chunk = 4 << 20

    /// The digest of a whole file.
    public static func digest(path: String, algorithm: HashAlgorithm) throws(IOError) -> Digest {
        guard var hasher = StreamingHasher(algorithm) else {
            throw IOError(path: path, operation: "hash (unsupported algorithm \(algorithm.rawValue))", code: EINVAL)
        }
        try feed(path: path, into: &hasher, limit: Int64.max)
        return hasher.finalize()
    }

    /// Feeds the first `limit` bytes of a file into a hasher.
    public static func feed(path: String, into hasher: inout StreamingHasher, limit: Int64) throws(IOError) {
        let fd = try OwnedFD.open(path, O_RDONLY)
        _ = posix_fadvise(fd.raw, 0, 0, POSIX_FADV_SEQUENTIAL)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        var remaining = limit
        while remaining > 0 {
            let want = Int(min(Int64(chunk), remaining))
            let n = try Syscall.check(path, "read") { read(fd.raw, buffer.baseAddress, want) }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            remaining -= Int64(n)
        }
    }

    /// Bytes a file occupies on disk (sparse files take less than their size).
    public static func allocated(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_blocks) * 512 : 0
    }

    /// File size, 0 when absent.
    public static func size(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Copies a file (used across file systems, where a hard link cannot be made) to a new file: `target` must
    /// not exist, and a symbolic link there is not followed (`O_CREAT | O_EXCL | O_NOFOLLOW`).
    /// - Throws: `IOError` (EEXIST when `target` exists, also as a link).
    public static func copy(from source: String, to target: String) throws(IOError) {
        let input = try OwnedFD.open(source, O_RDONLY)
        let output = try OwnedFD.open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644, operation: "create")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = try Syscall.check(source, "read") { read(input.raw, buffer.baseAddress, chunk) }
            if n == 0 { break }
            if let e = FileIO.writeAll(fd: output.raw, UnsafeRawBufferPointer(rebasing: buffer[0..<n])) {
                throw IOError(path: target, operation: "write", code: e)
            }
        }
        if Syscall.retrying({ fsync(output.raw) }) != 0 { throw IOError(path: target, operation: "sync", code: errno) }
    }
}
