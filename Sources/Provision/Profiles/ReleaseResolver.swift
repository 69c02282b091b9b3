import Basics
/// A release-form profile resolved to one installer: the file the publisher's signed checksum file names, and
/// where it is on every mirror.
public struct ResolvedRelease: Sendable, Codable, Equatable {
    /// The installer's file name, as the signed checksum file lists it.
    public var fileName: String
    /// The `{version}` part of the name (`13.7.0`).
    public var version: String
    /// The installer on every mirror of the folder that served, in mirror order.
    public var urls: [String]
    /// The folder (on the first mirror that answered) whose checksum file named the installer.
    public var folder: String
    /// The checksum file that was read.
    public var checksumURL: String
    /// Whether the folder is one of the profile's archive (fallback) folders.
    public var fromArchive: Bool
    /// The key that signed the checksum file, when it was signed and verified.
    public var signer: String?
    /// Every entry matching the pattern in that file, highest version first.
    public var candidates: [String]
    /// Facts for the user (which signature, which folder).
    public var notes: [String]
    /// Things the user should know (an unsigned checksum file, a skipped signature).
    public var warnings: [String]
}

/// Why a release could not be resolved. Each names the checksum file or the folders searched and says what to do.
public enum ReleaseError: Error, Sendable, CustomStringConvertible {
    /// Fetching or verifying the checksum file or its signature failed.
    case download(DownloadError)
    /// The signed checksum file lists no file matching the pattern.
    case noMatch(checksumFile: String, pattern: String, listed: [String])
    /// Several entries match and the version ordering cannot tell which is newest.
    case ambiguous(checksumFile: String, pattern: String, candidates: [String])
    /// `--release` names a version no searched folder holds.
    case releaseNotFound(release: String, searched: [String], available: [String])

    /// What went wrong, where, and what to do.
    public var description: String {
        switch self {
        case let .download(e): return e.description
        case let .noMatch(file, pattern, listed):
            return "\(file): no entry matches \(pattern) in the signed part; it lists: "
                + (listed.isEmpty ? "nothing" : listed.prefix(20).joined(separator: ", "))
                + ". The publisher's layout may have changed: check the profile's iso.pattern and iso.folder."
        case let .ambiguous(file, pattern, candidates):
            return "\(file): several entries match \(pattern) and their versions cannot be ordered: "
                + candidates.joined(separator: ", ") + ". Pick one with --release VERSION, or give --iso-url URL."
        case let .releaseNotFound(release, searched, available):
            return "release \(release) was not found; searched " + searched.joined(separator: ", ")
                + (available.isEmpty ? "" : "; the current folder offers " + available.joined(separator: ", "))
                + ". Check --release (the {version} part of the file name), or give --iso-url URL."
        }
    }
}

/// Resolves release-form profiles (`iso.mirrors` + `iso.folder` + `iso.pattern`) through the publisher's checksum
/// file: fetches it and its signature, verifies the signature (a key in play means one must verify, unless
/// `noSignature`), and picks the entry matching the pattern from the signed body only, the highest version by
/// numeric dotted ordering. `--release` pins a version and searches the archive folders after the current one.
public struct ReleaseResolver: Sendable {
    /// Fetches the checksum files, signatures and keys.
    public var downloader: Downloader
    /// Test-only: rewrites every mirror URL `scheme://HOST/PATH` to `PREFIX/HOST/PATH` (a local mirror laid out like
    /// the publishers'); from `VMPROV_TEST_MIRROR_PREFIX`.
    public var mirrorPrefix: String?

    /// A resolver fetching with `downloader` (its TLS, proxy and size rules apply to every small file).
    public init(downloader: Downloader, mirrorPrefix: String? = nil) {
        self.downloader = downloader
        self.mirrorPrefix = mirrorPrefix
    }

    /// One place to look: the same folder on each mirror.
    public struct Location: Sendable, Equatable {
        /// The folder's URL on each mirror, each ending in `/`.
        public var folders: [String]
        /// Whether this is one of the profile's `archive` folders (not the current one).
        public var isArchive: Bool
    }

    /// `url` under the test mirror prefix, when one is set.
    public func rewrite(_ url: String) -> String {
        guard let prefix = mirrorPrefix, let scheme = URLText.scheme(url), scheme == "http" || scheme == "https" else {
            return url
        }
        let rest = url.dropFirst(scheme.count + 3)
        return (prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix) + "/" + rest
    }

    /// The folders to search in order: the current folder, then each archive folder (those with `{release}` only
    /// when `release` is given).
    public func locations(_ iso: Profile.ISOSource, release: String?) -> [Location] {
        func slash(_ s: String) -> String { s.hasSuffix("/") ? s : s + "/" }
        func on(_ folder: String) -> [String] {
            if URLText.scheme(folder) != nil { return [rewrite(slash(folder))] }
            return iso.mirrors.map { rewrite(slash($0) + slash(folder)) }
        }
        var out = [Location(folders: on(iso.folder ?? ""), isArchive: false)]
        for a in iso.archive {
            if a.contains("{release}") {
                guard let release else { continue }
                out.append(Location(folders: on(a.replacingAll("{release}", with: release)), isArchive: true))
            } else {
                out.append(Location(folders: on(a), isArchive: true))
            }
        }
        return out
    }

    /// The `{version}` of `name` under `pattern`, or nil when it does not match (the version must be digits
    /// separated by single dots, so `debian-edu-13.7.0-…` never matches `debian-{version}-…`).
    public static func version(of name: String, pattern: String) -> String? {
        let parts = pattern.components("{version}")
        guard parts.count == 2, name.count > parts[0].count + parts[1].count, name.hasPrefix(parts[0]),
              name.hasSuffix(parts[1]) else { return nil }
        let v = String(name.dropFirst(parts[0].count).dropLast(parts[1].count))
        let pieces = v.split(separator: ".", omittingEmptySubsequences: false)
        guard pieces.allSatisfy({ !$0.isEmpty && $0.count <= 18 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) })
        else { return nil }
        return v
    }

    /// Whether `text` can be a `--release`: what ``version(of:pattern:)`` can return (digits separated by single
    /// dots), so that nothing else is put into a folder URL in place of `{release}`.
    public static func isVersion(_ text: String) -> Bool {
        version(of: "v" + text, pattern: "v{version}") == text
    }

    /// Orders versions numerically by dotted parts, missing parts counting as 0 (`24.04.5.1` > `24.04.5`,
    /// `13.7` == `13.7.0`). Returns -1, 0 or 1.
    public static func compare(_ a: String, _ b: String) -> Int {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }
        let y = b.split(separator: ".").map { Int($0) ?? 0 }
        for i in 0..<max(x.count, y.count) {
            let l = i < x.count ? x[i] : 0
            let r = i < y.count ? y[i] : 0
            if l != r { return l < r ? -1 : 1 }
        }
        return 0
    }

    /// Resolves `profile` (which must be in the release form).
    /// - Parameters:
    ///   - release: a version to pin (`13.6.0`); nil takes the highest in the current folder.
    ///   - keyring, pin: the key in play (the profile's fetched key, or the user's); nil for none.
    ///   - noSignature: read the checksum file without checking a signature (a warning says so).
    /// - Throws: `.download` (network, signature, oversized file), `.noMatch`, `.ambiguous`, `.releaseNotFound`.
    public func resolve(_ profile: Profile, release: String?, keyring: String?, pin: String?,
                        noSignature: Bool) throws(ReleaseError) -> ResolvedRelease {
        let iso = profile.iso
        guard let pattern = iso.pattern, case .file(let checksumRef)? = iso.checksum.flatMap({ try? ChecksumSpec($0) }) else {
            throw .download(.verification(.badSpec(spec: iso.checksum ?? "none", reason: "the \(profile.name) profile "
                + "is not in the release form (iso.pattern with checksum file:NAME)")))
        }
        var searched: [String] = []
        var available: [String] = []
        var failure: DownloadError?
        var missing: [AttemptRecord] = []
        for location in locations(iso, release: release) {
            // The checksum file from the first mirror that has it.
            var body: [UInt8]?
            var served = ""
            var attempts: [AttemptRecord] = []
            var allNotFound = true
            for folder in location.folders {
                let url = URLText.resolve(checksumRef, against: folder)
                do {
                    body = try downloader.fetchSmall(url)
                    served = folder
                    break
                } catch .failed(let a, let notFound) {
                    attempts += a
                    if !notFound { allNotFound = false }
                } catch {
                    throw .download(error)
                }
            }
            searched.append(location.folders.first ?? "")
            guard let bytes = body else {
                // A folder that is not there (yet, or any more) is skipped; a network failure is kept for the end.
                if !allNotFound || attempts.contains(where: { $0.kind != .notFound }) {
                    failure = failure ?? .failed(attempts: attempts, allNotFound: false)
                } else {
                    missing += attempts
                }
                continue
            }
            let checksumURL = URLText.resolve(checksumRef, against: served)
            let signed = try signedBody(bytes, checksumURL: checksumURL, folder: served, iso: iso, keyring: keyring,
                                        pin: pin, noSignature: noSignature)
            let table: ChecksumFile
            do { table = try ChecksumFile(text: signed.text, source: checksumURL) } catch { throw .download(.verification(error)) }
            var matches: [(name: String, version: String)] = []
            for name in table.names where !name.contains("/") && !matches.contains(where: { $0.name == name }) {
                if let v = Self.version(of: name, pattern: pattern) { matches.append((name, v)) }
            }
            matches.sort { Self.compare($0.version, $1.version) > 0 }
            let chosen: (name: String, version: String)
            if let release {
                guard let hit = matches.first(where: { $0.version == release }) else {
                    if !location.isArchive { available = matches.map(\.version) }
                    continue
                }
                chosen = hit
            } else {
                guard let top = matches.first else {
                    throw .noMatch(checksumFile: checksumURL, pattern: pattern, listed: table.names)
                }
                let tied = matches.filter { Self.compare($0.version, top.version) == 0 }
                guard tied.count == 1 else {
                    throw .ambiguous(checksumFile: checksumURL, pattern: pattern, candidates: tied.map(\.name))
                }
                chosen = top
            }
            let servedIndex = location.folders.firstIndex(of: served) ?? 0
            let ordered = Array(location.folders[servedIndex...]) + Array(location.folders[..<servedIndex])
            var notes = signed.notes
            notes.append("\(chosen.name): version \(chosen.version), from \(served)"
                + (location.isArchive ? " (an archive folder)" : " (the current folder)"))
            return ResolvedRelease(fileName: chosen.name, version: chosen.version, urls: ordered.map { $0 + chosen.name },
                                   folder: served, checksumURL: checksumURL, fromArchive: location.isArchive,
                                   signer: signed.signer, candidates: matches.map(\.name), notes: notes,
                                   warnings: signed.warnings)
        }
        if let release {
            if let failure, available.isEmpty { throw .download(failure) }
            throw .releaseNotFound(release: release, searched: searched, available: available)
        }
        throw .download(failure ?? .notFound(
            what: "the checksum file", underlying: .failed(attempts: missing, allNotFound: true),
            hint: "No folder of the \(profile.name) profile holds \(checksumRef) (searched \(searched.joined(separator: ", "))); "
                + "the publisher's layout may have changed."))
    }

    /// The part of the checksum file that is signed, verified as the profile says.
    func signedBody(_ bytes: [UInt8], checksumURL: String, folder: String, iso: Profile.ISOSource, keyring: String?,
                    pin: String?, noSignature: Bool) throws(ReleaseError)
        -> (text: String, signer: String?, notes: [String], warnings: [String]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let checksumName = URLText.fileName(checksumURL)
        let parsed: ChecksumFile
        do { parsed = try ChecksumFile(text: text, source: checksumURL) } catch { throw .download(.verification(error)) }
        let sigRef = iso.signature
        let sigOverISO = sigRef.map { $0.contains("{iso}") || !$0.hasPrefix(checksumName) } ?? false
        let keyInPlay = keyring != nil || pin != nil
        if noSignature {
            return (text, nil, [], ["\(checksumURL): --no-signature: the installer's name and checksum come from a file "
                + "whose signature was not checked."])
        }
        func verifier() throws(ReleaseError) -> GPGVerifier {
            guard let keyring else { throw .download(.signature(.noKeyring(what: checksumURL))) }
            do { return try GPGVerifier(keyring: keyring, pinnedFingerprint: pin) } catch { throw .download(.signature(error)) }
        }
        if parsed.isClearsigned {
            let v = try verifier()
            do {
                let staged = try v.stage(bytes, as: "staged-data")
                let (report, signed) = try v.verifyClearsigned(file: staged, label: checksumURL)
                return (signed, report.primaryFingerprint,
                        ["\(checksumName): good signature by \(report.primaryFingerprint) (\(report.userID)); names "
                            + "taken from its signed part only"], [])
            } catch { throw .download(.signature(error)) }
        }
        if let sigRef, !sigOverISO {
            let v = try verifier()
            let sigURL = URLText.resolve(sigRef, against: folder)
            let sigBytes: [UInt8]
            do { sigBytes = try downloader.fetchSmall(sigURL) } catch {
                if case .tooLarge = error { throw .download(error) }
                if error.isNotFound {
                    throw .download(.notFound(what: "the signature", underlying: error,
                                              hint: "The publisher signs \(checksumName) with \(sigRef); without it "
                                                + "the installer's name cannot be trusted."))
                }
                throw .download(error)
            }
            do {
                let sig = try v.stage(sigBytes, as: "staged-signature")
                let data = try v.stage(bytes, as: "staged-data")
                let report = try v.verifyDetached(signature: sig, data: data, label: checksumURL,
                                                  signatureLabel: URLText.printable(sigURL))
                return (text, report.primaryFingerprint,
                        ["\(checksumName): good signature by \(report.primaryFingerprint) (\(report.userID))"], [])
            } catch { throw .download(.signature(error)) }
        }
        if keyInPlay && !sigOverISO {
            throw .download(.signature(.required(what: checksumURL, expected: "a key is in play, so \(checksumName) "
                + "had to be clearsigned or come with its detached signature before any name in it is used")))
        }
        if sigOverISO {
            return (text, nil, ["\(checksumName) is not signed by the publisher; the installer it names is checked "
                + "against its own signature (\(sigRef ?? "")) once it has arrived"], [])
        }
        return (text, nil, [], ["\(checksumURL) is not signed (the publisher signs nothing here): the installer's name "
            + "and checksum are only as trustworthy as the connection to the mirror."])
    }
}
