#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CCurlLoader
import Basics

/// Why vmprov stopped a transfer from its own callbacks.
enum TransferAbort: Equatable {
    case httpStatus(Int)
    case rangeMismatch(expected: Int64, got: Int64)
    case io(Int32)
    /// The memory sink's limit (small fetches).
    case tooLarge
    /// The whole file would exceed `TransferState.maximumTotal`; `announced` is what the headers said, if they did.
    case oversize(announced: Int64?)
}

/// The state one transfer's callbacks share. Owned by the transfer; callbacks get it unretained.
final class TransferState: CurlResponseSink {
    var headers = ResponseHeaders()
    let fd: Int32
    /// Bytes in the file when the request was sent.
    var offset: Int64
    /// Bytes in the file now.
    var size: Int64
    /// Hashing runs on its own thread; `algorithm` is kept to start again after a restart.
    var pipeline: HashPipeline?
    let algorithm: HashAlgorithm?
    var decided = false
    var abort: TransferAbort?
    var restarted = false
    /// Memory sink instead of a file (small fetches); `limit` bounds it.
    var memory: [UInt8]?
    var limit: Int
    /// The most bytes the whole file may have (nil: no bound).
    var maximumTotal: Int64?
    var onFirstByte: ((ResponseHeaders) -> Void)?
    var progress: ((Int64, Int64?) -> Void)?
    var lastProgress: Double = 0
    /// Body bytes not written yet. libcurl hands the write callback at most 16 KiB at a time (CURL_MAX_WRITE_SIZE),
    /// whatever CURLOPT_BUFFERSIZE is, so writing each piece cost one `write(2)` per 16 KiB (65,536 for 1 GiB);
    /// collected here they go out 256 KiB at a time. `flush()` writes them (the transfer calls it when libcurl
    /// returns, before anything reads the file).
    private var pending: UnsafeMutableRawBufferPointer?
    private var pendingCount = 0
    /// Size of `pending`.
    static let writeChunk = 256 << 10

    /// The digest of everything received (waits for the hashing thread); nil without a hasher.
    func finishHash() -> Digest? {
        defer { pipeline = nil }
        return pipeline?.finish()
    }

    deinit {
        _ = pipeline?.finish()
        pending?.deallocate()
    }

    /// Writes the collected body bytes to `fd`.
    /// - Returns: nil when they are on their way to the file (or there were none), else the errno.
    func flush() -> Int32? {
        guard let pending, pendingCount > 0 else { return nil }
        let n = pendingCount
        pendingCount = 0
        return FileIO.writeAll(fd: fd, UnsafeRawBufferPointer(rebasing: pending[0..<n]))
    }

    /// Queues `data` for the file: copied into `pending`, or written at once when it does not fit.
    private func write(_ data: UnsafeRawBufferPointer) -> Int32? {
        if pending == nil, fd >= 0 {
            pending = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.writeChunk, alignment: 64)
        }
        guard let buffer = pending else { return FileIO.writeAll(fd: fd, data) }
        if pendingCount + data.count > buffer.count, let e = flush() { return e }
        if data.count >= buffer.count { return FileIO.writeAll(fd: fd, data) }
        UnsafeMutableRawBufferPointer(rebasing: buffer[pendingCount..<(pendingCount + data.count)]).copyMemory(from: data)
        pendingCount += data.count
        return nil
    }

    init(fd: Int32, offset: Int64, hasher: StreamingHasher?, memoryLimit: Int? = nil) {
        self.fd = fd
        self.offset = offset
        self.size = offset
        self.algorithm = hasher?.algorithm
        self.pipeline = hasher.map { HashPipeline($0) }
        self.limit = memoryLimit ?? Int.max
        if memoryLimit != nil { memory = [] }
    }

    /// Body bytes arrive here.
    func receive(_ data: UnsafeRawBufferPointer) -> Int {
        if !decided {
            decided = true
            let status = headers.status
            if status == 206 {
                let start = headers.contentRange?.start ?? -1
                guard start == offset else {
                    abort = .rangeMismatch(expected: offset, got: start)
                    return 0
                }
            } else if status == 200 || status == 0 {
                if offset > 0 {
                    // The server sent the whole file: start again from zero, cleanly.
                    restarted = true
                    offset = 0
                    size = 0
                    pendingCount = 0
                    if fd >= 0 {
                        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                            abort = .io(errno)
                            return 0
                        }
                    }
                    if pipeline != nil, let a = algorithm, let fresh = StreamingHasher(a) {
                        _ = pipeline?.finish()
                        pipeline = HashPipeline(fresh)
                    }
                }
            } else {
                abort = .httpStatus(status)
                return 0
            }
            // Refuse before the first byte is written when the headers announce too much.
            if memory != nil, let announced = headers.announcedTotal, announced > Int64(limit) {
                abort = .tooLarge
                return 0
            }
            if let maximumTotal, let announced = headers.announcedTotal, announced > maximumTotal {
                abort = .oversize(announced: announced)
                return 0
            }
            onFirstByte?(headers)
        }
        if let maximumTotal, size + Int64(data.count) > maximumTotal {
            // No (or a false) Content-Length: cut off at the bound.
            abort = .oversize(announced: nil)
            return 0
        }
        if memory != nil {
            if (memory?.count ?? 0) + data.count > limit {
                abort = .tooLarge
                return 0
            }
            memory?.append(contentsOf: data)
        } else {
            if let e = write(data) {
                abort = .io(e)
                return 0
            }
        }
        pipeline?.update(data)
        size += Int64(data.count)
        if let progress {
            let now = Clock.now()
            if now - lastProgress >= 0.1 {
                lastProgress = now
                let total = headers.contentRange?.total ?? headers.contentLength.map { $0 + offset }
                progress(size, total)
            }
        }
        return data.count
    }
}

/// The outcome of one HTTP request.
struct AttemptResult {
    var code: CURLcode
    var message: String
    var status: Int
    var abort: TransferAbort?
    var retryAfter: Int?
}

extension Downloader {
    /// Sets up a handle with the security settings every request gets.
    func makeHandle(url: String) throws(DownloadError) -> CurlEasy {
        guard let easy = CurlEasy(failing: options.failingCurlOptions, library: options.libcurlLibrary) else { throw .curlUnavailable }
        try easy.set(CURLOPT_URL, url)
        try easy.restrictToHTTP()
        try easy.set(CURLOPT_FOLLOWLOCATION, 1)
        try easy.set(CURLOPT_MAXREDIRS, 10)
        try easy.set(CURLOPT_NOSIGNAL, 1)
        try easy.set(CURLOPT_SSL_VERIFYPEER, 1)
        try easy.set(CURLOPT_SSL_VERIFYHOST, 2)
        if let ca = options.caCertificate { try easy.set(CURLOPT_CAINFO, ca) }
        try easy.set(CURLOPT_CONNECTTIMEOUT, options.connectTimeoutSeconds)
        try easy.set(CURLOPT_LOW_SPEED_LIMIT, options.lowSpeedBytes)
        try easy.set(CURLOPT_LOW_SPEED_TIME, options.stallSeconds)
        // libcurl passes the callback at most 16 KiB at a time whatever this is; it sets how much one recv(2) may
        // take (256 KiB: 4,096 receives per GiB; TransferState collects the pieces for the file).
        try easy.set(CURLOPT_BUFFERSIZE, 256 * 1024)
        try easy.set(CURLOPT_USERAGENT, options.userAgent + " " + (CurlGlobal.version.split(separator: " ").first.map(String.init) ?? ""))
        try easy.set(CURLOPT_ACCEPT_ENCODING, "identity")
        return easy
    }

    /// One request into `state`. A validator is sent (as If-Range) only when it is well-formed.
    func attempt(url: String, state: TransferState, rangeFrom: Int64, validator: String?) throws(DownloadError) -> AttemptResult {
        let easy = try makeHandle(url: url)
        if state.memory == nil {
            // A file is stored as the server sends its bytes, never inflated: a body with Content-Encoding (which
            // vmprov does not ask for) then stays within its Content-Length and --max-size, instead of a small
            // gzip stream filling the disk, and fails its checksum. Small files (capped in memory) are decoded.
            try easy.set(CURLOPT_HTTP_CONTENT_DECODING, 0)
        }
        if rangeFrom > 0 {
            try easy.set(CURLOPT_RANGE, "\(rangeFrom)-")
            if let validator = validator.flatMap(HTTPValidator.wellFormed) { try easy.addHeader("If-Range: \(validator)") }
        }
        try easy.applyHeaders()
        let unmanaged = Unmanaged.passRetained(state)
        defer { unmanaged.release() }
        try easy.setSink(unmanaged)
        let code: CURLcode
        let message: String
        do { (code, message) = try easy.perform() } catch {
            _ = state.flush()  // what arrived stays in the part for a resume
            throw error
        }
        if let e = state.flush(), state.abort == nil { state.abort = .io(e) }
        return AttemptResult(code: code, message: message, status: state.headers.status == 0 ? easy.responseCode : state.headers.status,
                             abort: state.abort, retryAfter: state.headers.retryAfter)
    }
}
