import Foundation
import Testing
import VBoxXML

@Suite("Edits (golden)")
struct EditTests {
    @Test func enableRDPInsertsAfterDisplayWithSiblingIndentation() throws {
        let doc = try Fixture.parse(Fixture.basic)
        let result = try doc.enablingRDP(RDPRequest(ports: "5000-5010", address: "127.0.0.1"))
        #expect(result.changed)
        let expected = Fixture.basic.replacingOccurrences(of: """
              <Display controller="VMSVGA" VRAMSize="16"/>

        """, with: """
              <Display controller="VMSVGA" VRAMSize="16"/>
              <RemoteDisplay enabled="true">
                <VRDEProperties>
                  <Property name="TCP/Ports" value="5000-5010"/>
                  <Property name="TCP/Address" value="127.0.0.1"/>
                </VRDEProperties>
              </RemoteDisplay>

        """)
        #expect(Fixture.text(result.settings) == expected)
        // The snapshot's hardware is untouched.
        #expect(result.settings.remoteDisplay.enabled)
        #expect(result.settings.remoteDisplay.ports == "5000-5010")
    }

    @Test func enableRDPWithUserWritesAuthSimpleAndHash() throws {
        let doc = try Fixture.parse(Fixture.basic)
        let hash = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"  // "secret"
        let result = try doc.enablingRDP(RDPRequest(user: ("alice", hash)))
        let text = Fixture.text(result.settings)
        #expect(text.contains("<RemoteDisplay enabled=\"true\" authType=\"External\" authLibrary=\"VBoxAuthSimple\">"))
        #expect(text.contains("""
            </MediaRegistry>
            <ExtraData>
              <ExtraDataItem name="VBoxAuthSimple/users/alice" value="\(hash)"/>
            </ExtraData>
        """))
        #expect(!text.contains("VRDEExtPack"))
        #expect(result.settings.remoteDisplay.users == ["alice"])
        // Again: nothing changes.
        let again = try result.settings.enablingRDP(RDPRequest(user: ("alice", hash)))
        #expect(!again.changed)
        #expect(again.settings.bytes == result.settings.bytes)
    }

    @Test func enableRDPUpdatesExistingElementInPlace() throws {
        let text = Fixture.basic.replacingOccurrences(of: "<Display controller=\"VMSVGA\" VRAMSize=\"16\"/>", with: """
        <Display controller="VMSVGA" VRAMSize="16"/>
            <RemoteDisplay enabled='false' authType="Null">
              <VRDEProperties>
                <Property name="TCP/Ports" value="3389"/>
              </VRDEProperties>
            </RemoteDisplay>
        """)
        let doc = try Fixture.parse(text)
        let result = try doc.enablingRDP(RDPRequest(ports: "3390", multiConnection: true))
        let expected = text.replacingOccurrences(of: "<RemoteDisplay enabled='false' authType=\"Null\">",
                                                 with: "<RemoteDisplay enabled='true' authType=\"Null\" allowMultiConnection=\"true\">")
            .replacingOccurrences(of: "value=\"3389\"", with: "value=\"3390\"")
        #expect(Fixture.text(result.settings) == expected)
        #expect(result.warnings.contains { $0.contains("no authentication") })
    }

    @Test func disableRDPIsExplicit() throws {
        let doc = try Fixture.parse(Fixture.basic)
        let off = try doc.disablingRDP()
        #expect(Fixture.text(off.settings).contains("<RemoteDisplay enabled=\"false\"/>"))
        let on = try off.settings.enablingRDP(RDPRequest())
        #expect(Fixture.text(on.settings).contains("<RemoteDisplay enabled=\"true\">"))
        #expect(on.settings.remoteDisplay.ports == "3389")
    }

    @Test func addForwardOpensSelfClosingNAT() throws {
        let doc = try Fixture.parse(Fixture.basic)
        let rule = PortForward(name: "ssh", proto: .tcp, hostIP: "", hostPort: 2222, guestIP: "", guestPort: 22)
        let result = try doc.addingForward(rule, adapter: 1)
        let expected = Fixture.basic.replacingOccurrences(of: """
                  <NAT localhost-reachable="false"/>
        """, with: """
                  <NAT localhost-reachable="false">
                    <Forwarding name="ssh" proto="1" hostip="" hostport="2222" guestip="" guestport="22"/>
                  </NAT>
        """)
        #expect(Fixture.text(result.settings) == expected)
        #expect(NATRules.hostPorts(NetworkModel(result.settings)).first?.label == "NAT rule \"ssh\" (adapter 1, tcp 2222)")
        // The snapshot's NAT is not touched.
        #expect(Fixture.text(result.settings).contains("            <NAT/>\n"))
        // Removing it gives back the original bytes.
        let removed = try result.settings.removingForward(named: "ssh", adapter: 1)
        #expect(removed.settings.bytes == doc.bytes)
    }

    @Test(arguments: [("a", "b"), ("c", "b"), ("z", "m")])
    func addForwardKeepsNameOrder(name: String, after: String) throws {
        let doc = try Fixture.parse(Fixture.basic)
        let rule = PortForward(name: name, proto: .udp, hostIP: "127.0.0.1", hostPort: 4000, guestIP: "", guestPort: 53)
        let result = try doc.addingForward(rule, adapter: 3)
        let names = result.settings.adapters[2].forwards.map(\.name)
        #expect(names == names.sorted())
        let line = "            <Forwarding name=\"\(name)\" proto=\"0\" hostip=\"127.0.0.1\" hostport=\"4000\" guestip=\"\" guestport=\"53\"/>\n"
        #expect(Fixture.text(result.settings).contains(line))
        var original = Fixture.basic
        original = original.replacingOccurrences(of: line, with: "")
        #expect(Fixture.text(result.settings).replacingOccurrences(of: line, with: "") == original)
        _ = after
    }

    @Test func emptyNameGetsVirtualBoxDefault() throws {
        let doc = try Fixture.parse(Fixture.basic)
        let rule = PortForward(name: "", proto: .tcp, hostIP: "", hostPort: 8080, guestIP: "", guestPort: 80)
        let result = try doc.addingForward(rule, adapter: 1)
        #expect(result.settings.adapters[0].forwards.map(\.name) == ["tcp_8080_80"])
    }

    @Test(arguments: [
        (PortForward(name: "b", proto: .tcp, hostIP: "", hostPort: 9, guestIP: "", guestPort: 9), 3, "already has a rule named"),
        (PortForward(name: "x", proto: .tcp, hostIP: "", hostPort: 3000, guestIP: "", guestPort: 1), 3, "overlaps rule \"b\""),
        (PortForward(name: "a,b", proto: .tcp, hostIP: "", hostPort: 1, guestIP: "", guestPort: 1), 1, "comma"),
        (PortForward(name: "p", proto: .tcp, hostIP: "", hostPort: 0, guestIP: "", guestPort: 1), 1, "outside 1-65535"),
        (PortForward(name: "p", proto: .tcp, hostIP: "", hostPort: 1, guestIP: "", guestPort: 65536), 1, "outside 1-65535"),
        (PortForward(name: "p", proto: .tcp, hostIP: "localhost", hostPort: 1, guestIP: "", guestPort: 1), 1, "such as 127.0.0.1"),
        (PortForward(name: "p", proto: .tcp, hostIP: "::1", hostPort: 1, guestIP: "", guestPort: 1), 1, "not an IPv4 address"),
        (PortForward(name: "p", proto: .tcp, hostIP: "", hostPort: 1, guestIP: "", guestPort: 1), 2, "BridgedInterface, not NAT"),
        (PortForward(name: "p", proto: .tcp, hostIP: "", hostPort: 1, guestIP: "", guestPort: 1), 4, "not configured"),
        (PortForward(name: "p", proto: .tcp, hostIP: "", hostPort: 1, guestIP: "", guestPort: 1), 9, "PIIX3 chipset has adapters 1-8"),
        (PortForward(name: "p", proto: .tcp, hostIP: "", hostPort: 1, guestIP: "", guestPort: 1), 0, "does not exist"),
    ])
    func addForwardRefusals(rule: PortForward, adapter: Int, message: String) throws {
        let doc = try Fixture.parse(Fixture.basic)
        do {
            _ = try doc.addingForward(rule, adapter: adapter)
            Issue.record("accepted \(rule.ruleString) on \(adapter)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
            #expect("\(error)".hasPrefix("demo.vbox"))
        }
    }

    @Test func anyAndZeroAddressOverlapOnOneAndAcrossAdapters() throws {
        let doc = try Fixture.parse(Fixture.basic)
        // "" and "0.0.0.0" are different strings to the API, but the NAT engine binds both on every address.
        let rule = PortForward(name: "x", proto: .tcp, hostIP: "0.0.0.0", hostPort: 3000, guestIP: "", guestPort: 1)
        #expect(throws: VBoxXMLError.self) { try doc.addingForward(rule, adapter: 3) }
        // Adapter 3 (enabled, NAT) binds 3001, so adapter 1 cannot.
        let clash = PortForward(name: "y", proto: .tcp, hostIP: "127.0.0.1", hostPort: 3001, guestIP: "", guestPort: 1)
        do {
            _ = try doc.addingForward(clash, adapter: 1)
            Issue.record("accepted a bind that overlaps adapter 3's rule m")
        } catch {
            #expect("\(error)".contains("rule \"m\" binds tcp *:3001, which overlaps rule \"y\" (127.0.0.1:3001) on adapter 1"), "\(error)")
        }
        // A UDP rule on the same port does not overlap.
        #expect(try doc.addingForward(PortForward(name: "y", proto: .udp, hostIP: "", hostPort: 3001, guestIP: "", guestPort: 1), adapter: 1).changed)
    }

    @Test func rdpPortClashIsRefused() throws {
        let doc = try Fixture.parse(Fixture.basic)
        let rdp = try doc.enablingRDP(RDPRequest(ports: "2222", address: "127.0.0.1")).settings
        #expect(throws: VBoxXMLError.self) {
            try rdp.addingForward(PortForward(name: "s", proto: .tcp, hostIP: "", hostPort: 2222, guestIP: "", guestPort: 22), adapter: 1)
        }
        // The other way round: RDP moved onto a forwarded port is refused too.
        let fwd = try doc.addingForward(PortForward(name: "s", proto: .tcp, hostIP: "", hostPort: 2222, guestIP: "", guestPort: 22), adapter: 1).settings
        #expect(throws: VBoxXMLError.self) { try fwd.enablingRDP(RDPRequest(ports: "2222")) }
        // On another address than the RDP server's: no clash.
        #expect(try rdp.addingForward(PortForward(name: "s", proto: .tcp, hostIP: "127.0.0.2", hostPort: 2222, guestIP: "", guestPort: 22), adapter: 1).changed)
    }

    @Test func crlfTabsAndPrefixesAreFollowed() throws {
        let text = "<?xml version=\"1.0\"?>\r\n<v:VirtualBox xmlns:v=\"http://www.virtualbox.org/\" version=\"1.16-windows\">\r\n"
            + "\t<v:Machine uuid=\"{3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f}\" name=\"w\">\r\n\t\t<v:Hardware>\r\n"
            + "\t\t\t<v:Memory RAMSize=\"1024\"/>\r\n\t\t\t<v:Network>\r\n\t\t\t\t<v:Adapter slot=\"0\" enabled=\"true\">\r\n"
            + "\t\t\t\t\t<v:NAT/>\r\n\t\t\t\t</v:Adapter>\r\n\t\t\t</v:Network>\r\n\t\t</v:Hardware>\r\n\t</v:Machine>\r\n"
            + "</v:VirtualBox>\r\n"
        let doc = try Fixture.parse(text)
        let fwd = try doc.addingForward(PortForward(name: "ssh", proto: .tcp, hostIP: "", hostPort: 2222, guestIP: "",
                                                    guestPort: 22), adapter: 1)
        let out = Fixture.text(fwd.settings)
        #expect(out.contains("\t\t\t\t\t<v:NAT>\r\n\t\t\t\t\t\t<v:Forwarding name=\"ssh\" proto=\"1\" hostip=\"\" hostport=\"2222\" guestip=\"\" guestport=\"22\"/>\r\n\t\t\t\t\t</v:NAT>\r\n"))
        let rdp = try fwd.settings.enablingRDP(RDPRequest(ports: "3389"))
        #expect(Fixture.text(rdp.settings).contains("\t\t\t<v:RemoteDisplay enabled=\"true\">\r\n\t\t\t\t<v:VRDEProperties>\r\n"))
        #expect(!Fixture.text(rdp.settings).contains("\n\n"))
    }

    @Test func legacyDefaultEnabledBefore116() throws {
        let text = Fixture.basic.replacingOccurrences(of: "1.19-linux", with: "1.15-linux")
        let doc = try Fixture.parse(text)
        #expect(doc.remoteDisplay.enabled, "before 1.16 a missing RemoteDisplay means on")
        let off = try doc.disablingRDP()
        #expect(!off.settings.remoteDisplay.enabled)
    }
}
