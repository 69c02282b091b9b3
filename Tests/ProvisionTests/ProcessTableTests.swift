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

    /// A zombie VBoxSVC (exited, not reaped by a parent that is not ours) is not a running VBoxSVC.
    @Test func zombiesAreNotRunning() throws {
        let proc = TempDir("proc")
        for (pid, state) in [(101, "S (sleeping)"), (102, "Z (zombie)"), (103, "X (dead)"), (104, "R (running)")] {
            proc.write("\(pid)/comm", "VBoxSVC\n")
            proc.write("\(pid)/status", "Name:\tVBoxSVC\nState:\t\(state)\nTgid:\t\(pid)\nUid:\t0\t0\t0\t0\n")
        }
        let found = ProcessTable.find(names: ["VBoxSVC"], uid: 0, procRoot: proc.path).map(\.pid)
        #expect(found == [101, 104])
        // A real zombie: a child that exited and is not reaped yet.
        let child = fork()
        if child == 0 { _exit(0) }
        defer { var st: Int32 = 0; waitpid(child, &st, 0) }
        var comm = ""
        for _ in 0..<100 {
            comm = (try? String(contentsOfFile: "/proc/\(child)/status", encoding: .utf8)) ?? ""
            if comm.contains("State:\tZ") { break }
            usleep(20_000)
        }
        let name = (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        #expect(!ProcessTable.find(names: [name], uid: getuid()).contains { $0.pid == child })
    }
}
