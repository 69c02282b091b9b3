#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Basics

/// The steps of a save, in order. A fault hook runs after each; tests use it to stop the save there.
public enum SaveStep: String, CaseIterable, Sendable {
    /// `NAME.vbox-tmp.XXXXXX` holds the new bytes with the old file's mode and owner.
    case tempWritten = "temp-written"
    /// The temporary file is on disk (fsync).
    case tempSynced = "temp-synced"
    /// The old file is kept as `NAME.vbox-prev`.
    case backupMade = "backup-made"
    /// The temporary file has been renamed over `NAME.vbox`.
    case renamed
    /// The folder has been synced.
    case directorySynced = "directory-synced"
}

/// Saves a settings file the way VirtualBox does (`XmlFileWriter::write` in safe mode: `-tmp`, fsync, `-prev`,
/// rename, fsync the folder), with two differences:
/// - the old file is kept as `-prev` by a hard link, so that the name always holds a complete file;
/// - the temporary file is `NAME.vbox-tmp.XXXXXX` (six random letters or digits, created `O_EXCL | O_NOFOLLOW`),
///   not VirtualBox's fixed `NAME.vbox-tmp`. Under ``SettingsLock`` a fixed name would be safe only if every
///   writer took the lock; VirtualBox does not (it is kept out by refusing edits while VBoxSVC runs, unless
///   forced) and older vmprov versions did not. With a name of its own, a writer outside the lock can make this
///   save lose its change at worst, but never makes it rename someone else's half-written bytes into place.
///   Leftovers of a crash are removed under the lock (``SettingsLock/removeLeftovers()``).
///
/// Load, edit and save should run under one ``SettingsLock`` so that concurrent edits are not lost.
public struct AtomicSave: Sendable {
    /// Called after each step; a thrown error aborts the save and rolls back.
    public var faultHook: (@Sendable (SaveStep) throws -> Void)?

    /// - Parameter faultHook: called after each ``SaveStep``; throwing stops the save there (tests).
    public init(faultHook: (@Sendable (SaveStep) throws -> Void)? = nil) {
        self.faultHook = faultHook
    }

    /// Whether `name` is a temporary file of a save of the settings file named `base`: VirtualBox's
    /// `BASE-tmp` or vmprov's `BASE-tmp.XXXXXX`.
    public static func isTemporary(_ name: String, of base: String) -> Bool {
        if name == base + "-tmp" { return true }
        let prefix = base + "-tmp."
        guard name.hasPrefix(prefix) else { return false }
        let suffix = name.utf8.dropFirst(prefix.utf8.count)
        return suffix.count == 6 && suffix.allSatisfy { Self.alphabet.contains($0) }
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    /// Writes `bytes` to `path` (through a symlink, to its target) with the old file's mode and owner (a new
    /// file gets 0644 less the umask). On any error the file is as it was and no temporary file is left.
    /// - Throws: `.io` naming the file, the step that failed and the system's reason.
    public func write(_ bytes: [UInt8], to path: String) throws(VBoxXMLError) {
        let target = FileIO.resolved(path)
        let dir = FileIO.directory(of: target)
        let prev = target + "-prev"

        var old = stat()
        let exists = stat(target, &old) == 0
        var temp = ""
        var opened: OwnedFD?
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let suffix = String(decoding: (0..<6).map { _ in Self.alphabet.randomElement(using: &generator) ?? 0x41 },
                                as: UTF8.self)
            temp = target + "-tmp." + suffix
            opened = OwnedFD.openOrNil(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            if opened != nil || errno != EEXIST { break }
        }
        guard let fd = opened else {
            let e = errno
            throw .io(path: path, operation: "create \(FileIO.basename(temp)) in \(dir)",
                      reason: FileIO.describe(e) + (e == EACCES || e == EROFS
                        ? ". The folder must be writable by this user (see set-perm-vmsrc)." : ""))
        }
        var renamed = false
        var backedUp = false
        func fail(_ operation: String, _ code: Int32) -> VBoxXMLError {
            .io(path: path, operation: operation, reason: FileIO.describe(code))
        }
        do throws(VBoxXMLError) {
            if let e = FileIO.writeAll(fd: fd.raw, bytes) { throw fail("write \(FileIO.basename(temp))", e) }
            if exists {
                // Owner first: fchown may clear set-id bits, which fchmod then restores.
                if old.st_uid != geteuid() || old.st_gid != getegid() {
                    if fchown(fd.raw, old.st_uid, old.st_gid) != 0 {
                        let e = errno
                        throw .io(path: path, operation: "keep the file's owner \(old.st_uid):\(old.st_gid)",
                                  reason: FileIO.describe(e) + ". Edit it as that user (or root), so that the "
                                    + "saved file keeps its owner and group.")
                    }
                }
                if fchmod(fd.raw, old.st_mode & 0o7777) != 0 { throw fail("keep the file mode", errno) }
            } else if fchmod(fd.raw, 0o644 & ~currentUmask()) != 0 {
                throw fail("set the file mode", errno)
            }
            try hook(.tempWritten, path)
            if Syscall.retrying({ fsync(fd.raw) }) != 0 { throw fail("sync \(FileIO.basename(temp))", errno) }
            if let e = fd.close() { throw fail("close \(FileIO.basename(temp))", e) }
            try hook(.tempSynced, path)
            if exists {
                if unlink(prev) != 0, errno != ENOENT { throw fail("replace \(FileIO.basename(prev))", errno) }
                if link(target, prev) != 0 {
                    let e = errno
                    guard e == EPERM || e == EXDEV || e == ENOTSUP || e == EMLINK else {
                        throw fail("keep the old file as \(FileIO.basename(prev))", e)
                    }
                    let oldBytes = try SettingsFile.readAll(path: target, limit: Int.max)
                    try Self.plainWrite(oldBytes, to: prev, mode: old.st_mode & 0o7777)
                }
                backedUp = true
                try hook(.backupMade, path)
            }
            if rename(temp, target) != 0 { throw fail("rename \(FileIO.basename(temp)) into place", errno) }
            renamed = true
            try hook(.renamed, path)
            if let e = FileIO.syncDirectory(dir) { throw fail("sync the folder \(dir)", e) }
            try hook(.directorySynced, path)
        } catch {
            if renamed && backedUp {
                // Put the old bytes back under the name, then keep -prev as it was.
                if link(prev, temp) == 0 { rename(temp, target) }
                _ = FileIO.syncDirectory(dir)
            } else if renamed {
                unlink(target)
            }
            unlink(temp)
            throw error
        }
    }

    private func hook(_ step: SaveStep, _ path: String) throws(VBoxXMLError) {
        guard let faultHook else { return }
        do {
            try faultHook(step)
        } catch let e as VBoxXMLError {
            throw e
        } catch {
            throw .io(path: path, operation: "finish saving (stopped after \(step.rawValue))", reason: "\(error)")
        }
    }

    /// Writes a new file at `path` (just unlinked by the caller): `O_EXCL`, so a file or hard link planted there in
    /// between is never truncated or written through; the save fails instead and the `.vbox` stays as it was.
    static func plainWrite(_ bytes: [UInt8], to path: String, mode: mode_t) throws(VBoxXMLError) {
        guard let fd = OwnedFD.openOrNil(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode) else {
            throw .io(path: path, operation: "create it", reason: FileIO.describe(errno))
        }
        if let e = FileIO.writeAll(fd: fd.raw, bytes) {
            throw .io(path: path, operation: "write it", reason: FileIO.describe(e))
        }
        if Syscall.retrying({ fsync(fd.raw) }) != 0 { throw .io(path: path, operation: "sync it", reason: FileIO.describe(errno)) }
    }

    private func currentUmask() -> mode_t {
        let m = umask(0o022)
        umask(m)
        return m
    }
}
