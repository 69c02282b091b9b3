#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import CArchive
import VBoxXML

/// Reads files out of an ISO 9660 image with libarchive (names from Rock Ridge, then Joliet, then the primary
/// tree): installer boot menus (`boot/grub/grub.cfg`, `isolinux/txt.cfg`) and seed images written by
/// `SeedImage`. The image is only read, never changed.
public enum ISOReader {
    /// One entry of an image.
    public struct Entry: Sendable, Equatable {
        /// Path without a leading `/` or `./` (`boot/grub/grub.cfg`).
        public var path: String
        /// True for a folder.
        public var isDirectory: Bool
        /// Size in bytes (0 for folders).
        public var size: Int64
    }

    /// Every entry of the image at `path`, in image order.
    /// - Throws: `DiskImageError.notFound` when the file is missing, `.badImage` when it is not ISO 9660.
    public static func list(_ path: String) throws(DiskImageError) -> [Entry] {
        var out: [Entry] = []
        try walk(path) { entry, _ in
            out.append(entry)
            return true
        }
        return out
    }

    /// The bytes of the regular files at `members` (paths as `list` gives them; a leading `/` or `./` is
    /// ignored). Files absent from the image are absent from the result.
    /// - Parameter limit: the most bytes one file may have (boot menus are a few KiB).
    /// - Throws: `DiskImageError.notFound`, `.badImage`, or `.invalid` when a wanted file is larger than `limit`.
    public static func read(_ path: String, members: [String], limit: Int = 1 << 20) throws(DiskImageError) -> [String: [UInt8]] {
        let wanted = Set(members.map(normalize))
        var out: [String: [UInt8]] = [:]
        try walk(path) { entry, a throws(DiskImageError) in
            guard !entry.isDirectory, wanted.contains(entry.path), out[entry.path] == nil else { return true }
            guard entry.size <= Int64(limit) else {
                throw .invalid(field: "\(path): \(entry.path)", message: "is \(entry.size) bytes, more than the "
                    + "\(limit) bytes expected of a boot-menu or answer file")
            }
            var data = [UInt8](repeating: 0, count: Int(entry.size))
            var offset = 0
            while offset < data.count {
                let n = data.withUnsafeMutableBytes { raw -> Int in
                    guard let base = raw.baseAddress else { return 0 }
                    return archive_read_data(a, base + offset, raw.count - offset)
                }
                if n < 0 {
                    throw .badImage(path: path, message: "reading \(entry.path) failed: \(errorText(a))")
                }
                if n == 0 { break }
                offset += n
            }
            guard offset == data.count else {
                throw .badImage(path: path, message: "\(entry.path) ended after \(offset) of \(entry.size) bytes")
            }
            out[entry.path] = data
            return out.count < wanted.count
        }
        return out
    }

    /// The path as `list` gives it: no leading `./` or `/`.
    static func normalize(_ p: String) -> String {
        var s = Substring(p)
        while s.hasPrefix("./") { s = s.dropFirst(2) }
        while s.hasPrefix("/") { s = s.dropFirst() }
        if s.hasSuffix("/") { s = s.dropLast() }
        return String(s)
    }

    static func errorText(_ a: OpaquePointer) -> String {
        archive_error_string(a).map { String(cString: $0) } ?? "libarchive gave no reason"
    }

    /// Calls `body` for each entry with the archive positioned at its data; stops when `body` returns false.
    static func walk(_ path: String, _ body: (Entry, OpaquePointer) throws(DiskImageError) -> Bool) throws(DiskImageError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT { throw .notFound(path: path, reason: "no such image. Check the path of the ISO.") }
            throw .io(path: path, operation: "open it", reason: FileIO.describe(e))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw .badImage(path: path, message: "is not a regular file; give the path of an ISO image")
        }
        guard let a = archive_read_new() else {
            throw .io(path: path, operation: "start libarchive's reader", reason: "out of memory")
        }
        defer { archive_read_free(a) }
        guard archive_read_support_format_iso9660(a) == ARCHIVE_OK,
              archive_read_open_fd(a, fd, 65536) == ARCHIVE_OK else {
            throw .badImage(path: path, message: "is not an ISO 9660 image (\(errorText(a)))")
        }
        while true {
            var entry: OpaquePointer?
            let rc = archive_read_next_header(a, &entry)
            if rc == ARCHIVE_EOF { return }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let entry else {
                throw .badImage(path: path, message: "is not a readable ISO 9660 image (\(errorText(a)))")
            }
            let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            let isDir = archive_entry_filetype(entry) == vmp_archive_type_directory()
            let item = Entry(path: normalize(name), isDirectory: isDir, size: isDir ? 0 : archive_entry_size(entry))
            if item.path.isEmpty { continue }
            guard try body(item, a) else { return }
        }
    }
}
