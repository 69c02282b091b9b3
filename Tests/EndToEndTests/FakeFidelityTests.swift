import Foundation
import Provision
import Testing
import TestSupport

/// The fake VirtualBox prints what the real tools print: compared with the captured transcripts.
extension ProcessSensitive {
@Suite("Fake VirtualBox matches the transcripts", .serialized)
struct FakeFidelityTests {
    func transcript(_ path: String) -> String? {
        guard let corpus = TestPaths.corpus else { return nil }
        return String(decoding: bytes(corpus.appendingPathComponent("vboxmanage/" + path)), as: UTF8.self)
    }

    /// The output lines of a capture, without its "$ command" lines and with line numbers masked.
    func outputLines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.hasPrefix("$ ") }
    }

    func masked(_ line: String) -> String {
        line.replacingOccurrences(of: #"at line \d+ of"#, with: "at line N of", options: .regularExpression)
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (fidelity)"))

    func versionWithWrapperWarning() throws {
        let real = try #require(transcript("7.1/version-logname-warning-7.1.4.txt"))
        let fake = FakeVirtualBox(version: "7.1.4", knobs: ["FAKEVBOX_WARN": "logname"])
        let out = try fake.tool("VBoxManage", ["--version"])
        let expected = outputLines(real).prefix(2).joined(separator: "\n") + "\n"
        #expect(out.stdout == expected)
        #expect(VBoxVersion.parse(out.stdout)?.number == "7.1.4")
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (fidelity)"), arguments: [("6.1.32", "6.1/vboxheadless-startvm-ctrl-c-savestate-6.1.32.txt"),
                      ("7.0.16_Ubuntu", "7.0/vboxheadless-startvm-vrde-7.0.16_Ubuntu.txt")])
    func headlessBannerAndSignalSave(version: String, file: String) throws {
        let real = try #require(transcript(file))
        let fake = FakeVirtualBox(version: version)
        fake.addMachine("vm", name: "vm")
        #expect(try fake.tool("VBoxManage", ["registervm", fake.vms.file("vm/vm.vbox").path]).status == 0)
        let headless = try Spawned([fake.bin.file("VBoxHeadless").path, "--startvm", "vm"], environment: fake.environment)
        #expect(headless.waitFor("100%"))
        let realBanner = outputLines(real).prefix(version.hasPrefix("6") ? 4 : 3)
        #expect(Array(headless.output.split(separator: "\n", omittingEmptySubsequences: false).prefix(realBanner.count).map(String.init)) == Array(realBanner))
        #expect(headless.output.contains("Starting virtual machine: 10%...20%...30%...40%...50%...60%...70%...80%...90%...100%"))
        headless.signal(SIGINT)
        #expect(headless.wait() == 0)
        if version.hasPrefix("6") {
            let saveLine = try #require(outputLines(real).first { $0.contains("Saving the execution state") })
            #expect(headless.output.contains(String(saveLine.dropFirst(2))))  // the capture starts with the echoed ^C
            #expect(!headless.output.contains("VBoxHeadless: signal"))
        } else {
            #expect(headless.output.contains("VBoxHeadless: signal Interrupt(on thread main)\n"))
        }
        #expect(try fake.state("vm") == "saved")
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (fidelity)"))

    func listAndShowVMInfoFollowTheRealGrammar() throws {
        let real = try #require(transcript("7.0/showvminfo-machinereadable-poweroff-encryption-line.txt"))
        let fake = FakeVirtualBox(version: "7.0.6")
        fake.addMachine("vm", name: "my \"quoted\" vm", uuid: "19e117b3-06f4-4a1e-851d-47336ad6a142")
        #expect(try fake.tool("VBoxManage", ["registervm", fake.vms.file("vm/my \"quoted\" vm.vbox").path]).status == 0)
        let list = try fake.tool("VBoxManage", ["list", "vms"]).stdout
        #expect(list == "\"my \"quoted\" vm\" {19e117b3-06f4-4a1e-851d-47336ad6a142}\n")
        #expect(VMListParser.parse(list) == [VMListEntry(name: "my \"quoted\" vm", uuid: "19e117b3-06f4-4a1e-851d-47336ad6a142")])
        let info = try fake.tool("VBoxManage", ["showvminfo", "19e117b3-06f4-4a1e-851d-47336ad6a142", "--machinereadable"]).stdout
        let parsed = MachineInfo(parsing: info)
        #expect(parsed["name"] == "my \"quoted\" vm")
        #expect(parsed.state == .poweroff)
        // Every key the fake prints is a real 7.0 key, in the real order.
        let realKeys = MachineInfo(parsing: real).pairs.map(\.key)
        let fakeKeys = parsed.pairs.map(\.key)
        let positions = fakeKeys.map { realKeys.firstIndex(of: $0) }
        #expect(!positions.contains(nil), "\(zip(fakeKeys, positions).filter { $0.1 == nil }.map(\.0))")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        #expect(info.contains("\nEncryption:     disabled\n"))
        #expect(info.contains("VMStateChangeTime=\"") && !info.contains("Z\"\nvmstate"))
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (fidelity)"))

    func errorsMatchTheCapturedText() throws {
        let notFound = try #require(transcript("6.0/showvminfo-vm-not-found-macos.txt"))
        let fake = FakeVirtualBox(version: "6.1.36")
        let r = try fake.tool("VBoxManage", ["showvminfo", "macOS-VM", "--machinereadable"])
        #expect(r.status == 1)
        #expect(r.stderr.split(separator: "\n").map { masked(String($0)) } == notFound.split(separator: "\n").map { masked(String($0)) })
        // controlvm on a machine that is not running (6.1 without, 7.x with the final period).
        fake.addMachine("vm", name: "Ubuntu_14.04-owncloud-8.2.2-1.1-201601260932")
        _ = try fake.tool("VBoxManage", ["registervm", fake.vms.file("vm/Ubuntu_14.04-owncloud-8.2.2-1.1-201601260932.vbox").path])
        let c = try fake.tool("VBoxManage", ["controlvm", "Ubuntu_14.04-owncloud-8.2.2-1.1-201601260932", "acpipowerbutton"])
        let captured = try #require(transcript("5.0/controlvm-not-running-then-export.txt")?.split(separator: "\n").first)
        #expect(c.status == 1 && c.stderr == captured + "\n")
        let seven = FakeVirtualBox(version: "7.1.4")
        seven.addMachine("vm", name: "x")
        _ = try seven.tool("VBoxManage", ["registervm", seven.vms.file("vm/x.vbox").path])
        #expect(try seven.tool("VBoxManage", ["controlvm", "x", "poweroff"]).stderr == "VBoxManage: error: Machine 'x' is not currently running.\n")
        fake.waitForServicesToExit()
        seven.waitForServicesToExit()
    }

    @Test func vboxSVCLingersAfterItsLastClient() throws {
        let fake = FakeVirtualBox(knobs: ["FAKEVBOX_SVC_LINGER": "3"])
        _ = try fake.tool("VBoxManage", ["list", "vms"])
        let pid = try #require(Int32(try String(contentsOf: fake.home.file("svc.pid"), encoding: .utf8)))
        var seen = false
        for _ in 0..<40 where !seen {
            seen = ProcessTable.find(names: ["VBoxSVC"], uid: getuid()).contains { $0.pid == pid }
            usleep(25_000)
        }
        #expect(seen, "the fake service shows up as VBoxSVC in /proc")
        usleep(700_000)
        #expect(kill(pid, 0) == 0, "still there shortly after the last client")
        fake.waitForServicesToExit(seconds: 10)
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        #expect(kill(pid, 0) != 0 || stat.contains(") Z "))
    }
}
}
