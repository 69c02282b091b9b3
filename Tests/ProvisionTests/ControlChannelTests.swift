import Basics
import CSystem
import Foundation
import Testing
import TestSupport
@testable import Provision

/// The control channel's request and reply formats (strict, bounded) and the client's checks of the folder and
/// socket before it sends anything.
@Suite("Runner control channel")
struct ControlChannelTests {
    @Test(arguments: SnapshotOperation.allCases)
    func requestsRoundTrip(_ op: SnapshotOperation) throws {
        for name in ["first", "before upgrade", "Снимок 1", "0b6c3d2e-1f1a-4c4e-9a0e-7d1c2b3a4f50",
                     String(repeating: "n", count: 255)] {
            let request = try ControlRequest(op, name: name, powerOff: op == .restore)
            #expect(try ControlRequest.parse(request.encoded) == request)
        }
    }

    static let badRequests: [(String, [UInt8])] = [
        ("empty", []),
        ("no newline", Array("snapshot take - a".utf8)),
        ("two lines", Array("snapshot take - a\nsnapshot take - b\n".utf8)),
        ("CR", Array("snapshot take - a\r\n".utf8)),
        ("NUL", Array("snapshot take - a\u{0}b\n".utf8)),
        ("invalid UTF-8", Array("snapshot take - ".utf8) + [0xC3, 0x28, 0x0A]),
        ("oversize", Array(("snapshot take - " + String(repeating: "x", count: 1100) + "\n").utf8)),
        ("unknown operation", Array("snapshot list - a\n".utf8)),
        ("wrong verb", Array("snap take - a\n".utf8)),
        ("no flag", Array("snapshot take a\n".utf8)),
        ("unknown flag", Array("snapshot take now a\n".utf8)),
        ("poweroff on take", Array("snapshot take poweroff a\n".utf8)),
        ("empty name", Array("snapshot take - \n".utf8)),
        ("name too long", Array(("snapshot take - " + String(repeating: "é", count: 128) + "\n").utf8)),
        ("control character", Array("snapshot take - a\tb\n".utf8)),
        ("escape sequence", Array("snapshot take - a\u{1B}[2Jb\n".utf8)),
        ("bidi override", Array("snapshot take - a\u{202E}b\n".utf8)),
        ("line separator", Array("snapshot take - a\u{2028}b\n".utf8)),
        ("option-like", Array("snapshot delete - --all\n".utf8)),
        ("leading space", Array("snapshot take -  a\n".utf8)),
        ("trailing space", Array("snapshot take - a \n".utf8)),
        ("double space", Array("snapshot  take - a\n".utf8)),
    ]

    @Test func badRequestsAreRefused() {
        for (what, bytes) in Self.badRequests {
            #expect(throws: ControlError.self, "\(what)") { try ControlRequest.parse(bytes) }
        }
    }

    @Test func refusalsSayWhatIsWrong() {
        #expect(throws: ControlError.tooLarge(what: "request", limit: 1024)) {
            try ControlRequest.parse([UInt8](repeating: 0x61, count: 1025))
        }
        do {
            _ = try ControlRequest.parse(Array("snapshot take - -x\n".utf8))
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("starts with \"-\""), "\(error)")
        }
        do {
            _ = try ControlRequest.parse(Array("snapshot take - a\u{202E}b\n".utf8))
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("U+202E"), "\(error)")
        }
    }

    @Test func repliesRoundTripAndAreBounded() throws {
        for outcome in ControlReply.Outcome.allCases {
            let reply = ControlReply(outcome, uuid: outcome == .done ? "0b6c3d2e-1f1a-4c4e-9a0e-7d1c2b3a4f50" : nil,
                                     message: "line one\n\nline three")
            #expect(try ControlReply.parse(reply.encoded) == reply)
        }
        let huge = ControlReply(.failed, message: String(repeating: "ü", count: 40_000))
        #expect(huge.encoded.count <= ControlReply.maximumBytes)
        #expect(try ControlReply.parse(huge.encoded).outcome == .failed)
        #expect(throws: ControlError.self) { try ControlReply.parse(Array("outcome done\n".utf8)) }
        #expect(throws: ControlError.self) { try ControlReply.parse(Array("outcome maybe\n\nx".utf8)) }
        #expect(throws: ControlError.self) { try ControlReply.parse(Array("outcome done\nextra 1\n\nx".utf8)) }
        #expect(throws: ControlError.self) { try ControlReply.parse([UInt8](repeating: 0x61, count: 70_000)) }
    }

    // MARK: the client's checks (no runner)

    func request() throws -> ControlRequest { try ControlRequest(.take, name: "first") }

    @Test func noFolderMeansNoRunner() throws {
        let dir = TempDir("control")
        #expect(throws: ControlError.noRunner(path: dir.path + "/.vmprov/control.sock",
                                              reason: dir.path + "/.vmprov does not exist")) {
            try ControlChannel.send(try request(), vmDir: dir.path, timeout: .seconds(1))
        }
    }

    @Test func aStaleSocketMeansNoRunner() throws {
        let dir = TempDir("control")
        #expect(mkdir(dir.path + "/.vmprov", 0o700) == 0)
        let folder = try OwnedFD.open(dir.path + "/.vmprov", O_RDONLY | O_DIRECTORY)
        let fd = vmp_unix_listen(folder.raw, ControlChannel.socketName)
        #expect(fd >= 0)
        close(fd)  // the socket file stays; nobody listens
        do {
            _ = try ControlChannel.send(try request(), vmDir: dir.path, timeout: .seconds(1))
            Issue.record("sent")
        } catch let error as ControlError {
            guard case let .noRunner(_, reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains("nothing listens"))
        }
    }

    @Test func aSymlinkedOrOpenFolderOrAFileInsteadOfTheSocketIsRefused() throws {
        let dir = TempDir("control")
        let elsewhere = TempDir("elsewhere")
        #expect(symlink(elsewhere.path, dir.path + "/.vmprov") == 0)
        #expect(throws: ControlError.unsafe(path: dir.path + "/.vmprov", reason: "it is a symlink or not a folder; remove it")) {
            try ControlChannel.send(try request(), vmDir: dir.path, timeout: .seconds(1))
        }
        let open = TempDir("control")
        #expect(mkdir(open.path + "/.vmprov", 0o755) == 0)
        #expect(chmod(open.path + "/.vmprov", 0o755) == 0)
        #expect(throws: ControlError.unsafe(path: open.path + "/.vmprov", reason: "its mode is 755, not 700 (the runner sets it back when it starts)")) {
            try ControlChannel.send(try request(), vmDir: open.path, timeout: .seconds(1))
        }
        let file = TempDir("control")
        #expect(mkdir(file.path + "/.vmprov", 0o700) == 0)
        _ = file.write(".vmprov/control.sock", "not a socket")
        #expect(throws: ControlError.unsafe(path: file.path + "/.vmprov/control.sock", reason: "it is not a socket (the runner replaces it when it starts)")) {
            try ControlChannel.send(try request(), vmDir: file.path, timeout: .seconds(1))
        }
    }

    @Test func theRunnerCreatesAPrivateFolderAndResetsItsMode() throws {
        let dir = TempDir("control")
        let folder = try ControlChannel.openFolder(vmDir: dir.path, uid: getuid(), create: true)
        var st = stat()
        #expect(fstat(folder.raw, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)
        #expect(chmod(dir.path + "/.vmprov", 0o777) == 0)
        _ = try ControlChannel.openFolder(vmDir: dir.path, uid: getuid(), create: true)
        #expect(stat(dir.path + "/.vmprov", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)
        #expect(throws: ControlError.self) {
            try ControlChannel.openFolder(vmDir: dir.path, uid: getuid() + 1, create: true)
        }
    }
}
