import Basics
import Foundation
import Testing
import TestSupport
import Provision

@Suite("Subprocess: one pipe drain, nothing leaked")
struct SubprocessTests {
    func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    /// A program that exists and is executable but cannot be started (its interpreter is missing): posix_spawn
    /// fails after the pipes were made. The old code leaked all six pipe ends on every such failure.
    @Test func aFailedSpawnLeavesNoDescriptorOpen() throws {
        let dir = TempDir()
        let path = dir.write("broken", "#!/nonexistent/interpreter\n").path
        chmod(path, 0o755)
        let before = openDescriptors()
        for _ in 0..<200 {
            #expect(throws: SpawnError.self) { try ProcessRunner.run([path]) }
        }
        // Other suites run alongside and open a few descriptors of their own; a leak would be 1200.
        #expect(openDescriptors() - before < 200)
    }

    @Test func outputAndTimeoutStillWork() throws {
        let out = try ProcessRunner.run(["/bin/sh", "-c", "printf out; printf err >&2; exit 3"])
        #expect(out.stdoutText == "out" && String(decoding: out.stderr, as: UTF8.self) == "err" && out.status == 3)
        let slow = try ProcessRunner.run(["/bin/sh", "-c", "sleep 30"], timeout: 0.2)
        #expect(slow.timedOut)
    }
}
