import Basics
/// Errors from VirtualBox's tools, with the argv and their stderr.
public enum VirtualBoxError: Error, Sendable, CustomStringConvertible {
    case missing(tool: String)
    case failed(ProcessOutput)
    case unparsable(what: String, output: String)
    /// The call did not finish within its time limit; its process group was killed.
    case timedOut(argv: [String], seconds: Double, pid: Int32)
    /// The call was abandoned (its process group killed) because a signal asked for something stronger.
    case interrupted(argv: [String], by: String)

    /// What failed (argv, exit status, VBoxManage's error line) and what to do.
    public var description: String {
        switch self {
        case let .missing(tool):
            return "\(tool) is not installed or not on PATH; install VirtualBox (the container image has it)."
        case let .failed(output):
            return "VirtualBox failed: \(output.failureDescription)"
        case let .unparsable(what, output):
            return "cannot read the output of \(what):\n" + output.split(separator: "\n").prefix(10)
                .map { "    " + $0 }.joined(separator: "\n")
        case let .timedOut(argv, seconds, pid):
            return "\(Shell.quote(argv)) did not finish within \(seconds) s (VMPROV_CALL_TIMEOUT); killed it"
                + (pid > 0 ? " (pid \(pid))" : "") + " and its process group. VBoxSVC or the guest may hang: see the "
                + "VM's Logs/VBox.log."
        case let .interrupted(argv, by):
            return "\(Shell.quote(argv)) was abandoned for \(by) (its process group killed)"
        }
    }
}

/// What `controlvm` can ask of a running machine when stopping it.
public enum GuestAction: String, Sendable, CaseIterable, Codable {
    case acpi = "acpipowerbutton"
    case savestate
    case poweroff

    /// Names as users write them in STOP_ACTION.
    public init?(userValue: String) {
        switch userValue.lowercased() {
        case "acpi", "acpipowerbutton": self = .acpi
        case "savestate", "save": self = .savestate
        case "poweroff": self = .poweroff
        default: return nil
        }
    }

    /// The next, more forceful action; nil after poweroff.
    public var escalation: GuestAction? {
        switch self {
        case .acpi: return .savestate
        case .savestate: return .poweroff
        case .poweroff: return nil
        }
    }
}

/// Typed invocations of VBoxManage and VBoxHeadless: argv arrays built here, output parsed here.
public struct VirtualBoxTools: Sendable {
    /// The VBoxManage executable (a name looked up in PATH, or a path).
    public var vboxManage: String
    /// The VBoxHeadless executable.
    public var vboxHeadless: String
    /// Environment for the tools (the caller's, with an English UTF-8 locale so messages parse).
    public var environment: [String]
    /// The longest one VBoxManage call may run before its process group is killed (seconds); nil for no limit.
    public var timeout: Double? = 120

    /// Tools found by name in PATH, or at the given paths; `environment` replaces the children's (nil: vmprov's own).
    public init(vboxManage: String = "VBoxManage", vboxHeadless: String = "VBoxHeadless", environment: [String]? = nil) {
        self.vboxManage = vboxManage
        self.vboxHeadless = vboxHeadless
        var env = (environment ?? ProcessRunner.currentEnvironment()).filter { !$0.hasPrefix("LC_ALL=") }
        env.append("LC_ALL=C.UTF-8")
        self.environment = env
    }

    // MARK: argv builders

    /// `list vms`.
    public static func listVMs() -> [String] { ["list", "vms"] }
    /// `showvminfo VM --machinereadable`.
    public static func showVMInfo(_ vm: String) -> [String] { ["showvminfo", vm, "--machinereadable"] }
    /// `registervm PATH`.
    public static func registerVM(_ path: String) -> [String] { ["registervm", path] }
    /// `controlvm VM ACTION` (`acpipowerbutton`, `savestate`, `poweroff`).
    public static func controlVM(_ vm: String, _ action: GuestAction) -> [String] { ["controlvm", vm, action.rawValue] }
    /// `--version`.
    public static func version() -> [String] { ["--version"] }
    /// `getextradata VM KEY`.
    public static func getExtraData(_ vm: String, _ key: String) -> [String] { ["getextradata", vm, key] }
    /// `setextradata VM KEY VALUE`.
    public static func setExtraData(_ vm: String, _ key: String, _ value: String) -> [String] { ["setextradata", vm, key, value] }
    /// VBoxHeadless's `--startvm VM`.
    public static func startHeadless(_ vm: String) -> [String] { ["--startvm", vm] }
    /// `snapshot VM take|restore|delete NAME` (VBoxManageSnapshot.cpp `handleSnapshot`; take pauses a running
    /// guest while it saves its state, the default without `--live`).
    public static func snapshot(_ vm: String, _ operation: SnapshotOperation, _ name: String) -> [String] {
        ["snapshot", vm, operation.rawValue, name]
    }
    /// The NVRAM steps that turn on secure boot on a new EFI machine, in order.
    public static func secureBootSteps(_ vm: String) -> [[String]] {
        [["modifynvram", vm, "inituefivarstore"],
         ["modifynvram", vm, "enrollmssignatures"],
         ["modifynvram", vm, "enrollorclpk"],
         ["modifynvram", vm, "secureboot", "--enable"]]
    }
    /// `extpack install --replace --accept-license=SHA256 FILE` (SHA256: of the pack's license text).
    public static func installExtensionPack(_ file: String, licenseSHA256: String) -> [String] {
        ["extpack", "install", "--replace", "--accept-license=\(licenseSHA256)", file]
    }

    // MARK: running

    /// Runs VBoxManage with `args`, bounded by `timeout`; a non-zero exit is an error carrying the output.
    /// - Throws: `.missing`, `.timedOut` (its process group killed) or `.failed`.
    @discardableResult
    public func manage(_ args: [String]) throws(VirtualBoxError) -> ProcessOutput {
        let out: ProcessOutput
        do {
            out = try ProcessRunner.run([vboxManage] + args, environment: environment, timeout: timeout)
        } catch {
            throw .missing(tool: vboxManage)
        }
        if out.timedOut { throw .timedOut(argv: out.argv, seconds: timeout ?? 0, pid: 0) }
        guard out.status == 0 else { throw .failed(out) }
        return out
    }

    /// The registered machines.
    /// - Throws: `VirtualBoxError` when VBoxManage is missing, fails, hangs or prints something unexpected.
    public func listVMs() throws(VirtualBoxError) -> [VMListEntry] {
        VMListParser.parse(try manage(Self.listVMs()).stdoutText)
    }

    /// The machine-readable settings and state of `vm` (name or UUID).
    /// - Throws: `VirtualBoxError` as for ``listVMs()``.
    public func info(_ vm: String) throws(VirtualBoxError) -> MachineInfo {
        MachineInfo(parsing: try manage(Self.showVMInfo(vm)).stdoutText)
    }

    /// The state of `vm`.
    /// - Throws: `VirtualBoxError`, also `.unparsable` when there is no known `VMState`.
    public func state(_ vm: String) throws(VirtualBoxError) -> VMState {
        let out = try manage(Self.showVMInfo(vm))
        guard let state = MachineInfo(parsing: out.stdoutText).state else {
            throw .unparsable(what: "VBoxManage showvminfo", output: out.stdoutText)
        }
        return state
    }

    /// VBoxManage's version.
    /// - Throws: `VirtualBoxError`, also `.unparsable` for output that is not a version.
    public func version() throws(VirtualBoxError) -> VBoxVersion {
        let out = try manage(Self.version())
        guard let v = VBoxVersion.parse(out.stdoutText) else {
            throw .unparsable(what: "VBoxManage --version", output: out.stdoutText)
        }
        return v
    }

    /// `getextradata`: "Value: X" or "No value set!".
    public func extraData(_ vm: String, _ key: String) throws(VirtualBoxError) -> String? {
        let text = try manage(Self.getExtraData(vm, key)).stdoutText
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("Value: ") {
            return String(line.dropFirst(7))
        }
        return nil
    }
}
