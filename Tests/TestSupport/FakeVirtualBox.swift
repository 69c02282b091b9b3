import Foundation

/// The fake VirtualBox tools (Tests/Fixtures/fakevbox.py) on a PATH of their own, with state in a temp folder.
public final class FakeVirtualBox: @unchecked Sendable {
    public let bin: TempDir
    public let home: TempDir
    public let vms: TempDir
    public var knobs: [String: String]

    public init(version: String = "7.1.4", knobs: [String: String] = [:]) {
        bin = TempDir("fakevbox-bin")
        home = TempDir("fakevbox-home")
        vms = TempDir("fakevbox-vms")
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/fakevbox.py").path
        for name in ["VBoxManage", "VBoxHeadless", "VBoxSVC", "VBoxXPCOMIPCD"] {
            try? FileManager.default.createSymbolicLink(atPath: bin.file(name).path, withDestinationPath: script)
        }
        self.knobs = ["FAKEVBOX_VERSION": version, "FAKEVBOX_SVC_LINGER": "1", "FAKEVBOX_ACPI_DELAY": "0.5",
                      "FAKEVBOX_START_DELAY": "0.3"].merging(knobs) { $1 }
    }

    /// The environment for vmprov and the fakes.
    public var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = bin.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["FAKEVBOX_HOME"] = home.path
        env["VMDIR"] = vms.path
        env["VMPROV_SERVICE_WAIT"] = "15"
        for (k, v) in knobs { env[k] = v }
        return env
    }

    /// Runs a fake tool directly.
    public func tool(_ name: String, _ args: [String]) throws -> RunResult {
        try run(bin.file(name).path, args, environment: environment)
    }

    /// Puts a machine folder with a .vbox in VMDIR.
    @discardableResult
    public func addMachine(_ folder: String, name: String, uuid: String = UUID().uuidString.lowercased(),
                           extraData: [String: String] = [:], firmware: String = "BIOS") -> URL {
        let extra = extraData.map { "      <ExtraDataItem name=\"\($0.key)\" value=\"\($0.value)\"/>" }.joined(separator: "\n")
        let text = """
        <?xml version="1.0"?>
        <VirtualBox xmlns="http://www.virtualbox.org/" version="1.19-linux">
          <Machine uuid="{\(uuid)}" name="\(name.replacingOccurrences(of: "\"", with: "&quot;"))" OSType="Ubuntu_64">
            <ExtraData>
        \(extra)
            </ExtraData>
            <Hardware>
              <Memory RAMSize="1024"/>
              <Firmware type="\(firmware)"/>
            </Hardware>
          </Machine>
        </VirtualBox>

        """
        return vms.write("\(folder)/\(name).vbox", text)
    }

    /// The machine's state as the fake VBoxManage reports it.
    public func state(_ vm: String) throws -> String? {
        let out = try tool("VBoxManage", ["showvminfo", vm, "--machinereadable"]).stdout
        return out.split(separator: "\n").first { $0.hasPrefix("VMState=") }
            .map { String($0.dropFirst(9).dropLast()) }
    }

    deinit {
        waitForServicesToExit(seconds: 5)
        if let pid = (try? String(contentsOf: home.file("svc.pid"), encoding: .utf8)).flatMap({ Int32($0) }), pid > 0 {
            kill(pid, SIGKILL)
        }
    }

    /// Waits until no fake VBoxSVC of this home is left.
    public func waitForServicesToExit(seconds: Double = 10) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let pid = (try? String(contentsOf: home.file("svc.pid"), encoding: .utf8)).flatMap { Int32($0) } ?? 0
            if pid == 0 || kill(pid, 0) != 0 { return }
            usleep(100_000)
        }
    }
}

/// A process started in its own process group, output collected in a file, for signal tests.
public final class Spawned: @unchecked Sendable {
    public let pid: pid_t
    private let outputFile: URL
    private let dir: TempDir
    public private(set) var status: Int32?

    public init(_ argv: [String], environment: [String: String]) throws {
        dir = TempDir("spawned")
        outputFile = dir.file("output")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        let fd = open(outputFile.path, O_WRONLY | O_APPEND)
        defer { close(fd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setpgroup(&attr, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let env = environment.map { "\($0.key)=\($0.value)" }
        var cargv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cenv: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer { cargv.forEach { free($0) }; cenv.forEach { free($0) } }
        var p: pid_t = 0
        let rc = posix_spawn(&p, argv[0], &actions, &attr, &cargv, &cenv)
        guard rc == 0 else { throw ServerError(message: "cannot spawn \(argv): \(rc)") }
        pid = p
    }

    public var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// Waits until the output contains `text`.
    @discardableResult
    public func waitFor(_ text: String, seconds: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.contains(text) { return true }
            if poll() != nil { return output.contains(text) }
            usleep(50_000)
        }
        return false
    }

    /// Non-blocking reap.
    @discardableResult
    public func poll() -> Int32? {
        if let status { return status }
        var st: Int32 = 0
        if waitpid(pid, &st, WNOHANG) == pid {
            status = (st & 0x7F) == 0 ? (st >> 8) & 0xFF : 128 + (st & 0x7F)
        }
        return status
    }

    /// Waits for the exit status, killing the process group after `seconds`.
    public func wait(seconds: Double = 30) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let s = poll() { return s }
            usleep(50_000)
        }
        kill(-pid, SIGKILL)
        var st: Int32 = 0
        waitpid(pid, &st, 0)
        return nil
    }

    public func signal(_ sig: Int32) { kill(pid, sig) }
    /// To the whole process group, as a terminal's Ctrl-C would.
    public func signalGroup(_ sig: Int32) { kill(-pid, sig) }

    deinit {
        if poll() == nil {
            kill(-pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
        }
    }
}

/// A `sleep` copied under a VirtualBox process name (its /proc comm), killed when the value goes away.
public final class NamedSleeper: @unchecked Sendable {
    public let process = Process()
    private let dir = TempDir("sleeper")

    public init(name: String, seconds: Int = 30) throws {
        let exe = dir.file(name).path
        try FileManager.default.copyItem(atPath: which("sleep") ?? "/bin/sleep", toPath: exe)
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = [String(seconds)]
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
