import Foundation
import Provision
import Testing
@testable import VMProvCLI

/// The command context: settings from one environment snapshot, checked when used, reported under `--verbose`.
@Suite("Command context")
struct ContextTests {
    @Test func emptyVariablesCountAsUnset() {
        let env = Environment(["VMDIR": "", "VMPROV_PROFILES": "/p"])
        #expect(env[.vmDir] == nil)
        #expect(env[.profiles] == "/p")
        #expect(env.entries == ["VMDIR=", "VMPROV_PROFILES=/p"])
    }

    @Test func settingsComeFromTheEnvironmentGiven() throws {
        let c = CommandContext(environment: Environment([
            "VMDIR": "/vms", "VMPROV_PROFILES": "/a:/b", "VMPROV_GUEST_ADDITIONS": "none", "HEALTHCHECK_CMD": "/bin/x",
            "TERM": "dumb", "VMPROV_CACHE": "/c", "VMPROV_LOCK_TIMEOUT": "2.5", "VMPROV_CALL_TIMEOUT": "7",
        ]))
        #expect(c.vmDir == "/vms" && c.extraProfileFolders == "/a:/b" && c.guestAdditionsOverride == "none")
        #expect(c.healthcheckCommand == "/bin/x" && !c.terminalDrawsBars)
        #expect(try c.cacheRoot() == "/c")
        #expect(try c.lockTimeout() == 2.5)
        #expect(try c.queryTools().timeout == 7)
        #expect(try CommandContext(environment: Environment(["XDG_CACHE_HOME": "/x"])).cacheRoot() == "/x/vmprov")
        #expect(try CommandContext(environment: Environment(["HOME": "/h"])).cacheRoot() == "/h/.cache/vmprov")
    }

    @Test func defaultsWhenNothingIsSet() throws {
        let c = CommandContext(environment: Environment([:]))
        #expect(c.vmDir == nil && c.terminalDrawsBars && c.testHooks == TestHooks())
        #expect(try c.lockTimeout() == 30)
        #expect(try c.queryTools().timeout == 30)
        let r = try c.runnerConfig()
        #expect(r.vmDir == "." && r.policy.termAction == .acpi && r.policy.stopTimeout == .seconds(120))
        #expect(c.overrides.isEmpty)
    }

    @Test func runnerSettings() throws {
        let c = CommandContext(environment: Environment([
            "VMDIR": "/vms", "STOP_ACTION": "savestate", "STOP_TIMEOUT": "90", "VMPROV_SERVICE_WAIT": "3",
            "VMPROV_STARTUP_TIMEOUT": "4", "VMPROV_CALL_TIMEOUT": "5",
        ]), verbose: true)
        let r = try c.runnerConfig()
        #expect(r.vmDir == "/vms" && r.policy.termAction == .savestate && r.policy.stopTimeout == .seconds(90))
        #expect(r.serviceExitTimeout == .seconds(3) && r.startupTimeout == .seconds(4) && r.callTimeout == .seconds(5) && r.verbose)
    }

    /// Settings are checked when a command uses them: a bad one names its variable and is a usage error (64).
    @Test(arguments: [
        ("STOP_ACTION", "halt", "STOP_ACTION=halt: use acpi, savestate or poweroff."),
        ("STOP_TIMEOUT", "inf", "STOP_TIMEOUT=inf"),
        ("VMPROV_CALL_TIMEOUT", "0", "VMPROV_CALL_TIMEOUT=0"),
        ("VMPROV_SERVICE_WAIT", "-5", "VMPROV_SERVICE_WAIT=-5"),
        ("VMPROV_STARTUP_TIMEOUT", "1e3", "VMPROV_STARTUP_TIMEOUT=1e3"),
    ])
    func badRunnerSettingIsUsage(_ name: String, _ value: String, _ message: String) {
        let c = CommandContext(environment: Environment([name: value]))
        do {
            _ = try c.runnerConfig()
            Issue.record("\(name)=\(value) accepted")
        } catch let e as any HasExitCode {
            #expect(e.exitCode == VMProvExit.usage)
            #expect(e.description.hasPrefix(message), "\(e.description)")
        } catch {
            Issue.record("\(error)")
        }
        // Other commands do not trip over a run setting.
        #expect(throws: Never.self) { try c.lockTimeout() }
    }

    @Test func badLockTimeoutIsUsage() {
        let c = CommandContext(environment: Environment(["VMPROV_LOCK_TIMEOUT": "abc"]))
        #expect { try c.lockTimeout() } throws: { ($0 as? any HasExitCode)?.exitCode == VMProvExit.usage }
    }

    /// `--verbose`: one line per variable set, in `Setting` order, test switches marked; HOME and TERM are not
    /// overrides.
    @Test func overridesAreOneLineEach() {
        let c = CommandContext(environment: Environment([
            "VMPROV_TEST_TIME": "5", "VMDIR": "/x", "HOME": "/h", "TERM": "dumb", "VBOX_USER_HOME": "/v", "OTHER": "1",
        ]), verbose: true)
        #expect(c.overrides == [
            "VMDIR=/x (from environment)",
            "VBOX_USER_HOME=/v (from environment)",
            "VMPROV_TEST_TIME=5 (from environment, test only)",
        ])
    }

    @Test func testHooks() throws {
        let uuids = (1...4).map { "0000000\($0)-0000-4000-8000-000000000000" }.joined(separator: ",")
        let h = TestHooks(environment: Environment([
            "VMPROV_TEST_UUIDS": uuids, "VMPROV_TEST_MAC": "080027000001", "VMPROV_TEST_TIME": "1700000000",
            "VMPROV_TEST_BACKOFF": "0.1", "VMPROV_TEST_STALL_SECONDS": "2", "VMPROV_TEST_FAIL_CURLOPT": "A,B",
            "VMPROV_TEST_SAVE_FAULT": "fsync:crash",
        ]))
        var id = try h.identity()
        let drawn = (0..<4).map { _ in id.nextUUID().description.lowercased() }
        #expect(drawn[0].hasPrefix("00000001") && drawn[3].hasPrefix("00000004"))
        #expect(id.macAddress == "080027000001" && id.time == 1_700_000_000)
        var o = DownloadOptions()
        o.stallSeconds = 30
        h.apply(to: &o)
        #expect(o.initialBackoff == 0.1 && o.maximumBackoff == 0.4 && o.stallSeconds == 2)
        #expect(o.failingCurlOptions == ["A", "B"])
        #expect(h.saveFaultHook() != nil && TestHooks().saveFaultHook() == nil)
        #expect(throws: CLIError.self) {
            try TestHooks(environment: Environment(["VMPROV_TEST_UUIDS": "x"])).identity()
        }
    }

    /// The README's environment table names every variable vmprov reads.
    @Test func readmeListsEverySetting() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let table = readme.split(separator: "\n").filter { $0.hasPrefix("| `") }.joined(separator: "\n")
        for s in Setting.allCases {
            let named = s.isTestOnly ? table.contains("`VMPROV_TEST_*`") && table.contains(s.rawValue.replacingOccurrences(
                of: "VMPROV_TEST_", with: "`").appending("`")) : table.contains("`\(s.rawValue)`")
            #expect(named, "README's environment table lacks \(s.rawValue)")
        }
    }

    /// The CLI reads the environment in one place (`Environment.process()`); every other file takes the context.
    @Test func environmentIsReadInOnePlace() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/VMProvCLI")
        let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }
        #expect(files.count > 20)
        for file in files where file != "Context/Environment.swift" {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for needle in ["getenv(", "ProcessInfo"] {
                #expect(!text.contains(needle), "\(file) reads the environment (\(needle))")
            }
            #expect(text.firstRange(of: /\benviron\b/) == nil, "\(file) reads the environment (environ)")
        }
    }

    /// The libraries take settings as values: the only variables they read themselves are the process-wide TMPDIR
    /// (where temporary files go) and PATH (how a bare program name is found).
    @Test func librariesReadNoSettingFromTheEnvironment() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(atPath: root.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") && !$0.hasPrefix("VMProvCLI/") }
        #expect(files.count > 20)
        for file in files {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: /getenv\((?<name>[^)]*)\)/) {
                #expect(["\"TMPDIR\"", "\"PATH\""].contains(String(match.name)), "\(file) reads \(match.name)")
            }
            #expect(!text.contains("ProcessInfo"), "\(file) reads the environment (ProcessInfo)")
        }
    }
}
