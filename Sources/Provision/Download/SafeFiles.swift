#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import Basics

/// Opening the files a download creates (`DEST.partial`, `DEST.partial.info` and their temporaries) without ever
/// following a symbolic link: `O_NOFOLLOW` always, `O_EXCL` for new files, and a clear refusal otherwise.
enum SafeFiles {
    /// Throws when `path` exists and is not a plain file vmprov could have made (a symbolic link, a folder, a
    /// device, a pipe).
    /// - Throws: `DownloadError.unsafeFile` naming the path.
    static func refuseForeign(_ path: String) throws(DownloadError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        switch st.st_mode & S_IFMT {
        case S_IFLNK: throw .unsafeFile(path: path, reason: "is a symbolic link")
        case S_IFREG: return
        default: throw .unsafeFile(path: path, reason: "is not a regular file")
        }
    }

    /// The size of a regular file at `path` with no other hard links (not through a link), else 0: a part that
    /// shares its bytes with another file (a cache entry) is never written to, only replaced.
    static func resumableSize(_ path: String) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink == 1 else { return 0 }
        return Int64(st.st_size)
    }

    /// Opens `DEST.partial` for writing: the existing file positioned at `resumeFrom` when resuming, else a new
    /// empty file (an old one is removed first and the new one made with `O_EXCL`).
    /// `readable` opens it for reading too (a segmented download reads its ranges back to hash them in order).
    /// - Returns: the owned file descriptor.
    /// - Throws: `DownloadError.unsafeFile` for a link or foreign file, `.io` for other errors.
    static func openPartial(_ path: String, resumeFrom: Int64, readable: Bool = false) throws(DownloadError) -> OwnedFD {
        try refuseForeign(path)
        let opened: OwnedFD?
        let access = readable ? O_RDWR : O_WRONLY
        if resumeFrom > 0 {
            opened = OwnedFD.openOrNil(path, access | O_NOFOLLOW)
        } else {
            if unlink(path) != 0 && errno != ENOENT { throw .io(IOError(path: path, operation: "remove", code: errno)) }
            opened = OwnedFD.openOrNil(path, access | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644)
        }
        guard let fd = opened else { throw refusal(path, errno, operation: "create") }
        var st = stat()
        guard fstat(fd.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink == 1 else {
            throw .unsafeFile(path: path, reason: "changed while vmprov opened it (not a plain file any more)")
        }
        if resumeFrom > 0, lseek(fd.raw, off_t(resumeFrom), SEEK_SET) != off_t(resumeFrom) {
            throw .io(IOError(path: path, operation: "seek", code: errno))
        }
        return fd
    }

    /// Writes a new file at `path` with `O_CREAT | O_EXCL | O_NOFOLLOW` (a stale one is removed first).
    /// - Throws: `DownloadError.unsafeFile` or `.io`.
    static func createExclusive(_ path: String, bytes: [UInt8], mode: mode_t = 0o644) throws(DownloadError) {
        try refuseForeign(path)
        if unlink(path) != 0 && errno != ENOENT { throw .io(IOError(path: path, operation: "remove", code: errno)) }
        guard let fd = OwnedFD.openOrNil(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode) else {
            throw refusal(path, errno, operation: "create")
        }
        if let e = FileIO.writeAll(fd: fd.raw, bytes) { throw .io(IOError(path: path, operation: "write", code: e)) }
    }

    /// Reads at most `limit` bytes of a regular file; through a link only with `followLinks` (a file the user
    /// named may be a link; a file vmprov made may not).
    /// - Returns: the bytes, or nil when the file is longer than `limit`.
    /// - Throws: `DownloadError.unsafeFile` for a link or a non-regular file, `.io` when it cannot be read.
    static func readBounded(_ path: String, limit: Int, followLinks: Bool = false) throws(DownloadError) -> [UInt8]? {
        guard let fd = OwnedFD.openOrNil(path, O_RDONLY | O_NONBLOCK | (followLinks ? 0 : O_NOFOLLOW)) else {
            throw refusal(path, errno, operation: "open")
        }
        var st = stat()
        guard fstat(fd.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw .unsafeFile(path: path, reason: "is not a regular file")
        }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n: Int
            do { n = try Syscall.check(path, "read") { FileIO.read(fd.raw, into: &buffer) } } catch { throw .io(error) }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
            if out.count > limit { return nil }
        }
    }

    private static func refusal(_ path: String, _ code: Int32, operation: String) -> DownloadError {
        if code == ELOOP { return .unsafeFile(path: path, reason: "is a symbolic link") }
        if code == EEXIST { return .unsafeFile(path: path, reason: "appeared while vmprov created it (another process?)") }
        return .io(IOError(path: path, operation: operation, code: code))
    }
}

/// One download per destination at a time: an exclusive `flock` on `DEST.partial.lock` (made `O_NOFOLLOW`), held
/// while `DEST.partial` is written and renamed, and removed (while still held) when the download ends. A second
/// vmprov for the same destination is refused at once instead of truncating or interleaving the first one's part.
final class DownloadLock {
    private let fd: OwnedFD
    let path: String

    /// - Throws: `DownloadError.busy` when another process holds it, `.unsafeFile` for a link, `.io` otherwise.
    init(destination: String) throws(DownloadError) {
        path = destination + ".partial.lock"
        while true {
            try SafeFiles.refuseForeign(path)
            guard let fd = OwnedFD.openOrNil(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o644) else {
                if errno == ELOOP { throw .unsafeFile(path: path, reason: "is a symbolic link") }
                throw .io(IOError(path: path, operation: "create", code: errno))
            }
            if Syscall.retrying({ flock(fd.raw, LOCK_EX | LOCK_NB) }) != 0 {
                let e = errno
                if e == EWOULDBLOCK { throw .busy(path: destination) }
                throw .io(IOError(path: path, operation: "lock", code: e))
            }
            // The previous holder may have removed the file between our open and flock: lock the one at `path`.
            var held = stat()
            var named = stat()
            if fstat(fd.raw, &held) == 0, lstat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev {
                self.fd = fd
                return
            }
        }
    }

    deinit {
        unlink(path)  // while still held; `fd` closes (and unlocks) after this
    }
}
