import Foundation
import Provision
import TestSupport
import Testing
import VBoxXML

/// Where the RDP server comes from, by VirtualBox version (7.2.6 moved it into the base package).
struct RDPModuleTests {
    static let golden = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/golden/linux-sata.vbox").path

    /// The golden machine (RDP on), with `RemoteDisplay` given `extra` attributes, or turned off.
    func settings(extra: String = "", enabled: Bool = true) throws -> VBoxSettings {
        var text = try String(contentsOfFile: Self.golden, encoding: .utf8)
        text = text.replacingOccurrences(of: "<RemoteDisplay enabled=\"true\">",
                                         with: "<RemoteDisplay enabled=\"\(enabled)\"\(extra)>")
        return try VBoxSettings(bytes: Array(text.utf8), path: "/x/m.vbox")
    }

    @Test(arguments: [
        // (VRDEExtPack, version, expected severity, note mentions)
        ("", "7.2.4", nil, "only from the Oracle Extension Pack"),
        ("", "7.2.6", nil, "base package"),
        ("", nil, nil, "version is unknown"),
        ("Oracle VirtualBox Extension Pack", "7.2.6", Finding.Severity.error, "base package"),
        ("Oracle VirtualBox Extension Pack", "7.2.8", .error, "base package"),
        ("Oracle VirtualBox Extension Pack", "7.2.4", nil, "only from the Oracle Extension Pack"),
        ("Oracle VM VirtualBox Extension Pack", "7.1.4", nil, "only from the Oracle Extension Pack"),
        ("Oracle VirtualBox Extension Pack", nil, .warning, "version is unknown"),
        ("Some Other Pack", "7.2.6", nil, "base package"),
    ] as [(String, String?, Finding.Severity?, String)])
    func byVersion(pack: String, version: String?, severity: Finding.Severity?, note: String) throws {
        let s = try settings(extra: pack.isEmpty ? "" : " VRDEExtPack=\"\(pack)\"")
        let v = try version.map { try #require(VBoxVersion.parse($0)) }
        let r = RDPModule.assess(s, virtualBox: v)
        #expect(r.findings.map(\.severity) == (severity.map { [$0] } ?? []), "\(r.findings)")
        #expect(r.findings.allSatisfy { $0.location.hasSuffix("RemoteDisplay (line 37)") })
        #expect(r.note?.contains(note) == true, "\(r.note ?? "nil")")
    }

    @Test func nothingWhenRDPIsOff() throws {
        let s = try settings(extra: " VRDEExtPack=\"Oracle VirtualBox Extension Pack\"", enabled: false)
        let r = RDPModule.assess(s, virtualBox: VBoxVersion.parse("7.2.6"))
        #expect(r.findings.isEmpty && r.note == nil)
    }
}
