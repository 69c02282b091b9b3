import Foundation
import Testing
import TestSupport

/// Thread-safe bag for what the concurrent readers saw.
final class ReaderLog: @unchecked Sendable {
    private let lock = NSLock()
    private var problems: [String] = []
    private var reads = 0
    private var stopped = false

    func add(_ problem: String?) {
        lock.lock(); defer { lock.unlock() }
        reads += 1
        if let problem { problems.append(problem) }
    }
    func stop() { lock.lock(); stopped = true; lock.unlock() }
    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }
    var result: (reads: Int, problems: [String]) { lock.lock(); defer { lock.unlock() }; return (reads, problems) }
}

extension ProcessSensitive {
@Suite("Concurrent edits, end to end", .serialized)
struct ConcurrentEditTests {
    static var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "VMDIR")
        return env
    }

    /// 24 `add-forward` processes at once on one file, with readers running the whole time: every rule is there,
    /// every writer says 0, mode and owner are kept, and no reader ever sees an empty or partial file.
    @Test func twentyFourWritersAtOnceLoseNothing() throws {
        let writers = 24
        let dir = TempDir()
        let url = dir.write("vm/demo.vbox", sample)
        let path = url.path
        chmod(path, 0o640)
        // As root, give the file to another owner: the save must keep it (the container's user owns the folder).
        let owner: (uid: uid_t, gid: gid_t) = geteuid() == 0 ? (65534, 65534) : (geteuid(), getegid())
        if geteuid() == 0 { chown(path, owner.uid, owner.gid) }

        let log = ReaderLog()
        let readers = DispatchGroup()
        // A raw reader: every open sees a whole document.
        DispatchQueue.global().async(group: readers) {
            while !log.isStopped {
                let text = String(decoding: bytes(url), as: UTF8.self)
                log.add(text.hasPrefix("<?xml") && text.hasSuffix("</VirtualBox>\n") ? nil
                        : "raw read of \(text.utf8.count) bytes: \(text.suffix(40).debugDescription)")
            }
        }
        // vmprov readers: `forwards` never fails on a file that is being edited.
        for _ in 0..<2 {
            DispatchQueue.global().async(group: readers) {
                while !log.isStopped {
                    let r = try? vmprov(["forwards", path])
                    log.add(r?.status == 0 ? nil : "forwards exited \(r?.status ?? -1): \(r?.stderr ?? "")")
                }
            }
        }

        // --force: another worktree's tests may run a fake VBoxSVC of this user; the lock is what is tested here.
        let spawned = try (0..<writers).map { i in
            try Spawned([TestPaths.vmprov.path, "add-forward", path, "--force", "--name", "rule\(i)",
                         "--host-port", String(20000 + i), "--guest-port", String(1000 + i)],
                        environment: Self.environment)
        }
        var statuses: [Int32?] = []
        for p in spawned { statuses.append(p.wait(seconds: 120)) }
        log.stop()
        readers.wait()

        for (i, p) in spawned.enumerated() {
            #expect(statuses[i] == 0, "writer \(i): \(p.output)")
            #expect(p.output.contains("Added rule\(i),tcp,,\(20000 + i),,\(1000 + i)"), "\(p.output)")
        }
        let text = String(decoding: bytes(url), as: UTF8.self)
        for i in 0..<writers {
            #expect(text.contains("<Forwarding name=\"rule\(i)\" proto=\"1\" hostip=\"\" hostport=\"\(20000 + i)\""),
                    "rule\(i) lost")
        }
        let listed = try vmprov(["forwards", path, "--json"])
        #expect(listed.status == 0)
        #expect(listed.stdout.components(separatedBy: "\"hostPort\"").count - 1 == writers, "\(listed.stdout)")
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o640)
        #expect(st.st_uid == owner.uid && st.st_gid == owner.gid)
        let (reads, problems) = log.result
        #expect(reads > 0)
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        // Nothing but the file and its -prev is left in the folder.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("vm").path).sorted()
        #expect(names == ["demo.vbox", "demo.vbox-prev"])
    }

    /// The lock is a flock on the machine folder, taken before the file is read: while someone else holds it, an
    /// edit waits (here: gives up at once with VMPROV_LOCK_TIMEOUT=0, exit 75) and changes nothing.
    @Test(arguments: ["add-forward", "remove-forward", "enable-rdp", "disable-rdp"])
    func everyEditWaitsForTheFolderLock(command: String) throws {
        let dir = TempDir()
        let withRule = sample.replacingOccurrences(
            of: "<NAT localhost-reachable=\"false\"/>",
            with: "<NAT localhost-reachable=\"false\">\n            <Forwarding name=\"ssh\" proto=\"1\" hostip=\"\" "
                + "hostport=\"2222\" guestip=\"\" guestport=\"22\"/>\n          </NAT>")
        let text = command == "disable-rdp"
            ? withRule.replacingOccurrences(of: "<Memory RAMSize=\"2048\"/>",
                                            with: "<Memory RAMSize=\"2048\"/>\n      <RemoteDisplay enabled=\"true\"/>")
            : withRule
        let url = dir.write("demo.vbox", text)
        let args: [String] = switch command {
        case "add-forward": ["--name", "web", "--host-port", "8080", "--guest-port", "80"]
        case "remove-forward": ["--name", "ssh"]
        case "enable-rdp": ["--port", "3390"]
        default: []
        }
        let fd = open(dir.path, O_RDONLY | O_DIRECTORY)
        #expect(fd >= 0)
        #expect(flock(fd, LOCK_EX) == 0)
        let held = try vmprov([command, url.path, "--force"] + args, environment: ["VMPROV_LOCK_TIMEOUT": "0"])
        #expect(held.status == 75, "\(held.output)")
        #expect(held.stderr.contains("demo.vbox") && held.stderr.contains("lock") && held.stderr.contains("Try again"),
                "\(held.stderr)")
        #expect(bytes(url) == Data(text.utf8))
        close(fd)
        let free = try vmprov([command, url.path, "--force"] + args, environment: ["VMPROV_LOCK_TIMEOUT": "0"])
        #expect(free.status == 0, "\(free.output)")
        #expect(bytes(url) != Data(text.utf8))
    }

    /// VMPROV_LOCK_TIMEOUT is a seconds setting like STOP_TIMEOUT: `inf` would wait forever behind a stuck
    /// writer, and `nan`, negatives or exponents silently became 30. Each is refused (64, naming the variable)
    /// before the file is touched (the edit would otherwise change it: the sample has no RemoteDisplay).
    @Test(arguments: ["inf", "nan", "-1", "1e3", "86401", "abc"])
    func aHostileLockTimeoutIsRefused(value: String) throws {
        let dir = TempDir()
        let url = dir.write("demo.vbox", sample)
        let r = try vmprov(["disable-rdp", url.path, "--force"], environment: ["VMPROV_LOCK_TIMEOUT": value])
        #expect(r.status == 64, "\(r.output)")
        #expect(r.stderr.contains("VMPROV_LOCK_TIMEOUT"), "\(r.stderr)")
        #expect(bytes(url) == Data(sample.utf8))
    }

    /// A crashed save leaves `NAME.vbox-tmp.XXXXXX`; the next edit (under the lock) removes it, and discovery
    /// never takes it for a machine.
    @Test func leftoversOfACrashAreRemovedUnderTheLock() throws {
        let dir = TempDir()
        let url = dir.write("demo.vbox", sample)
        let crash = try vmprov(["add-forward", url.path, "--force", "--host-port", "2", "--guest-port", "2"],
                               environment: ["VMPROV_TEST_SAVE_FAULT": "temp-synced:crash"])
        #expect(crash.status == 99)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0 != "demo.vbox" }
        #expect(left.count == 1 && left[0].hasPrefix("demo.vbox-tmp."), "\(left)")
        dir.write("demo.vbox-tmp", "half")
        let show = try vmprov(["show", dir.path])
        #expect(show.status == 0, "\(show.output)")
        let next = try vmprov(["add-forward", dir.path, "--force", "--host-port", "2", "--guest-port", "2"])
        #expect(next.status == 0, "\(next.output)")
        #expect(leftovers(dir) == ["demo.vbox", "demo.vbox-prev"])
    }
}
}
