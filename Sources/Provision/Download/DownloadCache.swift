#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import CSystem
import Basics

/// Why the cache folder cannot be used. Names the folder, says what is wrong and what to do.
public struct CacheError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The folder (or file) concerned.
    public var path: String
    /// What is wrong and what to do.
    public var reason: String

    /// Makes an error for `path`.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// `PATH: reason`.
    public var description: String { "\(path): \(reason)" }
}

/// The content-addressed download cache: `ROOT/<algo>/<hex>` (verified files, mode 0444) and `ROOT/keys/` (profile
/// keys), in folders only the user can write (0700, owned by the effective uid).
///
/// Nothing in it is trusted: an entry is re-hashed (or, for keys, its fingerprint re-checked) every time it is used,
/// and a wrong one is dropped. It is never handed out as a hard link: users get a copy, or a FICLONE reflink where
/// the file system shares blocks copy-on-write, so writing into a user's file can never change the cache.
public struct DownloadCache: Sendable {
    /// The cache folder.
    public let root: String

    /// A cache at `root` (nothing is created or checked until it is used).
    public init(root: String) {
        self.root = root
    }

    /// The default cache folder: `$VMPROV_CACHE`, else `$XDG_CACHE_HOME/vmprov` (absolute only), else
    /// `$HOME/.cache/vmprov`, else the passwd entry's home (getpwuid) + `/.cache/vmprov`. Never a shared temporary
    /// folder.
    /// - Parameter environment: reads one variable (nil when unset or empty).
    /// - Throws: `CacheError` when none of these gives a folder (HOME unset and no usable passwd home).
    public static func defaultRoot(environment: (String) -> String?) throws(CacheError) -> String {
        if let c = environment("VMPROV_CACHE") { return c }
        if let x = environment("XDG_CACHE_HOME"), x.hasPrefix("/") { return x + "/vmprov" }
        if let h = environment("HOME") { return h + "/.cache/vmprov" }
        if let home = passwdHome() { return home + "/.cache/vmprov" }
        throw CacheError(path: "the download cache", reason: "HOME is not set and the passwd entry of uid \(geteuid()) "
            + "names no existing home folder, so there is no private place for the cache (vmprov never uses a shared "
            + "temporary folder). Set VMPROV_CACHE to a folder only you can write, or pass --no-cache.")
    }

    /// The home folder of the effective uid from the passwd database, when it exists as a folder.
    static func passwdHome() -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(geteuid(), &pwd, &buffer, buffer.count, &result) == 0, result != nil, let dir = pwd.pw_dir else {
            return nil
        }
        let home = String(cString: dir)
        var st = stat()
        guard home.hasPrefix("/"), home != "/", stat(home, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return home
    }

    // MARK: - Folders

    /// Creates (0700) and checks the root and `sub` (one plain name), returning `ROOT/sub`.
    ///
    /// The root may be reached through a symlink the user made (`~/.cache` on another disk); `sub` may not be one.
    /// Both must be folders owned by the effective uid and not writable by group or others; the modes of folders we
    /// own are tightened to 0700.
    /// - Throws: `CacheError` naming the folder and what to do.
    public func folder(_ sub: String? = nil) throws(CacheError) -> String {
        try ensureRoot()
        guard let sub else { return root }
        guard !sub.isEmpty, !sub.contains("/"), sub != ".", sub != ".." else {
            throw CacheError(path: root, reason: "\"\(sub)\" is not a plain folder name")
        }
        let path = root + "/" + sub
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw CacheError(path: path, reason: "cannot create it: \(String(cString: strerror(errno))); check the "
                + "cache folder's permissions or set VMPROV_CACHE")
        }
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw CacheError(path: path, reason: "cannot read it: \(String(cString: strerror(errno)))")
        }
        try Self.checkPrivate(path, st, allowSymlink: false)
        return path
    }

    private func ensureRoot() throws(CacheError) {
        var st = stat()
        if stat(root, &st) != 0 {
            // Create the missing components, private; existing parents are left as they are.
            var current = root.hasPrefix("/") ? "" : "."
            for part in root.split(separator: "/") {
                current += "/" + part
                if mkdir(current, 0o700) != 0 && errno != EEXIST {
                    throw CacheError(path: current, reason: "cannot create the cache folder: "
                        + "\(String(cString: strerror(errno))); set VMPROV_CACHE to a folder you can write, or pass "
                        + "--no-cache")
                }
            }
            guard stat(root, &st) == 0 else {
                throw CacheError(path: root, reason: "cannot read it: \(String(cString: strerror(errno)))")
            }
        }
        try Self.checkPrivate(root, st, allowSymlink: true)
    }

    /// A folder must be a real folder, ours, and not writable by group or others; 0700 is restored when it is ours.
    static func checkPrivate(_ path: String, _ st: stat, allowSymlink: Bool) throws(CacheError) {
        let type = st.st_mode & S_IFMT
        if type == S_IFLNK && !allowSymlink {
            throw CacheError(path: path, reason: "is a symlink; vmprov follows no symlink inside its cache. Remove it "
                + "(rm \(path)) and run again")
        }
        guard type == S_IFDIR else {
            throw CacheError(path: path, reason: "is not a folder; remove it or set VMPROV_CACHE to another folder")
        }
        guard st.st_uid == geteuid() else {
            throw CacheError(path: path, reason: "is owned by uid \(st.st_uid), not by you (uid \(geteuid())); a cache "
                + "someone else can write cannot be trusted. Set VMPROV_CACHE to a folder of your own, or pass --no-cache")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw CacheError(path: path, reason: "is writable by group or others (mode \(String(st.st_mode & 0o7777, radix: 8))); "
                + "anyone could plant files in it. Make it private (chmod 700 \(path)) or set VMPROV_CACHE to another "
                + "folder")
        }
        if st.st_mode & 0o077 != 0 { chmod(path, 0o700) }
    }

    // MARK: - Verified files

    /// `ROOT/<algo>/<hex>`.
    public func entryPath(for digest: Digest) -> String {
        "\(root)/\(digest.algorithm.rawValue)/\(digest.hex)"
    }

    /// What `place` did.
    public enum Placement: Sendable, Equatable {
        /// No entry for this digest.
        case absent
        /// The entry was re-hashed, matched, and copied (or reflinked) to the destination.
        case placed
        /// The entry was wrong (why) and was removed; nothing was placed.
        case dropped(String)
    }

    /// Copies (or reflinks) the entry for `digest` to `destination`, hashing the bytes the destination gets; they
    /// appear there only if they match `digest` and `verify` (a signature of the file) accepts them. A wrong entry
    /// (another digest, a symlink, not ours, writable by others) is deleted.
    /// - Throws: `DownloadError.io` when the destination cannot be written, or what `verify` throws (as
    ///   `.signature`), `.cache` when the cache folder is unsafe.
    public func place(_ digest: Digest, to destination: String,
                      verify: (@Sendable (String) throws -> Void)?) throws(DownloadError) -> Placement {
        do { _ = try folder(digest.algorithm.rawValue) } catch { throw .cache(error) }
        let entry = entryPath(for: digest)
        guard let src = OwnedFD.openOrNil(entry, O_RDONLY | O_NOFOLLOW) else {
            let e = errno
            if e == ENOENT { return .absent }
            unlink(entry)
            return .dropped(e == ELOOP ? "it was a symlink" : "it could not be opened (\(String(cString: strerror(e))))")
        }
        var st = stat()
        guard fstat(src.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(), st.st_mode & 0o022 == 0 else {
            unlink(entry)
            return .dropped("it was not a private regular file of yours")
        }
        let (temp, out) = try Self.createTemp(beside: destination)
        var keep = false
        defer {
            out.close()
            if !keep { unlink(temp) }
        }
        let actual: Digest?
        do { actual = try Self.cloneOrCopy(from: src.raw, sourcePath: entry, to: out.raw, targetPath: temp, hashing: digest.algorithm) }
        catch { throw .io(error) }
        guard let actual, actual == digest else {
            unlink(entry)
            return .dropped("its content hashes to \(actual?.hex ?? "nothing vmprov can compute"), not \(digest.hex)")
        }
        guard Syscall.retrying({ fsync(out.raw) }) == 0 || errno == EINVAL else {
            throw .io(IOError(path: temp, operation: "sync", code: errno))
        }
        if let verify { try DownloadRequest.run(verify, on: temp) }
        guard rename(temp, destination) == 0 else {
            throw .io(IOError(path: destination, operation: "rename into place", code: errno))
        }
        keep = true
        return .placed
    }

    /// Adds a verified file under `digest` (a copy or reflink, mode 0444); best effort, an existing entry is kept.
    public func store(_ file: String, digest: Digest) {
        guard let dir = try? folder(digest.algorithm.rawValue) else { return }
        let entry = entryPath(for: digest)
        var st = stat()
        if lstat(entry, &st) == 0 { return }
        guard let src = OwnedFD.openOrNil(file, O_RDONLY | O_NOFOLLOW) else { return }
        guard let (temp, out) = try? Self.createTemp(in: dir, prefix: ".store-") else { return }
        do { try Self.cloneOrCopy(from: src.raw, sourcePath: file, to: out.raw, targetPath: temp, hashing: nil) } catch {
            unlink(temp)
            return
        }
        guard fchmod(out.raw, 0o444) == 0, Syscall.retrying({ fsync(out.raw) }) == 0 || errno == EINVAL,
              rename(temp, entry) == 0 else {
            unlink(temp)
            return
        }
    }

    // MARK: - Small files (keys)

    /// The bytes of `ROOT/sub/name` when it is a private regular file of ours no larger than `limit`; anything else
    /// there is removed and nil returned.
    /// - Throws: `CacheError` when the folder is unsafe.
    public func readSmall(_ sub: String, _ name: String, limit: Int) throws(CacheError) -> [UInt8]? {
        let path = try folder(sub) + "/" + name
        guard let fd = OwnedFD.openOrNil(path, O_RDONLY | O_NOFOLLOW) else {
            if errno != ENOENT { unlink(path) }
            return nil
        }
        var st = stat()
        guard fstat(fd.raw, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(), st.st_mode & 0o022 == 0,
              st.st_size <= off_t(limit) else {
            unlink(path)
            return nil
        }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count <= limit {
            let n = Syscall.retrying { FileIO.read(fd.raw, into: &buffer) }
            if n < 0 { return nil }
            if n == 0 { return out }
            out += buffer[0..<n]
        }
        unlink(path)
        return nil
    }

    /// Removes `ROOT/sub/name` (an entry found wrong on reuse).
    public func remove(_ sub: String, _ name: String) {
        unlink(root + "/" + sub + "/" + name)
    }

    /// Writes `ROOT/sub/name` atomically (temporary file, fsync, rename), mode 0444; returns its path.
    /// - Throws: `CacheError` when the folder is unsafe or the file cannot be written.
    @discardableResult
    public func storeSmall(_ sub: String, _ name: String, bytes: [UInt8]) throws(CacheError) -> String {
        let dir = try folder(sub)
        let path = dir + "/" + name
        let temp: String
        let fd: OwnedFD
        do { (temp, fd) = try Self.createTemp(in: dir, prefix: ".store-") } catch {
            throw CacheError(path: dir, reason: error.description)
        }
        if let e = FileIO.writeAll(fd: fd.raw, bytes) {
            unlink(temp)
            throw CacheError(path: temp, reason: "cannot write: \(String(cString: strerror(e)))")
        }
        guard fchmod(fd.raw, 0o444) == 0, Syscall.retrying({ fsync(fd.raw) }) == 0 || errno == EINVAL,
              rename(temp, path) == 0 else {
            let e = errno
            unlink(temp)
            throw CacheError(path: path, reason: "cannot write: \(String(cString: strerror(e)))")
        }
        return path
    }

    // MARK: - Helpers

    /// A new file `.NAME.vmprov-XXXXXXXX` beside `path` (O_EXCL, O_NOFOLLOW, 0644 before umask).
    static func createTemp(beside path: String) throws(DownloadError) -> (String, OwnedFD) {
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        do { return try createTemp(in: dir.isEmpty ? "/" : dir, prefix: "." + name + ".vmprov-", mode: 0o644) } catch {
            throw .io(error)
        }
    }

    static func createTemp(in dir: String, prefix: String, mode: mode_t = 0o600) throws(IOError) -> (String, OwnedFD) {
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        for _ in 0..<100 {
            let suffix = String((0..<10).map { _ in digits[Int.random(in: 0..<digits.count)] })
            let path = dir + "/" + prefix + suffix
            if let fd = OwnedFD.openOrNil(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode) { return (path, fd) }
            if errno != EEXIST { throw IOError(path: path, operation: "create", code: errno) }
        }
        throw IOError(path: dir, operation: "create a temporary file in", code: EEXIST)
    }

    /// Reflinks (FICLONE) or copies `from` into the empty `to`; with `hashing`, returns the digest of the bytes the
    /// target holds (read back after a reflink, hashed while copying otherwise), else nil.
    /// - Throws: `IOError` naming the file that could not be read or written.
    @discardableResult
    static func cloneOrCopy(from src: Int32, sourcePath: String, to dst: Int32, targetPath: String,
                            hashing algorithm: HashAlgorithm?) throws(IOError) -> Digest? {
        var hasher = algorithm.flatMap { StreamingHasher($0) }
        let chunk = FileHasher.chunk
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        if vmp_ficlone(dst, src) == 0 {
            if hasher != nil {
                var offset: off_t = 0
                while true {
                    let n = try Syscall.check(targetPath, "read") { pread(dst, buffer.baseAddress, chunk, offset) }
                    if n == 0 { break }
                    hasher?.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    offset += off_t(n)
                }
            }
        } else {
            _ = posix_fadvise(src, 0, 0, POSIX_FADV_SEQUENTIAL)
            while true {
                let n = try Syscall.check(sourcePath, "read") { read(src, buffer.baseAddress, chunk) }
                if n == 0 { break }
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                hasher?.update(bytes)
                if let e = FileIO.writeAll(fd: dst, bytes) { throw IOError(path: targetPath, operation: "write", code: e) }
            }
        }
        return hasher?.finalize()
    }
}
