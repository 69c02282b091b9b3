internal import CCurlLoader

/// libcurl, loaded and initialised once (by the C loader, under `pthread_once`), the first time a transfer needs it
/// (never at start-up).
enum CurlGlobal {
    /// Loads libcurl (once per process): `library` names the file to load instead of libcurl.so.4 (tests); only the
    /// first call's choice counts.
    /// - Returns: true when libcurl is usable.
    static func load(library: String? = nil) -> Bool {
        if let library { vmp_curl_set_library(library) }
        return vmp_curl_load() != 0
    }

    /// curl_version()'s text, or "libcurl" when it is not loaded.
    static var version: String { String(cString: vmp_curl_version()) }

    /// Why libcurl could not be loaded: the library and dlerror()'s text at the moment it failed.
    static var loadError: String { vmp_curl_load_error().map { String(cString: $0) } ?? "no error" }
}

/// What one HTTP exchange said in its headers (the last response, after redirects).
struct ResponseHeaders {
    var status = 0
    var etag: String?
    var lastModified: String?
    var contentRange: (start: Int64, total: Int64?)?
    var contentLength: Int64?
    var retryAfter: Int?
    /// `Accept-Ranges: bytes` was announced.
    var acceptsRanges = false

    mutating func reset() { self = ResponseHeaders() }

    /// Feeds one header line.
    mutating func consume(_ line: String) {
        if line.hasPrefix("HTTP/") {
            reset()
            let parts = line.split(separator: " ")
            if parts.count > 1, let code = Int(parts[1]) { status = code }
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters
        switch name {
        case "etag": etag = String(value)
        case "last-modified": lastModified = String(value)
        case "content-length": contentLength = Int64(value)
        case "retry-after": retryAfter = Int(value)
        case "accept-ranges": acceptsRanges = value.lowercased().contains("bytes")
        case "content-range":
            // bytes START-END/TOTAL
            let spec = value.drop { $0 != " " }.dropFirst()
            let rangeAndTotal = spec.split(separator: "/")
            if let first = rangeAndTotal.first, let dash = first.firstIndex(of: "-"), let start = Int64(first[..<dash]) {
                contentRange = (start, rangeAndTotal.count > 1 ? Int64(rangeAndTotal[1]) : nil)
            }
        default: break
        }
    }

    /// The strong validator for If-Range: the ETag (unless weak), else Last-Modified; only a well-formed one
    /// (`HTTPValidator.wellFormed`), so a header with control characters is never stored or sent back.
    var validator: String? {
        if let etag, !etag.hasPrefix("W/"), let v = HTTPValidator.wellFormed(etag) { return v }
        return lastModified.flatMap(HTTPValidator.wellFormed)
    }

    /// The size of the whole file as the response announces it: the Content-Range total of a 206, else the
    /// Content-Length of a 200.
    var announcedTotal: Int64? {
        if status == 206 { return contentRange?.total }
        return contentLength
    }
}

/// Owns one `CURL *` easy handle and frees it in `deinit`. Every option goes through the typed shims, and every
/// `curl_easy_setopt` result is checked: a refused option is an error naming it.
final class CurlEasy {
    let handle: UnsafeMutableRawPointer
    private var headers: UnsafeMutablePointer<curl_slist>?
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    /// Options treated as refused without being set (tests; `DownloadOptions.failingCurlOptions`).
    private let failing: Set<String>

    init?(failing: Set<String> = [], library: String? = nil) {
        guard CurlGlobal.load(library: library), let h = vmp_curl_easy_init() else { return nil }
        handle = h
        self.failing = failing
    }

    deinit {
        if let headers { vmp_curl_slist_free_all(headers) }
        vmp_curl_easy_cleanup(handle)
    }

    /// The libcurl name of the options vmprov sets, for errors.
    static func name(_ option: CURLoption) -> String {
        let names: [(CURLoption, String)] = [
            (CURLOPT_URL, "CURLOPT_URL"), (CURLOPT_FOLLOWLOCATION, "CURLOPT_FOLLOWLOCATION"),
            (CURLOPT_MAXREDIRS, "CURLOPT_MAXREDIRS"), (CURLOPT_NOSIGNAL, "CURLOPT_NOSIGNAL"),
            (CURLOPT_SSL_VERIFYPEER, "CURLOPT_SSL_VERIFYPEER"), (CURLOPT_SSL_VERIFYHOST, "CURLOPT_SSL_VERIFYHOST"),
            (CURLOPT_CAINFO, "CURLOPT_CAINFO"), (CURLOPT_CONNECTTIMEOUT, "CURLOPT_CONNECTTIMEOUT"),
            (CURLOPT_LOW_SPEED_LIMIT, "CURLOPT_LOW_SPEED_LIMIT"), (CURLOPT_LOW_SPEED_TIME, "CURLOPT_LOW_SPEED_TIME"),
            (CURLOPT_BUFFERSIZE, "CURLOPT_BUFFERSIZE"), (CURLOPT_USERAGENT, "CURLOPT_USERAGENT"),
            (CURLOPT_ACCEPT_ENCODING, "CURLOPT_ACCEPT_ENCODING"), (CURLOPT_RANGE, "CURLOPT_RANGE"),
            (CURLOPT_HTTPHEADER, "CURLOPT_HTTPHEADER"), (CURLOPT_ERRORBUFFER, "CURLOPT_ERRORBUFFER"),
            (CURLOPT_HTTP_CONTENT_DECODING, "CURLOPT_HTTP_CONTENT_DECODING"),
        ]
        return names.first { $0.0 == option }?.1 ?? "curl option \(option.rawValue)"
    }

    /// Runs one setopt call unless `name` is marked failing; a result other than CURLE_OK throws naming it.
    private func check(_ name: String, _ call: () -> CURLcode) throws(DownloadError) {
        let rc = failing.contains(name) ? CURLE_UNKNOWN_OPTION : call()
        guard rc == CURLE_OK else {
            throw .curlOption(option: name, detail: String(cString: vmp_curl_easy_strerror(rc))
                + (failing.contains(name) ? " (simulated: VMPROV_TEST_FAIL_CURLOPT)" : ""))
        }
    }

    func set(_ option: CURLoption, _ value: Int) throws(DownloadError) {
        try check(Self.name(option)) { vmp_curl_set_long(handle, option, value) }
    }
    func set(_ option: CURLoption, _ value: String) throws(DownloadError) {
        try check(Self.name(option)) { vmp_curl_set_string(handle, option, value) }
    }

    /// Only http and https, for the first request and every redirect: CURLOPT_PROTOCOLS_STR and
    /// CURLOPT_REDIR_PROTOCOLS_STR (libcurl 7.85+), else the bitmask options CURLOPT_PROTOCOLS and
    /// CURLOPT_REDIR_PROTOCOLS.
    /// - Throws: `DownloadError.curlOption` when neither form can be set: vmprov then does not download at all.
    func restrictToHTTP() throws(DownloadError) {
        for which: Int32 in [0, 1] {
            let strName = which == 0 ? "CURLOPT_PROTOCOLS_STR" : "CURLOPT_REDIR_PROTOCOLS_STR"
            let maskName = which == 0 ? "CURLOPT_PROTOCOLS" : "CURLOPT_REDIR_PROTOCOLS"
            do throws(DownloadError) {
                try check(strName) { vmp_curl_protocols_str(handle, which) }
            } catch {
                do throws(DownloadError) {
                    try check(maskName) { vmp_curl_protocols_mask(handle, which) }
                } catch {
                    throw .curlOption(option: "\(strName) and \(maskName)",
                                      detail: "cannot restrict transfers to http and https")
                }
            }
        }
    }

    func addHeader(_ line: String) throws(DownloadError) {
        guard let list = vmp_curl_slist_append(headers, line) else {
            throw .curlOption(option: "CURLOPT_HTTPHEADER", detail: "curl_slist_append failed (out of memory)")
        }
        headers = list
    }

    func applyHeaders() throws(DownloadError) {
        if let headers { try check("CURLOPT_HTTPHEADER") { vmp_curl_set_slist(handle, CURLOPT_HTTPHEADER, headers) } }
    }

    /// Sends the body and header lines of this handle's transfer to `sink`. The caller keeps `sink` retained until
    /// the transfer is over (the callbacks take it unretained).
    func setSink<Sink: CurlResponseSink>(_ sink: Unmanaged<Sink>) throws(DownloadError) {
        let userdata = sink.toOpaque()
        try check("CURLOPT_WRITEFUNCTION") { vmp_curl_set_write(handle, curlSinkWrite, userdata) }
        try check("CURLOPT_HEADERFUNCTION") { vmp_curl_set_header(handle, curlSinkHeader, userdata) }
    }

    /// Runs the transfer on the calling thread.
    func perform() throws(DownloadError) -> (CURLcode, String) {
        let (set, code) = errorBuffer.withUnsafeMutableBufferPointer { buf -> (CURLcode, CURLcode) in
            let rc = vmp_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, buf.baseAddress)
            guard rc == CURLE_OK else { return (rc, rc) }
            return (rc, vmp_curl_easy_perform(handle))
        }
        guard set == CURLE_OK else {
            throw .curlOption(option: "CURLOPT_ERRORBUFFER", detail: String(cString: vmp_curl_easy_strerror(set)))
        }
        let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (code, detail.isEmpty ? String(cString: vmp_curl_easy_strerror(code)) : detail)
    }

    var responseCode: Int {
        var v = 0
        _ = vmp_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &v)
        return v
    }

    var effectiveURL: String? {
        var p: UnsafeMutablePointer<CChar>?
        _ = vmp_curl_get_string(handle, CURLINFO_EFFECTIVE_URL, &p)
        return p.map { String(cString: $0) }
    }
}

/// Owns one `CURLM *` multi handle (segmented downloads: several transfers on one thread, sharing libcurl's
/// connection cache). Easy handles added with `add` stay owned by the caller and must be removed before they are
/// freed.
final class CurlMulti {
    let handle: UnsafeMutableRawPointer

    /// Nil when libcurl cannot be loaded or lacks the multi interface.
    init?() {
        guard CurlGlobal.load(), vmp_curl_multi_available() != 0, let m = vmp_curl_multi_init() else { return nil }
        handle = m
    }

    deinit { vmp_curl_multi_cleanup(handle) }

    /// - Throws: `DownloadError.curlOption` naming curl_multi_add_handle when libcurl refuses the handle.
    func add(_ easy: CurlEasy) throws(DownloadError) {
        let rc = vmp_curl_multi_add(handle, easy.handle)
        guard rc == CURLM_OK else {
            throw .curlOption(option: "curl_multi_add_handle", detail: String(cString: vmp_curl_multi_strerror(rc)))
        }
    }

    func remove(_ easy: CurlEasy) { _ = vmp_curl_multi_remove(handle, easy.handle) }

    /// Runs what can run now, then waits up to `timeoutMs` for activity.
    /// - Throws: `DownloadError.curlOption` when libcurl reports a multi-handle error (out of memory, a bad handle).
    func step(timeoutMs: Int32) throws(DownloadError) {
        var running: Int32 = 0
        var rc = vmp_curl_multi_perform(handle, &running)
        if rc == CURLM_OK { rc = vmp_curl_multi_wait(handle, timeoutMs) }
        guard rc == CURLM_OK else {
            throw .curlOption(option: "curl_multi_perform", detail: String(cString: vmp_curl_multi_strerror(rc)))
        }
    }

    /// The finished transfers since the last call: each handle and its result.
    func finished() -> [(UnsafeMutableRawPointer, CURLcode)] {
        var out: [(UnsafeMutableRawPointer, CURLcode)] = []
        var easy: UnsafeMutableRawPointer?
        var code = CURLE_OK
        while vmp_curl_multi_done(handle, &easy, &code) != 0 {
            if let easy { out.append((easy, code)) }
        }
        return out
    }
}

extension CurlEasy {
    /// libcurl's words for a result code (transfers on a multi handle have no error buffer).
    static func describe(_ code: CURLcode) -> String { String(cString: vmp_curl_easy_strerror(code)) }
}

/// What receives one transfer's response from libcurl's write and header callbacks: a whole download
/// (`TransferState`) or one segment of a segmented one (`SegmentConnection`).
protocol CurlResponseSink: AnyObject {
    /// The response headers, fed one line at a time (line ends stripped).
    var headers: ResponseHeaders { get set }
    /// Body bytes; returns how many were taken (fewer than `data.count` makes libcurl abort the transfer).
    func receive(_ data: UnsafeRawBufferPointer) -> Int
}

/// The sink behind a callback's `userdata` (set by ``CurlEasy/setSink(_:)``); nil for a null or foreign pointer.
private func curlSink(_ userdata: UnsafeMutableRawPointer?) -> (any CurlResponseSink)? {
    guard let userdata else { return nil }
    return Unmanaged<AnyObject>.fromOpaque(userdata).takeUnretainedValue() as? any CurlResponseSink
}

/// CURLOPT_WRITEFUNCTION for a ``CurlResponseSink``: 0 (abort) without one.
private let curlSinkWrite: vmp_curl_data_cb = { ptr, size, count, userdata in
    guard let ptr, let sink = curlSink(userdata) else { return 0 }
    return sink.receive(UnsafeRawBufferPointer(start: ptr, count: size * count))
}

/// CURLOPT_HEADERFUNCTION for a ``CurlResponseSink``: one header line, CR/LF stripped, to its `headers`.
private let curlSinkHeader: vmp_curl_data_cb = { ptr, size, count, userdata in
    guard let ptr, let sink = curlSink(userdata) else { return 0 }
    var n = size * count
    let raw = UnsafeRawBufferPointer(start: ptr, count: n)
    while n > 0, raw[n - 1] == 0x0A || raw[n - 1] == 0x0D { n -= 1 }
    sink.headers.consume(String(decoding: raw.prefix(n), as: UTF8.self))
    return size * count
}
