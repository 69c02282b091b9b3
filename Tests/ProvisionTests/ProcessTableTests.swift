import Foundation
import Provision
import Testing
import TestSupport

@Suite("Process table")
struct ProcessTableTests {
    @Test func findsAProcessByCommandNameAndUser() throws {
        let p = try NamedSleeper(name: "vmprov-probe", seconds: 20)
        let found = ProcessTable.find(names: ["vmprov-probe"], uid: getuid())
        #expect(found.contains { $0.pid == p.pid })
        let otherUser = ProcessTable.find(names: ["vmprov-probe"], uid: getuid() &+ 4242)
        #expect(!otherUser.contains { $0.pid == p.pid })
    }
}
