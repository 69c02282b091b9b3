/// What `--checksum` says: a digest, a checksum file to fetch, or nothing.
public enum ChecksumSpec: Sendable, Equatable, CustomStringConvertible {
    case digest(Digest)
    /// A checksum file by URL or path; relative references resolve against the download URL's folder.
    case file(String)
    case none

    public init(_ text: String) throws(ChecksumError) {
        let t = text.trimmingSpacesAndNewlines
        if t == "none" { self = .none; return }
        if t.hasPrefix("file:") {
            let ref = String(t.dropFirst(5))
            guard !ref.isEmpty else { throw .badSpec(spec: text, reason: "file: needs a URL or path") }
            self = .file(ref)
            return
        }
        if let colon = t.firstIndex(of: ":") {
            let name = t[..<colon].lowercased()
            let hex = t[t.index(after: colon)...]
            guard let algorithm = HashAlgorithm(rawValue: name), algorithm.isSupported else {
                throw .badSpec(spec: text, reason: "unknown algorithm \"\(name)\"")
            }
            guard Digest.isHex(hex) else { throw .badSpec(spec: text, reason: "the digest is not hexadecimal") }
            guard hex.count == algorithm.hexLength else {
                throw .badSpec(spec: text, reason: "a \(name) digest has \(algorithm.hexLength) hex digits, "
                    + "this one has \(hex.count)")
            }
            self = .digest(Digest(algorithm: algorithm, hex: String(hex)))
            return
        }
        guard Digest.isHex(Substring(t)) else { throw .badSpec(spec: text, reason: "not a digest or a known form") }
        guard let algorithm = HashAlgorithm.forHexLength(t.count) else {
            throw .badSpec(spec: text, reason: "\(t.count) hex digits match no algorithm (32 md5, 40 sha1, "
                + "64 sha256, 128 sha512)")
        }
        self = .digest(Digest(algorithm: algorithm, hex: t))
    }

    public var description: String {
        switch self {
        case .digest(let d): return d.description
        case .file(let ref): return "file:\(ref)"
        case .none: return "none"
        }
    }
}

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
    static func percentDecode(_ s: String) -> String {
        String(decoding: percentDecodedBytes(s), as: UTF8.self)
    }
}

extension String {
    var trimmingSpacesAndNewlines: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
