import Foundation
import Provision
import Testing
import TestSupport

@Suite("Process table")
struct ProcessTableTests {
    @Test func findsAProcessByCommandNameAndUser() throws {
        let dir = TempDir()
        let fake = dir.file("VBoxXPCOMIPCD").path
        try FileManager.default.copyItem(atPath: try #require(which("sleep")), toPath: fake)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: fake)
        p.arguments = ["20"]
        try p.run()
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        let found = ProcessTable.find(names: ["VBoxXPCOMIPCD"], uid: getuid())
        #expect(found.contains { $0.pid == p.processIdentifier })
        let otherUser = ProcessTable.find(names: ["VBoxXPCOMIPCD"], uid: getuid() &+ 4242)
        #expect(!otherUser.contains { $0.pid == p.processIdentifier })
    }
}
