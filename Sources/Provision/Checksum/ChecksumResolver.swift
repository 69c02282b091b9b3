#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// How to check a download: `--checksum`, `--signature`, `--keyring`, `--key-fingerprint`, `--no-signature`.
public struct VerificationRequest: Sendable {
    /// `--checksum`: a digest, a checksum file (URL or path), or none.
    public var spec: ChecksumSpec
    /// `--signature`: the detached signature's URL or path; nil: look for the usual names beside the checksum file.
    public var signature: String?
    /// `--keyring`: the public key file (armored or binary) to verify with.
    public var keyring: String?
    /// `--key-fingerprint`: the signer's 40-hex-digit fingerprint that must have signed.
    public var pinnedFingerprint: String?
    /// `--no-signature`: accept an unsigned checksum file (the digest is still checked).
    public var noSignature: Bool

    /// A request with the CLI's options; only `spec` is required.
    public init(spec: ChecksumSpec, signature: String? = nil, keyring: String? = nil, pinnedFingerprint: String? = nil,
                noSignature: Bool = false) {
        self.spec = spec
        self.signature = signature
        self.keyring = keyring
        self.pinnedFingerprint = pinnedFingerprint
        self.noSignature = noSignature
    }
}

/// What was decided before the download: the digest to expect and how signatures were (or will be) checked.
public struct VerificationPlan: Sendable {
    /// The digest the download must have; nil when `--checksum none`.
    public var expected: Digest?
    /// Where the digest came from (a URL or path), when it came from a checksum file.
    public var checksumSource: String?
    /// Facts for the user: which signature was good and whose.
    public var notes: [String] = []
    /// Things the user should know (an unsigned checksum file accepted with `--no-signature` …).
    public var warnings: [String] = []
    /// The download itself is signed: check this before it is committed.
    public var verifyDownload: (@Sendable (String) throws -> Void)?
    /// The file's size in bytes as the checksum file states it (`# NAME: N bytes`), if it does; downloads are
    /// bounded by it.
    public var expectedSize: Int64?
    /// Fingerprint of the key that signed, when a signature was checked.
    public var signer: String?
    /// The digest was typed by the user (`--checksum sha256:HEX`): their own trust anchor, needing no signature.
    public var digestFromUser = false
    /// The name the download has after redirects, when it differs from the requested alias and its checksum was
    /// looked up under it.
    public var effectiveName: String?
}

/// Turns a `VerificationRequest` into a plan, fetching checksum files and signatures.
///
/// Policy: a digest the user typed needs no signature. Otherwise, when a key is in play (`keyring` or
/// `pinnedFingerprint`), a signature must verify (a clearsigned checksum file, or a detached signature of it or of
/// the download), unless `noSignature`; an unsigned or stripped checksum file is refused, not warned about.
/// Checksum files and signatures are capped at `Downloader.smallFileLimit`.
public struct ChecksumResolver: Sendable {
    /// Fetches checksum files, signatures and keys (capped at `Downloader.smallFileLimit`).
    public var downloader: Downloader

    /// A resolver that fetches with `downloader`.
    public init(downloader: Downloader) {
        self.downloader = downloader
    }

    /// `fileName` is the name the download has on the server; `bases` are the download URLs (mirrors) or the local
    /// file's path, against whose folders relative references resolve.
    /// - Throws: `.verification` (no entry, unreadable file), `.signature` (bad, missing or required signature,
    ///   gpgv missing), `.tooLarge` (an oversized checksum file or signature), `.failed` (network; 404 everywhere
    ///   sets `allNotFound`).
    public func plan(fileName: String, bases: [String], request: VerificationRequest) throws(DownloadError) -> VerificationPlan {
        var plan = VerificationPlan()
        var verifier: GPGVerifier?
        func makeVerifier() throws(DownloadError) -> GPGVerifier {
            if let verifier { return verifier }
            guard let keyring = request.keyring else {
                throw .signature(.noKeyring(what: request.signature ?? plan.checksumSource ?? fileName))
            }
            do {
                let v = try GPGVerifier(keyring: keyring, pinnedFingerprint: request.pinnedFingerprint,
                                        gpgv: downloader.options.gpgv)
                verifier = v
                return v
            } catch { throw .signature(error) }
        }
        var checksumBytes: [UInt8]?
        var checksumName = ""
        var signatureBase = bases.first ?? ""

        switch request.spec {
        case .digest(let d):
            plan.expected = d
            plan.digestFromUser = true
            plan.notes.append("\(fileName): the digest \(d) was given by you (--checksum); it is your own trust anchor"
                + (request.signature == nil ? ", so no signature or key is needed" : ""))
        case .none:
            plan.warnings.append("--checksum none: the download is NOT verified; it may be damaged or not what its "
                + "publisher released.")
        case .file(let ref):
            var failures: [AttemptRecord] = []
            var allNotFound = true
            for base in bases {
                let url = URLText.resolve(ref, against: base)
                do {
                    checksumBytes = try downloader.fetchSmall(url)
                    plan.checksumSource = url
                    signatureBase = base
                    break
                } catch .failed(let attempts, let notFound) {
                    failures += attempts
                    if !notFound { allNotFound = false }
                } catch .io(let e) {
                    failures.append(AttemptRecord(url: url, outcome: e.description,
                                                  kind: e.code == ENOENT ? .notFound : .refused))
                    if e.code != ENOENT { allNotFound = false }
                } catch {
                    // An oversized or otherwise refused checksum file is a permanent refusal, not a network failure.
                    throw error
                }
            }
            guard let bytes = checksumBytes, let source = plan.checksumSource else {
                throw .failed(attempts: failures, allNotFound: allNotFound && !failures.isEmpty)
            }
            checksumName = URLText.fileName(source)
            var text = String(decoding: bytes, as: UTF8.self)
            let parsed: ChecksumFile
            do { parsed = try ChecksumFile(text: text, source: source) } catch { throw .verification(error) }
            if parsed.isClearsigned {
                if request.noSignature {
                    plan.warnings.append("\(source) is clearsigned, but --no-signature skips checking it; only its "
                        + "signed body is read.")
                } else {
                    let v = try makeVerifier()
                    do {
                        let staged = try v.stage(bytes, as: "staged-data")
                        let (report, signed) = try v.verifyClearsigned(file: staged, label: source)
                        text = signed
                        plan.signer = report.primaryFingerprint
                        plan.notes.append("\(checksumName): good signature by \(report.primaryFingerprint) (\(report.userID))"
                            + (report.keyExpiredSince ? "; the key has expired since" : ""))
                    } catch { throw .signature(error) }
                }
            }
            let table: ChecksumFile
            do { table = try ChecksumFile(text: text, source: source) } catch { throw .verification(error) }
            do {
                plan.expected = try table.digest(for: fileName, relativePath: Self.relativePath(of: signatureBase,
                                                                                              to: source))
                if table.bareDigest != nil {
                    plan.notes.append("\(checksumName) holds a bare digest and no file name; it was taken as the "
                        + "digest of \(fileName), the one file of this download")
                }
            } catch let missing {
                // An alias (latest.iso) listed under the name it redirects to?
                guard case .noEntry = missing, let scheme = URLText.scheme(signatureBase), scheme == "http" || scheme == "https",
                      let effective = try? downloader.effectiveURL(of: signatureBase) else { throw .verification(missing) }
                let realName = URLText.fileName(effective)
                guard !realName.isEmpty, realName != fileName,
                      let d = try? table.digest(for: realName, relativePath: Self.relativePath(of: effective, to: source)) else {
                    throw .verification(missing)
                }
                plan.expected = d
                plan.effectiveName = realName
                plan.notes.append("\(fileName) redirects to \(effective); \(checksumName) lists it as \(realName), whose "
                    + "checksum was used")
            }
            plan.expectedSize = ChecksumSizeLine.size(in: text, for: plan.effectiveName ?? fileName)
        }

        // A detached signature, of the checksum file or of the download.
        if let sigRef = request.signature {
            if request.noSignature {
                throw .signature(.missing(signature: sigRef, reason: "--signature and --no-signature contradict each other"))
            }
            let sigURL = URLText.resolve(sigRef, against: signatureBase)
            let sigName = URLText.fileName(sigURL)
            let ofChecksum: Bool
            if checksumBytes != nil, !checksumName.isEmpty, sigName.hasPrefix(checksumName) {
                ofChecksum = true
            } else if sigName.hasPrefix(fileName) || (plan.effectiveName.map { sigName.hasPrefix($0) } ?? false) {
                ofChecksum = false
            } else {
                ofChecksum = checksumBytes != nil
            }
            let v = try makeVerifier()
            let sigBytes: [UInt8]
            do { sigBytes = try downloader.fetchSmall(sigURL) } catch {
                if case .tooLarge = error { throw error }
                if error.isNotFound {
                    throw .notFound(what: "the signature", underlying: error,
                                    hint: "Check --signature, or pass --no-signature to skip the check (not recommended).")
                }
                if error.isTemporary { throw error }  // the network: try again later
                throw .signature(.missing(signature: sigURL, reason: error.description))
            }
            do {
                let sigPath = try v.stage(sigBytes, as: "staged-signature")
                if ofChecksum, let checksumBytes {
                    let data = try v.stage(checksumBytes, as: "staged-data")
                    let report = try v.verifyDetached(signature: sigPath, data: data, label: plan.checksumSource ?? checksumName,
                                                      signatureLabel: URLText.printable(sigURL))
                    plan.signer = report.primaryFingerprint
                    plan.notes.append("\(checksumName): good signature by \(report.primaryFingerprint) (\(report.userID))"
                            + (report.keyExpiredSince ? "; the key has expired since" : ""))
                } else {
                    let label = fileName
                    let keep = v
                    plan.notes.append("\(fileName): its signature \(sigName) is checked once it has arrived")
                    plan.verifyDownload = { path in
                        let report = try keep.verifyDetached(signature: sigPath, data: path, label: label,
                                                             signatureLabel: URLText.printable(sigURL))
                        _ = report
                    }
                }
            } catch { throw .signature(error) }
        }

        let verified = plan.signer != nil || plan.verifyDownload != nil
        let keyInPlay = request.keyring != nil || request.pinnedFingerprint != nil
        if !verified && !request.noSignature && !plan.digestFromUser {
            if keyInPlay {
                let key = [request.keyring.map { "the keyring \($0)" }, request.pinnedFingerprint.map { "the pinned key \($0)" }]
                    .compactMap { $0 }.joined(separator: " and ")
                let what: String
                let expected: String
                if let source = plan.checksumSource {
                    what = source
                    expected = "\(key) is in play, so \(checksumName) had to be clearsigned or come with a detached "
                        + "signature (--signature URL)"
                } else {
                    what = fileName
                    expected = "\(key) is in play and --checksum none leaves only a detached signature of the download "
                        + "(--signature URL) to check, and none was given"
                }
                throw .signature(.required(what: what, expected: expected))
            }
            if case .file = request.spec {
                plan.warnings.append("no signature was checked: the checksum proves the data is intact, not who "
                    + "published it. Pass --signature URL --keyring FILE where the publisher signs, or --no-signature "
                    + "to say you know.")
            }
        } else if request.noSignature && plan.signer == nil {
            plan.warnings.append("signature check skipped (--no-signature).")
        }
        return plan
    }

    /// The download's path relative to the checksum file's folder (`netboot/mini.iso`), or nil when the download is
    /// not below that folder (another host, another tree).
    static func relativePath(of download: String, to checksumFile: String) -> String? {
        let folder = URLText.directory(checksumFile)
        let downloadFolder = URLText.directory(download)
        guard !folder.isEmpty, downloadFolder.hasPrefix(folder) else { return nil }
        let sub = URLText.percentDecode(String(downloadFolder.dropFirst(folder.count)))
        return sub + URLText.fileName(download)
    }
}
