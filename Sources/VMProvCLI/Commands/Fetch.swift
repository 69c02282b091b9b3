#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

/// Options shared by `fetch`, `verify` and `create` for checksums and signatures.
struct VerifyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("sha256:HEX, sha512:HEX, sha1:HEX, md5:HEX, a bare HEX, file:URL (a checksum file; "
        + "relative to the download's folder) or none.", valueName: "spec"))
    var checksum: String

    @Option(help: ArgumentHelp("Detached signature (URL or path; relative to the download's folder) of the checksum "
        + "file or of the download.", valueName: "url|path"))
    var signature: String?

    @Option(help: ArgumentHelp("Public key(s) to check signatures with (armoured or binary).", valueName: "file"))
    var keyring: String?

    @Option(help: ArgumentHelp("Accept only signatures by this key (fingerprint); a signature must then verify.",
                               valueName: "fpr"))
    var keyFingerprint: String?

    @Flag(help: "Do not check signatures, even with a key given (a warning is printed).")
    var noSignature = false

    /// Checked while the options are parsed, so a bad value prints the subcommand's own usage (exit 64).
    func validate() throws {
        if signature != nil && noSignature {
            throw ValidationError("--signature and --no-signature contradict each other: drop one of them (keep "
                + "--signature to check it, or drop it and keep --no-signature to check none).")
        }
        do { _ = try ChecksumSpec(checksum) } catch { throw ValidationError(error.description) }
    }

    func request() throws -> VerificationRequest {
        let spec: ChecksumSpec
        do { spec = try ChecksumSpec(checksum) } catch { throw ValidationError(error.description) }
        return VerificationRequest(spec: spec, signature: signature, keyring: keyring,
                                   pinnedFingerprint: keyFingerprint, noSignature: noSignature)
    }
}

/// Options for transfers.
struct TransferOptions: ParsableArguments {
    @Option(help: "Retries per URL for transient failures.")
    var retries: Int = 5

    @Option(help: ArgumentHelp("CA bundle for a private mirror (TLS is always verified).", valueName: "file"))
    var cacert: String?

    @Flag(help: "Neither use nor fill the download cache ($VMPROV_CACHE).")
    var noCache = false

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    @Option(help: ArgumentHelp("A transfer slower than this many bytes per second for --stall-time seconds is "
        + "stalled: it stops, and is retried and resumed.", valueName: "bytes"))
    var stallSpeed: Int = 1024

    @Option(help: ArgumentHelp("Seconds below --stall-speed before a transfer counts as stalled.", valueName: "seconds"))
    var stallTime: Int = 30

    @Option(help: ArgumentHelp("Transfers at once for one large file (1 to 16), spread over the mirrors when a "
        + "checksum is known; 1 is one stream.", valueName: "n"))
    var connections: Int = DownloadOptions.defaultConnections

    func validate() throws {
        guard retries >= 0 else { throw ValidationError("--retries must be 0 or more.") }
        guard stallSpeed >= 1 else { throw ValidationError("--stall-speed \(stallSpeed): give 1 or more bytes per second.") }
        guard (1...16).contains(connections) else {
            throw ValidationError("--connections \(connections): give 1 to 16 (1 is one stream).")
        }
        guard (1...86_400).contains(stallTime) else {
            throw ValidationError("--stall-time \(stallTime): give 1 to 86400 seconds.")
        }
    }

    func downloader(progress: ProgressPrinter?) throws -> Downloader {
        var o = DownloadOptions()
        o.retries = retries
        o.caCertificate = cacert
        o.cacheDirectory = noCache ? nil : try CachePaths.root()
        o.userAgent = "vmprov/\(VMProv.version)"
        if let p = progress { o.progress = { p.update($0) } }
        o.lowSpeedBytes = stallSpeed
        o.stallSeconds = stallTime
        o.connections = connections
        // Tests use small files: a smaller segment size makes them segmented.
        if let s = Output.env("VMPROV_TEST_SEGMENT_BYTES").flatMap(Int64.init), s > 0 { o.segmentBytes = s }
        let quiet = self.quiet
        o.onRetry = { message in if !quiet { Output.warn(message) } }
        o.onNote = { message in if !quiet { Output.note("vmprov: \(message)") } }
        // Tests shorten the waits; users never need these.
        if let s = Output.env("VMPROV_TEST_BACKOFF").flatMap(Double.init) { o.initialBackoff = s; o.maximumBackoff = s * 4 }
        if let s = Output.env("VMPROV_TEST_STALL_SECONDS").flatMap(Int.init) { o.stallSeconds = s }
        // Test only: libcurl options to treat as refused (proves that a refused option stops the download).
        if let names = Output.env("VMPROV_TEST_FAIL_CURLOPT") {
            o.failingCurlOptions = Set(names.split(separator: ",").map(String.init))
        }
        return o.asDownloader
    }
}

extension DownloadOptions {
    var asDownloader: Downloader { Downloader(options: self) }
}

/// Where the cache lives: $VMPROV_CACHE, else $XDG_CACHE_HOME/vmprov, else ~/.cache/vmprov (HOME, else the passwd
/// entry's home); never a shared temporary folder.
enum CachePaths {
    static func root() throws -> String {
        do { return try DownloadCache.defaultRoot(environment: Output.env) } catch { throw DownloadError.cache(error) }
    }
}

struct Fetch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a file, resumably, and verify it before it appears at its destination.",
        discussion: """
        Extra URLs are mirrors, tried in order. The file is hashed while it arrives and renamed to its \
        destination only if it matches; a mismatch is kept as DEST.corrupt. A rerun after an interruption \
        continues from DEST.partial.

        Example:
          vmprov fetch https://releases.ubuntu.com/24.04/ubuntu-24.04.3-live-server-amd64.iso \\
            --checksum file:SHA256SUMS --signature SHA256SUMS.gpg --keyring ubuntu-cd.asc
        """)

    @Argument(help: ArgumentHelp("The URL, then mirrors.", valueName: "url"))
    var urls: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to put it (default: the URL's file name here).",
                                                    valueName: "path"))
    var output: String?

    @Option(help: ArgumentHelp("Refuse a file larger than this (512M, 8G; a bare number is MiB); it is cut off "
        + "there and nothing is kept.", valueName: "size"))
    var maxSize: String?

    @OptionGroup var verification: VerifyOptions
    @OptionGroup var transfer: TransferOptions

    @Flag(help: "Print a JSON report at the end.")
    var json = false

    func validate() throws {
        guard !urls.isEmpty else { throw ValidationError("give at least one URL.") }
        for u in urls {
            guard let s = URLText.scheme(u), s == "http" || s == "https" else {
                throw ValidationError("\(URLText.printable(u)): only http and https URLs can be fetched.")
            }
        }
        if let maxSize, SizeText.parse(maxSize) == nil || SizeText.parse(maxSize) == 0 {
            throw ValidationError("--max-size \(URLText.printable(maxSize)): give a size such as 512M, 8G or 700K.")
        }
    }

    func run() throws {
        // The name on disk: -o, else the URL's last path segment, only if it is one plain file name.
        let dest: String
        if let output {
            dest = output
        } else {
            do { dest = try URLText.safeFileName(urls[0]) } catch {
                throw CLIError(error.description + " Pass -o PATH.", kind: .usage)
            }
        }
        // The name a checksum file lists: the URL's, else the destination's.
        var fileName = URLText.fileName(urls[0])
        if fileName.isEmpty { fileName = dest.split(separator: "/").last.map(String.init) ?? dest }
        let progress = ProgressPrinter(quiet: transfer.quiet || json)
        let downloader = try transfer.downloader(progress: progress)
        do {
            let plan = try ChecksumResolver(downloader: downloader).plan(
                fileName: fileName, bases: urls, request: try verification.request())
            defer { plan.cleanup() }
            for w in plan.warnings { Output.warn(w) }
            for n in plan.notes { Output.note(n) }
            // The smaller of --max-size and the size the checksum file states.
            var limit = maxSize.flatMap(SizeText.parse).map { Int64(clamping: $0) }
            var source = "--max-size \(maxSize ?? "")"
            if let stated = plan.expectedSize, limit.map({ stated < $0 }) ?? true {
                limit = stated
                source = "the size \(URLText.printable(plan.checksumSource ?? "the checksum file")) states"
            }
            let report = try downloader.fetch(DownloadRequest(urls: urls, destination: dest, expected: plan.expected,
                                                              verifyBeforeCommit: plan.verifyDownload,
                                                              maximumBytes: limit, maximumSource: source))
            progress.finish()
            if json { return try JSONOut.print(report) }
            if let note = report.cacheNote, !report.fromCache { Output.warn(note) }
            let how = report.alreadyPresent ? "already present and verified"
                : report.fromCache ? "from the cache, " + (report.cacheNote ?? "re-hashed before use") : "downloaded"
            Output.out("\(dest): \(how), \(report.bytes) bytes"
                + (report.digest.map { ", \($0)" } ?? " (not verified)")
                + (report.resumedFrom > 0 ? ", resumed at \(report.resumedFrom)" : "") + ".")
        } catch let e as DownloadError {
            progress.finish()
            throw e
        }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a local file against a checksum (and signature).",
        discussion: """
        Example:
          vmprov verify ubuntu.iso --checksum file:SHA256SUMS --signature SHA256SUMS.gpg --keyring ubuntu-cd.asc
        """)

    @Argument(help: ArgumentHelp("The file.", valueName: "file"))
    var file: String

    @OptionGroup var verification: VerifyOptions

    @Flag(name: .shortAndLong, help: "Print nothing on success.")
    var quiet = false

    func run() throws {
        guard FileHasher.size(file) > 0 || access(file, R_OK) == 0 else {
            throw CLIError("\(file): no such file.", kind: .noInput)
        }
        let downloader = Downloader()
        let name = file.split(separator: "/").last.map(String.init) ?? file
        do {
            let plan = try ChecksumResolver(downloader: downloader).plan(
                fileName: name, bases: [file], request: try verification.request())
            defer { plan.cleanup() }
            for w in plan.warnings { Output.warn(w) }
            if !quiet { for n in plan.notes { Output.note(n) } }
            guard let expected = plan.expected else {
                if !quiet { Output.out("\(file): not verified (--checksum none).") }
                return
            }
            let actual = try FileHasher.digest(path: file, algorithm: expected.algorithm)
            guard actual == expected else {
                throw ChecksumError.localMismatch(file: file, expected: expected, actual: actual)
            }
            if let check = plan.verifyDownload { try check(file) }
            if !quiet { Output.out("\(file): OK (\(actual))") }
        }
    }
}
