import Foundation
import Provision
import TestSupport
import Testing
import VBoxXML
import Yams

/// A machine with RDP on `rdp` and NAT rules `rules` ("name,proto,hostport,guestport") on adapter 1.
func composeMachine(_ name: String, rdp: String? = "3389", rules: [String] = [], adapterEnabled: Bool = true) -> String {
    let forwards = rules.map { r -> String in
        let f = r.split(separator: ",").map(String.init)
        return "\n            <Forwarding name=\"\(f[0])\" proto=\"\(f[1] == "udp" ? 0 : 1)\" hostip=\"\" hostport=\"\(f[2])\" guestip=\"\" guestport=\"\(f[3])\"/>"
    }.joined()
    let rd = rdp.map { """

          <RemoteDisplay enabled="true">
            <VRDEProperties>
              <Property name="TCP/Ports" value="\($0)"/>
            </VRDEProperties>
          </RemoteDisplay>
    """ } ?? ""
    return """
    <?xml version="1.0"?>
    <!-- kept by every edit -->
    <VirtualBox xmlns="http://www.virtualbox.org/" version="1.19-linux">
      <Machine uuid="{3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f}" name="\(name)" OSType="Ubuntu_64">
        <Hardware>
          <Memory RAMSize="2048"/>\(rd)
          <Network>
            <Adapter slot="0" enabled="\(adapterEnabled)" MACAddress="080027C0FFEE" type="82540EM">
              <NAT>\(forwards)
              </NAT>
            </Adapter>
          </Network>
        </Hardware>
      </Machine>
    </VirtualBox>

    """
}

@Suite("Compose model")
struct ComposeModelTests {
    @Test func composeEntriesOnePerPortItem() {
        #expect(ComposePorts.vrde("5000-5050,5100").map(\.composeEntry) == ["127.0.0.1:5000-5050:5000-5050", "127.0.0.1:5100:5100"])
        #expect(ComposePorts.vrde("0").map(\.composeEntry) == ["127.0.0.1:3389:3389"])
        #expect(ComposePorts.vrde("50a").isEmpty)
        let udp = ComposePorts.forward(PortForward(name: "dns", proto: .udp, hostIP: "", hostPort: 5353, guestIP: "", guestPort: 53))
        #expect(ComposePorts.lines(ComposePorts.vrde("3389") + [udp, udp], indent: "  ")
            == ["  - \"127.0.0.1:3389:3389\"", "  - \"127.0.0.1:5353:5353/udp\""])
    }

    @Test func guestPortsComeFromWhatTheMachineBinds() throws {
        let s = try VBoxSettings(bytes: Array(composeMachine("Web Server", rdp: "5000-5002,5100", rules: ["ssh,tcp,2222,22", "dns,udp,5353,53"]).utf8),
                                 path: "/vms/web/web.vbox")
        let g = ComposeGuest(s)
        #expect(g.serviceName == "web-server" && g.folder == "/vms/web")
        #expect(g.published.map(\.composeEntry) == ["127.0.0.1:5000-5002:5000-5002", "127.0.0.1:5100:5100",
                                                    "127.0.0.1:2222:2222", "127.0.0.1:5353:5353/udp"])
        #expect(g.rdpPort == 5000)
        #expect(g.forward(hostPort: 5353, proto: .udp, adapter: 1)?.composeEntry == "127.0.0.1:5353:5353/udp")
        // A disabled adapter binds nothing, so it publishes nothing.
        let off = ComposeGuest(try VBoxSettings(bytes: Array(composeMachine("x", rdp: nil, rules: ["ssh,tcp,2222,22"], adapterEnabled: false).utf8), path: "/v/x.vbox"))
        #expect(off.published.isEmpty && off.rdpPort == nil)
        #expect(ComposeGuest.serviceName("--Ünïcode__VM--") == "n-code-vm" && ComposeGuest.serviceName("***") == "guest")
        #expect(ComposeGuest.serviceName(String(repeating: "a", count: 70)).count == 63)
    }

    /// The grace period covers the runner's whole escalation: ACPI call, STOP_TIMEOUT, savestate, poweroff.
    @Test func gracePeriodArithmetic() throws {
        #expect(StopBudget().graceSeconds == 30 + 120 + 30 + 30 + 10)
        for stop in [0, 1, 90, 150, 3600, 86_400] {
            let b = StopBudget(stopTimeout: stop)
            #expect(b.worstCaseSeconds == stop + 3 * b.callTimeout)
            #expect(b.graceSeconds > b.worstCaseSeconds && b.graceSeconds > stop)
        }
        // And it is what the generated objects carry.
        let s = try VBoxSettings(bytes: Array(composeMachine("a").utf8), path: "/vms/a/a.vbox")
        let text = try KubeFiles.text([ComposeGuest(s)], KubeFiles.Settings(budget: StopBudget(stopTimeout: 150)))
        let docs = Array(try Yams.load_all(yaml: text)).compactMap { $0 as? [String: Any] }
        let set = try #require(docs.first { $0["kind"] as? String == "StatefulSet" })
        let pod = try #require(((set["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(pod["terminationGracePeriodSeconds"] as? Int == 30 + 150 + 30 + 30 + 10)
        let env = try ComposeFiles.env(existing: "STOP_TIMEOUT=150\nGRACE_PERIOD=10s\nMINE=1\n", stopTimeout: nil, console: nil, path: ".env")
        #expect(env.text.contains("\nGRACE_PERIOD=250s\n") && env.text.contains("\nSTOP_TIMEOUT=150\n") && env.text.hasSuffix("MINE=1\n"))
        #expect(throws: ComposeError.self) {
            try ComposeFiles.env(existing: "STOP_TIMEOUT=1e3\n", stopTimeout: nil, console: nil, path: ".env")
        }
    }

    /// The single-guest project in docker/ must give a save time to finish, as the generated ones do (it gave
    /// 180 s for STOP_TIMEOUT 150, shorter than the 250 s the escalation can take).
    @Test func shippedComposeGraceCoversTheStopBudget() throws {
        let docker = TestPaths.packageRoot.appendingPathComponent("docker")
        let env = try String(contentsOf: docker.appendingPathComponent(".env"), encoding: .utf8)
        func value(_ key: String) -> String? {
            env.split(separator: "\n").first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
        }
        let stop = try #require(value("STOP_TIMEOUT").flatMap { Int($0) })
        let grace = try #require(value("GRACE_PERIOD").flatMap { Int($0.dropLast()) })
        #expect(grace >= StopBudget(stopTimeout: stop).graceSeconds, "GRACE_PERIOD=\(grace)s for STOP_TIMEOUT=\(stop)")
        let compose = try String(contentsOf: docker.appendingPathComponent("compose.yml"), encoding: .utf8)
        #expect(compose.contains("${STOP_TIMEOUT:-\(stop)}") && compose.contains("${GRACE_PERIOD:-\(grace)s}"))
    }

    @Test func clashesAcrossGuestsAndTheirMoves() throws {
        let a = try VBoxSettings(bytes: Array(composeMachine("a", rdp: "3389", rules: ["ssh,tcp,2222,22"]).utf8), path: "/v/a/a.vbox")
        let b = try VBoxSettings(bytes: Array(composeMachine("b", rdp: "3380-3390", rules: ["ssh,tcp,2222,22", "dns,udp,2222,53"]).utf8), path: "/v/b/b.vbox")
        let clashes = NATRules.clashes([NetworkModel(a), NetworkModel(b)])
        // The RDP range overlaps 3389 and the TCP rule 2222; the UDP rule on 2222 does not clash with TCP.
        #expect(clashes.map(\.moved.label) == ["RDP port 3380-3390", "NAT rule \"ssh\" (adapter 1, tcp 2222)"])
        let project = ComposeProject(folder: "/v", settings: [a, b], guests: [ComposeGuest(a), ComposeGuest(b)], notes: [])
        #expect(project.moves.map(\.to) == [3391...3401, 2223...2223])
        #expect(project.clashReport[1].contains("fix: vmprov remove-forward /v/b/b.vbox --adapter 1 --name ssh && "
            + "vmprov add-forward /v/b/b.vbox --adapter 1 --rule ssh,tcp,,2223,,22"))
        let moved = try ComposeProject.applying(project.moves, to: b)
        let text = String(decoding: moved.settings.bytes, as: UTF8.self)
        let expected = composeMachine("b", rdp: "3391-3401", rules: ["ssh,tcp,2223,22", "dns,udp,2222,53"])
        #expect(text == expected)
        #expect(NATRules.clashes([NetworkModel(a), NetworkModel(moved.settings)]).isEmpty)
    }

    @Test func userMappingIsWrittenByLibXML2() throws {
        let s = try VBoxSettings(bytes: Array(composeMachine("a &quot;&lt;&amp;&gt;&quot;").utf8), path: "/v/a/a.vbox")
        let bytes = try ConsoleMapping.document([ComposeGuest(s)], ConsoleSettings(user: "o'neil&co", passwordSHA256: "ab"))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<user-mapping>\n"))
        #expect(text.contains("<authorize username=\"o'neil&amp;co\" password=\"ab\" encoding=\"sha256\">"))
        #expect(text.contains("<connection name=\"a &quot;&lt;&amp;&gt;&quot;\">"))
        #expect(text.contains("<param name=\"hostname\">a<"))
    }

    @Test func probeJudgesTheAnswer() {
        // MS-RDPBCGR 4.1.2: a Connection Confirm with an RDP Negotiation Response selecting TLS.
        #expect(RDPProbe.judge([0x03, 0x00, 0x00, 0x13, 0x0E, 0xD0, 0x00, 0x00, 0x12, 0x34, 0x00,
                                0x02, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00]) == .rdp("selected protocol TLS"))
        #expect(RDPProbe.judge([0x03, 0x00, 0x00, 0x13, 0x0E, 0xD0, 0x00, 0x00, 0x12, 0x34, 0x00,
                                0x03, 0x00, 0x08, 0x00, 0x05, 0x00, 0x00, 0x00]) == .rdp("negotiation failure code 5"))
        #expect(RDPProbe.judge([0x03, 0x00, 0x00, 0x0B, 0x06, 0xD0, 0x00, 0x00, 0x12, 0x34, 0x00])
            == .rdp("no negotiation: standard RDP security"))
        #expect(RDPProbe.judge([0x03, 0x00, 0x00]) == nil)
        #expect(RDPProbe.judge([0x03, 0x00, 0x00, 0x13, 0x0E, 0xD0]) == nil)
        #expect(RDPProbe.judge(Array("HTTP/1.1 400".utf8)) == .notRDP("it sent \"HTTP/1.1 400\""))
        #expect(RDPProbe.judge([0x03, 0x00, 0x00, 0x0B, 0x06, 0xE0, 0, 0, 0, 0, 0]).map(\.isRDP) == false)
    }

    @Test(.enabled(if: which("xrdp") != nil, "needs xrdp (scripts/install-deps)"))
    func probeAgainstRealServers() throws {
        let xrdp = try XRDPServer()
        let answer = RDPProbe.probe(host: "127.0.0.1", port: xrdp.port)
        #expect(answer.isRDP, "\(answer)")
        let nginx = try NginxServer()
        let web = RDPProbe.probe(host: "127.0.0.1", port: nginx.port)
        guard case .notRDP(let what) = web else { Issue.record("nginx: \(web)"); return }
        #expect(what.contains("HTTP/1.1 400"), "\(what)")
        let closed = RDPProbe.probe(host: "127.0.0.1", port: freePort())
        guard case .unreachable(let why) = closed else { Issue.record("closed: \(closed)"); return }
        #expect(why.contains("refused"), "\(why)")
    }
}
