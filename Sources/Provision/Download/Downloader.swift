#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CCurlLoader
import Basics

/// Resumable, verified downloads over libcurl.
///
/// Bytes go to `DEST.partial` (with `DEST.partial.info` naming the URL, validator and expected digest) and are
/// hashed as they arrive; DEST appears only after the digest matched. Transfers run on the calling thread, which
/// must not be a Swift concurrency thread (the CLI calls it from the main thread).
public struct Downloader: Sendable {
    /// Retries, timeouts, limits and callbacks.
    public var options: DownloadOptions

    /// A downloader with `options`.
    public init(options: DownloadOptions = DownloadOptions()) {
        self.options = options
    }

    /// What a finished attempt means: nil when it succeeded.
    struct Outcome {
        var reason: String
        var kind: AttemptKind
        /// Worth another try at the same URL now (a failed name lookup is temporary but not retried: it fails the
        /// same way at once, and offline it would only add minutes of waiting).
        var retry: Bool
    }

    /// Classifies a finished attempt: nil when it succeeded.
    func classify(_ r: AttemptResult) -> Outcome? {
        if let abort = r.abort {
            switch abort {
            case .httpStatus(let s): return httpClass(s, retryAfter: r.retryAfter)
            case .rangeMismatch(let e, let g):
                return Outcome(reason: "asked for bytes from \(e), server sent from \(g)", kind: .temporary, retry: true)
            case .io(let e): return Outcome(reason: "cannot write: \(String(cString: strerror(e)))", kind: .refused, retry: false)
            case .tooLarge: return Outcome(reason: "response too large", kind: .refused, retry: false)
            case .oversize: return Outcome(reason: "larger than allowed", kind: .refused, retry: false)
            }
        }
        if r.code == CURLE_OK {
            if r.status >= 300 { return httpClass(r.status, retryAfter: r.retryAfter) }
            return nil
        }
        var reason = r.message
        switch r.code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return Outcome(reason: reason + " (no network, or the name does not exist; not retried)", kind: .temporary,
                           retry: false)
        case CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR,
             CURLE_GOT_NOTHING, CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_SSL_CONNECT_ERROR:
            if r.code == CURLE_OPERATION_TIMEDOUT {
                reason += " (stalled: below \(options.lowSpeedBytes) bytes/s for \(options.stallSeconds) s, or timed out)"
            }
            return Outcome(reason: reason, kind: .temporary, retry: true)
        case CURLE_UNSUPPORTED_PROTOCOL:
            reason += " (only http and https are allowed, also in redirects)"
        case CURLE_TOO_MANY_REDIRECTS:
            reason += " (a redirect loop?)"
        default:
            break
        }
        return Outcome(reason: reason, kind: .refused, retry: false)
    }

    private func httpClass(_ status: Int, retryAfter: Int?) -> Outcome {
        let transient = status >= 500 || status == 408 || status == 429 || status == 425
        let extra = retryAfter.map { ", Retry-After \($0) s" } ?? ""
        let notFound = status == 404 || status == 410
        return Outcome(reason: "HTTP \(status)\(extra)", kind: notFound ? .notFound : transient ? .temporary : .refused,
                       retry: transient)
    }

    /// The wait before retry `n` (1-based): exponential with jitter, or the server's Retry-After.
    func backoff(retry n: Int, retryAfter: Int?) -> Double {
        if let retryAfter { return min(Double(retryAfter), options.maximumRetryAfter) }
        let base = min(options.maximumBackoff, options.initialBackoff * Double(1 << min(n - 1, 20)))
        return base * (0.5 + Double.random(in: 0..<0.5))
    }

    // MARK: - Small files in memory (checksum files, signatures, keys)

    /// The cap on checksum files, signatures and keys (4 MiB): anything larger is refused as not one of them.
    public static let smallFileLimit = 4 << 20

    /// Gets a small file by http(s) URL or local path, with the same security and retry rules.
    /// - Parameter limit: the most bytes accepted (default `smallFileLimit`); a larger file is refused (its
    ///   Content-Length first).
    /// - Throws: `.tooLarge` (a permanent refusal, never retried) when it holds more than `limit` bytes, `.failed`
    ///   with each try, `.unsupportedScheme`, `.io` (ENOENT for a missing local file).
    public func fetchSmall(_ reference: String, limit: Int = Downloader.smallFileLimit) throws(DownloadError) -> [UInt8] {
        guard let scheme = URLText.scheme(reference) else {
            guard let bytes = try SafeFiles.readBounded(reference, limit: limit, followLinks: true) else {
                throw .tooLarge(url: reference, limit: limit)
            }
            return bytes
        }
        guard scheme == "http" || scheme == "https" else { throw .unsupportedScheme(url: reference) }
        var attempts: [AttemptRecord] = []
        for n in 0...options.retries {
            let state = TransferState(fd: -1, offset: 0, hasher: nil, memoryLimit: limit)
            let result = try attempt(url: reference, state: state, rangeFrom: 0, validator: nil)
            if state.abort == .tooLarge { throw .tooLarge(url: reference, limit: limit) }
            guard let outcome = classify(result) else { return state.memory ?? [] }
            attempts.append(AttemptRecord(url: reference, outcome: outcome.reason, kind: outcome.kind))
            guard outcome.retry, n < options.retries else {
                throw .failed(attempts: attempts, allNotFound: outcome.kind == .notFound)
            }
            options.onRetry?("\(URLText.printable(reference)): \(URLText.printable(outcome.reason)); retry \(n + 1) of \(options.retries)")
            Clock.sleep(backoff(retry: n + 1, retryAfter: result.retryAfter))
        }
        throw .failed(attempts: attempts, allNotFound: false)
    }

    // MARK: - Files to disk

    /// Fetches `request` into its destination, or throws with every URL tried and why each failed.
    public func fetch(_ request: DownloadRequest) throws(DownloadError) -> DownloadReport {
        let started = Clock.now()
        let dest = request.destination
        for url in request.urls {
            guard let s = URLText.scheme(url), s == "http" || s == "https" else { throw .unsupportedScheme(url: url) }
        }
        // One process per destination; released (and its file removed) on every way out. A folder vmprov cannot
        // write to still allows checking a file that is already there.
        var lock: DownloadLock?
        var lockError: DownloadError?
        do { lock = try DownloadLock(destination: dest) } catch {
            guard case .io = error else { throw error }
            lockError = error
        }
        defer { withExtendedLifetime(lock) {} }
        // Already there?
        if access(dest, F_OK) == 0 {
            // Only a regular file is read: a folder cannot be one, and a pipe or device planted there would block
            // the hash (and vmprov) for ever.
            var st = stat()
            guard stat(dest, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                throw .exists(path: dest, reason: "exists already and is not a regular file (a folder, pipe or "
                    + "device); remove it or choose another -o.")
            }
            guard let expected = request.expected else {
                throw .exists(path: dest, reason: "exists already and no checksum was given to check it; remove it or "
                    + "choose another -o.")
            }
            let actual: Digest
            do { actual = try FileHasher.digest(path: dest, algorithm: expected.algorithm) } catch { throw .io(error) }
            guard actual == expected else {
                throw .exists(path: dest, reason: "exists already and its \(expected.algorithm.rawValue) is "
                    + "\(actual.hex), not \(expected.hex); remove it or choose another -o.")
            }
            // A signature of the download itself is checked here too: a file that is already there is no more
            // trusted than one that just arrived.
            try request.verify(dest)
            return DownloadReport(destination: dest, url: nil, bytes: FileHasher.size(dest), digest: actual,
                                  fromCache: false, alreadyPresent: true, resumedFrom: 0, bytesTransferred: 0,
                                  seconds: Clock.now() - started, attempts: [])
        }
        if let lockError { throw lockError }
        // In the cache? Never trusted: the bytes the destination gets are hashed and must match.
        var cacheNote: String?
        if let expected = request.expected, let root = options.cacheDirectory {
            let cache = DownloadCache(root: root)
            switch try cache.place(expected, to: dest, verify: request.verifyBeforeCommit) {
            case .placed:
                return DownloadReport(destination: dest, url: nil, bytes: FileHasher.size(dest), digest: expected,
                                      fromCache: true, alreadyPresent: false, resumedFrom: 0, bytesTransferred: 0,
                                      seconds: Clock.now() - started, attempts: [],
                                      cacheNote: "re-hashed before use (\(expected.algorithm.rawValue) matched; cheap "
                                          + "next to a download)")
            case .dropped(let why):
                cacheNote = "the cache entry \(cache.entryPath(for: expected)) was wrong (\(why)); it was removed and "
                    + "the file downloaded again"
            case .absent:
                break
            }
        }

        let partial = dest + ".partial"
        let info = dest + ".partial.info"
        // Never through a planted link: refused before anything is read, truncated or written.
        try SafeFiles.refuseForeign(partial)
        try SafeFiles.refuseForeign(info)
        if let report = try segmentedFetch(request, partial: partial, info: info, started: started, cacheNote: cacheNote) {
            return report
        }
        var attempts: [AttemptRecord] = []
        var allNotFound = true
        var transferred: Int64 = 0
        var firstResume: Int64 = -1
        for url in request.urls {
            var n = 0
            while true {
                // Decide whether the existing part can be continued from this URL.
                var resumeFrom: Int64 = 0
                var validator: String?
                var existing = SafeFiles.resumableSize(partial)
                switch PartialInfo.read(info) {
                case .absent:
                    break
                case .invalid(let why):
                    options.onNote?("\(URLText.printable(info)): \(why); starting the download again from zero")
                    unlink(info)
                case .valid(let previous):
                    if let missing = previous.missing {
                        // A segmented part continued as one stream: only its bytes before the first hole count.
                        existing = min(existing, missing.first?.0 ?? existing)
                    }
                    if let size = previous.size, existing > size {
                        options.onNote?("\(URLText.printable(partial)): \(existing) bytes, more than the whole file "
                            + "(\(size) bytes); starting the download again from zero")
                        unlink(info)
                    } else if existing > 0,
                       (request.expected != nil && previous.digest == request.expected?.description)
                        || (previous.url == url && previous.validator != nil) {
                        resumeFrom = existing
                        validator = previous.url == url ? previous.validator : nil
                    }
                }
                let fd = try SafeFiles.openPartial(partial, resumeFrom: resumeFrom)
                if resumeFrom > 0, ftruncate(fd.raw, off_t(resumeFrom)) != 0 {
                    throw .io(IOError(path: partial, operation: "truncate", code: errno))
                }
                var hasher = request.expected.flatMap { StreamingHasher($0.algorithm) }
                if resumeFrom > 0, var h = hasher {
                    // Hash the existing part once, then continue the stream.
                    do { try FileHasher.feed(path: partial, into: &h, limit: resumeFrom) } catch { throw .io(error) }
                    hasher = h
                }
                if firstResume < 0 { firstResume = resumeFrom }
                let state = TransferState(fd: fd.raw, offset: resumeFrom, hasher: hasher)
                state.maximumTotal = request.maximumBytes
                let expectedText = request.expected?.description
                state.onFirstByte = { headers in
                    PartialInfo(url: url, validator: headers.validator, digest: expectedText,
                                size: headers.announcedTotal).write(info)
                }
                if let progress = options.progress {
                    let t0 = Clock.now()
                    let resumed = resumeFrom
                    state.progress = { bytes, total in
                        progress(DownloadProgress(url: url, bytes: bytes, total: total, resumedFrom: resumed,
                                                  elapsed: Clock.now() - t0))
                    }
                }
                let result: AttemptResult
                do { result = try attempt(url: url, state: state, rangeFrom: resumeFrom, validator: validator) } catch {
                    fd.close()
                    if FileHasher.size(partial) == 0 { unlink(partial); unlink(info) }
                    throw error
                }
                let synced = Syscall.retrying({ fsync(fd.raw) }) == 0 || errno == EINVAL
                fd.close()
                transferred += state.size - state.offset
                if case .oversize(let announced)? = result.abort {
                    // Refused for good: nothing of it is kept.
                    unlink(partial); unlink(info)
                    throw .oversize(url: url, limit: request.maximumBytes ?? 0, source: request.maximumSource, got: announced)
                }
                if case .io(let e)? = result.abort {
                    throw .io(IOError(path: partial, operation: "write", code: e))
                }
                if var outcome = classify(result) {
                    if case .rangeMismatch? = result.abort {
                        // Start clean next time.
                        unlink(partial); unlink(info)
                    }
                    if result.status == 416 {
                        unlink(partial); unlink(info)
                        outcome.reason += " (range not satisfiable; starting again from zero)"
                    }
                    if outcome.kind != .notFound { allNotFound = false }
                    attempts.append(AttemptRecord(url: url, outcome: outcome.reason, kind: outcome.kind))
                    n += 1
                    if outcome.retry && n <= options.retries {
                        options.onRetry?("\(URLText.printable(url)): \(URLText.printable(outcome.reason)); retry \(n) of \(options.retries)")
                        Clock.sleep(backoff(retry: n, retryAfter: result.retryAfter))
                        continue
                    }
                    break
                }
                allNotFound = false
                guard synced else { throw .io(IOError(path: partial, operation: "sync", code: EIO)) }
                // Complete: check the digest before anything appears at DEST.
                let actual = state.finishHash()
                if let expected = request.expected, let actual, actual != expected, state.offset > 0 {
                    // The kept part may be what was wrong (damaged on disk, or from another server's file): it is
                    // dropped and the whole file fetched once more from this URL before any mirror is blamed.
                    options.onNote?("\(URLText.printable(partial)): the resumed download does not match its "
                        + "\(expected.algorithm.rawValue); the kept part was removed and the download starts again "
                        + "from zero")
                    unlink(partial); unlink(info)
                    continue
                }
                if let expected = request.expected, let actual, actual != expected {
                    let corrupt = dest + ".corrupt"
                    unlink(corrupt)
                    rename(partial, corrupt)
                    unlink(info)
                    let mismatch = ChecksumError.mismatch(file: dest, expected: expected, actual: actual, keptAt: corrupt)
                    attempts.append(AttemptRecord(url: url, outcome: "checksum mismatch: got \(actual.hex)", kind: .refused))
                    if url == request.urls.last { throw .verification(mismatch) }
                    options.onRetry?("\(url): checksum mismatch; trying the next mirror")
                    break
                }
                try request.verify(partial)
                guard rename(partial, dest) == 0 else { throw .io(IOError(path: dest, operation: "rename into place", code: errno)) }
                unlink(info)
                _ = FileIO.syncDirectory(FileIO.directory(of: dest))
                if let actual, let root = options.cacheDirectory { DownloadCache(root: root).store(dest, digest: actual) }
                attempts.append(AttemptRecord(url: url, outcome: state.restarted ? "ok (server sent the whole file; restarted)" : "ok",
                                              kind: .ok))
                return DownloadReport(destination: dest, url: url, bytes: state.size, digest: actual, fromCache: false,
                                      alreadyPresent: false, resumedFrom: max(firstResume, 0),
                                      bytesTransferred: transferred, seconds: Clock.now() - started, attempts: attempts,
                                      cacheNote: cacheNote)
            }
        }
        if SafeFiles.resumableSize(partial) == 0 {
            unlink(partial)
            unlink(info)
        }
        throw .failed(attempts: attempts, allNotFound: allNotFound)
    }

    // MARK: - Cache

    /// `$VMPROV_CACHE/<algo>/<digest>`.
    public func cachePath(for digest: Digest) -> String? {
        options.cacheDirectory.map { DownloadCache(root: $0).entryPath(for: digest) }
    }

    /// Where `url` leads after redirects (a HEAD request with the same security rules: http and https only, TLS
    /// verified); used to find the real name of an alias such as `latest.iso`.
    /// - Throws: `.failed` when the request fails or ends in an HTTP error.
    public func effectiveURL(of url: String) throws(DownloadError) -> String {
        let easy = try makeHandle(url: url)
        try easy.set(CURLOPT_NOBODY, 1)
        let (code, message) = try easy.perform()
        let status = easy.responseCode
        guard code == CURLE_OK, status < 400, let effective = easy.effectiveURL else {
            let notFound = status == 404 || status == 410
            throw .failed(attempts: [AttemptRecord(url: url, outcome: code == CURLE_OK ? "HTTP \(status)" : message,
                                                   kind: notFound ? .notFound : .refused)],
                          allNotFound: notFound)
        }
        return effective
    }

    /// Makes `path` and its missing parents.
    /// - Returns: the folders this call made, outermost first (a caller that fails removes them again).
    @discardableResult
    func makeDirectories(_ path: String) -> [String] {
        var current = path.hasPrefix("/") ? "" : "."
        var made: [String] = []
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) == 0 { made.append(current) }
        }
        return made
    }
}

/// The sidecar of a `.partial` file: the URL, the validator (ETag or Last-Modified) for If-Range, the expected
/// digest and the whole file's size, one `key=value` line each after `vmprov-partial 1`.
struct PartialInfo: Equatable {
    var url: String
    var validator: String?
    var digest: String?
    /// The size of the whole file as the server announced it.
    var size: Int64?
    /// A segmented part (`vmprov-partial 2`): the ranges not yet on disk, `start..<end` each, sorted; nil for a
    /// part written as one stream, whose bytes are all at its start.
    var missing: [(Int64, Int64)]?

    static func == (a: PartialInfo, b: PartialInfo) -> Bool {
        a.url == b.url && a.validator == b.validator && a.digest == b.digest && a.size == b.size
            && a.missing.map { $0.map { [$0.0, $0.1] } } == b.missing.map { $0.map { [$0.0, $0.1] } }
    }

    /// What reading a sidecar found.
    enum Read: Equatable {
        case absent
        case valid(PartialInfo)
        /// Damaged, foreign or hostile; the part is not resumed.
        case invalid(String)
    }

    /// The longest sidecar vmprov reads.
    static let maximumBytes = 16 << 10

    /// Reads and checks a sidecar: bounded length, no control characters, a well-formed http(s) URL, validator,
    /// digest and size. Anything else is `.invalid`, never a crash and never a header in the next request.
    static func read(_ path: String) -> Read {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .absent }
        let bytes: [UInt8]
        do {
            guard let b = try SafeFiles.readBounded(path, limit: maximumBytes) else {
                return .invalid("longer than \(maximumBytes) bytes")
            }
            bytes = b
        } catch {
            return .invalid("unreadable (\(error))")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { return .invalid("not UTF-8 text") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        guard lines.first == "vmprov-partial 1" || lines.first == "vmprov-partial 2" else {
            return .invalid("not a vmprov-partial 1 or 2 file")
        }
        let segmented = lines.first == "vmprov-partial 2"
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard URLText.printable(String(line)) == line else { return .invalid("a line holds control characters") }
            guard let eq = line.firstIndex(of: "=") else { return .invalid("a line is not key=value") }
            let key = String(line[..<eq])
            guard fields[key] == nil else { return .invalid("\(key) appears twice") }
            fields[key] = String(line[line.index(after: eq)...])
        }
        guard let url = fields["url"], !url.isEmpty, url.utf8.count <= 8192,
              let scheme = URLText.scheme(url), scheme == "http" || scheme == "https",
              !url.contains(" ") else {
            return .invalid("no well-formed http(s) URL")
        }
        var validator: String?
        if let v = fields["validator"], !v.isEmpty {
            guard let ok = HTTPValidator.wellFormed(v) else { return .invalid("the validator is not an ETag or HTTP date") }
            validator = ok
        }
        var digest: String?
        if let d = fields["digest"], !d.isEmpty {
            guard case .digest? = try? ChecksumSpec(d), d.contains(":") else { return .invalid("the digest is malformed") }
            digest = d
        }
        var size: Int64?
        if let z = fields["size"], !z.isEmpty {
            guard z.utf8.count <= 19, z.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int64(z) else {
                return .invalid("the size is not a number of bytes")
            }
            size = v
        }
        var missing: [(Int64, Int64)]?
        if segmented {
            // Version 2 (written by segmented downloads; older vmprov refuses it instead of resuming holes).
            guard let size, let text = fields["missing"], let ranges = MissingRanges.parse(text, size: size) else {
                return .invalid("the missing ranges of a segmented part are malformed")
            }
            missing = ranges
        }
        return .valid(PartialInfo(url: url, validator: validator, digest: digest, size: size, missing: missing))
    }

    /// Writes the sidecar through a new temporary file (`O_EXCL | O_NOFOLLOW`) renamed over the old one; a
    /// failure leaves no sidecar (the part then restarts rather than resuming unchecked).
    func write(_ path: String) {
        var text = "vmprov-partial \(missing == nil ? 1 : 2)\nurl=\(url)\nvalidator=\(validator ?? "")\n"
            + "digest=\(digest ?? "")\nsize=\(size.map(String.init) ?? "")\n"
        if let missing { text += "missing=\(MissingRanges.text(missing))\n" }
        let temp = path + ".tmp\(getpid())"
        do throws(DownloadError) {
            try SafeFiles.createExclusive(temp, bytes: Array(text.utf8))
            if rename(temp, path) != 0 { unlink(temp); unlink(path) }
        } catch {
            unlink(path)
        }
    }
}
