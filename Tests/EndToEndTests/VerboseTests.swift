import Foundation
import Testing
import TestSupport

/// `--verbose` on the built binary: each setting taken from the environment on one line, nothing without the flag.
@Suite("Verbose settings report")
struct VerboseTests {
    @Test func everyOverrideIsEchoedOnce() throws {
        let dir = TempDir()
        dir.write("demo.vbox", sample)
        let env = ["VMDIR": dir.path, "VMPROV_PROFILES": "/nowhere", "VMPROV_TEST_TIME": "1"]
        let r = try vmprov(["show", "--verbose"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines == [
            "vmprov: VMDIR=\(dir.path) (from environment)",
            "vmprov: VMPROV_PROFILES=/nowhere (from environment)",
            "vmprov: VMPROV_TEST_TIME=1 (from environment, test only)",
        ])
        let quiet = try vmprov(["show"], environment: env)
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
        #expect(quiet.stdout == r.stdout)
    }

    /// A setting is checked by the command that uses it: a bad run setting does not stop `show`.
    @Test func aBadRunSettingDoesNotStopOtherCommands() throws {
        let dir = TempDir()
        dir.write("demo.vbox", sample)
        let r = try vmprov(["show"], environment: ["VMDIR": dir.path, "STOP_TIMEOUT": "soon", "STOP_ACTION": "halt"])
        #expect(r.status == 0, "\(r.stderr)")
    }
}
