import Foundation
import Provision
import Testing
import TestSupport

func transcript(_ path: String) -> String? {
    guard let corpus = TestPaths.corpus else { return nil }
    return String(decoding: bytes(corpus.appendingPathComponent("vboxmanage/" + path)), as: UTF8.self)
}

@Suite("VirtualBox output parsers and argv")
struct VirtualBoxParserTests {
    @Test func versionsIncludingWarningsAndSuffixes() throws {
        #expect(VBoxVersion.parse("7.1.4r165100\n") == VBoxVersion(major: 7, minor: 1, build: 4, suffix: "", revision: 165100))
        #expect(VBoxVersion.parse("7.0.20_Ubuntur163906")?.number == "7.0.20")
        #expect(VBoxVersion.parse("7.0.20_Ubuntur163906")?.suffix == "_Ubuntu")
        #expect(VBoxVersion.parse("6.1.38_Ubuntur153438")?.revision == 153438)
        #expect(VBoxVersion.parse("WARNING: Environment variable LOGNAME or USER does not correspond to effective user id.\n7.1.4r165100\n")?.number == "7.1.4")
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (version transcripts)"))
    func versionTranscripts() throws {
        for (file, expected) in [("7.1/version-logname-warning-7.1.4.txt", "7.1.4"), ("7.0/version-7.0.20-oracle.txt", "7.0.20"),
                                 ("6.1/version-6.1.38_Ubuntu.txt", "6.1.38"), ("6.1/version-6.1.32-oracle.txt", "6.1.32"),
                                 ("6.1/version-vboxdrv-warning-rpmfusion-fedora.txt", nil),
                                 ("6.1/wrapper-warning-vboxdrv-not-loaded-manjaro.txt", nil)] as [(String, String?)] {
            let text = try #require(transcript(file))
            // Drop the "$ command" lines the captures carry.
            let output = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("$ ") }
                .joined(separator: "\n")
            if let expected {
                #expect(VBoxVersion.parse(output)?.number == expected, "\(file)")
            } else {
                _ = VBoxVersion.parse(output)  // must not crash on warning-only text
            }
        }
    }

    @Test func listVMsParsing() throws {
        #expect(VMListParser.parse("\"a \\\"b\\\" {c}\" {2e16b1fc-675d-4a7a-a9a1-e89a8bde7874}\r\n") ==
                [VMListEntry(name: "a \\\"b\\\" {c}", uuid: "2e16b1fc-675d-4a7a-a9a1-e89a8bde7874")])
        #expect(VMListParser.parse("").isEmpty)
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (list vms transcripts)"))
    func listVMsTranscripts() throws {
        let two = try #require(transcript("5.2/list-vms-two-vms.txt"))
        #expect(VMListParser.parse(two).map(\.name) == ["Ubuntu", "go-virtualbox"])
        let spaces = try #require(transcript("unknown/list-vms-inaccessible-macos-names-with-spaces.txt"))
        let entries = VMListParser.parse(spaces)
        #expect(entries.first?.inaccessible == true)
        #expect(entries.contains { $0.name == "Hortonworks Sandbox with HDP 2.3.2" })
        // The fixture is a Python list of the output's lines.
        let fixture = try #require(transcript("unknown/list-vms-fixture-gns3-name-with-newline.txt"))
        let lines = fixture.split(separator: "\n").compactMap { line -> String? in
            guard let a = line.firstIndex(of: "'"), let b = line.lastIndex(of: "'"), a < b else { return nil }
            return String(line[line.index(after: a)..<b])
        }
        let parsed = VMListParser.parse(lines.joined(separator: "\n"))
        #expect(parsed.map(\.name) == ["Windows 8.1", "Carriage\nReturn", "<inaccessible>", "Linux Microcore 4.7.1"])
        let warning = try #require(transcript("4.3/list-runningvms-vboxdrv-warning-annotate-output.txt"))
        #expect(!VMListParser.parse(warning).contains { $0.name.hasPrefix("WARNING") })
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (showvminfo transcripts)"))

    func showVMInfoTranscripts() throws {
        let text = try #require(transcript("7.0/showvminfo-machinereadable-poweroff-encryption-line.txt"))
        let info = MachineInfo(parsing: text)
        #expect(info.state == .poweroff)
        #expect(info["name"] == "manjaro-gnome-x64-full-clean")
        #expect(info["memory"] == "4096")
        #expect(info["BIOS NVRAM File"]?.hasSuffix(".nvram") == true)
        #expect(info.pairs.contains { $0.key == "Encryption:     disabled" && $0.value == nil })
        #expect(info["description"]?.contains("\n") == true, "multi-line values are joined")
        let saved = try #require(transcript("5.2/showvminfo-machinereadable-saved-macos.txt"))
        #expect(MachineInfo(parsing: saved).state == .saved)
        let windows = try #require(transcript("6.0/showvminfo-machinereadable-running-windows-vagrant-debug-excerpt.txt"))
        let w = MachineInfo(parsing: windows)
        #expect(w["CfgFile"]?.contains("\\VirtualBox VMs\\") == true, "doubled backslashes are unescaped")
        for state in VMState.allCases {
            #expect(MachineInfo(parsing: "VMState=\"\(state.rawValue)\"\n").state == state)
        }
    }

    @Test func quotedKeysGluedLinesAndPlaceholders() {
        let text = "\"SATA Controller-0-0\"=\"/vms/a b.vdi\"\ncpuid=00000001,00000000,1,2,3,4bootmenu=\"messageandmenu\"\n"
            + "vrdeproperty[VideoChannel/Enabled]=<not set>\nVideoMode=\"1024,768,32\"@0,0 1\n rec_screen0\nVMState=\"running\"\n"
        let info = MachineInfo(parsing: text)
        #expect(info["SATA Controller-0-0"] == "/vms/a b.vdi")
        #expect(info["vrdeproperty[VideoChannel/Enabled]"] == "<not set>")
        #expect(info["VideoMode"] == "1024,768,32@0,0 1")
        #expect(info.state == .running)
    }

    @Test func argvBuilders() {
        #expect(VirtualBoxTools.listVMs() == ["list", "vms"])
        #expect(VirtualBoxTools.showVMInfo("u") == ["showvminfo", "u", "--machinereadable"])
        #expect(VirtualBoxTools.controlVM("u", .acpi) == ["controlvm", "u", "acpipowerbutton"])
        #expect(VirtualBoxTools.controlVM("u", .savestate) == ["controlvm", "u", "savestate"])
        #expect(VirtualBoxTools.registerVM("/vms/a b/x.vbox") == ["registervm", "/vms/a b/x.vbox"])
        #expect(VirtualBoxTools.startHeadless("u") == ["--startvm", "u"])
        #expect(VirtualBoxTools.secureBootSteps("u").map { $0.dropFirst(2).joined(separator: " ") }
                == ["inituefivarstore", "enrollmssignatures", "enrollorclpk", "secureboot --enable"])
        #expect(VirtualBoxTools.installExtensionPack("/p.vbox-extpack", licenseSHA256: "ab")
                == ["extpack", "install", "--replace", "--accept-license=ab", "/p.vbox-extpack"])
        #expect(VBoxErrorText.firstError("VBoxManage: error: Machine 'x' is not currently running.\n") == "Machine 'x' is not currently running.")
    }
}

@Suite("Stop policy")
struct StopPolicyTests {
    @Test(arguments: [
        // signal, current action, expected
        (SIGTERM, nil, GuestAction.acpi),
        (SIGINT, nil, .savestate),
        (SIGQUIT, nil, .poweroff),
        (SIGTERM, .acpi, .savestate),
        (SIGTERM, .savestate, .poweroff),
        (SIGINT, .acpi, .savestate),
        (SIGQUIT, .acpi, .poweroff),
        (SIGQUIT, .savestate, .poweroff),
    ] as [(Int32, GuestAction?, GuestAction)])
    func signalTable(signal: Int32, current: GuestAction?, expected: GuestAction) {
        let p = StopPolicy(termAction: .acpi, stopTimeout: .seconds(10))
        #expect(p.action(for: signal, current: current.map { StopState(action: $0, since: .zero) }) == expected)
    }

    @Test func nothingWeakensAStopOrActsOnHUP() {
        let p = StopPolicy()
        #expect(p.action(for: SIGINT, current: StopState(action: .savestate, since: .zero)) == nil)
        #expect(p.action(for: SIGINT, current: StopState(action: .poweroff, since: .zero)) == nil)
        #expect(p.action(for: SIGTERM, current: StopState(action: .poweroff, since: .zero)) == nil)
        #expect(p.action(for: SIGHUP, current: nil) == nil)
    }

    @Test func stopActionAndTimeout() {
        #expect(StopPolicy(termAction: .savestate).action(for: SIGTERM, current: nil) == .savestate)
        #expect(StopPolicy(termAction: .poweroff).action(for: SIGTERM, current: nil) == .poweroff)
        let p = StopPolicy(termAction: .acpi, stopTimeout: .seconds(30))
        #expect(p.actionOnTick(current: StopState(action: .acpi, since: .seconds(100)), now: .milliseconds(129_900)) == nil)
        #expect(p.actionOnTick(current: StopState(action: .acpi, since: .seconds(100)), now: .seconds(130)) == .savestate)
        #expect(p.actionOnTick(current: StopState(action: .savestate, since: .zero), now: .seconds(1000)) == nil)
        #expect(p.actionAfterFailure(of: .acpi) == .savestate)
        #expect(p.actionAfterFailure(of: .savestate) == .poweroff)
        #expect(p.actionAfterFailure(of: .poweroff) == nil)
        #expect(GuestAction(userValue: "ACPI") == .acpi && GuestAction(userValue: "nope") == nil)
    }

    @Test func healthyStates() {
        #expect(VMState.allCases.filter(\.isHealthy) == [.saved, .running, .paused, .saving, .restoring])
    }
}

@Suite("Runner rules and the RDP rule")
struct RunnerRuleTests {
    @Test(arguments: [("6.1.50", true), ("7.0.26", true), ("7.1.16", true), ("7.2.0", true), ("7.2.4", true),
                      ("7.2.5", true), ("7.2.6", false), ("7.2.14", false), ("7.3.0", false), ("8.0.0", false)])
    func vrdeNeedsTheExtensionPackBefore726(version: String, needs: Bool) throws {
        let v = try #require(VBoxVersion.parse(version + "r1"))
        #expect(vrdeNeedsExtensionPack(virtualBoxVersion: v) == needs)
    }

    /// The outcome rule: VBoxHeadless 0 with poweroff/saved, or a poweroff vmprov requested that ended poweroff.
    @Test func outcomeJudgedByFinalStateAndExitStatus() {
        #expect(RunOutcome(finalState: .poweroff, headlessStatus: 0, poweroffRequested: false).exitCode == 0)
        #expect(RunOutcome(finalState: .saved, headlessStatus: 0, poweroffRequested: false).exitCode == 0)
        #expect(RunOutcome(finalState: .poweroff, headlessStatus: 1, poweroffRequested: true).exitCode == 0)
        #expect(RunOutcome(finalState: .poweroff, headlessStatus: 1, poweroffRequested: false).exitCode == 1)
        #expect(RunOutcome(finalState: .saved, headlessStatus: 1, poweroffRequested: true).exitCode == 1)
        #expect(RunOutcome(finalState: .aborted, headlessStatus: 0, poweroffRequested: true).exitCode == 1)
        #expect(RunOutcome(finalState: nil, headlessStatus: 0, poweroffRequested: true).exitCode == 1)
        #expect(RunOutcome(finalState: .running, headlessStatus: 0, poweroffRequested: false).exitCode == 1)
    }

    @Test func secondsSettings() throws {
        #expect(try RunnerConfig.seconds("STOP_TIMEOUT", nil, fallback: 120) == 120)
        #expect(try RunnerConfig.seconds("STOP_TIMEOUT", "0", fallback: 120) == 0)
        #expect(try RunnerConfig.seconds("STOP_TIMEOUT", "90.5", fallback: 120) == 90.5)
        #expect(try RunnerConfig.seconds("STOP_TIMEOUT", "86400", fallback: 120) == 86400)
        for bad in ["inf", "Infinity", "nan", "-1", "-0.5", "86400.5", "1e3", "0x1p3", "", " ", ".", "1.2.3", "５"] {
            #expect(throws: RunnerError.self, "\(bad)") { try RunnerConfig.seconds("STOP_TIMEOUT", bad, fallback: 1) }
        }
        #expect(throws: RunnerError.self) { try RunnerConfig.seconds("VMPROV_CALL_TIMEOUT", "0", fallback: 30, allowZero: false) }
        do {
            _ = try RunnerConfig.seconds("STOP_TIMEOUT", "inf", fallback: 1)
        } catch {
            #expect(error.description.hasPrefix("STOP_TIMEOUT=inf: give a number of seconds"))
        }
    }

    /// signal(7): every signal whose default action terminates, dumps core or stops the process is taken over.
    @Test func theRunnerTakesOverEveryDeadlySignal() {
        let handled = Set(Runner.handledSignals)
        for sig in [SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE,
                    SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSYS,
                    SIGTSTP, SIGTTIN, SIGTTOU, __libc_current_sigrtmin(), __libc_current_sigrtmax()] {
            #expect(handled.contains(sig), "signal \(sig)")
        }
        #expect(!handled.contains(SIGKILL) && !handled.contains(SIGSTOP) && !handled.contains(SIGWINCH))
    }
}
