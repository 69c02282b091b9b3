import Foundation
import Testing
import TestSupport
import VBoxXML

/// A machine with two enabled NAT adapters, a bridged one that remembers NAT, and an RDP server.
private func machine(adapter0: String = "", adapter1: String = "", adapter1Enabled: Bool = true,
                     rdp: String = "<RemoteDisplay enabled=\"true\"><VRDEProperties><Property name=\"TCP/Ports\" value=\"3389\"/></VRDEProperties></RemoteDisplay>",
                     extraAdapters: String = "", version: String = "1.19-linux") -> String {
    """
    <?xml version="1.0"?>
    <VirtualBox xmlns="http://www.virtualbox.org/" version="\(version)">
      <Machine uuid="{3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f}" name="demo" OSType="Ubuntu_64">
        <Hardware>
          <Memory RAMSize="2048"/>
          <Display controller="VMSVGA" VRAMSize="16"/>
          \(rdp)
          <Network>
            <Adapter slot="0" enabled="true" MACAddress="080027C0FFEE" type="82540EM">
              <NAT localhost-reachable="false">\(adapter0)</NAT>
            </Adapter>
            <Adapter slot="1" enabled="\(adapter1Enabled)" MACAddress="080027C0FFEF" type="82540EM">
              <NAT localhost-reachable="false">\(adapter1)</NAT>
            </Adapter>
            <Adapter slot="2" enabled="true" MACAddress="080027C0FFF0" type="82540EM">
              <DisabledModes>
                <NAT>\(rule("hidden", 2222))\(rule("hidden3389", 3389))</NAT>
              </DisabledModes>
              <BridgedInterface name="eth0"/>
            </Adapter>\(extraAdapters)
          </Network>
        </Hardware>
      </Machine>
    </VirtualBox>

    """
}

private func rule(_ name: String, _ port: Int, ip: String = "", proto: Int = 1, guestIP: String = "") -> String {
    "<Forwarding name=\"\(name)\" proto=\"\(proto)\" hostip=\"\(ip)\" hostport=\"\(port)\" guestip=\"\(guestIP)\" guestport=\"22\"/>"
}

private func findings(_ text: String) throws -> [Finding] {
    ReaderRules.check(try VBoxSettings(bytes: Array(text.utf8), path: "/nonexistent/m.vbox"))
}

private func errors(_ text: String) throws -> [String] {
    try findings(text).filter { $0.severity == .error }.map(\.message)
}

@Suite("NAT rule checker (one verdict for check and add-forward)")
struct NATRulesTests {
    @Test func howTheNATEngineReadsHostAddresses() {
        #expect(NATBind.read("") == .exact(.any))
        #expect(NATBind.read("0.0.0.0") == .exact(.any))
        #expect(NATBind.read("127.0.0.1") == .exact(.address(0x7F00_0001)))
        #expect(NATBind.read("localhost") == .notIPv4)
        #expect(NATBind.read("::1") == .notIPv4)
        #expect(NATBind.read("fe80::1") == .notIPv4)
        #expect(NATBind.read("127.1") == .lenient(.address(0x7F00_0001)))
        #expect(NATBind.read(String(repeating: "1", count: 32)) == .tooLong)
        #expect(NATBind.effective("localhost") == .any)
        #expect(NATBind.any.overlaps(.address(1)) && NATBind.address(1).overlaps(.address(1)))
        #expect(!NATBind.address(1).overlaps(.address(2)))
    }

    @Test(arguments: [
        // Host names and IPv6 are bound on every IPv4 address: errors.
        (rule("a", 2222, ip: "localhost"), "", "not an IPv4 address"),
        (rule("a", 2222, ip: "::1"), "", "not an IPv4 address"),
        (rule("a", 2222, guestIP: "guest.local"), "", "guestip \"guest.local\" is not an IPv4"),
        // "", 0.0.0.0 and an address on one port overlap, on one adapter and across enabled NAT adapters.
        (rule("a", 2222) + rule("b", 2222, ip: "0.0.0.0"), "", "overlaps rule \"a\""),
        (rule("a", 2222, ip: "127.0.0.1") + rule("b", 2222), "", "overlaps rule \"a\""),
        (rule("a", 2222, ip: "127.0.0.1"), rule("b", 2222, ip: "0.0.0.0"), "on adapter 1"),
        (rule("a", 2222, ip: "127.0.0.1"), rule("b", 2222, ip: "127.1"), "on adapter 1"),
        (rule("a", 2222), rule("a", 2222, ip: "127.0.0.1"), "on adapter 1"),
        // A NAT rule on the RDP server's port.
        (rule("rdp", 3389), "", "the RDP server's port"),
        (rule("rdp", 3389, ip: "127.0.0.1"), "", "the RDP server's port"),
        // One name twice: the second rule is dropped.
        (rule("a", 2222) + rule("a", 2223), "", "a second rule named \"a\""),
    ] as [(String, String, String)])
    func errorsThatStopTheMachine(adapter0: String, adapter1: String, message: String) throws {
        let found = try errors(machine(adapter0: adapter0, adapter1: adapter1))
        #expect(found.contains { $0.contains(message) }, "\(found)")
    }

    @Test(arguments: [
        (rule("a", 2222, ip: "127.0.0.1") + rule("b", 2222, ip: "127.0.0.2"), ""),  // distinct addresses
        (rule("a", 2222) + rule("b", 2222, proto: 0), ""),                           // TCP and UDP
        (rule("a", 3389, proto: 0), ""),                                             // RDP is TCP only
        (rule("a", 2222), rule("b", 2223)),
    ] as [(String, String)])
    func noClash(adapter0: String, adapter1: String) throws {
        #expect(try errors(machine(adapter0: adapter0, adapter1: adapter1)).isEmpty)
    }

    @Test func onlyEnabledNATAdaptersBind() throws {
        // Adapter 2 is disabled: its rule does not bind, so no clash, but a warning says the rule sleeps.
        let text = machine(adapter0: rule("a", 2222), adapter1: rule("b", 2222), adapter1Enabled: false)
        let all = try findings(text)
        #expect(!all.contains { $0.severity == .error }, "\(all)")
        #expect(all.contains { $0.severity == .warning && $0.message.contains("adapter 2 is disabled") })
        // The bridged adapter's remembered NAT rules (hidden, on 2222 and 3389) never count.
        #expect(try errors(machine(adapter0: rule("a", 2222))).isEmpty)
        // Two clashing rules of one disabled adapter: a warning now, an error once enabled.
        let sleeping = try findings(machine(adapter1: rule("a", 2222) + rule("b", 2222), adapter1Enabled: false))
        #expect(sleeping.contains { $0.severity == .warning && $0.message.contains("once the adapter is enabled") })
        #expect(!sleeping.contains { $0.severity == .error })
    }

    @Test func rdpPortListsAndLegacyPorts() throws {
        func rdp(_ ports: String) -> String {
            "<RemoteDisplay enabled=\"true\"><VRDEProperties><Property name=\"TCP/Ports\" value=\"\(ports)\"/></VRDEProperties></RemoteDisplay>"
        }
        let list = "5000-5050,5100"
        // The first port is what the RDP server binds: an error. Others are bound only when earlier ones are busy.
        #expect(try errors(machine(adapter0: rule("a", 5000), rdp: rdp(list))).contains { $0.contains("RDP server's port") })
        for port in [5020, 5100] {
            let f = try findings(machine(adapter0: rule("a", port), rdp: rdp(list)))
            #expect(!f.contains { $0.severity == .error } && f.contains { $0.message.contains("RDP server's port list") })
        }
        #expect(try findings(machine(adapter0: rule("a", 5051), rdp: rdp(list))).isEmpty)
        // RDP off: no clash.
        #expect(try errors(machine(adapter0: rule("a", 3389), rdp: "<RemoteDisplay enabled=\"false\"/>")).isEmpty)
        // The legacy port attribute still counts (readHardware reads it at every version).
        let legacy = "<RemoteDisplay enabled=\"true\" port=\"5000\" netAddress=\"127.0.0.1\"/>"
        #expect(try errors(machine(adapter0: rule("a", 5000), rdp: legacy)).contains { $0.contains("RDP server's port") })
        #expect(try errors(machine(adapter0: rule("a", 5000, ip: "127.0.0.2"), rdp: legacy)).isEmpty)
        // A property overrides the legacy attribute.
        let both = "<RemoteDisplay enabled=\"true\" port=\"5000\"><VRDEProperties><Property name=\"TCP/Ports\" value=\"6000\"/></VRDEProperties></RemoteDisplay>"
        #expect(try errors(machine(adapter0: rule("a", 5000), rdp: both)).isEmpty)
        // Before 1.16 an absent RemoteDisplay means RDP on 3389.
        #expect(try errors(machine(adapter0: rule("a", 3389), rdp: "", version: "1.15-linux")).contains { $0.contains("RDP server's port") })
    }

    @Test func duplicateSlotsLoadTheLaterAdapter() throws {
        let later = """

                <Adapter slot="0" enabled="true" MACAddress="080027C0FFF1" type="82540EM">
                  <NAT>\(rule("kept", 2222))</NAT>
                </Adapter>
        """
        let text = machine(adapter0: rule("ignored", 2222), extraAdapters: later)
        let doc = try VBoxSettings(bytes: Array(text.utf8), path: "m.vbox")
        let all = ReaderRules.check(doc)
        // The earlier element is ignored, so its rule on 2222 cannot clash with the kept one.
        #expect(!all.contains { $0.severity == .error }, "\(all)")
        #expect(all.contains { $0.severity == .warning && $0.message.contains("slot 0 appears again") })
        #expect(doc.adapters.first { $0.number == 1 }?.forwards.map(\.name) == ["kept"])
        // Edits go to the adapter VirtualBox keeps.
        let edited = try doc.addingForward(PortForward(name: "web", proto: .tcp, hostIP: "", hostPort: 8080, guestIP: "", guestPort: 80), adapter: 1)
        #expect(edited.settings.adapters.first { $0.number == 1 }?.forwards.map(\.name) == ["kept", "web"])
        #expect(Fixture.text(edited.settings).contains("\(rule("ignored", 2222))</NAT>"))
        // The ignored adapter's port is free in VirtualBox's eyes, the kept one's is not.
        #expect(throws: VBoxXMLError.self) {
            try doc.addingForward(PortForward(name: "x", proto: .tcp, hostIP: "", hostPort: 2222, guestIP: "", guestPort: 22), adapter: 2)
        }
    }

    @Test func adaptersPastAnOutOfRangeSlotAreNotLoaded() throws {
        let extra = """

                <Adapter slot="9" enabled="true" MACAddress="080027C0FFF1" type="82540EM"><NAT/></Adapter>
                <Adapter slot="3" enabled="true" MACAddress="080027C0FFF2" type="82540EM"><NAT>\(rule("late", 2222))</NAT></Adapter>
        """
        let text = machine(adapter0: rule("a", 2222), extraAdapters: extra)
        let found = try findings(text).filter { $0.severity == .error }
        #expect(found.count == 1 && found[0].message.contains("slot 9 is beyond"), "\(found)")
        let doc = try VBoxSettings(bytes: Array(text.utf8), path: "m.vbox")
        #expect(doc.adapterElement(slot: 3) == nil)
    }

    @Test func addForwardRefusesWhatCheckCallsAnError() throws {
        let doc = try VBoxSettings(bytes: Array(machine(adapter0: rule("ssh", 2222, ip: "127.0.0.1")).utf8), path: "m.vbox")
        func add(_ ip: String, _ port: Int, adapter: Int = 1, guestIP: String = "") throws -> EditResult {
            try doc.addingForward(PortForward(name: "new", proto: .tcp, hostIP: ip, hostPort: port, guestIP: guestIP, guestPort: 80),
                                  adapter: adapter)
        }
        for (ip, port, adapter, hint) in [("localhost", 8080, 1, "127.0.0.1"), ("::1", 8080, 1, "127.0.0.1"),
                                           ("", 2222, 1, "rule \"ssh\" binds tcp 127.0.0.1:2222"), ("0.0.0.0", 2222, 2, "on adapter 1"),
                                           ("", 3389, 2, "RDP server's port")] {
            do {
                _ = try add(ip, port, adapter: adapter)
                Issue.record("\(ip):\(port) on adapter \(adapter) was accepted")
            } catch {
                #expect("\(error)".contains(hint), "\(error)")
            }
        }
        #expect(throws: VBoxXMLError.self) { try add("", 8080, guestIP: "::1") }
        #expect(try add("127.0.0.2", 2222).changed)
        let lenient = try add("127.2", 8080)
        #expect(lenient.warnings.contains { $0.contains("read by the NAT engine as 127.0.0.2") })
        #expect(try add("", 80).warnings.contains { $0.contains("privileged") })
    }

    /// For every corpus file (and mutated copies of it), every NAT adapter VirtualBox loads and a set of candidate
    /// rules: add-forward refuses exactly when `check` on the file with the rule written into it reports an error.
    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus"))
    func addForwardAndCheckAgreeOnTheCorpus() throws {
        var compared = 0
        var refused = 0
        for file in TestPaths.corpusVBoxFiles() {
            let original = try VBoxSettings(bytes: Array(bytes(file)), path: file.path)
            var variants = [original]
            // Mutated copies: every adapter enabled; RDP on with a port list over common forward ports.
            var enabled = original
            for a in NetworkModel(original).adapters where a.loaded {
                enabled = try enabled.settingAttribute("enabled", to: "true", on: a.element)
                enabled = try VBoxSettings(bytes: enabled.bytes, path: file.path)
            }
            if enabled.bytes != original.bytes { variants.append(enabled) }
            if let rdp = try? original.enablingRDP(RDPRequest(ports: "2222-2223,8080")) { variants.append(rdp.settings) }
            for (n, doc) in variants.enumerated() {
                // add-forward refuses what brings a new error; so compare on files without errors (the originals
                // have none; a mutated copy that has some, say rules that clash once enabled, is left out).
                let baseErrors = ReaderRules.check(doc).filter { $0.severity == .error }
                #expect(n > 0 || baseErrors.isEmpty, "\(file.lastPathComponent): \(baseErrors)")
                guard baseErrors.isEmpty else { continue }
                let existing = NetworkModel(doc).adapters.flatMap(\.rules).map(\.forward)
                var ports = Set([22, 2222, 3389, 8080])
                for f in existing { ports.insert(f.hostPort) }
                for a in NetworkModel(doc).adapters where a.loaded && a.mode == "NAT" {
                    guard let slot = a.slot, let nat = a.nat else { continue }
                    var k = 0
                    for port in ports.sorted() {
                        for ip in ["", "0.0.0.0", "127.0.0.1", "192.168.1.100", "localhost", "::1"] {
                            for proto in [PortForward.Proto.tcp, .udp] {
                                k += 1
                                let candidate = PortForward(name: "cand\(k)", proto: proto, hostIP: ip, hostPort: port,
                                                            guestIP: "", guestPort: 80)
                                let verdict = Result { try doc.addingForward(candidate, adapter: slot + 1) }
                                // The same rule written straight into the file, without add-forward's logic.
                                let markup = XMLMarkup("Forwarding", [
                                    ("name", candidate.name), ("proto", String(proto.number)), ("hostip", ip),
                                    ("hostport", String(port)), ("guestip", ""), ("guestport", "80"),
                                ])
                                let written = try doc.insertingChild(markup, into: nat)
                                let checkErrors = ReaderRules.check(written).filter { $0.severity == .error }
                                let addRefused: Bool
                                switch verdict {
                                case .success(let r): addRefused = false; #expect(r.changed)
                                case .failure: addRefused = true
                                }
                                let what = "\(file.lastPathComponent) adapter \(slot + 1) \(candidate.ruleString): add-forward "
                                    + "\(addRefused ? "refused" : "accepted"), check: \(checkErrors)"
                                #expect(addRefused == !checkErrors.isEmpty, "\(what)")
                                compared += 1
                                if addRefused { refused += 1 }
                            }
                        }
                    }
                }
            }
        }
        #expect(compared > 1000 && refused > 100 && refused < compared, "compared \(compared), refused \(refused)")
    }
}
