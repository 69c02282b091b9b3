import Foundation
import Provision
import Testing
import TestSupport

/// The download cache is never trusted: entries are copies, re-hashed before use, in private folders.
@Suite("Download cache", .serialized)
struct CacheTests {
    static let payload = randomData(1 << 20)
    static let digest = Digest(algorithm: .sha256, hex: (try? sha256sum(payload)) ?? "")

    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? Int) ?? -1
    }

    static func inode(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    /// Overwrites the first bytes of a file in place (as a process with write access to it would).
    static func scribble(_ path: String) {
        chmod(path, 0o644)
        let fd = open(path, O_WRONLY)
        let garbage = [UInt8](repeating: 0x47, count: 4096)
        _ = garbage.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    @Test func writingIntoAFetchedFileNeverChangesWhatTheCacheServes() throws {
        let nginx = try NginxServer()
        nginx.add("disk.iso", bytes: Self.payload)
        let out = TempDir()
        let cache = TempDir()
        let d = Downloader(options: testOptions(cache: cache.path))
        let first = out.file("disk.iso").path
        _ = try d.fetch(DownloadRequest(urls: ["\(nginx.base)/disk.iso"], destination: first, expected: Self.digest))
        let entry = "\(cache.path)/sha256/\(Self.digest.hex)"
        #expect(Self.inode(entry) != 0 && Self.inode(entry) != Self.inode(first), "the entry is a copy, not a hard link")
        #expect(Self.mode(entry) == 0o444)
        #expect(Self.mode(cache.path) == 0o700 && Self.mode(cache.path + "/sha256") == 0o700)
        // The user (or the container user owning the VM folder) writes into their file.
        Self.scribble(first)
        let before = nginx.requests().count
        let second = try d.fetch(DownloadRequest(urls: ["\(nginx.base)/disk.iso"], destination: out.file("again.iso").path,
                                                 expected: Self.digest))
        #expect(second.fromCache && nginx.requests().count == before)
        #expect(second.cacheNote?.contains("re-hashed") == true)
        #expect(bytes(out.file("again.iso")) == Self.payload, "the garbage was served from the cache")
        #expect(Self.inode(out.file("again.iso").path) != Self.inode(entry))
    }

    @Test func aDamagedEntryIsDroppedAndFetchedAgain() throws {
        let nginx = try NginxServer()
        nginx.add("disk.iso", bytes: Self.payload)
        let out = TempDir()
        let cache = TempDir()
        let d = Downloader(options: testOptions(cache: cache.path))
        _ = try d.fetch(DownloadRequest(urls: ["\(nginx.base)/disk.iso"], destination: out.file("a.iso").path,
                                        expected: Self.digest))
        let entry = "\(cache.path)/sha256/\(Self.digest.hex)"
        Self.scribble(entry)
        chmod(entry, 0o444)
        let before = nginx.requests().count
        let r = try d.fetch(DownloadRequest(urls: ["\(nginx.base)/disk.iso"], destination: out.file("b.iso").path,
                                            expected: Self.digest))
        #expect(!r.fromCache && nginx.requests().count > before, "downloaded again")
        #expect(r.cacheNote?.contains("was wrong") == true, "\(r.cacheNote ?? "no note")")
        #expect(bytes(out.file("b.iso")) == Self.payload)
        #expect(bytes(URL(fileURLWithPath: entry)) == Self.payload, "the entry was replaced by the good copy")
        #expect(leftovers(out) == ["a.iso", "b.iso"])
        // A symlink planted as an entry is not followed.
        let elsewhere = out.write("planted", bytes: Self.payload)
        unlink(entry)
        symlink(elsewhere.path, entry)
        let s = try d.fetch(DownloadRequest(urls: ["\(nginx.base)/disk.iso"], destination: out.file("c.iso").path,
                                            expected: Self.digest))
        #expect(!s.fromCache && s.cacheNote?.contains("symlink") == true)
    }

    @Test func unsafeCacheFoldersAreRefused() throws {
        let nginx = try NginxServer()
        nginx.add("disk.iso", bytes: Self.payload)
        let out = TempDir()
        func attempt(_ cache: String) -> DownloadError? {
            do {
                _ = try Downloader(options: testOptions(cache: cache)).fetch(DownloadRequest(
                    urls: ["\(nginx.base)/disk.iso"], destination: out.file("x-\(UUID().uuidString)").path,
                    expected: Self.digest))
                return nil
            } catch { return error }
        }
        let open = TempDir()
        chmod(open.path, 0o777)
        let e1 = attempt(open.path)
        guard case .cache(let c1)? = e1 else { Issue.record("a world-writable cache was used: \(String(describing: e1))"); return }
        #expect(c1.path == open.path && c1.reason.contains("writable by group or others"))
        #expect(Self.mode(open.path) == 0o777, "left as it was")
        // A sub-folder that is a symlink to someone else's folder.
        let linked = TempDir()
        let target = TempDir()
        symlink(target.path, linked.path + "/sha256")
        guard case .cache(let c2)? = attempt(linked.path) else { Issue.record("a symlinked cache folder was followed"); return }
        #expect(c2.reason.contains("symlink"))
        if geteuid() == 0 {
            let foreign = TempDir()
            chmod(foreign.path, 0o755)
            chown(foreign.path, 65534, 65534)
            guard case .cache(let c3)? = attempt(foreign.path) else { Issue.record("a foreign cache was used"); return }
            #expect(c3.reason.contains("owned by uid 65534"))
        }
        #expect(leftovers(out).isEmpty)
        // A fresh cache is created private.
        let fresh = TempDir()
        #expect(attempt(fresh.path + "/a/b") == nil)
        #expect(Self.mode(fresh.path + "/a/b") == 0o700 && Self.mode(fresh.path + "/a") == 0o700)
    }

    @Test func theDefaultFolderIsNeverASharedTemporaryOne() throws {
        let env: [String: String] = [:]
        let root = try DownloadCache.defaultRoot { env[$0] }
        #expect(!root.hasPrefix("/tmp"))
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        getpwuid_r(geteuid(), &pwd, &buffer, buffer.count, &result)
        #expect(root == String(cString: pwd.pw_dir) + "/.cache/vmprov")
        #expect(try DownloadCache.defaultRoot { ["HOME": "/home/u"][$0] } == "/home/u/.cache/vmprov")
        #expect(try DownloadCache.defaultRoot { ["HOME": "/home/u", "XDG_CACHE_HOME": "/x"][$0] } == "/x/vmprov")
        #expect(try DownloadCache.defaultRoot { ["HOME": "/home/u", "XDG_CACHE_HOME": "rel"][$0] } == "/home/u/.cache/vmprov")
        #expect(try DownloadCache.defaultRoot { ["VMPROV_CACHE": "/c", "HOME": "/home/u"][$0] } == "/c")
    }

    @Test func keysAreStoredReadOnlyAndReadOnlyWhenPrivate() throws {
        let dir = TempDir()
        let cache = DownloadCache(root: dir.path + "/c")
        let path = try cache.storeSmall("keys", "K.asc", bytes: Array("key".utf8))
        #expect(Self.mode(path) == 0o444 && Self.mode(dir.path + "/c/keys") == 0o700)
        #expect(try cache.readSmall("keys", "K.asc", limit: 100) == Array("key".utf8))
        #expect(try cache.readSmall("keys", "K.asc", limit: 2) == nil, "over the cap: dropped")
        #expect(!FileManager.default.fileExists(atPath: path))
        let other = dir.write("other", "planted")
        symlink(other.path, dir.path + "/c/keys/L.asc")
        #expect(try cache.readSmall("keys", "L.asc", limit: 100) == nil, "a symlink is not followed")
        chmod(dir.path + "/c/keys", 0o777)
        #expect(throws: CacheError.self) { try cache.readSmall("keys", "K.asc", limit: 100) }
    }
}
