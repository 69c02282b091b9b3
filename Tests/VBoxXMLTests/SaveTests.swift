import Foundation
import Testing
import TestSupport
import VBoxXML
import Basics

struct StopHere: Error {}

@Suite("Atomic save")
struct SaveTests {
    @Test(arguments: SaveStep.allCases)
    func aFaultAfterAnyStepLeavesTheFileByteIdentical(step: SaveStep) throws {
        let dir = TempDir()
        let path = dir.write("m.vbox", Fixture.basic).path
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        let before = bytes(URL(fileURLWithPath: path))
        let save = AtomicSave(faultHook: { current in if current == step { throw StopHere() } })
        #expect(throws: VBoxXMLError.self) { try save.write(Array("<changed/>".utf8), to: path) }
        #expect(bytes(URL(fileURLWithPath: path)) == before)
        #expect(!FileManager.default.fileExists(atPath: path + "-tmp"))
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o640)
    }

    @Test func aSaveKeepsModeWritesPrevAndGoesThroughSymlinks() throws {
        let dir = TempDir()
        let real = dir.write("real/m.vbox", Fixture.basic).path
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: real)
        let link = dir.file("m.vbox").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        try AtomicSave().write(Array("new".utf8), to: link)
        #expect(String(decoding: bytes(URL(fileURLWithPath: real)), as: UTF8.self) == "new")
        #expect(String(decoding: bytes(URL(fileURLWithPath: real + "-prev")), as: UTF8.self) == Fixture.basic)
        let attrs = try FileManager.default.attributesOfItem(atPath: link)
        #expect(attrs[.type] as? FileAttributeType == .typeSymbolicLink)
        #expect(try FileManager.default.attributesOfItem(atPath: real)[.posixPermissions] as? Int == 0o600)
        #expect(!FileManager.default.fileExists(atPath: real + "-tmp"))
    }

    /// The save never deletes another writer's temporary file (the old code unlinked `NAME.vbox-tmp` when it
    /// existed, so a concurrent writer renamed someone else's half-written file into place).
    @Test func aSaveLeavesOtherTemporaryFilesAlone() throws {
        let dir = TempDir()
        let path = dir.write("m.vbox", Fixture.basic).path
        dir.write("m.vbox-tmp", "another writer, still writing")
        try AtomicSave().write(Array("new".utf8), to: path)
        #expect(String(decoding: bytes(URL(fileURLWithPath: path)), as: UTF8.self) == "new")
        #expect(String(decoding: bytes(dir.file("m.vbox-tmp")), as: UTF8.self) == "another writer, still writing")
        #expect(leftovers(dir) == ["m.vbox", "m.vbox-prev", "m.vbox-tmp"])
    }

    /// Under the lock, leftovers of a crashed save are removed: VirtualBox's `-tmp` and vmprov's `-tmp.XXXXXX`.
    @Test func leftoversAreRemovedUnderTheLock() throws {
        let dir = TempDir()
        let path = dir.write("m.vbox", Fixture.basic).path
        dir.write("m.vbox-tmp", "half")
        dir.write("m.vbox-tmp.Q7x2Lm", "half")
        dir.write("m.vbox-prev", "old")
        dir.write("other.vbox-tmp", "not ours")
        dir.write("m.vbox-tmp.notours1", "not ours")
        let lock = try SettingsLock(for: path)
        lock.removeLeftovers()
        try AtomicSave().write(Array("new".utf8), to: path)
        #expect(leftovers(dir) == ["m.vbox", "m.vbox-prev", "m.vbox-tmp.notours1", "other.vbox-tmp"])
        withExtendedLifetime(lock) {}
    }

    /// The lock is exclusive between processes (flock on the folder) and released with the value.
    @Test func theLockIsAFolderFlockReleasedWithTheValue() throws {
        let dir = TempDir()
        let path = dir.write("m.vbox", Fixture.basic).path
        var lock: SettingsLock? = try SettingsLock(for: path)
        #expect(lock?.folder == FileIO.resolved(dir.path))
        // flock(1) from util-linux, another process: it cannot take the lock while we hold it.
        let flock = try #require(which("flock"))
        #expect(try run(flock, ["--nonblock", "--exclusive", dir.path, "true"]).status != 0)
        do {
            _ = try SettingsLock(for: path, timeout: 0)
            Issue.record("a second lock was granted while the first was held")
        } catch {
            guard case .busy(let p, let message) = error else { Issue.record("\(error)"); return }
            #expect(p == path && message.contains("Try again"))
        }
        lock = nil
        #expect(try run(flock, ["--nonblock", "--exclusive", dir.path, "true"]).status == 0)
        _ = lock
    }

    /// Mode and owner of the old file are kept (as root: a file owned by nobody stays nobody's).
    @Test func modeAndOwnerAreKept() throws {
        let dir = TempDir()
        let path = dir.write("m.vbox", Fixture.basic).path
        chmod(path, 0o640)
        let owner: (uid_t, gid_t) = geteuid() == 0 ? (65534, 65534) : (geteuid(), getegid())
        if geteuid() == 0 { chown(path, owner.0, owner.1) }
        try AtomicSave().write(Array("new".utf8), to: path)
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o640 && st.st_uid == owner.0 && st.st_gid == owner.1)
    }
}
