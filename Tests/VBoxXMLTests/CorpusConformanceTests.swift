import Foundation
import Testing
import TestSupport
import VBoxXML

/// Both edits on every machine file VirtualBox wrote (../shared/corpus/vbox).
@Suite("Corpus conformance")
struct CorpusConformanceTests {
    static let files = TestPaths.corpusVBoxFiles()

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (corpus conformance over shared/corpus/vbox)"))
    func corpusHoldsEveryMachineFile() {
        #expect(Self.files.count == 38)
    }

    @Test(arguments: files)
    func enableRDPEverywhere(file: URL) throws {
        let doc = try VBoxSettings(bytes: Array(bytes(file)), path: file.lastPathComponent)
        let result = try doc.enablingRDP(RDPRequest(ports: "3389", address: "127.0.0.1"))
        let edited = result.settings
        // Where VirtualBox reads it: Machine/Hardware/RemoteDisplay.
        let rd = try #require(edited.remoteDisplayElement)
        #expect(edited.elements[rd].parent == edited.hardwareIndex)
        #expect(edited.elements[edited.hardwareIndex].parent == edited.machineIndex)
        #expect(edited.elements[rd].attribute("enabled") == "true")
        #expect(edited.elements[rd].attribute("VRDEExtPack") == doc.remoteDisplayElement.flatMap { doc.elements[$0].attribute("VRDEExtPack") })
        #expect(edited.remoteDisplay.enabled && edited.remoteDisplay.ports == "3389" && edited.remoteDisplay.address == "127.0.0.1")
        #expect(edited.version.raw == doc.version.raw)
        // Nothing outside the element changed.
        #expect(try Fixture.without(edited, rd) == Fixture.without(doc, doc.remoteDisplayElement))
        // Repeating is harmless.
        let again = try edited.enablingRDP(RDPRequest(ports: "3389", address: "127.0.0.1"))
        #expect(!again.changed && again.settings.bytes == edited.bytes)
    }

    @Test(arguments: files)
    func addForwardEverywhere(file: URL) throws {
        let doc = try VBoxSettings(bytes: Array(bytes(file)), path: file.lastPathComponent)
        let rule = PortForward(name: "vmprov-ssh", proto: .tcp, hostIP: "", hostPort: 62222, guestIP: "", guestPort: 22)
        let first = doc.adapters.first { $0.slot == 0 }
        guard first?.mode == "NAT" else {
            #expect(throws: VBoxXMLError.self) { try doc.addingForward(rule, adapter: 1) }
            return
        }
        let result = try doc.addingForward(rule, adapter: 1)
        let edited = result.settings
        let adapter = try #require(edited.adapterElement(slot: 0))
        let nat = try #require(edited.modeElement(ofAdapter: adapter))
        #expect(edited.elements[nat].name == "NAT")
        let added = try #require(edited.forwards(inNAT: nat).first { $0.rule.name == "vmprov-ssh" })
        #expect(added.rule == rule)
        var cursor: Int? = added.index
        var path: [String] = []
        while let c = cursor { path.insert(edited.elements[c].name, at: 0); cursor = edited.elements[c].parent }
        #expect(path == ["VirtualBox", "Machine", "Hardware", "Network", "Adapter", "NAT", "Forwarding"])
        let e = edited.elements[added.index]
        #expect(e.attributes.map(\.name) == ["name", "proto", "hostip", "hostport", "guestip", "guestport"])
        #expect(try Fixture.without(edited, added.index) == doc.bytes)
        let again = try edited.addingForward(rule, adapter: 1)
        #expect(!again.changed && again.settings.bytes == edited.bytes)
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (NAT count)"))

    func thirtyOneNATAndSevenRefused() throws {
        var nat = 0
        var refused = 0
        for file in Self.files {
            let doc = try VBoxSettings(bytes: Array(bytes(file)), path: file.lastPathComponent)
            let rule = PortForward(name: "t", proto: .tcp, hostIP: "", hostPort: 62223, guestIP: "", guestPort: 22)
            if (try? doc.addingForward(rule, adapter: 1)) != nil { nat += 1 } else { refused += 1 }
        }
        #expect(nat == 31)
        #expect(refused == 7)
    }
}
