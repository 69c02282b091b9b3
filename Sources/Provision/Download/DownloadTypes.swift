/// Settings for transfers. Defaults are what a user wants; tests shorten the waits.
public struct DownloadOptions: Sendable {
    /// Retries per URL after the first attempt, for transient failures.
    public var retries = 5
    /// A CA bundle for private mirrors (TLS verification is always on).
    public var caCertificate: String?
    /// `$VMPROV_CACHE` (or nil for no cache).
    public var cacheDirectory: String?
    /// A transfer slower than `lowSpeedBytes` per second for `stallSeconds` is a stall.
    public var stallSeconds = 30
    public var lowSpeedBytes = 1024
    public var connectTimeoutSeconds = 30
    /// First backoff delay; doubles per retry with jitter, capped by `maximumBackoff`.
    public var initialBackoff = 1.0
    public var maximumBackoff = 30.0
    /// Longest Retry-After vmprov honours.
    public var maximumRetryAfter = 300.0
    /// Called from the transfer thread about ten times a second at most.
    public var progress: (@Sendable (DownloadProgress) -> Void)?
    /// Called for each retry with its reason (for logs).
    public var onRetry: (@Sendable (String) -> Void)?
    public var userAgent = "vmprov/0.1.0"

    public init() {}
}

/// Where a transfer is.
public struct DownloadProgress: Sendable {
    public var url: String
    public var bytes: Int64
    public var total: Int64?
    /// Bytes that were already there when this transfer started (a resume).
    public var resumedFrom: Int64
    public var elapsed: Double
}

/// One file to get, from one or more mirrors.
public struct DownloadRequest: Sendable {
    public var urls: [String]
    public var destination: String
    /// Nil: no checksum (the caller warned).
    public var expected: Digest?
    /// Runs on the complete `.partial` file before it is renamed (signature of the download itself).
    public var verifyBeforeCommit: (@Sendable (String) throws -> Void)?

    public init(urls: [String], destination: String, expected: Digest?,
                verifyBeforeCommit: (@Sendable (String) throws -> Void)? = nil) {
        self.urls = urls
        self.destination = destination
        self.expected = expected
        self.verifyBeforeCommit = verifyBeforeCommit
    }
}

/// One attempt, for the final report and error.
public struct AttemptRecord: Sendable, Codable, Equatable {
    public var url: String
    public var outcome: String
}

/// What a fetch did.
public struct DownloadReport: Sendable, Codable {
    public var destination: String
    public var url: String?
    public var bytes: Int64
    public var digest: Digest?
    public var fromCache: Bool
    public var alreadyPresent: Bool
    public var resumedFrom: Int64
    public var bytesTransferred: Int64
    public var seconds: Double
    public var attempts: [AttemptRecord]
    /// What the cache did, for the summary: the entry was re-hashed before use, or a wrong entry was dropped.
    public var cacheNote: String? = nil
}

/// Why a download failed. Each names the URL or file and says what to do.
public enum DownloadError: Error, Sendable, CustomStringConvertible {
    case unsupportedScheme(url: String)
    case failed(attempts: [AttemptRecord], allNotFound: Bool)
    case verification(ChecksumError)
    case signature(SignatureError)
    case io(IOError)
    case exists(path: String, reason: String)
    case tooLarge(url: String, limit: Int)
    case curlUnavailable
    /// The cache folder is unsafe (owned by someone else, writable by others) or there is no private place for it.
    case cache(CacheError)

    public var description: String {
        switch self {
        case let .unsupportedScheme(url):
            return "\(url): only http and https URLs (or local paths) are allowed."
        case let .failed(attempts, _):
            var text = "download failed; every URL was tried:"
            for a in attempts { text += "\n    \(a.url): \(a.outcome)" }
            return text + "\nCheck the URL and the network, then run the same command again: finished bytes are kept "
                + "and resumed."
        case let .verification(e): return e.description
        case let .signature(e): return e.description
        case let .io(e): return e.description
        case let .exists(path, reason): return "\(path): \(reason)"
        case let .tooLarge(url, limit): return "\(url): more than \(limit >> 20) MiB (\(limit) bytes); that is too "
            + "large for a checksum file, signature or key, so it was refused. Check the URL."
        case let .cache(e): return "download cache: \(e.description)"
        case .curlUnavailable:
            return "libcurl could not be loaded (\(CurlGlobal.loadError)); install it (Debian: libcurl4, Arch: curl)."
        }
    }
}
