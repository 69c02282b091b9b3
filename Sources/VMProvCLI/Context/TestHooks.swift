#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Provision
import DiskImages
import VBoxXML

/// Every switch that exists only for vmprov's own tests, in one place. Each is an environment variable the
/// end-to-end tests set on the vmprov they run (`Tests/EndToEndTests`); users never need one, and `--verbose`
/// marks each one set as "test only". Values that do not parse are ignored, as they always were, except
/// `VMPROV_TEST_UUIDS`, which must hold 4 UUIDs (exit 64).
///
/// The fake VirtualBox's own switches (`FAKEVBOX_*`) are read by `Tests/Fixtures/fakevbox.py`, never by vmprov.
public struct TestHooks: Sendable, Equatable {
    /// For tests only. `VMPROV_TEST_UUIDS=M,D,I,G`: `create`'s machine, disk, installer and Guest Additions UUIDs
    /// (golden-file tests), instead of random ones.
    public var uuids: String?
    /// For tests only. `VMPROV_TEST_MAC=080027XXXXXX`: `create`'s NAT adapter MAC address instead of a random one.
    public var mac: String?
    /// For tests only. `VMPROV_TEST_TIME=SECONDS`: `create`'s timestamps (seconds since 1970) instead of now.
    public var time: Int?
    /// For tests only. `VMPROV_TEST_BACKOFF=SECONDS`: the first wait between download retries (the longest wait is
    /// 4 times it), instead of the production back-off.
    public var backoff: Double?
    /// For tests only. `VMPROV_TEST_STALL_SECONDS=N`: seconds below the stall speed before a transfer counts as
    /// stalled, overriding `--stall-time`.
    public var stallSeconds: Int?
    /// For tests only. `VMPROV_TEST_FAIL_CURLOPT=NAME,…`: libcurl options to treat as refused (proves that a
    /// refused option stops the download).
    public var failingCurlOptions: Set<String>?
    /// For tests only. `VMPROV_TEST_SAVE_FAULT=STEP` stops a `.vbox` save after STEP (a `SaveStep` raw value) with
    /// an I/O error; `STEP:crash` ends the process there (exit 99), as a crash would.
    public var saveFault: String?
    /// For tests only. `VMPROV_TEST_MIRROR_PREFIX=PREFIX` rewrites every profile mirror URL `https://HOST/PATH` to
    /// `PREFIX/HOST/PATH` (local mirrors laid out like each publisher's).
    public var mirrorPrefix: String?
    /// For tests only. `VMPROV_TEST_SEGMENT_BYTES=N`: the range size of a segmented download (bytes), so that
    /// small test files are segmented too.
    public var segmentBytes: Int64?
    /// For tests only. `VMPROV_TEST_LIBCURL=PATH`: the libcurl `fetch` loads instead of `libcurl.so.4` (proves the
    /// message when it cannot be loaded).
    public var libcurl: String?
    /// For tests only. `VMPROV_TEST_GROW_FAULT=N` ends `grow-disk` (exit 99) right after its durable step N
    /// (`VDIGrower.Step` raw value), as a crash would.
    public var growFault: Int?

    /// No hooks: what every user gets.
    public init() {}

    /// The hooks set in `environment`.
    public init(environment: Environment) {
        uuids = environment[.testUUIDs]
        mac = environment[.testMAC]
        time = environment[.testTime].flatMap(Int.init)
        backoff = environment[.testBackoff].flatMap(Double.init)
        stallSeconds = environment[.testStallSeconds].flatMap(Int.init)
        failingCurlOptions = environment[.testFailCurlOption].map { Set($0.split(separator: ",").map(String.init)) }
        saveFault = environment[.testSaveFault]
        growFault = environment[.testGrowFault].flatMap(Int.init)
        libcurl = environment[.testLibcurl]
        segmentBytes = environment[.testSegmentBytes].flatMap(Int64.init).flatMap { $0 > 0 ? $0 : nil }
        mirrorPrefix = environment[.testMirrorPrefix]
    }

    /// `create`'s identifiers: random, or the fixed ones of `uuids` (in order: machine, disk, installer, Guest
    /// Additions), `mac` and `time`.
    /// - Throws: `CLIError` (usage, 64) when `uuids` does not hold exactly 4 UUIDs.
    func identity() throws -> any IdentitySource {
        let random = RandomIdentity(macAddress: mac, time: time)
        guard let list = uuids else { return random }
        let parsed = list.split(separator: ",").compactMap { VBoxUUID(String($0)) }
        guard parsed.count == 4 else { throw CLIError("VMPROV_TEST_UUIDS needs 4 UUIDs", kind: .usage) }
        return FixedIdentity(uuids: parsed, macAddress: random.macAddress, time: random.time)
    }

    /// Applies `backoff`, `stallSeconds`, `failingCurlOptions` and `libcurl` to download options.
    func apply(to options: inout DownloadOptions) {
        if let backoff { options.initialBackoff = backoff; options.maximumBackoff = backoff * 4 }
        if let stallSeconds { options.stallSeconds = stallSeconds }
        if let failingCurlOptions { options.failingCurlOptions = failingCurlOptions }
        if let libcurl { options.libcurlLibrary = libcurl }
        if let segmentBytes { options.segmentBytes = segmentBytes }
    }

    /// The save hook of `saveFault`, nil when unset.
    func saveFaultHook() -> (@Sendable (SaveStep) throws -> Void)? {
        guard let spec = saveFault else { return nil }
        let parts = spec.split(separator: ":")
        let step = String(parts.first ?? "")
        let crash = parts.count > 1 && parts[1] == "crash"
        return { current in
            guard current.rawValue == step else { return }
            if crash { _exit(99) }
            throw CLIError("save stopped after \(step) (VMPROV_TEST_SAVE_FAULT)", kind: .ioError)
        }
    }
}
