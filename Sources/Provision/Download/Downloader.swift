#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CCurl

/// Resumable, verified downloads over libcurl.
///
/// Bytes go to `DEST.partial` (with `DEST.partial.info` naming the URL, validator and expected digest) and are
/// hashed as they arrive; DEST appears only after the digest matched. Transfers run on the calling thread, which
/// must not be a Swift concurrency thread (the CLI calls it from the main thread).
public struct Downloader: Sendable {
    public var options: DownloadOptions

    public init(options: DownloadOptions = DownloadOptions()) {
        self.options = options
    }

    /// Classifies a finished attempt: nil when it succeeded, else (reason, transient, notFound).
    func classify(_ r: AttemptResult) -> (String, Bool, Bool)? {
        if let abort = r.abort {
            switch abort {
            case .httpStatus(let s): return httpClass(s, retryAfter: r.retryAfter)
            case .rangeMismatch(let e, let g): return ("asked for bytes from \(e), server sent from \(g)", true, false)
            case .io(let e): return ("cannot write: \(String(cString: strerror(e)))", false, false)
            case .tooLarge: return ("response too large", false, false)
            }
        }
        if r.code == CURLE_OK {
            if r.status >= 400 || (r.status >= 300 && r.status < 400) { return httpClass(r.status, retryAfter: r.retryAfter) }
            return nil
        }
        let transient: Set<UInt32> = [
            CURLE_COULDNT_CONNECT.rawValue, CURLE_OPERATION_TIMEDOUT.rawValue, CURLE_PARTIAL_FILE.rawValue,
            CURLE_RECV_ERROR.rawValue, CURLE_SEND_ERROR.rawValue, CURLE_GOT_NOTHING.rawValue,
            CURLE_COULDNT_RESOLVE_HOST.rawValue, CURLE_HTTP2.rawValue, CURLE_HTTP2_STREAM.rawValue,
            CURLE_SSL_CONNECT_ERROR.rawValue, CURLE_COULDNT_RESOLVE_PROXY.rawValue,
        ]
        var reason = r.message
        if r.code == CURLE_UNSUPPORTED_PROTOCOL { reason += " (only http and https are allowed, also in redirects)" }
        if r.code == CURLE_OPERATION_TIMEDOUT { reason += " (stalled or timed out)" }
        return (reason, transient.contains(r.code.rawValue), false)
    }

    private func httpClass(_ status: Int, retryAfter: Int?) -> (String, Bool, Bool) {
        let transient = status >= 500 || status == 408 || status == 429 || status == 425
        let extra = retryAfter.map { ", Retry-After \($0) s" } ?? ""
        return ("HTTP \(status)\(extra)", transient, status == 404 || status == 410)
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
    /// - Parameter limit: the most bytes accepted (default `smallFileLimit`).
    /// - Throws: `.tooLarge` (a permanent refusal, never retried) when it holds more than `limit` bytes, `.failed`
    ///   with every attempt, `.unsupportedScheme`, `.io` for a local file.
    public func fetchSmall(_ reference: String, limit: Int = Downloader.smallFileLimit) throws(DownloadError) -> [UInt8] {
        guard let scheme = URLText.scheme(reference) else {
            var st = stat()
            if stat(reference, &st) == 0, st.st_size > off_t(limit) { throw .tooLarge(url: reference, limit: limit) }
            let bytes: [UInt8]
            do { bytes = try TempFiles.read(reference) } catch { throw .io(error) }
            guard bytes.count <= limit else { throw .tooLarge(url: reference, limit: limit) }
            return bytes
        }
        guard scheme == "http" || scheme == "https" else { throw .unsupportedScheme(url: reference) }
        var attempts: [AttemptRecord] = []
        for n in 0...options.retries {
            let state = TransferState(fd: -1, offset: 0, hasher: nil, memoryLimit: limit)
            let result = try attempt(url: reference, state: state, rangeFrom: 0, validator: nil)
            if state.abort == .tooLarge { throw .tooLarge(url: reference, limit: limit) }
            guard let (reason, transient, notFound) = classify(result) else { return state.memory ?? [] }
            attempts.append(AttemptRecord(url: reference, outcome: reason))
            guard transient, n < options.retries else {
                throw .failed(attempts: attempts, allNotFound: notFound)
            }
            options.onRetry?("\(reference): \(reason); retrying")
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
        // Already there?
        if access(dest, F_OK) == 0 {
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
            return DownloadReport(destination: dest, url: nil, bytes: FileHasher.size(dest), digest: actual,
                                  fromCache: false, alreadyPresent: true, resumedFrom: 0, bytesTransferred: 0,
                                  seconds: Clock.now() - started, attempts: [])
        }
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
        var attempts: [AttemptRecord] = []
        var allNotFound = true
        var transferred: Int64 = 0
        var firstResume: Int64 = -1
        for url in request.urls {
            var n = 0
            while true {
                // Decide whether the existing part can be continued from this URL.
                let previous = PartialInfo.read(info)
                var resumeFrom: Int64 = 0
                var validator: String?
                let existing = FileHasher.size(partial)
                if existing > 0, let previous,
                   (request.expected != nil && previous.digest == request.expected?.description)
                    || (previous.url == url && previous.validator != nil) {
                    resumeFrom = existing
                    validator = previous.url == url ? previous.validator : nil
                }
                let fd = open(partial, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw .io(IOError(path: partial, operation: "create", code: errno)) }
                if resumeFrom == 0 { ftruncate(fd, 0) }
                lseek(fd, off_t(resumeFrom), SEEK_SET)
                var hasher = request.expected.flatMap { StreamingHasher($0.algorithm) }
                if resumeFrom > 0, var h = hasher {
                    // Hash the existing part once, then continue the stream.
                    do { try FileHasher.feed(path: partial, into: &h, limit: resumeFrom) } catch {
                        close(fd)
                        throw .io(error)
                    }
                    hasher = h
                }
                if firstResume < 0 { firstResume = resumeFrom }
                let state = TransferState(fd: fd, offset: resumeFrom, hasher: hasher)
                let expectedText = request.expected?.description
                state.onFirstByte = { headers in
                    PartialInfo(url: url, validator: headers.validator, digest: expectedText).write(info)
                }
                if let progress = options.progress {
                    let t0 = Clock.now()
                    let resumed = resumeFrom
                    state.progress = { bytes, total in
                        progress(DownloadProgress(url: url, bytes: bytes, total: total, resumedFrom: resumed,
                                                  elapsed: Clock.now() - t0))
                    }
                }
                let result = try attempt(url: url, state: state, rangeFrom: resumeFrom, validator: validator)
                let synced = fsync(fd) == 0 || errno == EINVAL
                close(fd)
                transferred += state.size - state.offset
                if let (reason0, transient, notFound) = classify(result) {
                    var reason = reason0
                    if case .rangeMismatch = result.abort ?? .tooLarge {
                        // Start clean next time.
                        unlink(partial); unlink(info)
                    }
                    if result.status == 416 {
                        unlink(partial); unlink(info)
                        reason += " (range not satisfiable; starting again from zero)"
                    }
                    if !notFound { allNotFound = false }
                    attempts.append(AttemptRecord(url: url, outcome: reason))
                    n += 1
                    if transient && n <= options.retries {
                        options.onRetry?("\(url): \(reason); retry \(n) of \(options.retries)")
                        Clock.sleep(backoff(retry: n, retryAfter: result.retryAfter))
                        continue
                    }
                    break
                }
                allNotFound = false
                guard synced else { throw .io(IOError(path: partial, operation: "sync", code: EIO)) }
                // Complete: check the digest before anything appears at DEST.
                let actual = state.finishHash()
                if let expected = request.expected, let actual, actual != expected {
                    let corrupt = dest + ".corrupt"
                    unlink(corrupt)
                    rename(partial, corrupt)
                    unlink(info)
                    let mismatch = ChecksumError.mismatch(file: dest, expected: expected, actual: actual, keptAt: corrupt)
                    attempts.append(AttemptRecord(url: url, outcome: "checksum mismatch: got \(actual.hex)"))
                    if url == request.urls.last { throw .verification(mismatch) }
                    options.onRetry?("\(url): checksum mismatch; trying the next mirror")
                    break
                }
                if let check = request.verifyBeforeCommit {
                    do { try check(partial) } catch let e as SignatureError {
                        throw .signature(e)
                    } catch {
                        throw .io(IOError(path: partial, operation: "verify", code: EIO))
                    }
                }
                guard rename(partial, dest) == 0 else { throw .io(IOError(path: dest, operation: "rename into place", code: errno)) }
                unlink(info)
                _ = syncDirectory(of: dest)
                if let actual, let root = options.cacheDirectory { DownloadCache(root: root).store(dest, digest: actual) }
                attempts.append(AttemptRecord(url: url, outcome: state.restarted ? "ok (server sent the whole file; restarted)" : "ok"))
                return DownloadReport(destination: dest, url: url, bytes: state.size, digest: actual, fromCache: false,
                                      alreadyPresent: false, resumedFrom: max(firstResume, 0),
                                      bytesTransferred: transferred, seconds: Clock.now() - started, attempts: attempts,
                                      cacheNote: cacheNote)
            }
        }
        if FileHasher.size(partial) == 0 {
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
        easy.set(CURLOPT_NOBODY, 1)
        let (code, message) = easy.perform()
        let status = easy.responseCode
        guard code == CURLE_OK, status < 400, let effective = easy.effectiveURL else {
            throw .failed(attempts: [AttemptRecord(url: url, outcome: code == CURLE_OK ? "HTTP \(status)" : message)],
                          allNotFound: status == 404 || status == 410)
        }
        return effective
    }

    func makeDirectories(_ path: String) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            mkdir(current, 0o755)
        }
    }

    private func syncDirectory(of path: String) -> Bool {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }
}

/// The sidecar of a `.partial` file.
struct PartialInfo: Equatable {
    var url: String
    var validator: String?
    var digest: String?

    static func read(_ path: String) -> PartialInfo? {
        guard let bytes = try? TempFiles.read(path) else { return nil }
        var url: String?
        var validator: String?
        var digest: String?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            let value = String(line[line.index(after: eq)...])
            switch line[..<eq] {
            case "url": url = value
            case "validator": validator = value.isEmpty ? nil : value
            case "digest": digest = value.isEmpty ? nil : value
            default: break
            }
        }
        return url.map { PartialInfo(url: $0, validator: validator, digest: digest) }
    }

    func write(_ path: String) {
        let text = "vmprov-partial 1\nurl=\(url)\nvalidator=\(validator ?? "")\ndigest=\(digest ?? "")\n"
        try? TempFiles.write(Array(text.utf8), to: path + ".tmp", mode: 0o644)
        rename(path + ".tmp", path)
    }
}
