internal import CCurl

/// libcurl, initialised once, the first time a transfer needs it (never at start-up).
enum CurlGlobal {
    static let initialised: Bool = vmp_curl_global_init() != 0

    static var version: String {
        guard let v = vmp_curl_version() else { return "libcurl" }
        return String(cString: v)
    }

    /// Why libcurl could not be loaded.
    static var loadError: String { String(cString: vmp_curl_load_error()) }
}

/// What one HTTP exchange said in its headers (the last response, after redirects).
struct ResponseHeaders {
    var status = 0
    var etag: String?
    var lastModified: String?
    var contentRange: (start: Int64, total: Int64?)?
    var contentLength: Int64?
    var retryAfter: Int?

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

    /// The strong validator for If-Range: the ETag (unless weak), else Last-Modified.
    var validator: String? {
        if let etag, !etag.hasPrefix("W/") { return etag }
        return lastModified
    }
}

/// Owns one `CURL *` easy handle and frees it in `deinit`. Every option goes through the typed shims.
final class CurlEasy {
    let handle: UnsafeMutableRawPointer
    private var headers: UnsafeMutablePointer<curl_slist>?
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

    init?() {
        guard CurlGlobal.initialised, let h = vmp_curl_easy_init() else { return nil }
        handle = h
    }

    deinit {
        if let headers { vmp_curl_slist_free_all(headers) }
        vmp_curl_easy_cleanup(handle)
    }

    func set(_ option: CURLoption, _ value: Int) { _ = vmp_curl_set_long(handle, option, value) }
    func set(_ option: CURLoption, _ value: String) { _ = vmp_curl_set_string(handle, option, value) }
    func setOffset(_ option: CURLoption, _ value: Int64) { _ = vmp_curl_set_off(handle, option, curl_off_t(value)) }

    func addHeader(_ line: String) {
        headers = vmp_curl_slist_append(headers, line)
    }

    func applyHeaders() {
        if let headers { _ = vmp_curl_set_slist(handle, CURLOPT_HTTPHEADER, headers) }
    }

    /// Runs the transfer on the calling thread.
    func perform() -> (CURLcode, String) {
        errorBuffer.withUnsafeMutableBufferPointer { buf in
            _ = vmp_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, buf.baseAddress)
        }
        let code = errorBuffer.withUnsafeMutableBufferPointer { buf -> CURLcode in
            _ = vmp_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, buf.baseAddress)
            return vmp_curl_easy_perform(handle)
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
