import Foundation
import Testing
import TestSupport

let storageSample = """
<?xml version="1.0"?>
<VirtualBox xmlns="http://www.virtualbox.org/" version="1.19-linux">
  <Machine uuid="{3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f}" name="demo" OSType="Ubuntu_64">
    <MediaRegistry>
      <HardDisks>
        <HardDisk uuid="{6d1f9c2e-8a47-4b6e-9f1e-2b3c4d5e6f70}" location="demo.vdi" format="VDI" type="Normal"/>
      </HardDisks>
    </MediaRegistry>
    <Hardware>
      <Memory RAMSize="2048"/>
      <StorageControllers>
        <StorageController name="SATA" type="AHCI" PortCount="1" useHostIOCache="false" Bootable="true">
          <AttachedDevice type="HardDisk" hotpluggable="false" port="0" device="0">
            <Image uuid="{6d1f9c2e-8a47-4b6e-9f1e-2b3c4d5e6f70}"/>
          </AttachedDevice>
        </StorageController>
        <StorageController name="IDE" type="PIIX4" PortCount="2" useHostIOCache="true" Bootable="true">
          <AttachedDevice passthrough="false" type="DVD" hotpluggable="false" port="1" device="0"/>
        </StorageController>
      </StorageControllers>
    </Hardware>
  </Machine>
</VirtualBox>

"""

extension ProcessSensitive {
@Suite("Storage commands, end to end", .serialized)
struct StorageCommandTests {
    static func qemuCheck(_ path: String) throws -> RunResult {
        try run(try #require(which("qemu-img"), "qemu-img missing (qemu-utils)"), ["check", "-f", "vdi", path])
    }

    @Test func addShareWritesTheFolderAndPrintsTheVolume() throws {
        let dir = TempDir()
        let url = dir.write("vm/demo.vbox", storageSample)
        let host = TempDir("vmprov-share")
        let r = try vmprov(["add-share", "data", "--host-path", host.path, "--readonly", "--automount", dir.file("vm").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("- \(host.path):\(host.path):ro"), "\(r.stdout)")
        #expect(r.stderr.contains("Guest Additions"), "\(r.stderr)")
        let text = String(decoding: bytes(url), as: UTF8.self)
        #expect(text.contains("\n      <SharedFolders>\n        <SharedFolder name=\"data\" hostPath=\"\(host.path)\" "
            + "writable=\"false\" autoMount=\"true\"/>\n      </SharedFolders>\n"), "\(text)")
        let once = bytes(url)
        // Repeat: harmless, file unchanged.
        let again = try vmprov(["add-share", "data", "--host-path", host.path, "--readonly", "--automount", url.path])
        #expect(again.status == 0 && bytes(url) == once, "\(again.stderr)")
        // JSON.
        let json = try vmprov(["add-share", "data", "--host-path", host.path, "--readonly", "--automount", "--json", url.path])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["changed"] as? Bool == false)
        #expect(object?["composeVolumes"] as? [String] == ["\(host.path):\(host.path):ro"])
        // show lists it.
        let show = try vmprov(["show", url.path])
        #expect(show.stdout.contains("Share:     data -> \(host.path) (read-only, auto-mount)"), "\(show.stdout)")
        // check is clean for it.
        let check = try vmprov(["check", url.path])
        #expect(!check.output.contains("shared folder"), "\(check.output)")
        // Remove.
        let removed = try vmprov(["remove-share", "data", url.path])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(!String(decoding: bytes(url), as: UTF8.self).contains("SharedFolder name"))
    }

    @Test func addShareRefusalsLeaveTheFileUntouched() throws {
        let host = TempDir("vmprov-share")
        let withShare = storageSample.replacingOccurrences(of: "      <Memory RAMSize=\"2048\"/>\n", with:
            "      <Memory RAMSize=\"2048\"/>\n      <SharedFolders>\n        <SharedFolder name=\"Data\" hostPath=\"\(host.path)\" "
            + "writable=\"true\" autoMount=\"false\"/>\n      </SharedFolders>\n")
        try expectRefusedUntouched(["add-share", "data", "--host-path", host.path], file: withShare, code: 65,
                                   message: "differ only in case")
        try expectRefusedUntouched(["add-share", "x", "--host-path", "relative/dir"], file: storageSample, code: 65,
                                   message: "is not absolute")
        try expectRefusedUntouched(["add-share", "x", "--host-path", host.path + "/missing"], file: storageSample,
                                   code: 65, message: "does not exist")
        try expectRefusedUntouched(["add-share", "a b", "--host-path", host.path], file: storageSample, code: 65,
                                   message: "contains a space")
        try expectRefusedUntouched(["add-share", "x", "--host-path", host.path + "/../x"], file: storageSample, code: 65,
                                   message: "canonical")
        try expectRefusedUntouched(["remove-share", "nope"], file: withShare, code: 65, message: "\"Data\"")
        let old = storageSample.replacingOccurrences(of: "1.19-linux", with: "1.16-linux")
        try expectRefusedUntouched(["add-share", "x", "--host-path", host.path, "--mount-point", "/mnt/x"], file: old,
                                   code: 65, message: "1.17")
    }

    @Test func addDiskCreatesAttachesAndRemoveKeepsData() throws {
        let dir = TempDir()
        let url = dir.write("vm/demo.vbox", storageSample)
        let r = try vmprov(["add-disk", "--size", "2T", "--name", "data", "--json", url.path])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(object?["controller"] as? String == "SATA" && object?["port"] as? Int == 1)
        let vdi = dir.file("vm/data.vdi").path
        let check = try Self.qemuCheck(vdi)
        #expect(check.status == 0 && check.stdout.contains("No errors"), "\(check.output)")
        let text = String(decoding: bytes(url), as: UTF8.self)
        let uuid = try #require(object?["uuid"] as? String)
        #expect(text.contains("<HardDisk uuid=\"\(uuid)\" location=\"data.vdi\" format=\"VDI\" type=\"Normal\"/>"))
        #expect(text.contains("PortCount=\"2\""))
        #expect(text.contains("<AttachedDevice type=\"HardDisk\" hotpluggable=\"false\" port=\"1\" device=\"0\">"))
        let checkVBox = try vmprov(["check", url.path])
        #expect(checkVBox.output.contains(" 0 error(s)"), "\(checkVBox.output)")
        // Same name again: exists (73), the settings untouched, the disk untouched.
        let before = bytes(url)
        let diskBefore = bytes(dir.file("vm/data.vdi"))
        let again = try vmprov(["add-disk", "--size", "1G", "--name", "data", url.path])
        #expect(again.status == 73 && again.stderr.contains("registered already"), "\(again.stderr)")
        #expect(bytes(url) == before && bytes(dir.file("vm/data.vdi")) == diskBefore)
        // remove-disk without --delete keeps the file.
        let removed = try vmprov(["remove-disk", "data.vdi", url.path])
        #expect(removed.status == 0 && removed.stdout.contains("is kept"), "\(removed.output)")
        #expect(FileManager.default.fileExists(atPath: vdi))
        #expect(!String(decoding: bytes(url), as: UTF8.self).contains("data.vdi"))
        // Attach it again by hand is not possible (not registered): remove with --delete on another new disk.
        let second = try vmprov(["add-disk", "--size", "1G", url.path])
        #expect(second.status == 0, "\(second.stderr)")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.file("vm").path)
            .first { $0.hasPrefix("demo_") })
        let deleted = try vmprov(["remove-disk", name, "--delete", url.path])
        #expect(deleted.status == 0 && deleted.stdout.contains("Deleted"), "\(deleted.output)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("vm/\(name)").path))
    }

    @Test func fullControllerIsRefusedNamingThePorts() throws {
        // IDE only, both ports with master and slave used.
        var lines = storageSample.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let sataStart = try #require(lines.firstIndex { $0.contains("name=\"SATA\"") })
        lines.removeSubrange(sataStart...(sataStart + 4))
        let dvd = try #require(lines.firstIndex { $0.contains("type=\"DVD\"") })
        let pad = "          "
        lines.replaceSubrange(dvd...dvd, with: [
            pad + "<AttachedDevice passthrough=\"false\" type=\"DVD\" hotpluggable=\"false\" port=\"0\" device=\"0\"/>",
            pad + "<AttachedDevice passthrough=\"false\" type=\"DVD\" hotpluggable=\"false\" port=\"0\" device=\"1\"/>",
            pad + "<AttachedDevice passthrough=\"false\" type=\"DVD\" hotpluggable=\"false\" port=\"1\" device=\"0\"/>",
            pad + "<AttachedDevice passthrough=\"false\" type=\"DVD\" hotpluggable=\"false\" port=\"1\" device=\"1\"/>",
        ])
        let full = lines.joined(separator: "\n")
        #expect(full != storageSample)
        let dir = TempDir()
        let url = dir.write("m.vbox", full)
        let r = try vmprov(["add-disk", "--size", "1G", url.path])
        #expect(r.status == 65 && r.stderr.contains("ports in use: 0, 0:1, 1, 1:1"), "\(r.stderr)")
        #expect(bytes(url) == Data(full.utf8))
        #expect(leftovers(dir) == ["m.vbox"])
        try expectRefusedUntouched(["add-disk", "--size", "1G", "--controller", "SATA", "--port", "0"],
                                   file: storageSample, code: 65, message: "port 0 of \"SATA\" is in use")
        try expectRefusedUntouched(["add-disk", "--size", "1G", "--controller", "NVMe"], file: storageSample, code: 65,
                                   message: "no storage controller named")
    }

    @Test func growDiskSurvivesAKillAtEveryStep() throws {
        let qemuImg = try #require(which("qemu-img"))
        let qemuIO = try #require(which("qemu-io"))
        // qemu's layout needs blocks moved (steps 1-6); VirtualBox's grows in place (steps 1 and 5).
        for (layoutName, steps) in [("qemu", [1, 2, 3, 4, 5, 6]), ("vbox", [1, 5])] {
            for step in steps {
                let dir = TempDir()
                let path = dir.file("d.vdi").path
                if layoutName == "qemu" {
                    #expect(try run(qemuImg, ["create", "-f", "vdi", path, "64M"]).status == 0)
                } else {
                    let r = try vmprov(["add-disk", "--size", "64M", "--name", "d",
                                        dir.write("m.vbox", storageSample).path])
                    #expect(r.status == 0, "\(r.stderr)")
                }
                #expect(try run(qemuIO, ["-f", "vdi", "-c", "write -P 0xab 0 1M", "-c", "write -P 0xcd 40M 64k", path]).status == 0)
                let killed = try vmprov(["grow-disk", path, "--to", "300M"], environment: ["VMPROV_TEST_GROW_FAULT": "\(step)"])
                #expect(killed.status == 99, "\(layoutName) step \(step): \(killed.output)")
                let journal = FileManager.default.fileExists(atPath: path + ".vmprov-grow")
                let info = try run(qemuImg, ["info", "-f", "vdi", "--output=json", path])
                let check = try run(qemuImg, ["check", "-f", "vdi", path])
                if step == 3 || step == 4 {
                    // Sealed while the map is rewritten: no reader opens it; the journal makes it whole.
                    #expect(journal, "\(layoutName) step \(step)")
                    #expect(check.status != 0, "\(layoutName) step \(step): \(check.output)")
                } else {
                    #expect(check.status == 0, "\(layoutName) step \(step): \(check.output)")
                    let old = info.stdout.contains("\"virtual-size\": 67108864")
                    let new = info.stdout.contains("\"virtual-size\": 314572800")
                    #expect(old || new, "\(layoutName) step \(step): \(info.stdout)")
                }
                let reads = try run(qemuIO, ["-f", "vdi", "-c", "read -P 0xab 0 1M", "-c", "read -P 0xcd 40M 64k", path])
                if step != 3 && step != 4 {
                    #expect(!reads.output.contains("failed"), "\(layoutName) step \(step): \(reads.output)")
                }
                // Any next run ends with the new image.
                let done = try vmprov(["grow-disk", path, "--to", "300M"])
                #expect(done.status == 0, "\(layoutName) step \(step): \(done.output)")
                #expect(!FileManager.default.fileExists(atPath: path + ".vmprov-grow"))
                let final = try run(qemuImg, ["check", "-f", "vdi", path])
                #expect(final.status == 0, "\(layoutName) step \(step): \(final.output)")
                let finalInfo = try run(qemuImg, ["info", "-f", "vdi", "--output=json", path])
                #expect(finalInfo.stdout.contains("\"virtual-size\": 314572800"), "\(finalInfo.stdout)")
                let after = try run(qemuIO, ["-f", "vdi", "-c", "read -P 0xab 0 1M", "-c", "read -P 0xcd 40M 64k",
                                             "-c", "read -P 0 299M 1M", path])
                #expect(!after.output.contains("failed"), "\(layoutName) step \(step): \(after.output)")
            }
        }
    }

    @Test func growDiskByMachineAndRefusals() throws {
        let dir = TempDir()
        let url = dir.write("vm/demo.vbox", storageSample)
        #expect(try vmprov(["add-disk", "--size", "1G", "--name", "extra", url.path]).status == 0)
        let r = try vmprov(["grow-disk", "extra", "--to", "4G", "--vm", url.path])
        #expect(r.status == 0 && r.stdout.contains("from 1 GiB to 4 GiB") && r.stdout.contains("resize2fs"), "\(r.output)")
        let json = try vmprov(["grow-disk", "extra.vdi", "--to", "4G", "--vm", url.path, "--json"])
        #expect(json.stdout.contains("\"newSizeBytes\" : 4294967296"), "\(json.stdout)")
        let shrink = try vmprov(["grow-disk", "extra", "--to", "2G", "--vm", url.path])
        #expect(shrink.status == 65 && shrink.stderr.contains("shrinking"), "\(shrink.stderr)")
        let missing = try vmprov(["grow-disk", "nope", "--to", "2G", "--vm", url.path])
        #expect(missing.status == 65 && missing.stderr.contains("demo.vdi"), "\(missing.stderr)")
        let badSize = try vmprov(["grow-disk", "extra", "--to", "lots", "--vm", url.path])
        #expect(badSize.status == 64, "\(badSize.stderr)")
    }

    @Test func addUSBAddsControllerAndFilterAndPrintsComposeLines() throws {
        let dir = TempDir()
        let url = dir.write("m.vbox", storageSample)
        let r = try vmprov(["add-usb", "--vendor-id", "781", "--product-id", "0x5567", "--name", "stick", url.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("- /dev/bus/usb:/dev/bus/usb") && r.stdout.contains("\"c 189:* rmw\""), "\(r.stdout)")
        #expect(r.stdout.contains("VirtualBox 7.0 and later") && r.stdout.contains("Extension Pack"), "\(r.stdout)")
        let text = String(decoding: bytes(url), as: UTF8.self)
        #expect(text.contains("<Controller name=\"XHCI\" type=\"XHCI\"/>"), "\(text)")
        #expect(text.contains("<DeviceFilter name=\"stick\" active=\"true\" vendorId=\"0781\" productId=\"5567\"/>"), "\(text)")
        let once = bytes(url)
        #expect(try vmprov(["add-usb", "--vendor-id", "0781", "--product-id", "5567", "--name", "stick", url.path]).status == 0)
        #expect(bytes(url) == once)
        let show = try vmprov(["show", url.path])
        #expect(show.stdout.contains("USB filter: stick 0781:5567"), "\(show.stdout)")
        try expectRefusedUntouched(["add-usb", "--vendor-id", "zz", "--product-id", "1"], file: storageSample, code: 65,
                                   message: "hex digits")
        let old = storageSample.replacingOccurrences(of: "1.19-linux", with: "1.14-linux")
        try expectRefusedUntouched(["add-usb", "--vendor-id", "1", "--product-id", "1"], file: old, code: 65,
                                   message: "1.15")
        let removed = try vmprov(["remove-usb", "--name", "stick", url.path])
        #expect(removed.status == 0 && !String(decoding: bytes(url), as: UTF8.self).contains("DeviceFilter name"))
    }

    @Test func snapshotsListsTheCorpusTree() throws {
        guard let corpus = TestPaths.corpus else { return TestPaths.corpusMissing("snapshots command") }
        let dir = corpus.appendingPathComponent("vbox")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasPrefix("luiscidade17__") })
        let r = try vmprov(["snapshots", dir.appendingPathComponent(name).path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("1 snapshot in") && r.stdout.contains("Captura 1") && r.stdout.contains("* current state"),
                "\(r.stdout)")
        #expect(r.stdout.contains("(differencing)"), "\(r.stdout)")
        let none = TempDir()
        let plain = try vmprov(["snapshots", none.write("m.vbox", storageSample).path])
        #expect(plain.stdout.contains("No snapshots"), "\(plain.stdout)")
    }
}
}

