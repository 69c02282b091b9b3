import Foundation
import Testing
import TestSupport

/// VirtualBox's format backups (`NAME-1.16-linux.vbox`), `-prev` and `-tmp` files are never the machine: not the
/// default TARGET, not suggested in messages, never registered by `vmprov run`.
extension ProcessSensitive {
@Suite("Which file is the machine, end to end", .serialized)
struct DiscoveryCommandTests {
    @Test func theMachineIsChosenOverItsFormatBackup() throws {
        let dir = TempDir()
        let backup = sample.replacingOccurrences(of: "version=\"1.19-linux\"", with: "version=\"1.16-linux\"")
        dir.write("up-1.16-linux.vbox", backup)
        dir.write("up.vbox-prev", sample)
        dir.write("up.vbox-tmp", "half")
        let url = dir.write("up.vbox", sample)
        let r = try vmprov(["add-forward", dir.path, "--force", "--name", "ssh", "--host-port", "2222", "--guest-port", "22"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("in \(dir.path)/up.vbox"))
        #expect(String(decoding: bytes(url), as: UTF8.self).contains("name=\"ssh\""))
        #expect(bytes(dir.file("up-1.16-linux.vbox")) == Data(backup.utf8))
        let show = try vmprov(["show", "--json"], environment: ["VMDIR": dir.path])
        #expect(show.status == 0, "\(show.output)")
        #expect(show.stdout.contains("1.19-linux"))
    }

    @Test func onlyABackupIsAnErrorThatSaysWhatToDo() throws {
        let dir = TempDir()
        let backup = dir.write("up-1.16-linux.vbox", sample)
        let r = try vmprov(["enable-rdp", dir.path, "--force"])
        #expect(r.status == 66, "\(r.output)")
        #expect(r.stderr.contains("only up-1.16-linux.vbox") && r.stderr.contains("raises the settings format"))
        #expect(r.stderr.contains("Restore the machine's file (up.vbox"))
        #expect(r.stderr.contains("\(dir.path)/up-1.16-linux.vbox"))
        #expect(bytes(backup) == Data(sample.utf8))
        // Named explicitly, the copy is used: the user asked for it.
        let explicit = try vmprov(["show", backup.path])
        #expect(explicit.status == 0, "\(explicit.output)")
    }

    @Test func twoMachinesAreStillAUsageErrorAndBackupsAreNotSuggested() throws {
        let dir = TempDir()
        dir.write("a.vbox", sample)
        dir.write("b.vbox", sample)
        dir.write("a-1.16-linux.vbox", sample)
        let r = try vmprov(["disable-rdp", dir.path, "--force"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("2 .vbox files in this folder (a.vbox, b.vbox)"), "\(r.stderr)")
        #expect(!r.stderr.contains("1.16-linux"))
    }

    @Test func runRegistersTheMachineNotItsBackup() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("up", name: "up")
        // The backup sorts first (`-` before `.`); it is another machine here so that taking it would show.
        let stale = fake.addMachine("up-old", name: "stale")
        try FileManager.default.moveItem(atPath: stale.path, toPath: fake.vms.path + "/up/up-1.16-linux.vbox")
        let run = try Spawned([TestPaths.vmprov.path, "run"], environment: fake.environment)
        #expect(run.waitFor("\"up\" has started"), "\(run.output)")
        #expect(run.output.contains("registering \(fake.vms.path)/up/up.vbox"))
        #expect(!run.output.contains("ignoring"))
        #expect(!run.output.contains("stale"))
        run.signal(SIGQUIT)
        #expect(run.wait() == 0, "\(run.output)")
    }

    @Test func runWithOnlyABackupSaysWhatItFound() throws {
        let fake = FakeVirtualBox()
        let machine = fake.addMachine("up", name: "up")
        try FileManager.default.moveItem(atPath: machine.path, toPath: fake.vms.path + "/up/up-1.16-linux.vbox")
        let run = try Spawned([TestPaths.vmprov.path, "run"], environment: fake.environment)
        #expect(run.wait() == 66, "\(run.output)")
        #expect(run.output.contains("no machine is registered"))
        #expect(run.output.contains("\(fake.vms.path)/up/up-1.16-linux.vbox"))
        #expect(run.output.contains("never registered"))
    }
}
}
