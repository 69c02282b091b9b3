import Foundation
import Testing
import TestSupport

/// `vmprov run` finishing an unattended install against the fake VirtualBox: the guest powers itself off (as the
/// answer files make the installer do), the runner detaches the seed and VISO, deletes them, boots the disk first,
/// clears the record and starts the guest again; a VBoxManage step killed in the middle leaves a record the next
/// run resumes.
extension ProcessSensitive {
@Suite("Runner post-install, end to end", .serialized)
struct PostInstallRunnerTests {
    static let password = "pw-never-logged-9"

    /// A machine made by `create --unattended --profile ubuntu` in the fake's VMDIR.
    func unattendedMachine(_ fake: FakeVirtualBox) throws -> URL {
        let work = TempDir()
        let tree = work.file("tree")
        try FileManager.default.copyItem(
            at: TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/bootmenus/ubuntu-24.04-server"), to: tree)
        try Data("kernel\n".utf8).write(to: tree.appendingPathComponent("casper-vmlinuz"))
        let iso = work.file("installer.iso").path
        let x = try run(try #require(which("xorriso")), ["-abort_on", "FAILURE", "-outdev", iso, "-map", tree.path, "/", "-commit"])
        #expect(x.status == 0, "\(x.output)")
        let digest = try sha256sum(bytes(URL(fileURLWithPath: iso)))
        let r = try vmprov(["create", "--profile", "ubuntu", "--name", "vm", "--dir", fake.vms.path, "--iso", iso,
                            "--checksum", "sha256:\(digest)", "--unattended", "--user", "alice", "--password-stdin"],
                           stdin: Self.password + "\n",
                           environment: ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"])
        #expect(r.status == 0, "\(r.output)")
        return fake.vms.file("vm")
    }

    func xpath(_ file: URL, _ expr: String) throws -> String {
        try run(try #require(which("xmllint")), ["--xpath", expr, file.path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func starts(_ fake: FakeVirtualBox) -> Int {
        ((try? String(contentsOf: fake.home.file("starts.log"), encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func expectFinished(_ folder: URL, _ fake: FakeVirtualBox) throws {
        let vbox = folder.appendingPathComponent("vm.vbox")
        let fm = FileManager.default
        #expect(!fm.fileExists(atPath: folder.appendingPathComponent("vmprov-seed.iso").path), "the seed (hashes) is deleted")
        #expect(!fm.fileExists(atPath: folder.appendingPathComponent("vmprov-installer.viso").path))
        #expect(!fm.fileExists(atPath: folder.appendingPathComponent("vmprov-install").path))
        #expect(fm.fileExists(atPath: folder.appendingPathComponent("installer.iso").path), "the verified ISO stays")
        #expect(try xpath(vbox, "count(//*[local-name()='AttachedDevice'][@type='DVD']/*[local-name()='Image'])") == "0")
        #expect(try xpath(vbox, "string(//*[local-name()='Boot']/*[@position='1']/@device)") == "HardDisk")
        let uuid = try xpath(vbox, "string(/*/*[local-name()='Machine']/@uuid)")
        #expect(try fake.tool("VBoxManage", ["getextradata", uuid, "vmprov/PendingInstall"]).stdout == "No value set!\n")
    }

    @Test func theInstallPowersOffAndTheRunnerBootsTheDisk() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_GUEST_POWEROFF_AFTER": "1"])
        let folder = try unattendedMachine(fake)
        let run = try Spawned([TestPaths.vmprov.path, "run"], environment: fake.environment)
        #expect(run.wait(seconds: 60) == 0, "\(run.output)")
        let out = run.output
        for line in ["powered off after its unattended ubuntu install", "detaching vmprov-seed.iso from SATA port",
                     "detaching vmprov-installer.viso from SATA port", "making the disk the first boot device",
                     "deleted vmprov-seed.iso (it held the password hash)", "cleared vmprov/PendingInstall"] {
            #expect(out.contains(line), "\(line) in \(out)")
        }
        #expect(!out.contains(Self.password))
        #expect(starts(fake) == 2, "installer boot, then the disk")
        try expectFinished(folder, fake)
    }

    @Test func aStepKilledInTheMiddleIsResumedByTheNextRun() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_GUEST_POWEROFF_AFTER": "1", "FAKEVBOX_HANG": "modifyvm"])
        let folder = try unattendedMachine(fake)
        var env = fake.environment
        env["VMPROV_CALL_TIMEOUT"] = "2"
        let first = try Spawned([TestPaths.vmprov.path, "run"], environment: env)
        #expect(first.wait(seconds: 60) != 0, "\(first.output)")
        #expect(first.output.contains("the next run resumes"), "\(first.output)")
        let uuid = try xpath(folder.appendingPathComponent("vm.vbox"), "string(/*/*[local-name()='Machine']/@uuid)")
        let record = try fake.tool("VBoxManage", ["getextradata", uuid, "vmprov/PendingInstall"]).stdout
        #expect(record.hasSuffix(";phase=finishing\n"), "\(record)")
        #expect(starts(fake) == 1)
        env["FAKEVBOX_HANG"] = ""
        let second = try Spawned([TestPaths.vmprov.path, "run"], environment: env)
        #expect(second.wait(seconds: 60) == 0, "\(second.output)")
        #expect(second.output.contains("making the disk the first boot device"))
        #expect(starts(fake) == 2, "resumed before starting: the disk boots, not the installer")
        try expectFinished(folder, fake)
    }
}
}
