#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Basics

/// Reading a settings file whole, with errors that speak of `.vbox` files.
enum SettingsFile {
    /// Reads a whole regular file, refusing one larger than `limit` bytes before reading it. Anything but a
    /// regular file (a FIFO, a device) is refused before a byte is read: it could block or never end.
    /// - Throws: `.notFound`, `.io`, or `.invalid` naming the file and the limit.
    static func readAll(path: String, limit: Int) throws(VBoxXMLError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO without a writer must not hang; cleared again for a regular file.
        guard let fd = OwnedFD.openOrNil(path, O_RDONLY | O_NONBLOCK) else {
            let e = errno
            if e == ENOENT {
                throw .notFound(path: path, reason: "no such file. Give the path of a .vbox file or its folder.")
            }
            throw .io(path: path, operation: "open it", reason: FileIO.describe(e))
        }
        var st = stat()
        guard fstat(fd.raw, &st) == 0 else { throw .io(path: path, operation: "stat it", reason: FileIO.describe(errno)) }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw .invalid(path: path, message: "is a folder, not a settings file.")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw .invalid(path: path, message: "is not a regular file (a pipe, socket or device); give the path "
                + "of the .vbox file itself.")
        }
        if Int(st.st_size) > limit {
            throw .invalid(path: path, message: "the file is \(st.st_size) bytes, more than any VirtualBox "
                + "settings file (limit \(SizeText.limit(limit))). Check that TARGET names the right file.")
        }
        _ = fcntl(fd.raw, F_SETFL, fcntl(fd.raw, F_GETFL) & ~O_NONBLOCK)
        var out: [UInt8] = []
        out.reserveCapacity(Int(st.st_size))
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Syscall.retrying { FileIO.read(fd.raw, into: &buffer) }
            if n < 0 {
                throw .io(path: path, operation: "read it", reason: FileIO.describe(errno))
            }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
            if out.count > limit {
                throw .invalid(path: path, message: "the file grew past \(SizeText.limit(limit)) while it was read, "
                    + "more than any VirtualBox settings file. Check that TARGET names the right file.")
            }
        }
        return out
    }

}
