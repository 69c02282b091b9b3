import Foundation
import Testing
import TestSupport
import VBoxXML

private func doc(version: String = "1.19-linux", machineExtra: String = "", hardwareExtra: String = "",
                 rdp: String = "") throws -> VBoxSettings {
    let text = """
    <?xml version="1.0"?>
    <VirtualBox xmlns="http://www.virtualbox.org/" version="\(version)">
      <Machine uuid="{3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f}" name="demo" OSType="Ubuntu_64">\(machineExtra)
        <Hardware>
          <Memory RAMSize="2048"/>
          <Display controller="VMSVGA" VRAMSize="16"/>\(rdp)\(hardwareExtra)
        </Hardware>
      </Machine>
    </VirtualBox>

    """
    return try VBoxSettings(bytes: Array(text.utf8), path: "/nonexistent/m.vbox")
}

@Suite("Check: settings formats, RDP ports and compose entries")
struct FormatsAndRDPTests {
    @Test func versionsAsVirtualBox7ReadsThem() throws {
        // 1.3-1.11: read and converted by VirtualBox 7.x; reported, not refused; vmprov does not edit them.
        let old = try doc(version: "1.10-windows")
        let oldFindings = ReaderRules.check(old)
        #expect(oldFindings.contains { $0.severity == .warning && $0.message.contains("still reads and converts it") })
        #expect(!oldFindings.contains { $0.severity == .error })
        #expect(throws: VBoxXMLError.self) { try old.addingForward(PortForward(name: "a", proto: .tcp, hostIP: "", hostPort: 2222, guestIP: "", guestPort: 22), adapter: 1) }
        #expect(throws: VBoxXMLError.self) { try old.enablingRDP(RDPRequest()) }
        // Below 1.3: no VirtualBox reads it.
        do {
            _ = try doc(version: "1.2-linux")
            Issue.record("a 1.2 file was read")
        } catch {
            #expect("\(error)".contains("older than 1.3"), "\(error)")
        }
        // Newer than 7.1 knows: a warning that 7.0/7.1 lose data on save.
        #expect(ReaderRules.check(try doc(version: "1.21-linux", machineExtra: "\n    <Platform architecture=\"x86\"/>"))
            .contains { $0.severity == .warning && $0.message.contains("Future") })
        // 1.20 needs Machine/Platform.
        #expect(ReaderRules.check(try doc(version: "1.20-linux")).contains { $0.severity == .error && $0.message.contains("needs Machine/Platform") })
        let v120 = ReaderRules.check(try doc(version: "1.20-linux", machineExtra: "\n    <Platform architecture=\"x86\"/>"))
        #expect(!v120.contains { $0.severity == .error })
        #expect(v120.contains { $0.severity == .warning && $0.message.contains("7.0 reads it as \"Future\"") })
        // A Platform element in a 1.19 file is ignored by its readers.
        #expect(ReaderRules.check(try doc(machineExtra: "\n    <Platform architecture=\"x86\"/>")).contains { $0.severity == .warning && $0.message.contains("belongs to settings 1.20") })
        #expect(ReaderRules.check(try doc()).isEmpty)
    }

    @Test func remoteDisplayOutsideHardwareIsIgnored() throws {
        let misplaced = try doc(version: "1.20-linux",
                                machineExtra: "\n    <Platform architecture=\"x86\"><RemoteDisplay enabled=\"true\"/></Platform>")
        let found = ReaderRules.check(misplaced)
        #expect(found.contains { $0.severity == .warning && $0.message.contains("RemoteDisplay under Platform is ignored") }, "\(found)")
        #expect(!misplaced.remoteDisplay.enabled)
    }

    @Test(arguments: ["C:\\VMs\\disk.vdi", "F:/VMs/disk.vdi", "c:/x.vdi"])
    func windowsMediumPathsAreWarnings(location: String) throws {
        let registry = """

            <MediaRegistry><HardDisks><HardDisk uuid="{6d1f9c2e-8a47-4b6e-9f1e-2b3c4d5e6f70}" location="\(location)" format="VDI" type="Normal"/></HardDisks></MediaRegistry>
        """
        let found = ReaderRules.check(try doc(machineExtra: registry))
        #expect(found.contains { $0.severity == .warning && $0.message.contains("is a Windows path") }, "\(found)")
        #expect(!found.contains { $0.severity == .error })
    }

    @Test func enableRDPKeepsTheLegacyPortAndAddress() throws {
        let legacy = try doc(version: "1.12-linux", rdp: "\n      <RemoteDisplay enabled=\"false\" port=\"5000-5050,5100\" netAddress=\"127.0.0.1\"/>")
        #expect(legacy.remoteDisplay.ports == "5000-5050,5100")
        let result = try legacy.enablingRDP(RDPRequest())
        let rd = result.settings.remoteDisplay
        #expect(rd.enabled && rd.ports == "5000-5050,5100" && rd.address == "127.0.0.1")
        let text = Fixture.text(result.settings)
        #expect(text.contains("<Property name=\"TCP/Ports\" value=\"5000-5050,5100\"/>"))
        #expect(text.contains("<Property name=\"TCP/Address\" value=\"127.0.0.1\"/>"))
        #expect(NATRules.hostPorts(NetworkModel(result.settings)).map(\.spec) == ["5000-5050", "5100"])
        // --port still wins.
        #expect(try legacy.enablingRDP(RDPRequest(ports: "3390")).settings.remoteDisplay.ports == "3390")
        // A legacy value VirtualBox cannot listen on is not carried silently.
        let broken = try doc(rdp: "\n      <RemoteDisplay enabled=\"false\" port=\"33a\"/>")
        #expect(throws: VBoxXMLError.self) { try broken.enablingRDP(RDPRequest()) }
        // Without any port anywhere the default stays 3389.
        #expect(try doc().enablingRDP(RDPRequest()).settings.remoteDisplay.ports == "3389")
    }
}
