#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small POSIX helpers: paths, folders, whole writes.
public enum FileIO {
    /// The text for an errno value.
    public static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// One `read(2)` of up to `buffer.count` bytes into `buffer` (not retried: wrap it in `Syscall.retrying`).
    /// - Returns: the byte count (0 at the end of the file), or -1 with `errno` set.
    public static func read(_ fd: Int32, into buffer: inout [UInt8]) -> Int {
        buffer.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            return readFD(fd, base, raw.count)
        }
    }

    /// Writes all of `bytes` to `fd`, retrying EINTR and short writes.
    /// - Returns: nil when everything was written, else the errno (EIO for a write that made no progress).
    public static func writeAll(fd: Int32, _ bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBytes { writeAll(fd: fd, $0) }
    }

    /// Writes all of `bytes` to `fd`, retrying EINTR and short writes.
    /// - Returns: nil when everything was written, else the errno (EIO for a write that made no progress).
    public static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        guard let base = bytes.baseAddress else { return nil }  // nothing to write
        var offset = 0
        while offset < bytes.count {
            let n = Syscall.retrying { writeFD(fd, base + offset, bytes.count - offset) }
            if n < 0 { return errno }
            if n == 0 { return EIO }
            offset += n
        }
        return nil
    }

    /// Writes all of `bytes` to `fd` at `offset` with `pwrite(2)`, retrying EINTR and short writes.
    /// - Returns: nil when everything was written, else the errno (EIO for a write that made no progress).
    public static func writeAll(fd: Int32, _ bytes: [UInt8], at offset: Int64) -> Int32? {
        bytes.withUnsafeBytes { writeAll(fd: fd, $0, at: offset) }
    }

    /// Writes all of `bytes` to `fd` at byte `offset` with `pwrite(2)`, retrying EINTR and short writes; the file
    /// offset of `fd` is not moved.
    /// - Returns: nil when everything was written, else the errno (EIO for a write that made no progress).
    public static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) -> Int32? {
        guard let base = bytes.baseAddress else { return nil }  // nothing to write
        var done = 0
        while done < bytes.count {
            let n = Syscall.retrying { pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if n < 0 { return errno }
            if n == 0 { return EIO }
            done += n
        }
        return nil
    }

    /// Fills `buffer` from `fd` at byte `offset` with `pread(2)`, retrying EINTR and short reads; the file offset
    /// of `fd` is not moved.
    /// - Returns: the bytes read: `buffer.count`, or fewer when the file ends first; -1 with `errno` set on an error.
    public static func readFully(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Int {
        guard let base = buffer.baseAddress else { return 0 }  // nothing to read
        var done = 0
        while done < buffer.count {
            let n = Syscall.retrying { pread(fd, base + done, buffer.count - done, off_t(offset) + off_t(done)) }
            if n < 0 { return -1 }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The path with symlinks resolved, or the path itself when it does not exist yet.
    public static func resolved(_ path: String) -> String {
        guard let p = realpath(path, nil) else { return path }
        defer { free(p) }
        return String(cString: p)
    }

    /// The folder part of a path (`.` when there is none).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// The last component of a path.
    public static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// The names in a folder (without `.` and `..`), unsorted; nil when it cannot be listed (`errno` says why).
    public static func names(in folder: String) -> [String]? {
        guard let dir = opendir(folder) else { return nil }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// Removes a file, or a folder and everything in it; symlinks are removed, never followed.
    public static func removeTree(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in names(in: path) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// fsync a folder so that renames in it are durable.
    /// - Returns: nil on success, else the errno (EINVAL from a file system that cannot sync folders is success).
    public static func syncDirectory(_ dir: String) -> Int32? {
        guard let fd = OwnedFD.openOrNil(dir, O_RDONLY | O_DIRECTORY) else { return errno }
        if Syscall.retrying({ fsync(fd.raw) }) != 0, errno != EINVAL { return errno }
        return nil
    }
}

@usableFromInline func readFD(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int { read(fd, buffer, count) }
@usableFromInline func writeFD(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
