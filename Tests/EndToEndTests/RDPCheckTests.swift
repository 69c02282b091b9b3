import Foundation
import Testing
import TestSupport

/// `check` says where the RDP server comes from on the installed VirtualBox (the fake's `VBoxManage --version`).
struct RDPCheckTests {
    func machine(pack: String?) throws -> TempDir {
        let dir = TempDir()
        let golden = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/golden/linux-sata.vbox").path
        var text = try String(contentsOfFile: golden, encoding: .utf8)
        if let pack {
            text = text.replacingOccurrences(of: "<RemoteDisplay enabled=\"true\">",
                                             with: "<RemoteDisplay enabled=\"true\" VRDEExtPack=\"\(pack)\">")
        }
        dir.write("m.vbox", text)
        return dir
    }

    @Test func theOraclePackNamedOn726IsAnError() throws {
        let dir = try machine(pack: "Oracle VirtualBox Extension Pack")
        let new = FakeVirtualBox(version: "7.2.6")
        let r = try vmprov(["check", dir.file("m.vbox").path], environment: new.environment)
        #expect(r.status == 65, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("error: VirtualBox/Machine/Hardware/RemoteDisplay (line 37): VRDEExtPack="), "\(r.stdout)")
        #expect(r.stdout.contains("no VRDE module"), "\(r.stdout)")
        // The same file on 7.2.4, where the pack still carries the server: fine, and the pack is said to be needed.
        let old = FakeVirtualBox(version: "7.2.4")
        let o = try vmprov(["check", dir.file("m.vbox").path], environment: old.environment)
        #expect(o.status == 0, "\(o.stdout)\(o.stderr)")
        #expect(o.stdout.contains("RDP: VirtualBox 7.2.4 serves RDP only from the Oracle Extension Pack"), "\(o.stdout)")
    }

    @Test func withoutVirtualBoxTheRuleIsStatedByVersion() throws {
        let dir = try machine(pack: nil)
        let r = try vmprov(["check", dir.file("m.vbox").path], environment: ["PATH": "/nonexistent"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("RDP: VirtualBox before 7.2.6 serves RDP only from the Oracle Extension Pack"), "\(r.stdout)")
    }
}
