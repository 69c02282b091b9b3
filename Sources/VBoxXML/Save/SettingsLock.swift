#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Basics

/// One writer at a time per machine folder: an exclusive `flock(2)` on the folder that holds a settings file,
/// held from before the file is read until after it has been saved, so that concurrent edits are applied one
/// after the other and none is lost.
///
/// Why the folder and not a lock file: the save replaces `NAME.vbox` by `rename(2)`, so a lock on the file's own
/// descriptor would be on an inode that is no longer the file; the folder's inode stays the same across the
/// rename, and locking it leaves no extra file in the machine folder (a lock file beside the `.vbox` would be
/// one more name to create `O_NOFOLLOW` and that users and VirtualBox would see). The folder is opened read-only,
/// `O_DIRECTORY | O_NOFOLLOW` (its path has had symlinks resolved already), so a read-only folder can be locked
/// and a symlink swapped in is refused. The lock is advisory: every vmprov writer takes it (`enable-rdp`,
/// `disable-rdp`, `add-forward`, `remove-forward`); VirtualBox does not, which is why edits are refused while
/// VBoxSVC runs. Readers need no lock: the file is only ever replaced whole by a rename.
///
/// The lock is released when the value goes away (`deinit`: `close(2)` drops it) or when the process ends, so a
/// crash never leaves a stale lock. Filesystems without `flock` (some network mounts) are reported, not ignored.
public final class SettingsLock {
    /// The settings file with symlinks resolved: the name the save replaces.
    public let path: String
    /// The folder that is locked.
    public let folder: String
    private let fd: OwnedFD

    /// Takes the lock for the settings file at `path` (through a symlink, its target's folder), waiting up to
    /// `timeout` seconds for another vmprov writer to finish.
    /// - Throws: `.busy` when another process still holds it after `timeout` seconds; `.io` when the folder
    ///   cannot be opened or its filesystem has no locks; `.notFound` when the folder does not exist.
    public init(for path: String, timeout: Double = 30) throws(VBoxXMLError) {
        let target = FileIO.resolved(path)
        let folder = FileIO.directory(of: target)
        guard let fd = OwnedFD.openOrNil(folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) else {
            let e = errno
            if e == ENOENT {
                throw .notFound(path: path, reason: "its folder \(folder) does not exist. Give the path of a .vbox "
                    + "file or its folder.")
            }
            throw .io(path: path, operation: "open its folder \(folder) to lock it", reason: FileIO.describe(e)
                + (e == EACCES ? ". The folder must be readable by this user (see set-perm-vmsrc)." : ""))
        }
        var waited = 0.0
        var pause = 0.002
        while Syscall.retrying({ flock(fd.raw, LOCK_EX | LOCK_NB) }) != 0 {
            let e = errno
            guard e == EWOULDBLOCK || e == EAGAIN else {
                throw .io(path: path, operation: "lock the folder \(folder) against other writers",
                          reason: FileIO.describe(e) + ". vmprov needs flock(2) on the machine folder; move the "
                            + "machine to a local filesystem to edit it.")
            }
            if waited >= timeout {
                throw .busy(path: path, message: "another process has held the edit lock on \(folder) for "
                    + "\(Int(timeout)) s (another vmprov edit of this machine). Try again when it has finished.")
            }
            Clock.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.05)
        }
        self.path = target
        self.folder = folder
        self.fd = fd
    }

    // `fd` (an OwnedFD) closes in its deinit, which drops the lock.

    /// Removes temporary files a crashed save left beside the settings file: VirtualBox's `NAME.vbox-tmp` and
    /// vmprov's `NAME.vbox-tmp.XXXXXX`. Only safe under the lock: no vmprov writer is saving this file now.
    /// Never removes `NAME.vbox-prev`.
    public func removeLeftovers() {
        let base = FileIO.basename(path)
        for name in FileIO.names(in: folder) ?? [] where AtomicSave.isTemporary(name, of: base) {
            let leftover = folder + "/" + name
            var st = stat()
            guard lstat(leftover, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            unlink(leftover)
        }
    }
}
