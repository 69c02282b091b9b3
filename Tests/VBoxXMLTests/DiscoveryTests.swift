import Foundation
import Testing
import TestSupport
import VBoxXML

@Suite("Which file is the machine")
struct DiscoveryTests {
    @Test(arguments: [
        ("up.vbox", VBoxFileDiscovery.Kind.machine),
        ("up-1.16-linux.vbox", .formatBackup(original: "up.vbox")),
        ("Windows 11-1.18-windows.vbox", .formatBackup(original: "Windows 11.vbox")),
        ("my-vm-1.12-macosx.vbox", .formatBackup(original: "my-vm.vbox")),
        ("a-1.19-os2.vbox", .formatBackup(original: "a.vbox")),
        // Names that only look similar are machines: a platform VirtualBox never writes, no base, no minor.
        ("fedora-40.1-workstation.vbox", .machine),
        ("ubuntu-24.04.vbox", .machine),
        ("-1.16-linux.vbox", .machine),
        ("up-1-linux.vbox", .machine),
        ("up-1.x-linux.vbox", .machine),
        ("up.vbox-prev", .previous),
        ("up.vbox-tmp", .temporary),
        ("up.vbox-tmp.Ab3xY9", .temporary),
        ("up.vbox-tmp.toolong1", .other),
        ("._up.vbox", .other),
        ("up.vdi", .other),
        (".vbox", .other),
    ])
    func classify(name: String, kind: VBoxFileDiscovery.Kind) {
        #expect(VBoxFileDiscovery.classify(name) == kind)
    }

    @Test func aFolderWithBackupsHasOneMachine() throws {
        let dir = TempDir()
        for name in ["up.vbox", "up-1.16-linux.vbox", "up-1.18-linux.vbox", "up.vbox-prev", "up.vbox-tmp",
                     "up.vbox-tmp.AAAAAA", "._up.vbox", "up.vdi"] {
            dir.write(name, Fixture.basic)
        }
        dir.write("sub/other.vbox", Fixture.basic)
        let here = try VBoxFileDiscovery.inFolder(dir.path)
        #expect(here.machines == [dir.path + "/up.vbox"])
        #expect(here.backups == [dir.path + "/up-1.16-linux.vbox", dir.path + "/up-1.18-linux.vbox"])
        let tree = VBoxFileDiscovery.under(dir.path, depth: 1)
        #expect(tree.machines == [dir.path + "/sub/other.vbox", dir.path + "/up.vbox"])
        #expect(VBoxFileDiscovery.under(dir.path, depth: 0).machines == [dir.path + "/up.vbox"])
        #expect(throws: VBoxXMLError.self) { try VBoxFileDiscovery.inFolder(dir.path + "/missing") }
    }
}
