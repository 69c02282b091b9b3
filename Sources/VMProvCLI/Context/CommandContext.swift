#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Provision

/// What a command may know about its surroundings, built once per process from the global options and the
/// environment (`Environment.process()`), then handed to the command as a value. Commands and the library calls they
/// make read settings from here, never from the environment.
///
/// Settings are checked when a command uses them, not when the context is built, so a bad `STOP_TIMEOUT` stops
/// `run` (exit 64, naming the variable) but not `show`.
public struct CommandContext: Sendable {
    /// The environment as it was when the command started.
    public let environment: Environment
    /// `--verbose`: report every setting taken from the environment.
    public let verbose: Bool
    /// The test-only switches (`VMPROV_TEST_*`).
    public let testHooks: TestHooks

    /// A context over `environment`.
    public init(environment: Environment, verbose: Bool = false) {
        self.environment = environment
        self.verbose = verbose
        self.testHooks = TestHooks(environment: environment)
    }

    // MARK: Folders and files

    /// `$VMDIR`: a machine's folder (TARGET's and `run`'s default), or `create`'s parent folder; nil when unset.
    public var vmDir: String? { environment[.vmDir] }

    /// `$VMPROV_PROFILES`: extra profile folders, colon-separated; nil when unset.
    public var extraProfileFolders: String? { environment[.profiles] }

    /// `$VMPROV_GUEST_ADDITIONS`: a Guest Additions ISO path or `none`; nil when unset (then the standard places).
    public var guestAdditionsOverride: String? { environment[.guestAdditions] }

    /// `$VMPROV_GPGV`: the gpgv that checks signatures (an absolute path); nil when unset (then the standard places).
    public var gpgvOverride: String? { environment[.gpgv] }

    /// `$HEALTHCHECK_CMD`: the executable `healthcheck` runs instead of asking VirtualBox; nil when unset.
    public var healthcheckCommand: String? { environment[.healthcheckCommand] }

    /// False when `$TERM` is `dumb`: progress is then plain lines even on a terminal.
    public var terminalDrawsBars: Bool { environment[.term] != "dumb" }

    /// The download cache folder: `$VMPROV_CACHE`, else `$XDG_CACHE_HOME/vmprov`, else `~/.cache/vmprov` (HOME,
    /// else the passwd entry's home); never a shared temporary folder.
    /// - Throws: `DownloadError.cache` when no home folder is known.
    public func cacheRoot() throws -> String {
        do { return try DownloadCache.defaultRoot(environment: { environment[$0] }) } catch {
            throw DownloadError.cache(error)
        }
    }

    // MARK: Seconds settings (checked by `RunnerConfig.seconds`: a plain decimal number, 0 to 86400)

    /// `$VMPROV_LOCK_TIMEOUT`: seconds an edit waits for another edit of the same folder; default 30.
    /// - Throws: `RunnerError.setting` (64) naming the variable when the value is not a plain number in range.
    public func lockTimeout() throws -> Double {
        try RunnerConfig.seconds(Setting.lockTimeout.rawValue, environment[.lockTimeout], fallback: 30)
    }

    /// `$VMPROV_CALL_TIMEOUT`: seconds one VBoxManage call may take; default 30, never 0.
    /// - Throws: `RunnerError.setting` (64) naming the variable when the value is not a number above 0 in range.
    public func callTimeout(fallback: Double = 30) throws -> Double {
        try RunnerConfig.seconds(Setting.callTimeout.rawValue, environment[.callTimeout], fallback: fallback,
                                 allowZero: false)
    }

    /// VirtualBox's tools for the queries (`list`, `state`, `healthcheck`), each call bounded by `callTimeout()`,
    /// so a hung VBoxSVC cannot hang them.
    /// - Throws: as `callTimeout()`.
    public func queryTools() throws -> VirtualBoxTools {
        var tools = VirtualBoxTools(environment: environment.entries)
        tools.timeout = try callTimeout()
        return tools
    }

    /// VirtualBox's tools with the environment they inherit (everything but `LC_ALL`, see `VirtualBoxTools`).
    public var virtualBoxTools: VirtualBoxTools { VirtualBoxTools(environment: environment.entries) }

    /// The settings of `run`: `$VMDIR` (default `.`), `$STOP_ACTION` (default acpi), `$STOP_TIMEOUT` (seconds,
    /// default 120), `$VMPROV_SERVICE_WAIT`, `$VMPROV_STARTUP_TIMEOUT` and `$VMPROV_CALL_TIMEOUT` (seconds, defaults
    /// those of `RunnerConfig`).
    /// - Throws: `CLIError` (64) for an unknown stop action; `RunnerError.setting` (64) naming the variable for a bad
    ///   number of seconds.
    public func runnerConfig() throws -> RunnerConfig {
        let stopAction: GuestAction
        if let s = environment[.stopAction] {
            guard let a = GuestAction(userValue: s) else {
                throw CLIError("STOP_ACTION=\(s): use acpi, savestate or poweroff.", kind: .usage)
            }
            stopAction = a
        } else {
            stopAction = .acpi
        }
        let timeout = try RunnerConfig.seconds(Setting.stopTimeout.rawValue, environment[.stopTimeout], fallback: 120)
        var config = RunnerConfig(vmDir: vmDir ?? ".",
                                  policy: StopPolicy(termAction: stopAction, stopTimeout: .seconds(timeout)))
        config.serviceExitTimeout = .seconds(try RunnerConfig.seconds(
            Setting.serviceWait.rawValue, environment[.serviceWait], fallback: config.serviceExitTimeout.inSeconds))
        config.startupTimeout = .seconds(try RunnerConfig.seconds(
            Setting.startupTimeout.rawValue, environment[.startupTimeout], fallback: config.startupTimeout.inSeconds))
        config.callTimeout = .seconds(try callTimeout(fallback: config.callTimeout.inSeconds))
        config.verbose = verbose
        return config
    }

    // MARK: --verbose

    /// One line per setting taken from the environment, in `Setting` order: `NAME=value (from environment)`, with
    /// `, test only` for the test switches. Empty when nothing is overridden.
    public var overrides: [String] {
        Setting.allCases.compactMap { setting in
            guard setting.isOverride, let value = environment[setting] else { return nil }
            return "\(setting.rawValue)=\(value) (from environment\(setting.isTestOnly ? ", test only" : ""))"
        }
    }
}
