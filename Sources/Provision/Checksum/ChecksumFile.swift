/// One line of a checksum file.
public struct ChecksumEntry: Sendable, Equatable {
    public var name: String
    public var digest: Digest
}

/// A parsed checksum file: GNU (`hex  name`, `hex *name`), BSD tags (`SHA256 (name) = hex`), inside or outside
/// a PGP clearsign wrapper, with comments, blank lines, CRLF and `./` prefixes.
public struct ChecksumFile: Sendable {
    public var entries: [ChecksumEntry]
    /// The text was a PGP clearsigned message.
    public var isClearsigned: Bool
    /// Where it came from, for messages.
    public var source: String

    /// Parses checksum text. `defaultAlgorithm` names what 128-hex GNU lines mean (from the file name:
    /// `b2sums.txt` means BLAKE2b).
    public init(text: String, source: String) throws(ChecksumError) {
        self.source = source
        let base = source.split(separator: "/").last.map(String.init) ?? source
        let blake = base.lowercased().hasPrefix("b2")
        var entries: [ChecksumEntry] = []
        var clearsigned = false
        var inSignature = false
        var inHeader = false
        var unreadable = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line == "-----BEGIN PGP SIGNED MESSAGE-----" { clearsigned = true; inHeader = true; continue }
            if inHeader {
                if line.isEmpty { inHeader = false }
                continue
            }
            if line == "-----BEGIN PGP SIGNATURE-----" { inSignature = true; continue }
            if line == "-----END PGP SIGNATURE-----" { inSignature = false; continue }
            if inSignature { continue }
            if clearsigned, line.hasPrefix("- ") { line = line.dropFirst(2) }  // dash-escaping
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if let entry = Self.parseBSD(trimmed) ?? Self.parseGNU(trimmed, blake: blake) {
                entries.append(entry)
            } else {
                unreadable += 1
            }
        }
        guard !entries.isEmpty else {
            throw .unreadable(checksumFile: source, reason: unreadable > 0
                ? "none of its \(unreadable) lines is a checksum line" : "it is empty")
        }
        self.entries = entries
        self.isClearsigned = clearsigned
    }

    /// `SHA256 (name) = hex`
    static func parseBSD(_ line: Substring) -> ChecksumEntry? {
        guard let open = line.firstIndex(of: "("), let close = line.lastIndex(of: ")"), open < close else { return nil }
        let tag = line[..<open].trimmingCharacters
        guard let algorithm = HashAlgorithm.fromTag(String(tag)) else { return nil }
        let rest = line[line.index(after: close)...].trimmingCharacters
        guard rest.hasPrefix("=") else { return nil }
        let hex = rest.dropFirst().trimmingCharacters
        guard Digest.isHex(hex), hex.count == algorithm.hexLength else { return nil }
        let name = normalize(line[line.index(after: open)..<close])
        return ChecksumEntry(name: name, digest: Digest(algorithm: algorithm, hex: String(hex)))
    }

    /// `hex  name` or `hex *name` (also one space, as some publishers write).
    static func parseGNU(_ line: Substring, blake: Bool) -> ChecksumEntry? {
        guard let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return nil }
        let hex = line[..<space]
        guard Digest.isHex(hex) else { return nil }
        guard var algorithm = HashAlgorithm.forHexLength(hex.count) else { return nil }
        if blake && algorithm == .sha512 { algorithm = .blake2b }
        var name = line[line.index(after: space)...]
        if name.first == " " || name.first == "*" { name = name.dropFirst() }
        guard !name.isEmpty else { return nil }
        return ChecksumEntry(name: normalize(name), digest: Digest(algorithm: algorithm, hex: String(hex)))
    }

    static func normalize(_ name: Substring) -> String {
        var n = name
        while n.hasPrefix("./") { n = n.dropFirst(2) }
        return String(n)
    }

    /// The names listed, in order, without repeats.
    public var names: [String] {
        var seen = Set<String>()
        return entries.compactMap { seen.insert($0.name).inserted ? $0.name : nil }
    }

    /// The digest for `name` (matching the whole listed name or its last path component). Several entries with
    /// equal digests are fine; different ones are an error. The strongest algorithm wins when a file lists several.
    public func digest(for name: String) throws(ChecksumError) -> Digest {
        let matches = entries.filter { $0.name == name || $0.name.split(separator: "/").last.map(String.init) == name }
        guard !matches.isEmpty else { throw .noEntry(checksumFile: source, name: name, available: names) }
        let order: [HashAlgorithm] = [.sha512, .sha256, .blake2b, .sha1, .md5]
        for algorithm in order {
            let these = Set(matches.filter { $0.digest.algorithm == algorithm }.map(\.digest))
            if these.count > 1 {
                throw .contradictory(checksumFile: source, name: name, digests: these.map(\.description).sorted())
            }
        }
        for algorithm in order where algorithm.isSupported {
            if let d = matches.first(where: { $0.digest.algorithm == algorithm }) { return d.digest }
        }
        throw .unsupported(algorithm: matches[0].digest.algorithm, source: source)
    }
}

extension Substring {
    var trimmingCharacters: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
