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

    /// An exited but unreaped VBoxSVC (state Z) is not running: it used to block every edit with exit 75.
    @Test func zombiesAreNotRunning() throws {
        let proc = TempDir()
        for (pid, state) in [("100", "S (sleeping)"), ("101", "Z (zombie)"), ("102", "X (dead)"), ("103", "R (running)")] {
            proc.write("\(pid)/comm", "VBoxSVC\n")
            proc.write("\(pid)/status", "Name:\tVBoxSVC\nState:\t\(state)\nTgid:\t\(pid)\nUid:\t\(getuid())\t\(getuid())\t\(getuid())\t\(getuid())\n")
        }
        let found = ProcessTable.find(names: ["VBoxSVC"], uid: getuid(), procRoot: proc.path).map(\.pid)
        #expect(found == [100, 103])
    }
}
