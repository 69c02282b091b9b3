#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// Settings for transfers. Defaults are what a user wants; tests shorten the waits.
public struct DownloadOptions: Sendable {
    /// Retries per URL after the first attempt, for transient failures.
    public var retries = 5
    /// A CA bundle for private mirrors (TLS verification is always on).
    public var caCertificate: String?
    /// The gpgv that checks signatures of these downloads (an absolute path; the CLI passes `$VMPROV_GPGV`), or nil
    /// for the first of `GPGVerifier.standardLocations`.
    public var gpgv: String?
    /// `$VMPROV_CACHE` (or nil for no cache).
    public var cacheDirectory: String?
    /// A transfer slower than `lowSpeedBytes` per second for `stallSeconds` is a stall (libcurl's
    /// CURLOPT_LOW_SPEED_LIMIT and CURLOPT_LOW_SPEED_TIME); a stalled part is kept and resumed.
    public var stallSeconds = 30
    /// Bytes per second; see `stallSeconds`.
    public var lowSpeedBytes = 1024
    /// Seconds a connection may take to be set up (CURLOPT_CONNECTTIMEOUT).
    public var connectTimeoutSeconds = 30
    /// First backoff delay; doubles per retry with jitter, capped by `maximumBackoff`.
    public var initialBackoff = 1.0
    /// Longest backoff delay between retries, seconds.
    public var maximumBackoff = 30.0
    /// Longest Retry-After vmprov honours.
    public var maximumRetryAfter = 300.0
    /// Called from the transfer thread about ten times a second at most.
    public var progress: (@Sendable (DownloadProgress) -> Void)?
    /// Called for each retry with its reason (for logs).
    public var onRetry: (@Sendable (String) -> Void)?
    /// Called with facts worth a note (a damaged `.partial.info` that made the download start again).
    public var onNote: (@Sendable (String) -> Void)?
    /// The User-Agent sent (libcurl's version is appended).
    public var userAgent = "vmprov/0.1.0"
    /// Transfers at once for one file (`--connections`): 1 is one stream, as before segmented downloads; more
    /// splits a file of at least two segments whose servers honour Range into `segmentBytes` ranges fetched at
    /// once, spread over the mirrors when a checksum is known. The CLI's default is `defaultConnections`.
    public var connections = 1
    /// The size of one range of a segmented download, and half the smallest file that is segmented.
    public var segmentBytes: Int64 = 8 << 20
    /// The CLI's default for `connections`, chosen by measurement (bench/README.md).
    public static let defaultConnections = 4
    /// Test only: libcurl options (by name, e.g. `CURLOPT_PROTOCOLS_STR`) that vmprov does not set and treats as
    /// refused by libcurl, to prove that a refused option stops the download. The CLI fills it from
    /// `VMPROV_TEST_FAIL_CURLOPT` (comma-separated).
    package var failingCurlOptions: Set<String> = []
    /// Test only: the library to load instead of libcurl.so.4 (the first download in a process decides), to prove
    /// that a libcurl that cannot be loaded gives a clear error. The CLI fills it from `VMPROV_TEST_LIBCURL`.
    package var libcurlLibrary: String?

    /// The defaults: each field's initial value above.
    public init() {}
}

/// Where a transfer is.
public struct DownloadProgress: Sendable {
    /// The URL being fetched.
    public var url: String
    /// Bytes in the file so far (resumed ones included).
    public var bytes: Int64
    /// The whole file's size when the server said it; nil otherwise.
    public var total: Int64?
    /// Bytes that were already there when this transfer started (a resume).
    public var resumedFrom: Int64
    /// Seconds since this transfer started.
    public var elapsed: Double
}

/// One file to get, from one or more mirrors.
public struct DownloadRequest: Sendable {
    /// Mirrors of one file, tried in order (spread over when segmented).
    public var urls: [String]
    /// The final path; bytes go to `DEST.partial` until verified.
    public var destination: String
    /// Nil: no checksum (the caller warned).
    public var expected: Digest?
    /// Runs on the complete `.partial` file before it is renamed (signature of the download itself).
    public var verifyBeforeCommit: (@Sendable (String) throws -> Void)?
    /// The most bytes the whole file may have (`--max-size`, a checksum file's size line); nil: no bound beyond
    /// the server's own Content-Length. A larger file is cut off, its part removed, and refused.
    public var maximumBytes: Int64?
    /// Where `maximumBytes` came from, for the error ("--max-size 2G", "the checksum file").
    public var maximumSource: String

    /// A request for `destination` from `urls`, checked against `expected` (nil: no digest check).
    public init(urls: [String], destination: String, expected: Digest?,
                verifyBeforeCommit: (@Sendable (String) throws -> Void)? = nil,
                maximumBytes: Int64? = nil, maximumSource: String = "the size limit") {
        self.urls = urls
        self.destination = destination
        self.expected = expected
        self.verifyBeforeCommit = verifyBeforeCommit
        self.maximumBytes = maximumBytes
        self.maximumSource = maximumSource
    }
}

extension DownloadRequest {
    /// Runs ``verifyBeforeCommit`` (when set) on the file at `path` before it is moved into place.
    /// - Throws: `DownloadError.signature` for a `SignatureError`, `.io` (EIO, "verify") for any other failure.
    func verify(_ path: String) throws(DownloadError) {
        guard let check = verifyBeforeCommit else { return }
        try Self.run(check, on: path)
    }

    /// Runs `check` on `path`, with the errors of ``verify(_:)``.
    static func run(_ check: (String) throws -> Void, on path: String) throws(DownloadError) {
        do { try check(path) } catch let e as SignatureError {
            throw .signature(e)
        } catch {
            throw .io(IOError(path: path, operation: "verify", code: EIO))
        }
    }
}

/// How one attempt ended, for the exit code: a missing file, a failure worth trying again later, or a refusal
/// that will not change by retrying.
public enum AttemptKind: String, Sendable, Codable, Equatable {
    /// The file arrived.
    case ok
    /// HTTP 404 or 410, or a local file that does not exist.
    case notFound
    /// The network or the server failed (connection refused, reset, stall, 5xx, a name that did not resolve).
    case temporary
    /// Refused for good: a redirect to a forbidden scheme, a redirect loop, a malformed URL, an untrusted
    /// certificate, HTTP 403, an oversized body.
    case refused
}

/// One attempt, for the final report and error.
public struct AttemptRecord: Sendable, Codable, Equatable {
    /// The URL as given (raw; escape it with `URLText.printable` before showing it).
    public var url: String
    /// What happened, in words.
    public var outcome: String
    /// How it ended.
    public var kind: AttemptKind = .refused

    /// An attempt record; `kind` defaults to a refusal (an error that retrying does not change).
    public init(url: String, outcome: String, kind: AttemptKind = .refused) {
        self.url = url
        self.outcome = outcome
        self.kind = kind
    }
}

/// What a fetch did.
public struct DownloadReport: Sendable, Codable {
    /// The final path.
    public var destination: String
    /// The URL the bytes came from; nil when from the cache or already present.
    public var url: String?
    /// The file's size in bytes.
    public var bytes: Int64
    /// Its verified digest; nil when no checksum was asked for.
    public var digest: Digest?
    /// Copied from the download cache (re-verified), not fetched.
    public var fromCache: Bool
    /// The destination was there already with the expected digest.
    public var alreadyPresent: Bool
    /// Bytes a `.partial` already had when this run resumed it.
    public var resumedFrom: Int64
    /// Bytes received over the network in this run.
    public var bytesTransferred: Int64
    /// Wall-clock seconds the fetch took.
    public var seconds: Double
    /// Every attempt, in order, with its outcome.
    public var attempts: [AttemptRecord]
    /// What the cache did, for the summary: the entry was re-hashed before use, or a wrong entry was dropped.
    public var cacheNote: String? = nil
}

/// Why a download failed. Each names the URL or file and says what to do. URLs and server text in descriptions
/// have their control characters escaped (`URLText.printable`).
public enum DownloadError: Error, Sendable, CustomStringConvertible {
    case unsupportedScheme(url: String)
    /// Every URL failed; `attempts` holds each try in order. `allNotFound` is kept for callers that know better;
    /// the kinds of the attempts decide otherwise (see `isNotFound`, `isTemporary`).
    case failed(attempts: [AttemptRecord], allNotFound: Bool)
    case verification(ChecksumError)
    case signature(SignatureError)
    case io(IOError)
    case exists(path: String, reason: String)
    /// A small file (checksum file, signature, key) was larger than `limit` bytes.
    case tooLarge(url: String, limit: Int)
    case curlUnavailable
    /// The cache folder is unsafe (owned by someone else, writable by others) or there is no private place for it.
    case cache(CacheError)
    /// The URL's last path segment cannot be a file name (empty, `.`, `..`, a slash, NUL or a control character
    /// once percent-decoded, or longer than 255 bytes).
    case badFileName(url: String, reason: String)
    /// A file vmprov creates (`DEST.partial`, `DEST.partial.info`, their temporaries) is a symbolic link or
    /// something else vmprov did not make; nothing was written through it.
    case unsafeFile(path: String, reason: String)
    /// The file is larger than `limit` bytes (`source` says where the limit came from); the part was removed.
    case oversize(url: String, limit: Int64, source: String, got: Int64?)
    /// libcurl refused an option vmprov needs (`option` names it); nothing was downloaded.
    case curlOption(option: String, detail: String)
    /// Another process is downloading to `path` now (it holds `path.partial.lock`).
    case busy(path: String)
    /// A required file (`what`: "the signature", "the checksum file") does not exist; `underlying` says where.
    indirect case notFound(what: String, underlying: DownloadError, hint: String)

    /// What failed, at which URL or file, and what to do.
    public var description: String {
        switch self {
        case let .unsupportedScheme(url):
            return "\(URLText.printable(url)): only http and https URLs (or local paths) are allowed."
        case let .failed(attempts, _):
            var text = "download failed; every URL was tried:"
            for (url, tries) in Self.grouped(attempts) { text += "\n    \(URLText.printable(url)): \(tries)" }
            if isNotFound { return text + "\nCheck the URL (or pass another one); the server does not have this file." }
            if !isTemporary { return text + "\nRetrying will not help: check the URL or the server's configuration." }
            return text + "\nCheck the URL and the network, then run the same command again: finished bytes are kept "
                + "and resumed."
        case let .verification(e): return e.description
        case let .signature(e): return e.description
        case let .io(e): return e.description
        case let .exists(path, reason): return "\(URLText.printable(path)): \(reason)"
        case let .tooLarge(url, limit): return "\(URLText.printable(url)): more than \(limit >> 20) MiB (\(limit) bytes); "
            + "that is too large for a checksum file, signature or key, so it was refused. Check the URL."
        case let .cache(e): return "download cache: \(e.description)"
        case .curlUnavailable:
            return "libcurl could not be loaded (\(CurlGlobal.loadError)); install it (Debian: libcurl4, Arch: curl)."
        case let .badFileName(url, reason):
            return "\(URLText.printable(url)): the URL's last path segment \(reason), so it cannot name the file; "
                + "choose the file name yourself."
        case let .unsafeFile(path, reason):
            return "\(URLText.printable(path)): \(reason); vmprov never writes through a link it did not make. Remove it "
                + "and run again, or choose another destination."
        case let .oversize(url, limit, source, got):
            return "\(URLText.printable(url)): the file is larger than \(limit) bytes (\(source))"
                + (got.map { "; the server announced \($0) bytes" } ?? "; it was cut off there")
                + ". The partial data was removed. "
                + (source.hasPrefix("--max-size") ? "If the file really is that large, raise --max-size."
                    : "The server sends a different file than the one described; try another mirror.")
        case let .busy(path):
            return "\(URLText.printable(path)): another vmprov is downloading to it right now; wait for it to finish, "
                + "then run again (finished bytes are kept and resumed)."
        case let .notFound(what, underlying, hint):
            return "\(what) was not found: \(underlying.description)\n\(hint)"
        case let .curlOption(option, detail):
            return "libcurl (\(CurlGlobal.version)) refused \(option): \(detail). vmprov does not download without it; "
                + "install a current libcurl (7.85 or later)."
        }
    }

    /// Each URL once, with what happened on each try (runs of the same outcome counted).
    static func grouped(_ attempts: [AttemptRecord]) -> [(String, String)] {
        var order: [String] = []
        var byURL: [String: [String]] = [:]
        for a in attempts {
            if byURL[a.url] == nil { order.append(a.url) }
            byURL[a.url, default: []].append(URLText.printable(a.outcome))
        }
        return order.map { url in
            let outcomes = byURL[url] ?? []
            if outcomes.count == 1 { return (url, outcomes[0]) }
            var runs: [(String, Int)] = []
            for o in outcomes {
                if let last = runs.last, last.0 == o { runs[runs.count - 1].1 += 1 } else { runs.append((o, 1)) }
            }
            if runs.count == 1 { return (url, "\(outcomes.count) tries, each: \(runs[0].0)") }
            let text = runs.map { $0.1 > 1 ? "\($0.0) (\($0.1) tries)" : $0.0 }.joined(separator: "; then ")
            return (url, "\(outcomes.count) tries: " + text)
        }
    }

    /// The last attempt at each URL.
    private var finalAttempts: [AttemptRecord] {
        guard case let .failed(attempts, _) = self else { return [] }
        var last: [String: AttemptRecord] = [:]
        var order: [String] = []
        for a in attempts {
            if last[a.url] == nil { order.append(a.url) }
            last[a.url] = a
        }
        return order.compactMap { last[$0] }
    }

    /// The file does not exist: HTTP 404/410 at every URL, or a local file that is not there.
    public var isNotFound: Bool {
        switch self {
        case let .failed(attempts, allNotFound):
            let finals = finalAttempts
            return allNotFound && !attempts.isEmpty || (!finals.isEmpty && finals.allSatisfy { $0.kind == .notFound })
        case let .io(e): return e.code == ENOENT
        case .notFound: return true
        default: return false
        }
    }

    /// Trying again later may succeed (the network or a server failed, another download held the file); false
    /// for refusals and missing files.
    public var isTemporary: Bool {
        if case .busy = self { return true }
        guard case .failed = self, !isNotFound else { return false }
        let finals = finalAttempts
        return finals.isEmpty || finals.contains { $0.kind == .temporary }
    }

    /// How this error would end an attempt, for callers that record it among others (mirrors of a checksum file).
    public var attemptKind: AttemptKind {
        if isNotFound { return .notFound }
        if isTemporary { return .temporary }
        return .refused
    }
}
