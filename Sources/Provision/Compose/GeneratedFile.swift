#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML

/// Writes the files `compose` and `kube` generate: whole, or not at all, and never through a symlink.
public enum GeneratedFile {
    /// What happened to one file.
    public enum Outcome: String, Sendable { case created, updated, unchanged }

    /// The file's bytes, nil when there is none; a symlink or non-file there is refused.
    /// - Throws: ``ComposeError/io(path:operation:reason:)`` for a symlink, a non-file or a read error.
    public static func existing(_ path: String) throws(ComposeError) -> [UInt8]? {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return nil }
            throw .io(path: path, operation: "inspect it", reason: FileIO.describe(errno))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw .io(path: path, operation: "replace it", reason: "it is a symlink or not a regular file; vmprov "
                + "writes generated files only as plain files. Remove it or choose another --out.")
        }
        guard st.st_size <= 16 << 20 else {
            throw .io(path: path, operation: "read it", reason: "it is larger than 16 MiB, which no generated file is")
        }
        do { return try TempFiles.read(path) } catch {
            throw .io(path: path, operation: "read it", reason: FileIO.describe(error.code))
        }
    }

    /// Replaces `path` with `bytes` (mode `mode`) through a temporary file in the same folder and `rename`, so
    /// a reader sees the old or the new file, never a part; unchanged bytes (and mode) are not rewritten.
    /// - Throws: ``ComposeError/io(path:operation:reason:)`` naming the step that failed; the old file stays.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(ComposeError) -> Outcome {
        let old = try existing(path)
        var st = stat()
        if old == bytes, lstat(path, &st) == 0, st.st_mode & 0o7777 == mode { return .unchanged }
        var generator = SystemRandomNumberGenerator()
        let temp = path + ".tmp." + String((0..<8).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement(using: &generator) ?? "x" })
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(path: path, operation: "create \(temp)", reason: FileIO.describe(errno)) }
        var failure: (String, Int32)?
        if let e = FileIO.writeAll(fd: fd, bytes) { failure = ("write \(temp)", e) }
        else if fchmod(fd, mode) != 0 { failure = ("set the mode of \(temp)", errno) }
        else if fsync(fd) != 0 { failure = ("sync \(temp)", errno) }
        if close(fd) != 0, failure == nil { failure = ("close \(temp)", errno) }
        if failure == nil, rename(temp, path) != 0 { failure = ("rename \(temp) to it", errno) }
        if let (operation, code) = failure {
            unlink(temp)
            throw .io(path: path, operation: operation, reason: FileIO.describe(code))
        }
        return old == nil ? .created : .updated
    }

    /// The file's text, nil when there is none (see ``existing(_:)``).
    /// - Throws: ``ComposeError/io(path:operation:reason:)``.
    public static func existingText(_ path: String) throws(ComposeError) -> String? {
        try existing(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Makes the folder `path` (0755) unless it is there; a symlink or non-folder there is refused.
    /// - Throws: ``ComposeError/io(path:operation:reason:)``.
    public static func folder(_ path: String) throws(ComposeError) {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw .io(path: path, operation: "use it as a folder", reason: "it is a symlink or not a folder; remove it")
            }
            return
        }
        guard mkdir(path, 0o755) == 0 else { throw .io(path: path, operation: "create the folder", reason: FileIO.describe(errno)) }
    }
}
