import Foundation
import Testing
import TestSupport

/// `vmprov snapshot take|restore|delete` through a running `vmprov run` and the fake VirtualBox: the request goes
/// over the runner's control socket, VBoxManage runs in the runner's process loop, the .vbox changes as the fake
/// VirtualBox writes it, and `vmprov snapshots` reads it back.
extension ProcessSensitive {
@Suite("Snapshot commands through the runner", .serialized)
struct SnapshotCommandTests {
    func vmprov(_ args: [String], _ fake: FakeVirtualBox) throws -> RunResult {
        try run(TestPaths.vmprov.path, args, environment: fake.environment)
    }

    /// The snapshot tree as `vmprov snapshots --json` reads it: (names depth first, current snapshot UUID).
    func tree(_ fake: FakeVirtualBox, _ vbox: URL) throws -> (names: [String], current: String?, json: [String: Any]) {
        let r = try vmprov(["snapshots", vbox.path, "--json"], fake)
        #expect(r.status == 0, "\(r.output)")
        let json = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
        var names: [String] = []
        func walk(_ node: [String: Any]) {
            names.append(node["name"] as? String ?? "?")
            for child in node["children"] as? [[String: Any]] ?? [] { walk(child) }
        }
        if let root = json["root"] as? [String: Any] { walk(root) }
        return (names, json["currentSnapshot"] as? String, json)
    }

    func startRunner(_ fake: FakeVirtualBox, env extra: [String: String] = [:]) throws -> Spawned {
        var env = fake.environment
        for (k, v) in extra { env[k] = v }
        let run = try Spawned([TestPaths.vmprov.path, "run"], environment: env)
        #expect(run.waitFor("has started"), "\(run.output)")
        return run
    }

    @Test func withoutARunnerTheRequestIsRefused() throws {
        let fake = FakeVirtualBox()
        let vbox = fake.addMachine("vm", name: "vm")
        let before = try Data(contentsOf: vbox)
        let r = try vmprov(["snapshot", "take", "first"], fake)
        #expect(r.status == 69, "\(r.output)")
        #expect(r.stderr.contains("no runner answers at \(fake.vms.path)/.vmprov/control.sock"), "\(r.stderr)")
        #expect(r.stderr.contains("docker exec"), "says where to run it: \(r.stderr)")
        #expect(try Data(contentsOf: vbox) == before)
        // A bad name is refused before anything is sent.
        let bad = try vmprov(["snapshot", "take", "a\u{1B}[2J"], fake)
        #expect(bad.status == 64, "\(bad.output)")
        #expect(bad.stderr.contains("U+1B"), "\(bad.stderr)")
    }

    /// Another user cannot reach the runner's folder (mode 700); vmprov says whose it is and how to ask as that
    /// user, exit 74 (needs root to run the client as uid 65534).
    @Test(.enabled(if: getuid() == 0)) func anotherUserIsToldWhoseRunnerItIs() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        let runner = try startRunner(fake)
        #expect(chmod(fake.vms.path, 0o755) == 0)
        var env = fake.environment
        env["VMDIR"] = fake.vms.path
        let r = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", TestPaths.vmprov.path,
                                            "snapshot", "take", "x"], environment: env)
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains("it belongs to uid 0, not to uid 65534; run vmprov snapshot as the runner's user "
            + "(docker exec -u 0"), "\(r.stderr)")
        runner.signal(SIGQUIT)
        #expect(runner.wait() == 0, "\(runner.output)")
        #expect(!runner.output.contains("snapshot take \"x\" requested"))
    }

    @Test func takeDeleteAndARefusedRestoreWhileRunning() throws {
        let fake = FakeVirtualBox()
        let vbox = fake.addMachine("vm", name: "vm")
        let runner = try startRunner(fake)

        let first = try vmprov(["snapshot", "take", "first"], fake)
        #expect(first.status == 0, "\(first.output)\n\(runner.output)")
        #expect(first.stdout.contains("snapshot take \"first\" of \"vm\": done"), "\(first.stdout)")
        #expect(first.stdout.contains("Snapshot taken. UUID: "))
        let second = try vmprov(["snapshot", "take", "second", fake.vms.path, "--json"], fake)
        #expect(second.status == 0, "\(second.output)")
        let reply = (try JSONSerialization.jsonObject(with: Data(second.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(reply["outcome"] as? String == "done")
        let secondUUID = reply["uuid"] as? String
        #expect(secondUUID?.count == 36, "\(second.stdout)")

        var listing = try tree(fake, vbox)
        #expect(listing.names == ["first", "second"], "\(listing.json)")
        #expect(listing.current == secondUUID)
        let text = try vmprov(["snapshots", vbox.path], fake).stdout
        #expect(text.contains("(online)"), "taken while running: \(text)")

        let restore = try vmprov(["snapshot", "restore", "first"], fake)
        #expect(restore.status == 65, "\(restore.output)")
        #expect(restore.stderr.contains("powered off or saved") && restore.stderr.contains("--power-off"),
                "\(restore.stderr)")
        #expect(try tree(fake, vbox).current == secondUUID, "nothing restored")

        let missing = try vmprov(["snapshot", "delete", "nope"], fake)
        #expect(missing.status == 69, "\(missing.output)")
        #expect(missing.stderr.contains("Could not find a snapshot named 'nope'"), "\(missing.stderr)")

        let delete = try vmprov(["snapshot", "delete", "first"], fake)
        #expect(delete.status == 0, "\(delete.output)")
        #expect(delete.stdout.contains("Deleting snapshot 'first'"), "\(delete.stdout)")
        listing = try tree(fake, vbox)
        #expect(listing.names == ["second"], "\(listing.json)")
        #expect(listing.current == secondUUID)

        #expect(try fake.state("vm") == "running")
        runner.signal(SIGQUIT)
        #expect(runner.wait() == 0, "\(runner.output)")
        #expect(runner.output.contains("snapshot take \"first\" requested"))
        // After the run the socket is gone: a request says no runner.
        let after = try vmprov(["snapshot", "take", "late"], fake)
        #expect(after.status == 69, "\(after.output)")
    }

    /// A TERM that arrives while VBoxManage takes the snapshot: the snapshot completes, then the guest is shut
    /// down (ACPI) and the runner ends cleanly; the snapshot is in the .vbox.
    @Test func aTERMDuringASnapshotStillStopsTheGuestCleanly() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_SNAPSHOT_DELAY": "2"])
        let vbox = fake.addMachine("vm", name: "vm")
        let runner = try startRunner(fake)
        let client = try Spawned([TestPaths.vmprov.path, "snapshot", "take", "during-stop"], environment: fake.environment)
        var snapshotting = false
        for _ in 0..<200 where !snapshotting {
            snapshotting = (try? fake.state("vm")) == "onlinesnapshotting"
            if !snapshotting { usleep(25_000) }
        }
        #expect(snapshotting, "the fake VBoxManage is taking the snapshot")
        runner.signal(SIGTERM)
        #expect(client.wait() == 0, "\(client.output)")
        #expect(runner.wait() == 0, "\(runner.output)")
        let out = runner.output
        let received = out.range(of: "received SIGTERM")?.lowerBound
        let done = out.range(of: "snapshot take \"during-stop\" of \"vm\": done")?.lowerBound
        let acpi = out.range(of: "sending acpipowerbutton")?.lowerBound
        #expect(received != nil && done != nil && acpi != nil, "\(out)")
        if let received, let done, let acpi {
            #expect(received < done && done < acpi, "TERM logged during the call, acted on after it: \(out)")
        }
        #expect(try fake.state("vm") == "poweroff")
        #expect(try tree(fake, vbox).names == ["during-stop"])
    }

    /// `restore --power-off`: the runner powers the guest off, restores once VBoxHeadless has exited, answers,
    /// and ends cleanly; the .vbox's current snapshot is the restored one.
    @Test func restoreWithPowerOff() throws {
        let fake = FakeVirtualBox()
        let vbox = fake.addMachine("vm", name: "vm")
        let runner = try startRunner(fake)
        #expect(try vmprov(["snapshot", "take", "base"], fake).status == 0)
        #expect(try vmprov(["snapshot", "take", "later"], fake).status == 0)
        let base = try tree(fake, vbox).json["root"] as? [String: Any]
        let restore = try vmprov(["snapshot", "restore", "base", "--power-off"], fake)
        #expect(restore.status == 0, "\(restore.output)\n\(runner.output)")
        #expect(restore.stdout.contains("Restoring snapshot 'base'"), "\(restore.stdout)")
        #expect(runner.wait() == 0, "\(runner.output)")
        #expect(runner.output.contains("sending poweroff"))
        // "base" was taken while the guest ran: restoring it brings its saved state back.
        #expect(try fake.state("vm") == "saved")
        #expect(try tree(fake, vbox).current == base?["uuid"] as? String)
        // --power-off is for restore only.
        let misuse = try vmprov(["snapshot", "take", "x", "--power-off"], fake)
        #expect(misuse.status == 64, "\(misuse.output)")
    }
}
}
