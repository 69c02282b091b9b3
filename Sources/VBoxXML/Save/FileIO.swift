#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small POSIX helpers with errors that name the file.
public enum FileIO {
    /// The text for an errno value.
    public static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// Reads a whole regular file, refusing one larger than `limit` bytes before reading it. Anything but a
    /// regular file (a FIFO, a device) is refused before a byte is read: it could block or never end.
    /// - Throws: `.notFound`, `.io`, or `.invalid` naming the file and the limit.
    public static func readAll(path: String, limit: Int) throws(VBoxXMLError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO without a writer must not hang; cleared again for a regular file.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT {
                throw .notFound(path: path, reason: "no such file. Give the path of a .vbox file or its folder.")
            }
            throw .io(path: path, operation: "open it", reason: describe(e))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: path, operation: "stat it", reason: describe(errno)) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw .invalid(path: path, message: "is a folder, not a settings file.")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw .invalid(path: path, message: "is not a regular file (a pipe, socket or device); give the path "
                + "of the .vbox file itself.")
        }
        if Int(st.st_size) > limit {
            throw .invalid(path: path, message: "the file is \(st.st_size) bytes, more than any VirtualBox "
                + "settings file (limit \(describeSize(limit))). Check that TARGET names the right file.")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var out: [UInt8] = []
        out.reserveCapacity(Int(st.st_size))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "read it", reason: describe(errno))
            }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
            if out.count > limit {
                throw .invalid(path: path, message: "the file grew past \(describeSize(limit)) while it was read, "
                    + "more than any VirtualBox settings file. Check that TARGET names the right file.")
            }
        }
        return out
    }

    /// A limit in bytes for messages: `16 MiB` when it is a whole number of MiB, else bytes.
    static func describeSize(_ bytes: Int) -> String {
        bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }

    /// Writes all bytes to a descriptor.
    /// Writes all of `bytes` to `fd`, retrying EINTR and short writes.
    /// - Returns: nil when everything was written, else the errno (EIO for a write that made no progress).
    public static func writeAll(fd: Int32, _ bytes: [UInt8]) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return write(fd, base + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return EIO }
            offset += n
        }
        return nil
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
    public static func syncDirectory(_ dir: String) -> Int32? {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        if fsync(fd) != 0, errno != EINVAL { return errno }
        return nil
    }
}
