import Basics

/// Names taken from URLs, and text from URLs and servers made safe to show.
extension URLText {
    /// The name a download gets from its URL: the last segment of the URL's path (never the host, query or
    /// fragment), percent-decoded, and only if it is one plain file name.
    ///
    /// - Returns: the name, at most 255 bytes, without `/`, NUL or control characters, not `.` or `..`.
    /// - Throws: `DownloadError.badFileName` saying what is wrong with it.
    public static func safeFileName(_ url: String) throws(DownloadError) -> String {
        var u = Substring(url)
        if let q = u.firstIndex(where: { $0 == "?" || $0 == "#" }) { u = u[..<q] }
        // Skip "scheme://authority": a URL without a path names no file (not its host).
        if scheme(String(u)) != nil, let sep = u.range(of: "://") {
            let rest = u[sep.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else {
                throw .badFileName(url: url, reason: "is missing (the URL has no path)")
            }
            u = rest[slash...]
        }
        let raw = u.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        let bytes = percentDecodedBytes(raw)
        guard !bytes.isEmpty else { throw .badFileName(url: url, reason: "is empty (the URL ends with a slash)") }
        guard !bytes.contains(UInt8(ascii: "/")) else {
            throw .badFileName(url: url, reason: "holds a slash once decoded (\(printable(percentDecode(raw))))")
        }
        guard !bytes.contains(0) else { throw .badFileName(url: url, reason: "holds a NUL byte once decoded") }
        guard let name = String(validating: bytes, as: UTF8.self) else {
            throw .badFileName(url: url, reason: "is not valid UTF-8 once decoded")
        }
        guard name != ".", name != ".." else { throw .badFileName(url: url, reason: "is \"\(name)\"") }
        guard printable(name) == name else {
            throw .badFileName(url: url, reason: "holds control characters once decoded (\(printable(name)))")
        }
        guard bytes.count <= 255 else { throw .badFileName(url: url, reason: "is longer than 255 bytes") }
        return name
    }

}

/// Validators (ETag, Last-Modified) as they may be stored and sent back in If-Range.
enum HTTPValidator {
    /// `value` if it is a well-formed strong or weak entity tag (RFC 9110 8.8.3) or an IMF-fixdate, at most 256
    /// bytes; nil otherwise, so that nothing a server sent can add a header line to the next request.
    static func wellFormed(_ value: String) -> String? {
        let b = Array(value.utf8)
        guard !b.isEmpty, b.count <= 256 else { return nil }
        var body = b[...]
        if body.starts(with: Array("W/".utf8)) { body = body.dropFirst(2) }
        if body.count >= 2, body.first == 0x22, body.last == 0x22 {
            // etagc = %x21 / %x23-7E / obs-text
            return body.dropFirst().dropLast().allSatisfy { $0 == 0x21 || (0x23...0x7E).contains($0) || $0 >= 0x80 }
                && String(validating: b, as: UTF8.self) != nil ? value : nil
        }
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        guard b.count == 29, b.allSatisfy({ (0x20...0x7E).contains($0) }) else { return nil }
        let pattern = Array("Aaa, 00 Aaa 0000 00:00:00 GMT".utf8)
        for (c, p) in zip(b, pattern) {
            switch p {
            case UInt8(ascii: "A"), UInt8(ascii: "a"):
                guard (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) else { return nil }
            case UInt8(ascii: "0"):
                guard (0x30...0x39).contains(c) else { return nil }
            default:
                guard c == p else { return nil }
            }
        }
        return value
    }
}

/// The size a checksum file states for a file: Fedora, Rocky Linux and AlmaLinux `CHECKSUM` files carry a comment
/// `# NAME: N bytes` before each `SHA256 (NAME) = HEX` line (reference/checksums.md).
public enum ChecksumSizeLine {
    /// The size stated for `name`, in bytes; nil when there is no such line or the lines disagree.
    public static func size(in text: String, for name: String) -> Int64? {
        var found: Int64?
        for raw in text.split(whereSeparator: \.isNewline) {
            var line = Substring(raw)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.hasPrefix("- ") { line = line.dropFirst(2) }  // dash-escaped in a clearsigned file
            guard line.hasPrefix("# "), line.hasSuffix(" bytes") else { continue }
            let body = line.dropFirst(2).dropLast(6)
            guard let colon = body.lastIndex(of: ":") else { continue }
            var entry = body[..<colon]
            if entry.hasPrefix("./") { entry = entry.dropFirst(2) }
            let digits = body[body.index(after: colon)...].drop { $0 == " " }
            guard entry == name, !digits.isEmpty, digits.count <= 19, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let n = Int64(digits) else { continue }
            if let found, found != n { return nil }
            found = n
        }
        return found
    }
}
