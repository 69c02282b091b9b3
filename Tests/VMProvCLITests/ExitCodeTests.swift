import Foundation
@testable import Provision
import Testing
import VBoxXML
@testable import VMProvCLI
import Basics
import DiskImages

/// Every error case of every error type the CLI can exit with, against the README's exit-code table.
///
/// Each type has an exhaustive `name` switch (no `default:`): a case added to a library error does not compile here
/// until it has a sample below, and the sample's expected code must equal what `HasExitCode` says and be a code
/// the README documents.
@Suite("Exit codes")
struct ExitCodeTests {
    /// The README's "Exit codes" table, code by code (kept in step by `readmeTableHasTheseCodes`).
    static let readme: [Int32: String] = [
        0: "done",
        1: "run: guest aborted or VBoxHeadless failed; healthcheck: not healthy",
        64: "usage",
        65: "bad data",
        66: "input not found",
        69: "a required tool failed or is missing",
        70: "run could not set up its signal handling; an internal error",
        73: "the output exists",
        74: "I/O error",
        75: "busy or temporary",
    ]

    struct Sample {
        var type: String
        var name: String
        var error: any HasExitCode
        var expected: Int32
    }

    // MARK: Exhaustive case names (a new case fails to compile here)

    static func name(_ e: VBoxXMLError) -> String {
        switch e {
        case .notFound: "notFound"
        case .io: "io"
        case .malformed: "malformed"
        case .invalid: "invalid"
        case .conflict: "conflict"
        case .busy: "busy"
        }
    }

    static func name(_ e: ChecksumError) -> String {
        switch e {
        case .badSpec: "badSpec"
        case .noEntry: "noEntry"
        case .contradictory: "contradictory"
        case .unreadable: "unreadable"
        case .mismatch: "mismatch"
        case .localMismatch: "localMismatch"
        case .unsupported: "unsupported"
        }
    }

    static func name(_ e: SignatureError) -> String {
        switch e {
        case .gpgvMissing: "gpgvMissing"
        case .noKeyring: "noKeyring"
        case .bad: "bad"
        case .rejected: "rejected"
        case .unknownKey: "unknownKey"
        case .wrongSigner: "wrongSigner"
        case .missing: "missing"
        case .notSigned: "notSigned"
        case .keyring: "keyring"
        case .required: "required"
        }
    }

    static func name(_ e: DownloadError) -> String {
        switch e {
        case .unsupportedScheme: "unsupportedScheme"
        case .failed: "failed"
        case .verification: "verification"
        case .signature: "signature"
        case .io: "io"
        case .exists: "exists"
        case .tooLarge: "tooLarge"
        case .curlUnavailable: "curlUnavailable"
        case .cache: "cache"
        case .badFileName: "badFileName"
        case .unsafeFile: "unsafeFile"
        case .oversize: "oversize"
        case .curlOption: "curlOption"
        case .busy: "busy"
        case .notFound: "notFound"
        }
    }

    static func name(_ e: CreateError) -> String {
        switch e {
        case .exists: "exists"
        case .invalid: "invalid"
        case .download: "download"
        case .settings: "settings"
        case .check: "check"
        case .io: "io"
        case .release: "release"
        }
    }

    static func name(_ e: ReleaseError) -> String {
        switch e {
        case .download: "download"
        case .noMatch: "noMatch"
        case .ambiguous: "ambiguous"
        case .releaseNotFound: "releaseNotFound"
        }
    }

    static func name(_ e: VirtualBoxError) -> String {
        switch e {
        case .missing: "missing"
        case .failed: "failed"
        case .unparsable: "unparsable"
        case .timedOut: "timedOut"
        case .interrupted: "interrupted"
        }
    }

    static func name(_ e: ComposeError) -> String {
        switch e {
        case .noMachines: "noMachines"
        case .clashes: "clashes"
        case .sameServiceName: "sameServiceName"
        case .settings: "settings"
        case .io: "io"
        case .usage: "usage"
        case .data: "data"
        }
    }

    static func name(_ e: RunnerError) -> String {
        switch e {
        case .noMachine: "noMachine"
        case .registration: "registration"
        case .virtualBox: "virtualBox"
        case .headlessStartFailed: "headlessStartFailed"
        case .signals: "signals"
        case .setting: "setting"
        }
    }

    static func name(_ k: SetupError.Kind) -> String {
        switch k {
        case .data: "data"
        case .usage: "usage"
        case .notFound: "notFound"
        case .unavailable: "unavailable"
        }
    }

    static func name(_ k: ProfileError.Kind) -> String {
        switch k {
        case .invalid: "invalid"
        case .notFound: "notFound"
        }
    }

    static func name(_ k: CLIError.Kind) -> String {
        switch k {
        case .usage: "usage"
        case .dataError: "dataError"
        case .noInput: "noInput"
        case .unavailable: "unavailable"
        case .cannotCreate: "cannotCreate"
        case .ioError: "ioError"
        case .tempFailure: "tempFailure"
        }
    }

    static func name(_ e: DiskImageError) -> String {
        switch e {
        case .invalid: "invalid"
        case .exists: "exists"
        case .notFound: "notFound"
        case .io: "io"
        case .badImage: "badImage"
        }
    }

    static func name(_ e: UnattendedError) -> String {
        switch e {
        case .invalid: "invalid"
        case .hashFailed: "hashFailed"
        case .io: "io"
        }
    }

    static func name(_ e: TarGz.Failure) -> String {
        switch e {
        case .notGzip: "notGzip"
        case .notFound: "notFound"
        case .damaged: "damaged"
        case .memberTooLarge: "memberTooLarge"
        case .inflatesTooMuch: "inflatesTooMuch"
        case .unreadable: "unreadable"
        }
    }

    static func name(_ e: EditBatchError) -> String {
        switch e {
        case .overlap: "overlap"
        case .outOfBounds: "outOfBounds"
        }
    }

    /// Every case name of every type, as the switches above list them.
    static let allNames: [String: Set<String>] = [
        "VBoxXMLError": ["notFound", "io", "malformed", "invalid", "conflict", "busy"],
        "ChecksumError": ["badSpec", "noEntry", "contradictory", "unreadable", "mismatch", "localMismatch", "unsupported"],
        "SignatureError": ["gpgvMissing", "noKeyring", "bad", "rejected", "unknownKey", "wrongSigner", "missing",
                           "notSigned", "keyring", "required"],
        "DownloadError": ["unsupportedScheme", "failed", "verification", "signature", "io", "exists", "tooLarge",
                          "curlUnavailable", "cache", "badFileName", "unsafeFile", "oversize", "curlOption", "busy",
                          "notFound"],
        "CreateError": ["exists", "invalid", "download", "settings", "check", "io", "release"],
        "ReleaseError": ["download", "noMatch", "ambiguous", "releaseNotFound"],
        "VirtualBoxError": ["missing", "failed", "unparsable", "timedOut", "interrupted"],
        "ComposeError": ["noMachines", "clashes", "sameServiceName", "settings", "io", "usage", "data"],
        "RunnerError": ["noMachine", "registration", "virtualBox", "headlessStartFailed", "signals", "setting"],
        "SetupError": ["data", "usage", "notFound", "unavailable"],
        "ProfileError": ["invalid", "notFound"],
        "CLIError": ["usage", "dataError", "noInput", "unavailable", "cannotCreate", "ioError", "tempFailure"],
        "IOError": ["ENOENT", "other"],
        "CacheError": ["cache"],
        "SpawnError": ["spawn"],
        "DiskImageError": ["invalid", "exists", "notFound", "io", "badImage"],
        "UnattendedError": ["invalid", "hashFailed", "io"],
        "TarGz.Failure": ["notGzip", "notFound", "damaged", "memberTooLarge", "inflatesTooMuch", "unreadable"],
        "ValueError": ["value"],
        "StorageAllocationError": ["allocation"],
        "EditBatchError": ["overlap", "outOfBounds"],
    ]

    // MARK: Samples: one (or more) representative value per case, with the README's code

    static var samples: [Sample] {
        let d1 = Digest(algorithm: .sha256, hex: String(repeating: "a", count: 64))
        let d2 = Digest(algorithm: .sha256, hex: String(repeating: "b", count: 64))
        let enoent = IOError(path: "/nonexistent/x", operation: "open it", code: ENOENT)
        let eacces = IOError(path: "/root/x", operation: "write it", code: EACCES)
        let output = ProcessOutput(argv: ["VBoxManage", "list", "vms"], status: 1, signal: nil, stdout: [], stderr: [])
        let vbox = VirtualBoxError.missing(tool: "VBoxManage")
        var s: [Sample] = []

        func xml(_ e: VBoxXMLError, _ code: Int32) { s.append(Sample(type: "VBoxXMLError", name: name(e), error: e, expected: code)) }
        xml(.notFound(path: "a.vbox", reason: "no such file"), 66)
        xml(.io(path: "a.vbox", operation: "write it", reason: "read-only"), 74)
        xml(.malformed(path: "a.vbox", line: 1, column: 2, message: "junk"), 65)
        xml(.invalid(path: "a.vbox", message: "refused"), 65)
        xml(.conflict(path: "a.vbox", message: "clash"), 65)
        xml(.busy(path: "a.vbox", message: "locked"), 75)

        func sum(_ e: ChecksumError, _ code: Int32) { s.append(Sample(type: "ChecksumError", name: name(e), error: e, expected: code)) }
        sum(.badSpec(spec: "x", reason: "bad"), 65)
        sum(.noEntry(checksumFile: "SUMS", name: "a.iso", available: []), 65)
        sum(.contradictory(checksumFile: "SUMS", name: "a.iso", digests: []), 65)
        sum(.unreadable(checksumFile: "SUMS", reason: "binary"), 65)
        sum(.mismatch(file: "a.iso", expected: d1, actual: d2, keptAt: nil), 65)
        sum(.localMismatch(file: "a.iso", expected: d1, actual: d2), 65)
        sum(.unsupported(algorithm: .blake2b, source: "b2sums.txt"), 65)

        func sig(_ e: SignatureError, _ code: Int32) { s.append(Sample(type: "SignatureError", name: name(e), error: e, expected: code)) }
        sig(.gpgvMissing(looked: ["/usr/bin/gpgv"]), 69)
        sig(.noKeyring(what: "SUMS"), 65)
        sig(.bad(file: "SUMS", signature: "SUMS.gpg", detail: "BADSIG"), 65)
        sig(.rejected(file: "SUMS", signature: "SUMS.gpg", detail: "expired"), 65)
        sig(.unknownKey(file: "SUMS", signature: "SUMS.gpg", keyID: "ABCD", keyring: "k.asc"), 65)
        sig(.wrongSigner(file: "SUMS", signer: "A", pinned: "B"), 65)
        sig(.missing(signature: "SUMS.gpg", reason: "404"), 65)
        sig(.notSigned(file: "SUMS"), 65)
        sig(.keyring(path: "/nonexistent/key.asc", reason: "missing"), 66)   // a local keyring that is not there
        sig(.keyring(path: "/", reason: "not a key"), 65)                     // one that is there but unusable
        sig(.keyring(path: "https://example.org/key.asc", reason: "not a key"), 65)
        sig(.required(what: "a signature", expected: "FPR"), 65)

        func download(_ e: DownloadError, _ code: Int32) { s.append(Sample(type: "DownloadError", name: name(e), error: e, expected: code)) }
        download(.unsupportedScheme(url: "ftp://x/a.iso"), 64)
        download(.failed(attempts: [AttemptRecord(url: "https://x/a.iso", outcome: "HTTP 404", kind: .notFound)],
                    allNotFound: false), 66)
        download(.failed(attempts: [AttemptRecord(url: "https://x/a.iso", outcome: "HTTP 503", kind: .temporary)],
                    allNotFound: false), 75)
        download(.failed(attempts: [AttemptRecord(url: "https://x/a.iso", outcome: "HTTP 403", kind: .refused)],
                    allNotFound: false), 65)
        download(.verification(.localMismatch(file: "a.iso", expected: d1, actual: d2)), 65)
        download(.signature(.gpgvMissing(looked: [])), 69)
        download(.signature(.notSigned(file: "SUMS")), 65)
        download(.io(enoent), 66)
        download(.io(eacces), 74)
        download(.exists(path: "a.iso", reason: "exists"), 73)
        download(.tooLarge(url: "https://x/SUMS", limit: 4 << 20), 65)
        download(.curlUnavailable, 69)
        download(.cache(CacheError(path: "/c", reason: "writable by others")), 74)
        download(.badFileName(url: "https://x/", reason: "empty"), 64)
        download(.unsafeFile(path: "a.iso.partial", reason: "a symlink"), 73)
        download(.oversize(url: "https://x/a.iso", limit: 10, source: "--max-size", got: 11), 65)
        download(.curlOption(option: "CURLOPT_PROTOCOLS_STR", detail: "unknown"), 69)
        download(.busy(path: "a.iso"), 75)
        download(.notFound(what: "the signature", underlying: .io(enoent), hint: "pass --no-signature"), 66)

        func create(_ e: CreateError, _ code: Int32) { s.append(Sample(type: "CreateError", name: name(e), error: e, expected: code)) }
        create(.exists(path: "vms/a"), 73)
        create(.invalid("--memory 0"), 64)
        create(.download(.busy(path: "a.iso")), 75)
        create(.settings(.invalid(path: "a.vbox", message: "refused")), 65)
        create(.check(path: "a.vbox", [Finding(severity: .error, location: "Machine", message: "bad")]), 65)
        create(.io(enoent), 66)
        create(.io(eacces), 74)
        create(.release(.ambiguous(checksumFile: "SHA256SUMS", pattern: "a-{version}.iso", candidates: ["a-1.iso", "a-1.0.iso"])), 65)

        func release(_ e: ReleaseError, _ code: Int32) { s.append(Sample(type: "ReleaseError", name: name(e), error: e, expected: code)) }
        release(.download(.busy(path: "a.iso")), 75)
        release(.noMatch(checksumFile: "SHA256SUMS", pattern: "a-{version}.iso", listed: []), 65)
        release(.ambiguous(checksumFile: "SHA256SUMS", pattern: "a-{version}.iso", candidates: []), 65)
        release(.releaseNotFound(release: "1.0", searched: ["http://m/"], available: []), 66)

        func virtualBox(_ e: VirtualBoxError, _ code: Int32) { s.append(Sample(type: "VirtualBoxError", name: name(e), error: e, expected: code)) }
        virtualBox(vbox, 69)
        virtualBox(.failed(output), 69)
        virtualBox(.unparsable(what: "list vms", output: "?"), 69)
        virtualBox(.timedOut(argv: ["VBoxManage"], seconds: 30, pid: 1), 69)
        virtualBox(.interrupted(argv: ["VBoxManage"], by: "TERM"), 69)

        func compose(_ e: ComposeError, _ code: Int32) { s.append(Sample(type: "ComposeError", name: name(e), error: e, expected: code)) }
        compose(.noMachines(folder: "/vms", backups: []), 66)
        compose(.clashes(["b: RDP port 3389 clashes with a's RDP port 3389"]), 65)
        compose(.sameServiceName(name: "a", first: "/v/a/A.vbox", second: "/v/b/a.vbox"), 65)
        compose(.settings("/v/a: two machines in one folder"), 65)
        compose(.io(path: "/v/compose.yml", operation: "replace it", reason: "a symlink"), 74)
        compose(.usage("/v/.env: STOP_TIMEOUT=x"), 64)
        compose(.data(path: "user-mapping.xml", reason: "libxml2 could not write"), 65)

        func runner(_ e: RunnerError, _ code: Int32) { s.append(Sample(type: "RunnerError", name: name(e), error: e, expected: code)) }
        runner(.noMachine(searched: ["/vms"]), 66)
        runner(.registration(path: "/vms/a/a.vbox", vbox), 65)
        runner(.virtualBox(vbox), 69)
        runner(.headlessStartFailed(status: 1, output: []), 1)
        runner(.signals("cannot open a signalfd"), 70)
        runner(.setting("STOP_TIMEOUT=x: give a number of seconds"), 64)

        func setup(_ k: SetupError.Kind, _ code: Int32) {
            s.append(Sample(type: "SetupError", name: name(k), error: SetupError("x", kind: k), expected: code))
        }
        setup(.data, 65)
        setup(.usage, 64)
        setup(.notFound, 66)
        setup(.unavailable, 69)

        func profile(_ k: ProfileError.Kind, _ code: Int32) {
            s.append(Sample(type: "ProfileError", name: name(k), error: ProfileError(file: "p.yaml", key: nil, message: "x", kind: k),
                            expected: code))
        }
        profile(.invalid, 65)
        profile(.notFound, 66)

        func cli(_ k: CLIError.Kind, _ code: Int32) {
            s.append(Sample(type: "CLIError", name: name(k), error: CLIError("x", kind: k), expected: code))
        }
        cli(.usage, 64)
        cli(.dataError, 65)
        cli(.noInput, 66)
        cli(.unavailable, 69)
        cli(.cannotCreate, 73)
        cli(.ioError, 74)
        cli(.tempFailure, 75)

        s.append(Sample(type: "IOError", name: "ENOENT", error: enoent, expected: 66))
        s.append(Sample(type: "IOError", name: "other", error: eacces, expected: 74))
        s.append(Sample(type: "CacheError", name: "cache", error: CacheError(path: "/c", reason: "r"), expected: 74))
        s.append(Sample(type: "SpawnError", name: "spawn", error: SpawnError(argv: ["hc"], code: ENOENT), expected: 69))

        func image(_ e: DiskImageError, _ code: Int32) { s.append(Sample(type: "DiskImageError", name: name(e), error: e, expected: code)) }
        image(.invalid(field: "volume label", message: "more than 32 characters"), 65)
        image(.exists(path: "seed.iso"), 73)
        image(.notFound(path: "installer.iso", reason: "no such file"), 66)
        image(.io(path: "seed.iso", operation: "write it", reason: "read-only file system"), 74)
        image(.badImage(path: "installer.iso", message: "not ISO 9660"), 65)

        func unattended(_ e: UnattendedError, _ code: Int32) {
            s.append(Sample(type: "UnattendedError", name: name(e), error: e, expected: code))
        }
        unattended(.invalid(field: "hostname", message: "not a host name"), 64)
        unattended(.hashFailed(message: "unsupported setting"), 70)
        unattended(.io(what: "the password from standard input", reason: "EIO"), 74)

        func tar(_ e: TarGz.Failure, _ code: Int32) { s.append(Sample(type: "TarGz.Failure", name: name(e), error: e, expected: code)) }
        tar(.notGzip("p.vbox-extpack"), 65)
        tar(.notFound(member: "ExtPack-license.txt", archive: "p.vbox-extpack", members: []), 65)
        tar(.damaged("p.vbox-extpack"), 65)
        tar(.memberTooLarge(member: "ExtPack.xml", archive: "p.vbox-extpack", size: 2 << 20, limit: 1 << 20), 65)
        tar(.inflatesTooMuch(archive: "p.vbox-extpack", limit: 512 << 20), 65)
        tar(.unreadable("/nonexistent/p.vbox-extpack", errno: ENOENT), 66)
        tar(.unreadable("/root/p.vbox-extpack", errno: EACCES), 74)

        s.append(Sample(type: "ValueError", name: "value", error: ValueError("port 70000 is outside 1-65535"), expected: 64))
        var full = PortAllocator(controller: .nvme(portCount: 1), occupied: [StorageSlot(port: 0, device: 0)])
        do {
            _ = try full.next()
        } catch {
            s.append(Sample(type: "StorageAllocationError", name: "allocation", error: error, expected: 65))
        }

        func batch(_ e: EditBatchError, _ code: Int32) { s.append(Sample(type: "EditBatchError", name: name(e), error: e, expected: code)) }
        batch(.overlap(existing: 0..<4, refused: 2..<6), 70)
        batch(.outOfBounds(10..<12, count: 8), 70)
        return s
    }

    @Test func everyCaseHasItsREADMECode() {
        for sample in Self.samples {
            #expect(sample.error.exitCode == sample.expected,
                    "\(sample.type).\(sample.name): \(sample.error.exitCode), the README says \(sample.expected)")
            #expect(Self.readme[sample.expected] != nil, "\(sample.type).\(sample.name): \(sample.expected) is not in the README")
        }
    }

    @Test func everyCaseOfEveryTypeHasASample() {
        var covered: [String: Set<String>] = [:]
        for sample in Self.samples { covered[sample.type, default: []].insert(sample.name) }
        #expect(covered == Self.allNames)
        #expect(Set(ProfileError.Kind.allCases.map(Self.name)) == Self.allNames["ProfileError"])
        #expect(Set(CLIError.Kind.allCases.map(Self.name)) == Self.allNames["CLIError"])
    }

    @Test func alreadyReportedKeepsItsCausesCode() {
        for sample in Self.samples {
            #expect(AlreadyReported(sample.error).exitCode == sample.expected)
        }
    }

    /// The README's table lists exactly the codes above, and no error produces an undocumented one.
    @Test func readmeTableHasTheseCodes() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = text.range(of: "## Exit codes") else {
            Issue.record("README.md has no Exit codes section")
            return
        }
        var codes: Set<Int32> = []
        for line in text[start.upperBound...].split(separator: "\n").dropFirst() {
            if line.hasPrefix("## ") { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            if let first = cells.first, let code = Int32(first) { codes.insert(code) }
        }
        #expect(codes == Set(Self.readme.keys))
        #expect(Set(Self.samples.map(\.expected)).isSubset(of: codes))
    }
}
