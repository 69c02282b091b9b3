import Basics
import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The owners in Basics: an fd closed in deinit, a temporary folder removed in deinit (also when an error is
/// thrown), and the one EINTR wrapper.
@Suite("Basics: owners and the EINTR wrapper")
struct OwnersTests {
    /// (device, inode) of what `fd` refers to now, or nil when it is not open.
    static func identity(_ fd: Int32) -> (UInt64, UInt64)? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    static func identity(path: String) -> (UInt64, UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Opens `path` in an owner that goes away before this returns; returns the raw number it had.
    static func openAndDrop(_ path: String) throws -> Int32 {
        let fd = try OwnedFD.open(path, O_RDONLY)
        #expect(identity(fd.raw)?.1 == identity(path: path)?.1)
        return fd.raw
    }

    @Test func anOwnedDescriptorIsClosedInDeinit() throws {
        let dir = TempDir()
        let path = dir.file("f").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
        let raw = try Self.openAndDrop(path)
        // Closed: the number refers to nothing, or (another test reused it) to some other file, never to ours.
        let now = Self.identity(raw)
        #expect(now == nil || now?.1 != Self.identity(path: path)?.1, "fd \(raw) still refers to \(path)")
    }

    @Test func closeReportsAndReleaseHandsOver() throws {
        let dir = TempDir()
        let path = dir.file("f").path
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let fd = try OwnedFD.open(path, O_RDONLY)
        #expect(fd.close() == nil)
        #expect(fd.raw == -1)
        #expect(fd.close() == nil, "closing twice is a no-op, not a second close(2)")
        var kept: Int32 = -1
        do {
            let owner = try OwnedFD.open(path, O_RDONLY)
            kept = owner.release()
        }
        #expect(Self.identity(kept)?.1 == Self.identity(path: path)?.1, "a released fd stays open")
        close(kept)
    }

    @Test func openFailuresNameTheFile() {
        #expect(throws: IOError(path: "/nonexistent/vmprov-x", operation: "open", code: ENOENT)) {
            _ = try OwnedFD.open("/nonexistent/vmprov-x", O_RDONLY)
        }
    }

    @Test func aTemporaryFolderIsRemovedInDeinit() throws {
        let base = TempDir()
        var path = ""
        do {
            let folder = try TempFolder(in: base.url.path, prefix: "t")
            path = folder.path
            try Data("secret".utf8).write(to: URL(fileURLWithPath: folder.file("a")))
            try FileManager.default.createDirectory(atPath: folder.file("sub/deeper"), withIntermediateDirectories: true)
            var st = stat()
            #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o700)
        }
        #expect(!path.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    struct Boom: Error {}

    static func stageAndFail(in base: String, leaving path: inout String) throws {
        let folder = try TempFolder(in: base, prefix: "t")
        path = folder.path
        try Data("x".utf8).write(to: URL(fileURLWithPath: folder.file("partial")))
        throw Boom()
    }

    @Test func aTemporaryFolderIsRemovedWhenAnErrorIsThrown() throws {
        let base = TempDir()
        var path = ""
        #expect(throws: Boom.self) { try Self.stageAndFail(in: base.url.path, leaving: &path) }
        #expect(!path.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: base.url.path).isEmpty)
    }

    @Test func aKeptTemporaryFolderStays() throws {
        let base = TempDir()
        var path = ""
        do {
            let folder = try TempFolder(in: base.url.path, prefix: "t")
            path = folder.path
            folder.keep()
        }
        #expect(FileManager.default.fileExists(atPath: path))
    }

    @Test func aTemporaryFolderThatCannotBeMadeNamesItsParent() {
        #expect(throws: IOError.self) { _ = try TempFolder(in: "/nonexistent/vmprov", prefix: "t") }
    }
}

/// Attempts made by the read under test; written by the reading thread, read by the signalling one.
private let attempts = Atomic()

final class Atomic: @unchecked Sendable {
    // @unchecked: `value` is only touched with `lock` held.
    private let lock = PThreadMutex()
    private var value = 0
    func increment() { lock.withLock { value += 1 } }
    var current: Int { lock.withLock { value } }
}

@Suite("Basics: EINTR", .serialized)
struct EINTRTests {
    /// A blocking read that a signal interrupts (a handler installed without SA_RESTART, so read(2) fails with
    /// EINTR) is made again by `Syscall.retrying` and returns the byte written afterwards. The signalling thread
    /// keeps interrupting until the reader has retried at least once, so no timing decides the outcome.
    @Test func aBlockingReadInterruptedByASignalIsRetried() throws {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0  // no SA_RESTART
        sigemptyset(&action.sa_mask)
        var previous = sigaction()
        #expect(sigaction(SIGUSR2, &action, &previous) == 0)
        defer { sigaction(SIGUSR2, &previous, nil) }
        // The reader must not have SIGUSR2 blocked.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGUSR2)
        var oldMask = sigset_t()
        pthread_sigmask(SIG_UNBLOCK, &unblock, &oldMask)
        defer { pthread_sigmask(SIG_SETMASK, &oldMask, nil) }

        let reader = pthread_self()
        let writeEnd = fds[1]
        let signaller = Thread {
            // Interrupt until the read has failed with EINTR and been made again, then let it succeed.
            while attempts.current < 2 {
                pthread_kill(reader, SIGUSR2)
                usleep(10_000)
            }
            var byte: UInt8 = 0x2A
            _ = write(writeEnd, &byte, 1)
        }
        signaller.start()
        var buffer = [UInt8](repeating: 0, count: 1)
        var sawEINTR = false
        let n = Syscall.retrying { () -> Int in
            attempts.increment()
            let r = FileIO.read(fds[0], into: &buffer)
            if r < 0 && errno == EINTR { sawEINTR = true }
            return r
        }
        #expect(n == 1)
        #expect(buffer == [0x2A])
        #expect(sawEINTR, "the read was never interrupted")
        #expect(attempts.current >= 2)
    }

    @Test func checkThrowsTheErrorWithThePath() {
        #expect(throws: IOError(path: "/p", operation: "read", code: EBADF)) {
            _ = try Syscall.check("/p", "read") { () -> Int in
                var b = [UInt8](repeating: 0, count: 1)
                return FileIO.read(-1, into: &b)
            }
        }
    }
}
