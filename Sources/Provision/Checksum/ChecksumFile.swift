/// One line of a checksum file.
public struct ChecksumEntry: Sendable, Equatable {
    /// The file name as listed.
    public var name: String
    /// The listed digest; its algorithm is known from the line's form or the file's name.
    public var digest: Digest
}

/// A parsed checksum file: GNU (`hex  name`, `hex *name`), BSD tags (`SHA256 (name) = hex`), inside or outside
/// a PGP clearsign wrapper, with comments, blank lines, a leading byte-order mark, CRLF and `./` prefixes; or a
/// file that holds one bare digest and no name.
///
/// In a clearsigned file only the signed body counts: lines before `-----BEGIN PGP SIGNED MESSAGE-----` or after
/// the signature are ignored, whether or not the signature is checked.
public struct ChecksumFile: Sendable {
    /// The entries, in file order.
    public var entries: [ChecksumEntry]
    /// The file holds only a digest, no file name (`hex` alone on its only line); it can serve one download.
    public var bareDigest: Digest?
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
        var bare: [Digest] = []
        var inHeader = false
        var unreadable = 0
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }  // a byte-order mark
        var lines = body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { raw -> Substring in
            var line = Substring(raw)
            while line.hasSuffix("\r") { line = line.dropLast() }
            return line
        }
        // Clearsigned: only the signed body counts, never lines around the armour.
        let clearsigned: Bool
        if let begin = lines.firstIndex(of: "-----BEGIN PGP SIGNED MESSAGE-----") {
            clearsigned = true
            let end = lines[begin...].firstIndex(of: "-----BEGIN PGP SIGNATURE-----") ?? lines.endIndex
            lines = Array(lines[(begin + 1)..<end])
            inHeader = true
        } else {
            clearsigned = false
        }
        for var line in lines {
            if inHeader {
                if line.isEmpty { inHeader = false }
                continue
            }
            if clearsigned, line.hasPrefix("- ") { line = line.dropFirst(2) }  // dash-escaping
            let trimmed = line.trimmingCharacters
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if let entry = Self.parseBSD(trimmed) ?? Self.parseGNU(trimmed, blake: blake) {
                entries.append(entry)
            } else if Digest.isHex(trimmed), var algorithm = HashAlgorithm.forHexLength(trimmed.count) {
                if blake && algorithm == .sha512 { algorithm = .blake2b }
                bare.append(Digest(algorithm: algorithm, hex: String(trimmed).lowercased()))
            } else {
                unreadable += 1
            }
        }
        if entries.isEmpty && bare.count == 1 && unreadable == 0 {
            self.entries = []
            self.bareDigest = bare[0]
            self.isClearsigned = clearsigned
            return
        }
        unreadable += bare.count
        guard !entries.isEmpty else {
            throw .unreadable(checksumFile: source, reason: unreadable > 0
                ? "none of its \(unreadable) lines is a checksum line" : "it is empty")
        }
        self.entries = entries
        self.bareDigest = nil
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

    /// The digest for the file `name`.
    ///
    /// `relativePath` is the download's path relative to the checksum file's folder (`netboot/mini.iso`), when
    /// known. An entry naming exactly that path wins; then entries naming `name` with no folder; then, only when
    /// `relativePath` is unknown (the download is not below the checksum file's folder), entries in any folder
    /// whose last component is `name`. Several matching entries with
    /// equal digests are fine (aliases); different ones are an error (`contradictory`), so a same-named file in
    /// another folder is never silently taken. The strongest algorithm
    /// wins when a file lists several. A bare-digest file answers for any name.
    /// - Throws: `.noEntry`, `.contradictory` or `.unsupported`, each naming the checksum file.
    public func digest(for name: String, relativePath: String? = nil) throws(ChecksumError) -> Digest {
        if let bareDigest {
            guard bareDigest.algorithm.isSupported else { throw .unsupported(algorithm: bareDigest.algorithm, source: source) }
            return bareDigest
        }
        var matches: [ChecksumEntry] = []
        if let rel = relativePath, rel.contains("/") {
            matches = entries.filter { $0.name == rel }
        }
        if matches.isEmpty { matches = entries.filter { $0.name == name } }
        // Same-named entries in other folders only when the download's place relative to the checksum file is
        // unknown: when it is known, `sub/x.iso` is another file than the `x.iso` beside the checksum file.
        if matches.isEmpty && relativePath == nil {
            matches = entries.filter { $0.name.split(separator: "/").last.map(String.init) == name }
        }
        let label = relativePath.map { $0.contains("/") ? $0 : name } ?? name
        guard !matches.isEmpty else { throw .noEntry(checksumFile: source, name: label, available: names) }
        let order: [HashAlgorithm] = [.sha512, .sha256, .blake2b, .sha1, .md5]
        for algorithm in order {
            let these = Set(matches.filter { $0.digest.algorithm == algorithm }.map(\.digest))
            if these.count > 1 {
                throw .contradictory(checksumFile: source, name: label, digests: these.map(\.description).sorted())
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
