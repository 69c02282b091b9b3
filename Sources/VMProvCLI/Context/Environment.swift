#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process environment, read once when the command starts: NAME → value, without the variables that are set
/// but empty (vmprov treats an empty variable as unset everywhere).
public struct Environment: Sendable, Equatable {
    /// The non-empty variables, by name.
    public private(set) var values: [String: String]
    /// Every variable as `KEY=VALUE`, in the process's order, empty ones included: what the tools vmprov starts
    /// inherit.
    public private(set) var entries: [String]

    /// An environment made of these variables (tests); empty values are dropped, as for the real one.
    public init(_ values: [String: String]) {
        self.values = values.filter { !$0.value.isEmpty }
        self.entries = values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    private init(entries: [String]) {
        self.entries = entries
        var values: [String: String] = [:]
        for text in entries {
            guard let eq = text.firstIndex(of: "=") else { continue }
            let value = String(text[text.index(after: eq)...])
            if !value.isEmpty { values[String(text[..<eq])] = value }
        }
        self.values = values
    }

    /// A snapshot of this process's environment (`environ`), taken now.
    public static func process() -> Environment {
        var entries: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            entries.append(String(cString: pointer))
            entry += 1
        }
        return Environment(entries: entries)
    }

    /// The value of `name`, nil when unset or empty.
    public subscript(_ name: String) -> String? { values[name] }

    /// The value of a documented setting, nil when unset or empty.
    public subscript(_ setting: Setting) -> String? { values[setting.rawValue] }
}

/// Every environment variable vmprov reads, in the order the README's table and `--verbose` list them. A variable
/// not listed here is not read by vmprov (VirtualBox and libcurl read their own, e.g. `VBOX_USER_HOME` and the proxy
/// variables).
public enum Setting: String, CaseIterable, Sendable {
    /// A machine's folder: TARGET's and `run`'s default; for `create`, the parent of new machine folders.
    case vmDir = "VMDIR"
    /// The download cache folder.
    case cache = "VMPROV_CACHE"
    /// The cache's parent when `VMPROV_CACHE` is unset (an absolute path).
    case xdgCacheHome = "XDG_CACHE_HOME"
    /// The home folder: the cache's last fallback.
    case home = "HOME"
    /// Extra profile folders, colon-separated, searched first.
    case profiles = "VMPROV_PROFILES"
    /// The Guest Additions ISO `create` attaches (a path, or `none`).
    case guestAdditions = "VMPROV_GUEST_ADDITIONS"
    /// The gpgv to run (an absolute path).
    case gpgv = "VMPROV_GPGV"
    /// Seconds an edit waits for another edit of the same machine folder.
    case lockTimeout = "VMPROV_LOCK_TIMEOUT"
    /// What `run` does on TERM: acpi, savestate or poweroff.
    case stopAction = "STOP_ACTION"
    /// Seconds `run` gives the guest after an ACPI request before it saves it.
    case stopTimeout = "STOP_TIMEOUT"
    /// Seconds one VBoxManage call may take.
    case callTimeout = "VMPROV_CALL_TIMEOUT"
    /// Seconds `run` lets the guest take to reach running before it warns.
    case startupTimeout = "VMPROV_STARTUP_TIMEOUT"
    /// Seconds `run` waits at the end for VBoxSVC and VBoxXPCOMIPCD to exit.
    case serviceWait = "VMPROV_SERVICE_WAIT"
    /// The executable `healthcheck` runs instead of asking VirtualBox.
    case healthcheckCommand = "HEALTHCHECK_CMD"
    /// VirtualBox's settings folder; vmprov only passes it on to VBoxManage and VBoxHeadless (shown by `--verbose`).
    case vboxUserHome = "VBOX_USER_HOME"
    /// `dumb` turns the live progress bar into plain lines.
    case term = "TERM"
    /// Tests only: see `TestHooks.uuids`.
    case testUUIDs = "VMPROV_TEST_UUIDS"
    /// Tests only: see `TestHooks.mac`.
    case testMAC = "VMPROV_TEST_MAC"
    /// Tests only: see `TestHooks.time`.
    case testTime = "VMPROV_TEST_TIME"
    /// Tests only: see `TestHooks.backoff`.
    case testBackoff = "VMPROV_TEST_BACKOFF"
    /// Tests only: see `TestHooks.stallSeconds`.
    case testStallSeconds = "VMPROV_TEST_STALL_SECONDS"
    /// Tests only: see `TestHooks.failingCurlOptions`.
    case testFailCurlOption = "VMPROV_TEST_FAIL_CURLOPT"
    /// Tests only: see `TestHooks.saveFault`.
    case testSaveFault = "VMPROV_TEST_SAVE_FAULT"
    /// Tests only: see `TestHooks.mirrorPrefix`.
    case testMirrorPrefix = "VMPROV_TEST_MIRROR_PREFIX"
    /// Tests only: see `TestHooks.segmentBytes`.
    case testSegmentBytes = "VMPROV_TEST_SEGMENT_BYTES"
    /// Tests only: see `TestHooks.libcurl`.
    case testLibcurl = "VMPROV_TEST_LIBCURL"
    /// Tests only: see `TestHooks.growFault`.
    case testGrowFault = "VMPROV_TEST_GROW_FAULT"

    /// True for the switches only tests set (`TestHooks`).
    public var isTestOnly: Bool { rawValue.hasPrefix("VMPROV_TEST_") }

    /// True when a value set for it is a choice `--verbose` reports: everything except the variables every
    /// process has (`HOME`, `TERM`).
    public var isOverride: Bool { self != .home && self != .term }
}
