import Foundation
import Testing
import TestSupport
import VBoxXML
import DiskImages

enum Specs {
    /// machine, disk, installer, Guest Additions: the order the builder draws them in.
    static let uuids = [VBoxUUID("3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f")!, VBoxUUID("6d1f9c2e-8a47-4b6e-9f1e-2b3c4d5e6f70")!,
                        VBoxUUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")!, VBoxUUID("0f1e2d3c-4b5a-4968-8776-655443322110")!]
    static var identity: FixedIdentity { FixedIdentity(uuids: uuids, macAddress: "080027C0FFEE", time: 1_767_225_600) }
    static let machine = MachineIdentity(machine: uuids[0], macAddress: "080027C0FFEE", time: 1_767_225_600)

    static func linux(bus: StorageBus = .sata, ga: String? = "/usr/lib/virtualbox/additions/VBoxGuestAdditions.iso") -> MachineSpec {
        var ids = identity
        _ = ids.nextUUID()  // the machine's
        return MachineSpec(name: "demo", osType: "Ubuntu24_LTS_64", cpus: 2, memoryMB: 2048, vramMB: 16, graphics: "VMSVGA",
                    firmware: .bios, tpm2: false, secureBoot: false, nicType: "82540EM", controller: bus.controller,
                    media: bus.standardMedia(disk: "demo.vdi", installer: "ubuntu.iso", guestAdditions: ga, ids: &ids),
                    rdpPorts: "3389",
                    forwards: [PortForward(name: "ssh", proto: .tcp, hostIP: "", hostPort: 2222, guestIP: "", guestPort: 22)],
                    extraData: [("vmprov/Profile", "ubuntu")])
    }

    static var windows: MachineSpec {
        var s = linux(ga: nil)
        s.name = "win"
        s.osType = "Windows11_64"
        s.firmware = .efi
        s.tpm2 = true
        s.secureBoot = true
        s.graphics = "VBoxSVGA"
        s.forwards = []
        s.media[0].location = "win.vdi"
        return s
    }
}

@Suite("Machine builder and reader rules")
struct BuilderAndCheckTests {
    func golden(_ name: String) -> String {
        String(decoding: bytes(TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/golden/\(name)")), as: UTF8.self)
    }

    @Test(arguments: ["linux-sata.vbox", "linux-ide.vbox", "windows11.vbox"])
    func goldenFiles(name: String) throws {
        let spec = name == "windows11.vbox" ? Specs.windows : Specs.linux(bus: name == "linux-ide.vbox" ? .ide : .sata)
        let text = try MachineBuilder.document(spec, Specs.machine)
        if ProcessInfo.processInfo.environment["VMPROV_WRITE_GOLDEN"] == "1" {
            try Data(text.utf8).write(to: TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/golden/\(name)"))
        }
        #expect(text == golden(name), "regenerate Tests/Fixtures/golden/\(name) only after reading the diff")
        let doc = try VBoxSettings(bytes: Array(text.utf8), path: name)
        #expect(doc.version.raw == "1.19-linux")
        let findings = ReaderRules.check(doc).filter { !$0.message.contains("does not exist") }
        #expect(findings.isEmpty, "\(findings)")
    }

    @Test func timestampsAndWhatVirtualBoxReads() throws {
        #expect(MachineBuilder.timestamp(1_767_225_600) == "2026-01-01T00:00:00Z")
        let doc = try VBoxSettings(bytes: Array(try MachineBuilder.document(Specs.windows, Specs.machine).utf8), path: "w.vbox")
        let s = doc.summary
        #expect(s.firmware == "EFI" && s.cpus == 2 && s.memoryMB == 2048)
        #expect(doc.extraDataItems.contains { $0.name == "vmprov/SecureBoot" && $0.value == "requested" })
        #expect(Fixture.text(doc).contains("<TrustedPlatformModule type=\"v2_0\" location=\"\"/>"))
        let linux = try VBoxSettings(bytes: Array(try MachineBuilder.document(Specs.linux(), Specs.machine).utf8), path: "l.vbox")
        #expect(linux.adapters.first?.forwards.first?.ruleString == "ssh,tcp,,2222,,22")
        #expect(linux.remoteDisplay.enabled && linux.remoteDisplay.ports == "3389")
        #expect(linux.attachments.map(\.type) == ["HardDisk", "DVD", "DVD"])
        #expect(linux.attachments[0].medium == "demo.vdi")
        // The builder's file takes the same edits as any other.
        let edited = try linux.addingForward(PortForward(name: "web", proto: .tcp, hostIP: "", hostPort: 8080, guestIP: "", guestPort: 80), adapter: 1)
        #expect(edited.changed)
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (reader rules over the corpus)"))

    func corpusFilesHaveNoErrors() throws {
        for file in TestPaths.corpusVBoxFiles() {
            let doc = try VBoxSettings(bytes: Array(bytes(file)), path: file.path)
            let errors = ReaderRules.check(doc).filter { $0.severity == .error }
            #expect(errors.isEmpty, "\(file.lastPathComponent): \(errors)")
        }
    }

    @Test(arguments: [
        ("<Memory RAMSize=\"2048\"/>", "<Memory RAMSize=\"0512\"/>", Finding.Severity.warning, "octal"),
        ("<Memory RAMSize=\"2048\"/>", "<Memory RAMSize=\"02048\"/>", .error, "not a number"),
        ("<Memory RAMSize=\"2048\"/>", "<Memory RAMSize=\"2 GB\"/>", .error, "not a number"),
        ("<Memory RAMSize=\"2048\"/>", "<Memory/>", .error, "RAMSize"),
        ("lastStateChange=\"2026-01-01T00:00:00Z\"", "lastStateChange=\"2026-01-01T00:00:00.5Z\"", .error, "not UTC date"),
        ("lastStateChange=\"2026-01-01T00:00:00Z\"", "lastStateChange=\"2026-01-01\"", .warning, "ignores it"),
        ("uuid=\"{3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f}\"", "uuid=\"{00000000-0000-0000-0000-000000000000}\"", .error, "all-zero"),
        ("type=\"82540EM\"", "type=\"e1000\"", .error, "not a value VirtualBox knows"),
        ("controller=\"VMSVGA\"", "controller=\"vmsvga\"", nil, ""),
        ("controller=\"VMSVGA\"", "controller=\"Cirrus\"", .error, "not a value VirtualBox knows"),
        ("<PAE enabled=\"true\"/>", "<PAE enabled=\"True\"/>", .warning, "not a boolean"),
        ("PortCount=\"3\"", "PortCount=\"1\"", .error, "beyond the controller's PortCount"),
        ("port=\"1\" device=\"0\"", "port=\"0\" device=\"0\"", .error, "used twice"),
        ("name=\"TCP/Ports\" value=\"3389\"", "name=\"TCP/Ports\" value=\"3389-3388\"", .error, "cannot listen"),
        ("proto=\"1\"", "proto=\"7\"", .error, "neither 0 (UDP) nor 1 (TCP)"),
        ("hostport=\"2222\"", "hostport=\"0\"", .error, "port is 0"),
        ("guestport=\"22\"", "", .warning, "no guestport"),
        ("MACAddress=\"080027C0FFEE\"", "MACAddress=\"09:00:27:C0:FF:EE\"", .error, "MACAddress"),
        ("<Order position=\"2\" device=\"DVD\"/>", "<Order position=\"2\" device=\"CDROM\"/>", .error, "not a value"),
        ("<Order position=\"3\" device=\"None\"/>", "<Order position=\"2\" device=\"None\"/>", .error, "appears twice"),
    ] as [(String, String, Finding.Severity?, String)])
    func readerRules(original: String, replacement: String, severity: Finding.Severity?, message: String) throws {
        let base = try MachineBuilder.document(Specs.linux(ga: nil), Specs.machine)
        #expect(base.contains(original), "fixture lacks \(original)")
        let text = base.replacingOccurrences(of: original, with: replacement)
        let doc = try VBoxSettings(bytes: Array(text.utf8), path: "x.vbox")
        let findings = ReaderRules.check(doc).filter { !$0.message.contains("does not exist") }
        if let severity {
            #expect(findings.contains { $0.severity == severity && $0.message.contains(message) }, "\(findings)")
            #expect(findings.allSatisfy { $0.location.contains("(line ") })
        } else {
            #expect(findings.isEmpty, "\(findings)")
        }
    }

    @Test func diskUUIDMustMatchTheVDIHeader() throws {
        let dir = TempDir()
        let text = try MachineBuilder.document(Specs.linux(ga: nil), Specs.machine)
        let path = dir.write("demo.vbox", text).path
        dir.write("ubuntu.iso", "iso")
        try VDIWriter.create(path: dir.file("demo.vdi").path, size: 1 << 20, uuid: Specs.uuids[1])
        #expect(ReaderRules.check(try VBoxSettings.load(path: path)).isEmpty)
        try FileManager.default.removeItem(at: dir.file("demo.vdi"))
        try VDIWriter.create(path: dir.file("demo.vdi").path, size: 1 << 20, uuid: VBoxUUID.random())
        let findings = ReaderRules.check(try VBoxSettings.load(path: path))
        #expect(findings.contains { $0.severity == .error && $0.message.contains("in its header") })
        try FileManager.default.removeItem(at: dir.file("demo.vdi"))
        #expect(ReaderRules.check(try VBoxSettings.load(path: path)).contains { $0.severity == .warning && $0.message.contains("does not exist") })
    }
}
