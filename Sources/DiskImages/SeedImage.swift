#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CArchive
import VBoxXML

/// A small ISO 9660 image (with Joliet and Rock Ridge names) built in memory and written with libarchive: the
/// seed media an installer reads its answer files from (NoCloud `cidata`, Anaconda `OEMDRV`, a Windows
/// `autounattend.xml` disc).
///
/// Paths are relative to the image root (`user-data`, `boot/grub/grub.cfg`); folders are created as needed.
/// Files are stored with mode 0444, folders 0555, owner 0:0 (what VirtualBox's ISO maker writes by default).
public struct SeedImage: Sendable, Equatable {
    /// One file on the image.
    public struct File: Sendable, Equatable {
        /// Path inside the image, without a leading `/` (`user-data`, `EFI/BOOT/grub.cfg`).
        public var path: String
        /// The file's bytes, stored verbatim.
        public var bytes: [UInt8]

        /// A file at `path` holding `bytes`.
        public init(path: String, bytes: [UInt8]) {
            self.path = path
            self.bytes = bytes
        }

        /// A file at `path` holding the UTF-8 of `text`.
        public init(path: String, text: String) {
            self.init(path: path, bytes: Array(text.utf8))
        }
    }

    /// The volume label (`cidata`, `OEMDRV`): 1–32 characters from `A-Z a-z 0-9 _`. The primary volume descriptor
    /// holds it upper-cased (ISO 9660 d-characters), the Joliet descriptor keeps its case (libarchive 3.6).
    public var label: String
    /// The files, in the order given.
    public var files: [File]
    /// Modification time stored for every entry, in seconds since 1970 (default: 0 seconds, 2000-01-01, so that
    /// the same input gives the same image apart from libarchive's own volume timestamps).
    public var modificationTime: Int

    /// The largest total size accepted: seed media hold text files, not payloads.
    public static let maximumTotalBytes = 64 << 20

    /// A seed image labelled `label` holding `files`.
    public init(label: String, files: [File], modificationTime: Int = 946_684_800) {
        self.label = label
        self.files = files
        self.modificationTime = modificationTime
    }

    /// Checks the label and every path.
    /// - Throws: `DiskImageError.invalid` naming the label or path and what is wrong with it.
    public func validate() throws(DiskImageError) {
        guard (1...32).contains(label.utf8.count),
              label.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "_") }) else {
            throw .invalid(field: "volume label \"\(label)\"", message: "a seed image label is 1 to 32 characters "
                + "from A-Z, a-z, 0-9 and _ (for example cidata or OEMDRV)")
        }
        guard !files.isEmpty else {
            throw .invalid(field: "seed image \(label)", message: "has no files; give at least one")
        }
        var seen = Set<String>()
        var total = 0
        for file in files {
            try Self.validate(path: file.path)
            guard seen.insert(file.path).inserted else {
                throw .invalid(field: "seed image path \"\(file.path)\"", message: "is given twice; give each path once")
            }
            total += file.bytes.count
        }
        // A file's path must not also be a folder of another file (a/b and a/b/c).
        for path in seen {
            var prefix = Substring(path)
            while let slash = prefix.lastIndex(of: "/") {
                prefix = prefix[..<slash]
                if seen.contains(String(prefix)) {
                    throw .invalid(field: "seed image path \"\(prefix)\"", message: "is a file and also the folder of "
                        + "\"\(path)\"; rename one of them")
                }
            }
        }
        guard total <= Self.maximumTotalBytes else {
            throw .invalid(field: "seed image \(label)", message: "its files add up to \(total) bytes, more than the "
                + "\(Self.maximumTotalBytes >> 20) MiB a seed image may hold")
        }
    }

    /// Checks one path inside the image: relative, components of 1–64 printable ASCII characters without `\`,
    /// no `.` or `..` components (Joliet keeps 64 characters of a name).
    /// - Throws: `DiskImageError.invalid` naming the path.
    public static func validate(path: String) throws(DiskImageError) {
        func bad(_ why: String) -> DiskImageError { .invalid(field: "seed image path \"\(path)\"", message: why) }
        guard !path.isEmpty else { throw bad("is empty; give a path such as user-data") }
        guard !path.hasPrefix("/") else { throw bad("starts with /; give it relative to the image root") }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard !component.isEmpty else { throw bad("has an empty component (// or a trailing /)") }
            guard component != ".", component != ".." else { throw bad("has a . or .. component") }
            guard component.utf8.count <= 64 else { throw bad("has a component longer than 64 characters") }
            guard component.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") }) else {
                throw bad("may hold only printable ASCII characters other than \\")
            }
        }
    }

    /// The libarchive writer options for this image.
    var writerOptions: String {
        "iso9660:volume-id=\(label),iso9660:joliet,iso9660:rockridge,iso9660:iso-level=2"
    }

    /// Writes the image to `path` atomically: a temporary file in the same folder (created `O_EXCL|O_NOFOLLOW`,
    /// mode 0600 since seeds carry password hashes), fsync, rename into place, fsync of the folder. On any error
    /// nothing is left at `path` or beside it.
    /// - Parameter replace: replace an existing file at `path` (a symlink there is replaced, never followed).
    /// - Throws: `DiskImageError.invalid` for a bad label or path, `.exists` when `path` exists and `replace`
    ///   is false, `.io` naming the file and the failed step.
    public func write(to path: String, replace: Bool = false) throws(DiskImageError) {
        try validate()
        try AtomicFile.write(to: path, replace: replace) { fd throws(DiskImageError) in try writeArchive(fd: fd, path: path) }
    }

    private func writeArchive(fd: Int32, path: String) throws(DiskImageError) {
        guard let a = archive_write_new() else {
            throw .io(path: path, operation: "start libarchive's ISO 9660 writer", reason: "out of memory")
        }
        defer { archive_write_free(a) }
        func fail(_ step: String) -> DiskImageError {
            let message = archive_error_string(a).map { String(cString: $0) } ?? "libarchive gave no reason"
            return .io(path: path, operation: step, reason: message)
        }
        guard archive_write_set_format_iso9660(a) == ARCHIVE_OK else { throw fail("select the ISO 9660 format") }
        guard archive_write_set_options(a, writerOptions) == ARCHIVE_OK else {
            throw fail("set the ISO 9660 options \(writerOptions)")
        }
        // libarchive pads output to 10240-byte blocks by default; 2048 keeps the image a whole number of sectors.
        _ = archive_write_set_bytes_per_block(a, 2048)
        guard archive_write_open_fd(a, fd) == ARCHIVE_OK else { throw fail("open the image for writing") }
        // Folders first, each once, so that they get 0555 rather than libarchive's implicit defaults.
        var folders: [String] = []
        var known = Set<String>()
        for file in files {
            var parts = file.path.split(separator: "/").dropLast()
            var prefixes: [String] = []
            while !parts.isEmpty {
                prefixes.append(parts.joined(separator: "/"))
                parts = parts.dropLast()
            }
            for p in prefixes.reversed() where known.insert(p).inserted { folders.append(p) }
        }
        for folder in folders {
            try add(a, path: folder, type: vmp_archive_type_directory(), mode: 0o555, bytes: nil, fail: fail)
        }
        for file in files {
            try add(a, path: file.path, type: vmp_archive_type_regular(), mode: 0o444, bytes: file.bytes, fail: fail)
        }
        guard archive_write_close(a) == ARCHIVE_OK else { throw fail("finish the image") }
    }

    private func add(_ a: OpaquePointer, path: String, type: UInt32, mode: UInt32, bytes: [UInt8]?,
                     fail: (String) -> DiskImageError) throws(DiskImageError) {
        guard let entry = archive_entry_new() else { throw fail("allocate an entry for \(path)") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, path)
        archive_entry_set_filetype(entry, type)
        archive_entry_set_perm(entry, mode_t(mode))
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        archive_entry_set_mtime(entry, time_t(modificationTime), 0)
        archive_entry_set_size(entry, la_int64_t(bytes?.count ?? 0))
        guard archive_write_header(a, entry) == ARCHIVE_OK else { throw fail("add \(path)") }
        if let bytes, !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
            guard written == bytes.count else { throw fail("write the \(bytes.count) bytes of \(path)") }
        }
    }
}

@inline(__always)
func isAlnum(_ c: UInt8) -> Bool {
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
}
