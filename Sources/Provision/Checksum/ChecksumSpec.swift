/// What `--checksum` says: a digest, a checksum file to fetch, or nothing.
public enum ChecksumSpec: Sendable, Equatable, CustomStringConvertible {
    case digest(Digest)
    /// A checksum file by URL or path; relative references resolve against the download URL's folder.
    case file(String)
    case none

    /// Parses a `--checksum` value: `none`, `file:URL-or-path` (a checksum file), `ALGO:HEX`, or bare hex (the
    /// algorithm from its length).
    /// - Throws: `ChecksumError.badSpec` naming the value and what is wrong with it.
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

    /// The spec as the user would write it.
    public var description: String {
        switch self {
        case .digest(let d): return d.description
        case .file(let ref): return "file:\(ref)"
        case .none: return "none"
        }
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
