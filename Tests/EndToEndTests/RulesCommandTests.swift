import Foundation
import Testing
import TestSupport

private let twoNAT = """
<?xml version="1.0"?>
<VirtualBox xmlns="http://www.virtualbox.org/" version="1.19-linux">
  <Machine uuid="{3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f}" name="demo" OSType="Ubuntu_64">
    <Hardware>
      <Memory RAMSize="2048"/>
      <RemoteDisplay enabled="true" port="5000-5050,5100"/>
      <Network>
        <Adapter slot="0" enabled="true" MACAddress="080027C0FFEE" type="82540EM">
          <NAT localhost-reachable="false">
            <Forwarding name="ssh" proto="1" hostip="127.0.0.1" hostport="2222" guestip="" guestport="22"/>
          </NAT>
        </Adapter>
        <Adapter slot="1" enabled="true" MACAddress="080027C0FFEF" type="82540EM">
          <NAT localhost-reachable="false"/>
        </Adapter>
      </Network>
    </Hardware>
  </Machine>
</VirtualBox>

"""

/// `docker compose config` on a compose file whose `ports:` are the lines vmprov printed; returns the published
/// ports compose resolved, or records why it refused them.
private func composeConfig(_ printed: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
    let entries = printed.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("- \"127.0.0.1:") }
    #expect(!entries.isEmpty, "no compose entries in: \(printed)", sourceLocation: sourceLocation)
    let dir = TempDir()
    let file = dir.write("compose.yml", "services:\n  vm:\n    image: busybox\n    ports:\n"
        + entries.map { "      " + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "\n") + "\n")
    let compose: (String, [String])
    if let standalone = which("docker-compose") {
        compose = (standalone, [])
    } else {
        let docker = try #require(which("docker"), "neither docker-compose nor docker is installed (scripts/install-deps)")
        compose = (docker, ["compose"])
    }
    let r = try run(compose.0, compose.1 + ["-f", file.path, "config", "--format", "json"], currentDirectory: dir.path)
    #expect(r.status == 0, "docker compose config refused \(entries): \(r.stderr)", sourceLocation: sourceLocation)
    guard r.status == 0,
          let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
          let services = json["services"] as? [String: Any], let vm = services["vm"] as? [String: Any],
          let ports = vm["ports"] as? [[String: Any]] else { return [] }
    return ports.map { "\($0["host_ip"] ?? ""):\($0["published"] ?? ""):\($0["target"] ?? "")/\($0["protocol"] ?? "")" }
}

// Edits pass --force: the VBoxSVC guard is tested elsewhere, and another run's fake VBoxSVC must not decide these.
extension ProcessSensitive {
@Suite("Rule checker and RDP, end to end", .serialized)
struct RulesCommandTests {
    @Test func addForwardRefusesWhatCheckReports() throws {
        // A host name and an IPv6 address are bound on every IPv4 address by the NAT engine.
        for ip in ["localhost", "::1"] {
            try expectRefusedUntouched(["add-forward", "--force", "--name", "web", "--host-port", "8080",
                                        "--guest-port", "80", "--host-ip", ip], file: twoNAT, code: 65, message: "such as 127.0.0.1")
        }
        // 0.0.0.0 on adapter 2 overlaps adapter 1's 127.0.0.1:2222.
        try expectRefusedUntouched(["add-forward", "--force", "--rule", "web,tcp,0.0.0.0,2222,,22", "--adapter", "2"],
                                   file: twoNAT, code: 65, message: "on adapter 1")
        // The first RDP port (legacy attribute) is taken by the RDP server first.
        try expectRefusedUntouched(["add-forward", "--force", "--rule", "web,tcp,,5000,,80"], file: twoNAT, code: 65,
                                   message: "the RDP server's port (5000-5050,5100)")
        // check says the same about the same rules written into the file.
        let dir = TempDir()
        let bad = twoNAT.replacingOccurrences(of: "<NAT localhost-reachable=\"false\"/>", with: """
            <NAT localhost-reachable="false">
                <Forwarding name="web" proto="1" hostip="localhost" hostport="8080" guestip="" guestport="80"/>
                <Forwarding name="any" proto="1" hostip="0.0.0.0" hostport="2222" guestip="" guestport="22"/>
                <Forwarding name="rdp" proto="1" hostip="" hostport="5000" guestip="" guestport="80"/>
              </NAT>
            """)
        let url = dir.write("bad.vbox", bad)
        let check = try vmprov(["check", url.path])
        #expect(check.status == 65)
        #expect(check.stdout.contains("hostip \"localhost\" is not an IPv4 address"), "\(check.stdout)")
        #expect(check.stdout.contains("overlaps rule \"ssh\""))
        #expect(check.stdout.contains("the RDP server's port (5000-5050,5100)"))
        #expect(check.stdout.contains("3 error(s)"), "\(check.stdout)")
        // Accepted when nothing clashes, and check stays clean.
        let ok = dir.write("ok.vbox", twoNAT)
        let add = try vmprov(["add-forward", ok.path, "--force", "--rule", "web,tcp,127.0.0.2,2222,,80", "--adapter", "2"])
        #expect(add.status == 0, "\(add.stderr)")
        #expect(try vmprov(["check", ok.path]).status == 0)
    }

    /// add-forward refused a rule name with a control character while check passed the same rule in the file:
    /// the two now give one verdict, from the one checker (an error in both).
    @Test func aControlCharacterInARuleNameIsOneVerdict() throws {
        for name in ["a\tb", "a\nb", "a\u{1}b", "a\u{7F}b"] {
            try expectRefusedUntouched(["add-forward", "--force", "--name", name, "--host-port", "8080", "--guest-port", "80"],
                                       file: twoNAT, code: 65, message: "contains a control character")
        }
        // An address with a character XML cannot hold is refused in plain words, not as an internal error.
        try expectRefusedUntouched(["add-forward", "--force", "--rule", "web,tcp,127.0.0.1\u{1},8080,,80"], file: twoNAT,
                                   code: 65, message: "contains a control character a settings file cannot hold")
        let dir = TempDir()
        let url = dir.write("bad.vbox", twoNAT.replacingOccurrences(of: "<NAT localhost-reachable=\"false\"/>", with: """
            <NAT localhost-reachable="false">
                <Forwarding name="a&#9;b" proto="1" hostip="" hostport="8080" guestip="" guestport="80"/>
              </NAT>
            """))
        let check = try vmprov(["check", url.path])
        #expect(check.status == 65, "\(check.output)")
        #expect(check.stdout.contains("the rule name \"a\\u{9}b\" contains a control character"), "\(check.stdout)")
        #expect(!check.stdout.contains("\t"), "the tab is shown escaped")
    }

    /// VirtualBox reads an attribute by its local name in any namespace, the first one written: with
    /// `x:enabled="false"` on RemoteDisplay, adding a plain `enabled="true"` after it changed nothing VirtualBox
    /// sees, yet enable-rdp said "RDP enabled". The edit now changes the attribute VirtualBox reads.
    @Test func enableRDPEditsThePrefixedAttributeVirtualBoxReads() throws {
        let dir = TempDir()
        let text = twoNAT.replacingOccurrences(of: "<RemoteDisplay enabled=\"true\" port=\"5000-5050,5100\"/>",
                                               with: "<RemoteDisplay xmlns:x=\"urn:x\" x:enabled=\"false\" port=\"5000-5050,5100\"/>")
        let url = dir.write("m.vbox", text)
        #expect(try vmprov(["show", url.path]).stdout.contains("RDP:       off"))
        let r = try vmprov(["enable-rdp", url.path, "--force", "--address", "127.0.0.1"])
        #expect(r.status == 0, "\(r.output)")
        let saved = String(decoding: bytes(url), as: UTF8.self)
        let line = saved.split(separator: "\n").first { $0.contains("<RemoteDisplay") } ?? ""
        #expect(line.contains("x:enabled=\"true\"") && !line.contains(" enabled="), "no second, ignored attribute: \(line)")
        #expect(try vmprov(["show", url.path]).stdout.contains("RDP:       on"))
        let off = try vmprov(["disable-rdp", url.path, "--force"])
        #expect(off.status == 0, "\(off.output)")
        #expect(String(decoding: bytes(url), as: UTF8.self).contains("x:enabled=\"false\""))
        #expect(try vmprov(["show", url.path]).stdout.contains("RDP:       off"))
    }

    @Test func checkFollowsWhatVirtualBox7Reads() throws {
        let dir = TempDir()
        // 1.10 (VirtualBox 3.2): read and converted by 7.x, so check reports a warning and exits 0; edits refuse it.
        let old = dir.write("old.vbox", twoNAT.replacingOccurrences(of: "1.19-linux", with: "1.10-windows"))
        let r = try vmprov(["check", old.path])
        #expect(r.status == 0 && r.stdout.contains("still reads and converts it"), "\(r.output)")
        try expectRefusedUntouched(["disable-rdp", "--force"], file: twoNAT.replacingOccurrences(of: "1.19-linux", with: "1.10-windows"),
                                   code: 65, message: "vmprov does not edit them")
        // 1.2: no VirtualBox 7.x reads it.
        let ancient = dir.write("ancient.vbox", twoNAT.replacingOccurrences(of: "1.19-linux", with: "1.2-windows"))
        let a = try vmprov(["check", ancient.path])
        #expect(a.status == 65 && a.stderr.contains("older than 1.3"), "\(a.output)")
        // 1.20 without Machine/Platform: an error.
        let noPlatform = dir.write("p.vbox", twoNAT.replacingOccurrences(of: "1.19-linux", with: "1.20-linux"))
        let p = try vmprov(["check", noPlatform.path])
        #expect(p.status == 65 && p.stdout.contains("needs Machine/Platform"), "\(p.output)")
    }

    @Test func legacyRDPPortIsTheEffectivePortEverywhere() throws {
        let dir = TempDir()
        let url = dir.write("m.vbox", twoNAT)
        let show = try vmprov(["show", url.path])
        #expect(show.stdout.contains("RDP:       on, port 5000-5050,5100"), "\(show.stdout)")
        let forwards = try vmprov(["forwards", url.path])
        #expect(forwards.stdout.contains("RDP (VRDE) listens on tcp port 5000-5050,5100"), "\(forwards.stdout)")
        // enable-rdp without --port keeps it, as a property, and prints one compose entry per item.
        let r = try vmprov(["enable-rdp", url.path, "--force", "--address", "127.0.0.1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("port 5000-5050,5100"), "\(r.stdout)")
        #expect(String(decoding: bytes(url), as: UTF8.self).contains("<Property name=\"TCP/Ports\" value=\"5000-5050,5100\"/>"))
        let published = try composeConfig(r.stdout)
        #expect(published.count == 52, "\(published)")
        #expect(published.contains("127.0.0.1:5000:5000/tcp") && published.contains("127.0.0.1:5050:5050/tcp")
                && published.contains("127.0.0.1:5100:5100/tcp"))
        // add-forward's hint for a UDP rule is valid too.
        let udp = try vmprov(["add-forward", url.path, "--force", "--rule", "dns,udp,,5353,,53"])
        #expect(udp.status == 0, "\(udp.stderr)")
        #expect(try composeConfig(udp.stdout) == ["127.0.0.1:5353:5353/udp"])
    }

    @Test func createPrintsOneComposeEntryPerRDPPortItem() throws {
        let out = TempDir()
        let isoDir = TempDir()
        let iso = isoDir.write("Win11_24H2_English_x64.iso", bytes: Data(repeating: 7, count: 4096))
        let r = try vmprov(["create", "--profile", "windows11", "--dir", out.path, "--iso", iso.path,
                            "--rdp-port", "5000-5050,5100", "--quiet"],
                           environment: ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"])
        #expect(r.status == 0, "\(r.output)")
        let published = try composeConfig(r.stdout)
        #expect(published.count == 52 && published.contains("127.0.0.1:5100:5100/tcp"), "\(published)")
        #expect(try vmprov(["check", out.file("windows11/windows11.vbox").path]).status == 0)
    }
}
}
