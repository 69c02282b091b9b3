/// URL helpers without Foundation: enough for http(s) URLs and file paths.
public enum URLText {
    /// The scheme in lowercase, or nil for a plain path.
    public static func scheme(_ url: String) -> String? {
        guard let colon = url.firstIndex(of: ":") else { return nil }
        let s = url[..<colon]
        guard !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }),
              s.first?.isLetter == true else { return nil }
        return s.lowercased()
    }

    /// Resolves `ref` against `base` (RFC 3986 for the common cases: absolute URL, absolute path, relative path).
    public static func resolve(_ ref: String, against base: String) -> String {
        if scheme(ref) != nil { return ref }
        guard let baseScheme = scheme(base), baseScheme == "http" || baseScheme == "https" else {
            // base is a local path
            if ref.hasPrefix("/") { return ref }
            return directory(base) + ref
        }
        let afterScheme = base.index(base.startIndex, offsetBy: baseScheme.count + 3)
        let hostEnd = base[afterScheme...].firstIndex(of: "/") ?? base.endIndex
        let origin = String(base[..<hostEnd])
        if ref.hasPrefix("//") { return baseScheme + ":" + ref }
        if ref.hasPrefix("/") { return origin + ref }
        var path = String(base[hostEnd...])
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = String(path[..<q]) }
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if !segments.isEmpty { segments.removeLast() }
        for part in ref.split(separator: "/", omittingEmptySubsequences: false).map(String.init) {
            switch part {
            case ".": continue
            case "..": if segments.count > 1 { segments.removeLast() }
            default: segments.append(part)
            }
        }
        let joined = segments.joined(separator: "/")
        return origin + (joined.hasPrefix("/") ? joined : "/" + joined)
    }

    /// Everything up to and including the last slash of the path.
    public static func directory(_ url: String) -> String {
        var u = Substring(url)
        if let q = u.firstIndex(where: { $0 == "?" || $0 == "#" }) { u = u[..<q] }
        guard let slash = u.lastIndex(of: "/") else { return "" }
        return String(u[...slash])
    }

    /// The last path component, percent-decoded (the file name a download gets).
    public static func fileName(_ url: String) -> String {
        var u = Substring(url)
        if let q = u.firstIndex(where: { $0 == "?" || $0 == "#" }) { u = u[..<q] }
        let last = u.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        return percentDecode(last)
    }

    /// `s` with `%XX` escapes decoded (invalid UTF-8 repaired); the bytes themselves: `percentDecodedBytes`.
    public static func percentDecode(_ s: String) -> String {
        String(decoding: percentDecodedBytes(s), as: UTF8.self)
    }

    /// `text` with every control character (C0, DEL, C1) escaped as `\r`, `\n`, `\t` or `\u{XX}`, so a URL or a
    /// server's header can never move the cursor, clear the screen or forge a line in a message or log.
    public static func printable(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0D: out += "\\r"
            case 0x0A: out += "\\n"
            case 0x09: out += "\\t"
            case 0..<0x20, 0x7F, 0x80..<0xA0, 0x2028, 0x2029:
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The bytes of `s` with `%XX` escapes decoded; a `%` not followed by two hex digits stays as it is.
    public static func percentDecodedBytes(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.first {
            if b == UInt8(ascii: "%"), bytes.count >= 3,
               let v = UInt8(String(decoding: bytes.dropFirst().prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(3)
            } else {
                out.append(b)
                bytes = bytes.dropFirst()
            }
        }
        return out
    }
}
