import Foundation
import Testing
import TestSupport
import Basics

/// `vmprov run` against the fake VirtualBox: real processes, real signals, real reaping.
extension ProcessSensitive {
@Suite("Runner, end to end", .serialized)
struct RunnerTests {
    func start(_ fake: FakeVirtualBox, env extra: [String: String] = [:]) throws -> Spawned {
        var env = fake.environment
        for (k, v) in extra { env[k] = v }
        return try Spawned([TestPaths.vmprov.path, "run"], environment: env)
    }

    @Test func cleanACPIStop() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("arch", name: "arch")
        let run = try start(fake)
        #expect(run.waitFor("\"arch\" has started"), "\(run.output)")
        run.signal(SIGTERM)
        #expect(run.wait() == 0, "\(run.output)")
        let out = run.output
        #expect(out.contains("Info     \"arch\" has started"))
        #expect(out.contains("sending acpipowerbutton"))
        #expect(!out.contains("savestate"))
        #expect(out.contains("VirtualBox's services have exited"))
        #expect(try fake.state("arch") == "poweroff")
    }

    @Test func aGuestThatIgnoresACPIIsSavedAfterStopTimeout() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_IGNORE_ACPI": "1"])
        fake.addMachine("win", name: "win")
        let run = try start(fake, env: ["STOP_TIMEOUT": "2"])
        #expect(run.waitFor("has started"))
        run.signal(SIGTERM)
        #expect(run.waitFor("saving its state instead"))
        #expect(run.wait() == 0, "\(run.output)")
        #expect(run.output.contains("sending savestate"))
        #expect(!run.output.contains("sending poweroff"))
        #expect(try fake.state("win") == "saved")
    }

    @Test func saveStateFailureFallsBackToPowerOff() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_IGNORE_ACPI": "1", "FAKEVBOX_SAVESTATE_FAIL": "1"])
        fake.addMachine("win", name: "win")
        let run = try start(fake, env: ["STOP_TIMEOUT": "1"])
        #expect(run.waitFor("has started"))
        run.signal(SIGTERM)
        #expect(run.wait() == 0, "\(run.output)")
        #expect(run.output.contains("savestate failed"))
        #expect(run.output.contains("sending poweroff"))
        #expect(try fake.state("win") == "poweroff")
    }

    @Test(arguments: [(SIGINT, "saved", "sending savestate"), (SIGQUIT, "poweroff", "sending poweroff")])
    func signalActions(sig: Int32, state: String, log: String) throws {
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        let run = try start(fake)
        #expect(run.waitFor("has started"))
        run.signal(sig)
        #expect(run.wait() == 0, "\(run.output)")
        #expect(run.output.contains(log))
        #expect(try fake.state("vm") == state)
    }

    @Test func hangUpLeavesTheGuestRunning() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        let run = try start(fake)
        #expect(run.waitFor("has started"))
        run.signal(SIGHUP)
        #expect(run.waitFor("SIGHUP ignored"))
        #expect(try fake.state("vm") == "running")
        run.signal(SIGQUIT)
        #expect(run.wait() == 0)
        #expect(try fake.state("vm") == "poweroff")
    }

    /// Not PID 1, a signal without a handler would end the runner by its default action (signal(7): Term, Core or
    /// Stop) and leave VBoxHeadless running unsupervised. Each is sent in turn to one running `vmprov run`; each
    /// is logged and ignored, the guest keeps running, and a QUIT afterwards still stops it cleanly.
    @Test func everyOtherDeadlySignalIsLoggedAndIgnored() throws {
        let signals: [Int32] = [SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE, SIGPROF, SIGVTALRM, SIGXCPU, SIGXFSZ, SIGIO,
                                SIGPWR, SIGSTKFLT, SIGSYS, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU,
                                __libc_current_sigrtmin() + 3, __libc_current_sigrtmax()]
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        let run = try start(fake)
        #expect(run.waitFor("has started"), "\(run.output)")
        func ignored() -> Int { run.output.components(separatedBy: "ignored (the guest keeps running").count - 1 }
        for (i, sig) in signals.enumerated() {
            run.signal(sig)
            for _ in 0..<200 where ignored() <= i && run.poll() == nil { usleep(50_000) }
            #expect(ignored() == i + 1, "signal \(sig) was logged and ignored: \(run.output)")
            #expect(run.poll() == nil, "vmprov run is still alive after signal \(sig): \(run.output)")
        }
        #expect(run.output.contains("received SIGUSR1") && run.output.contains("received SIGPIPE"))
        #expect(try fake.state("vm") == "running")
        run.signal(SIGQUIT)
        #expect(run.wait() == 0, "\(run.output)")
        #expect(try fake.state("vm") == "poweroff")
    }

    /// A VBoxManage call that never returns (a hung VBoxSVC or guest) is killed with its process group after
    /// VMPROV_CALL_TIMEOUT, and the stop escalates as if the call had failed.
    @Test func aHungACPICallIsKilledAndTheStopEscalates() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_HANG": "acpipowerbutton"])
        fake.addMachine("vm", name: "vm")
        let run = try start(fake, env: ["VMPROV_CALL_TIMEOUT": "2", "STOP_TIMEOUT": "600"])
        #expect(run.waitFor("has started"), "\(run.output)")
        run.signal(SIGTERM)
        #expect(run.wait(seconds: 60) == 0, "\(run.output)")
        let out = run.output
        #expect(out.contains("sending acpipowerbutton"))
        #expect(out.contains("did not finish within 2.0 s (VMPROV_CALL_TIMEOUT); killed it"), "\(out)")
        #expect(out.contains("sending savestate"))
        #expect(try fake.state("vm") == "saved")
        for pid in hungPIDs(fake) { #expect(kill(pid, 0) != 0, "the hung VBoxManage \(pid) was killed") }
    }

    /// While a call hangs, the runner still reads signals: a second TERM abandons the hung ACPI call at once and
    /// saves, long before the call's own limit.
    @Test func aSignalDuringAHungCallIsActedOn() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_HANG": "acpipowerbutton"])
        fake.addMachine("vm", name: "vm")
        let run = try start(fake, env: ["VMPROV_CALL_TIMEOUT": "3600", "STOP_TIMEOUT": "3600"])
        #expect(run.waitFor("has started"), "\(run.output)")
        run.signal(SIGTERM)
        #expect(run.waitFor("sending acpipowerbutton"))
        #expect(waitForHungCall(fake))
        run.signal(SIGTERM)
        #expect(run.wait(seconds: 60) == 0, "\(run.output)")
        let out = run.output
        #expect(out.contains("acpipowerbutton abandoned for a stronger request"), "\(out)")
        #expect(out.contains("sending savestate"))
        #expect(try fake.state("vm") == "saved")
        for pid in hungPIDs(fake) { #expect(kill(pid, 0) != 0, "the hung VBoxManage \(pid) was killed") }
    }

    /// The queries are bounded too: a hung VBoxSVC cannot hang `state` or `healthcheck` (Docker's healthcheck).
    @Test func hungQueriesAreKilledAfterTheCallTimeout() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_HANG": "showvminfo"])
        fake.addMachine("vm", name: "vm")
        #expect(try fake.tool("VBoxManage", ["registervm", fake.vms.file("vm/vm.vbox").path]).status == 0)
        var env = fake.environment
        env["VMPROV_CALL_TIMEOUT"] = "2"
        for command in ["state", "healthcheck"] {
            let r = try run(TestPaths.vmprov.path, [command], environment: env)
            #expect(r.status == 69, "\(command): \(r.output)")
            #expect(r.stderr.contains("showvminfo") && r.stderr.contains("did not finish within 2.0 s"), "\(r.stderr)")
        }
        for pid in hungPIDs(fake) { #expect(kill(pid, 0) != 0, "the hung VBoxManage \(pid) was killed") }
        env["VMPROV_CALL_TIMEOUT"] = "inf"
        let bad = try run(TestPaths.vmprov.path, ["state"], environment: env)
        #expect(bad.status == 64 && bad.stderr.contains("VMPROV_CALL_TIMEOUT=inf"), "\(bad.output)")
    }

    func hungPIDs(_ fake: FakeVirtualBox) -> [Int32] {
        ((try? String(contentsOf: fake.home.file("hung.pids"), encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    func waitForHungCall(_ fake: FakeVirtualBox) -> Bool {
        for _ in 0..<400 where hungPIDs(fake).isEmpty { usleep(50_000) }
        return !hungPIDs(fake).isEmpty
    }

    /// VBoxHeadless may return non-zero for a poweroff; when vmprov asked for it (QUIT, or escalation) and the
    /// machine ended powered off, the run ended cleanly.
    @Test func aRequestedPoweroffIsCleanWhateverVBoxHeadlessReturns() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_POWEROFF_EXIT": "1"])
        fake.addMachine("vm", name: "vm")
        let run = try start(fake)
        #expect(run.waitFor("has started"))
        run.signal(SIGQUIT)
        #expect(run.wait() == 0, "\(run.output)")
        #expect(run.output.contains("VBoxHeadless exit 1, state poweroff"))
        #expect(run.output.contains("the poweroff was vmprov's own request"))
        // A poweroff from outside (not requested by vmprov) with a non-zero exit stays a failure.
        let other = try start(fake)
        #expect(other.waitFor("has started"))
        let uuid = try #require(try fake.tool("VBoxManage", ["list", "vms"]).stdout.split(separator: "{").last?.prefix(36))
        #expect(try fake.tool("VBoxManage", ["controlvm", String(uuid), "poweroff"]).status == 0)
        #expect(other.wait() == 1, "\(other.output)")
    }

    @Test(arguments: ["inf", "nan", "-1", "1e9", "86401", "0x10", "abc", "1e3", "+5"])
    func secondsSettingsTakeFiniteNonNegativeSeconds(value: String) throws {
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        for name in ["STOP_TIMEOUT", "VMPROV_CALL_TIMEOUT", "VMPROV_STARTUP_TIMEOUT", "VMPROV_SERVICE_WAIT"] {
            let run = try start(fake, env: [name: value])
            #expect(run.wait() == 64, "\(name)=\(value): \(run.output)")
            #expect(run.output.contains("\(name)=\(value): give a number of seconds"), "\(run.output)")
            #expect(!run.output.contains("is starting"))
        }
    }

    @Test func stopActionSetsWhatTERMDoes() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        let run = try start(fake, env: ["STOP_ACTION": "savestate"])
        #expect(run.waitFor("has started"))
        run.signal(SIGTERM)
        #expect(run.wait() == 0)
        #expect(try fake.state("vm") == "saved")
    }

    @Test func aSecondTERMEscalatesAtOnce() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_IGNORE_ACPI": "1"])
        fake.addMachine("vm", name: "vm")
        let run = try start(fake, env: ["STOP_TIMEOUT": "600"])
        #expect(run.waitFor("has started"))
        run.signal(SIGTERM)
        #expect(run.waitFor("sending acpipowerbutton"))
        run.signal(SIGTERM)
        #expect(run.wait() == 0, "\(run.output)")
        #expect(!run.output.contains("STOP_TIMEOUT"), "escalated by the second TERM, not by the timer")
        #expect(try fake.state("vm") == "saved")
    }

    @Test func aTERMDuringStartUpIsCarriedOutOnceStarted() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_START_DELAY": "2"])
        fake.addMachine("vm", name: "vm")
        let run = try start(fake)
        #expect(run.waitFor("is starting"))
        run.signal(SIGTERM)
        #expect(run.wait() == 0, "\(run.output)")
        let out = run.output
        #expect(out.contains("will be carried out once it has"))
        let started = try #require(out.range(of: "has started"))
        let sent = try #require(out.range(of: "sending acpipowerbutton"))
        #expect(started.lowerBound < sent.lowerBound)
        #expect(try fake.state("vm") == "poweroff")
    }

    @Test func ctrlCToTheProcessGroupNeverReachesVBoxHeadless() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        let run = try start(fake)
        #expect(run.waitFor("has started"))
        run.signalGroup(SIGINT)
        #expect(run.wait() == 0, "\(run.output)")
        // Had VBoxHeadless got the signal itself, it would have said so and saved on its own.
        #expect(!run.output.contains("VBoxHeadless: signal"))
        #expect(run.output.contains("sending savestate"))
        #expect(try fake.state("vm") == "saved")
    }

    @Test func vboxHeadlessDyingIsAFailure() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        let run = try start(fake)
        #expect(run.waitFor("has started"))
        let pidText = run.output.split(separator: "\n").first { $0.contains("VBoxHeadless pid") }
        let pid = try #require(pidText.flatMap { Int32($0.split(separator: " ").last!.dropLast()) })
        kill(pid, SIGKILL)
        #expect(run.wait() == 1, "\(run.output)")
        #expect(run.output.contains("state aborted"))
    }

    @Test func vboxHeadlessFailingAtStartUpReportsItsOutput() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_HEADLESS_FAIL": "1"])
        fake.addMachine("vm", name: "vm")
        let run = try start(fake)
        #expect(run.wait() == 1)
        #expect(run.output.contains("exited during start-up"))
        #expect(run.output.contains("    Error: failed to start machine."))
    }

    @Test func noVBoxFile() throws {
        let fake = FakeVirtualBox()
        let run = try start(fake)
        #expect(run.wait() == 66)
        #expect(run.output.contains("looked in: \(fake.vms.path)"))
    }

    @Test func registrationFailure() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_REGISTER_FAIL": "1"])
        fake.addMachine("vm", name: "vm")
        let run = try start(fake)
        #expect(run.wait() == 65)
        #expect(run.output.contains("cannot register \(fake.vms.path)/vm/vm.vbox"))
        #expect(run.output.contains("VBoxManage: error: Runtime error opening"))
    }

    @Test func twoVBoxFilesTakeTheFirstAndSaySo() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("b", name: "second")
        fake.addMachine("a", name: "first")
        let run = try start(fake)
        #expect(run.waitFor("has started"))
        #expect(run.output.contains("registering \(fake.vms.path)/a/first.vbox"))
        #expect(run.output.contains("ignoring \(fake.vms.path)/b/second.vbox"))
        run.signal(SIGQUIT)
        #expect(run.wait() == 0)
        // Already registered now: the next run takes the registered one without registering again.
        let again = try start(fake)
        #expect(again.waitFor("\"first\" has started"))
        #expect(!again.output.contains("registering"))
        again.signal(SIGQUIT)
        #expect(again.wait() == 0)
    }

    @Test func secureBootRequestIsCarriedOutOnce() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("w", name: "win11", extraData: ["vmprov/SecureBoot": "requested"], firmware: "EFI")
        let run = try start(fake)
        #expect(run.waitFor("has started"))
        run.signal(SIGQUIT)
        #expect(run.wait() == 0)
        #expect(run.output.contains("secure boot is enabled"))
        let log = try String(contentsOf: fake.home.file("nvram.log"), encoding: .utf8)
        #expect(log == "inituefivarstore\nenrollmssignatures\nenrollorclpk\nsecureboot --enable\n")
        let again = try start(fake)
        #expect(again.waitFor("has started"))
        again.signal(SIGQUIT)
        #expect(again.wait() == 0)
        #expect(!again.output.contains("secure boot"))
    }

    @Test func asPID1InANewPIDNamespaceItReapsOrphansAndExitsCleanly() throws {
        guard geteuid() == 0, let unshare = which("unshare") else {
            print("SKIPPED: PID namespace test needs root and unshare")
            return
        }
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        let run = try Spawned([unshare, "--pid", "--fork", "--mount-proc", "--kill-child", TestPaths.vmprov.path, "run"],
                              environment: fake.environment)
        #expect(run.waitFor("has started"), "\(run.output)")
        // vmprov is the child of unshare, and PID 1 inside.
        let children = try String(contentsOfFile: "/proc/\(run.pid)/task/\(run.pid)/children", encoding: .utf8)
        let inner = try #require(children.split(separator: " ").first.flatMap { Int32($0) })
        let nspid = try String(contentsOfFile: "/proc/\(inner)/status", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("NSpid:") }
        #expect(nspid?.hasSuffix("\t1") == true, "\(String(describing: nspid))")
        // VBoxSVC was started detached, so it is an orphan whose parent is vmprov, PID 1.
        let orphans = hostProcesses().filter { $0.ppid == inner && $0.comm == "VBoxSVC" }
        #expect(orphans.count == 1, "\(hostProcesses().filter { $0.ppid == inner })")
        kill(inner, SIGTERM)
        #expect(run.wait() == 0, "\(run.output)")
        // An unreaped VBoxSVC would stay in /proc as a zombie and vmprov would still be waiting for it.
        #expect(run.output.contains("VirtualBox's services have exited"))
        for orphan in orphans { #expect(kill(orphan.pid, 0) != 0, "VBoxSVC was reaped") }
    }

    func hostProcesses() -> [(pid: Int32, ppid: Int32, comm: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name -> (Int32, Int32, String)? in
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
            let comm = String(stat[stat.index(after: open)..<close])
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let ppid = Int32(fields[1]) else { return nil }
            return (pid, ppid, comm)
        }
    }

    @Test func healthcheckInEachState() throws {
        let fake = FakeVirtualBox()
        fake.addMachine("vm", name: "vm")
        let env = fake.environment
        // Not registered yet.
        let none = try run(TestPaths.vmprov.path, ["healthcheck"], environment: env)
        #expect(none.status == 66)
        #expect(try fake.tool("VBoxManage", ["registervm", fake.vms.file("vm/vm.vbox").path]).status == 0)
        let off = try run(TestPaths.vmprov.path, ["healthcheck"], environment: env)
        #expect(off.status == 1 && off.stdout == "poweroff\n")
        let running = try start(fake)
        #expect(running.waitFor("has started"))
        let on = try run(TestPaths.vmprov.path, ["healthcheck"], environment: env)
        #expect(on.status == 0 && on.stdout == "running\n")
        let state = try run(TestPaths.vmprov.path, ["state", "--json"], environment: env)
        #expect(state.stdout.contains("\"state\" : \"running\"") && state.stdout.contains("\"healthy\" : true"))
        let list = try run(TestPaths.vmprov.path, ["list"], environment: env)
        #expect(list.stdout.hasPrefix("Name=vm\nID="))
        running.signal(SIGINT)
        #expect(running.wait() == 0)
        let saved = try run(TestPaths.vmprov.path, ["healthcheck"], environment: env)
        #expect(saved.status == 0 && saved.stdout == "saved\n")
        // A custom check runs instead, and its exit code is the answer.
        let dir = TempDir()
        let script = dir.write("check", "#!/bin/sh\necho custom\nexit 3\n")
        chmod(script.path, 0o755)
        var custom = env
        custom["HEALTHCHECK_CMD"] = script.path
        let c = try run(TestPaths.vmprov.path, ["healthcheck"], environment: custom)
        #expect(c.status == 3 && c.stdout == "custom\n")
        custom["HEALTHCHECK_CMD"] = dir.file("missing").path
        #expect(try run(TestPaths.vmprov.path, ["healthcheck"], environment: custom).status == 69)
        fake.waitForServicesToExit()
    }
}
}
