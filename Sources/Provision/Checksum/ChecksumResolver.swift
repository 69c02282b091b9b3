/// How to check a download: `--checksum`, `--signature`, `--keyring`, `--key-fingerprint`, `--no-signature`.
public struct VerificationRequest: Sendable {
    public var spec: ChecksumSpec
    public var signature: String?
    public var keyring: String?
    public var pinnedFingerprint: String?
    public var noSignature: Bool

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
    public var expected: Digest?
    /// Where the digest came from (a URL or path), when it came from a checksum file.
    public var checksumSource: String?
    /// Facts for the user: which signature was good and whose.
    public var notes: [String] = []
    public var warnings: [String] = []
    /// The download itself is signed: check this before it is committed.
    public var verifyDownload: (@Sendable (String) throws -> Void)?
    /// The file's size in bytes as the checksum file states it (`# NAME: N bytes`), if it does; downloads are
    /// bounded by it.
    public var expectedSize: Int64?
    /// Fingerprint of the key that signed, when a signature was checked.
    public var signer: String?
    /// Removes temporary files (staged signatures, dearmoured keys). Call when done.
    public var cleanup: @Sendable () -> Void = {}
}

/// Turns a `VerificationRequest` into a plan, fetching checksum files and signatures.
public struct ChecksumResolver: Sendable {
    public var downloader: Downloader

    public init(downloader: Downloader) {
        self.downloader = downloader
    }

    /// `fileName` is the name the download has on the server; `bases` are the download URLs (mirrors) or the local
    /// file's path, against whose folders relative references resolve.
    public func plan(fileName: String, bases: [String], request: VerificationRequest) throws(DownloadError) -> VerificationPlan {
        var plan = VerificationPlan()
        var verifier: GPGVerifier?
        var finished = false
        defer { if !finished { verifier?.cleanup() } }
        func makeVerifier() throws(DownloadError) -> GPGVerifier {
            if let verifier { return verifier }
            guard let keyring = request.keyring else {
                throw .signature(.noKeyring(what: request.signature ?? plan.checksumSource ?? fileName))
            }
            do {
                let v = try GPGVerifier(keyring: keyring, pinnedFingerprint: request.pinnedFingerprint)
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
        case .none:
            plan.warnings.append("--checksum none: the download is NOT verified; it may be damaged or not what its "
                + "publisher released.")
        case .file(let ref):
            var failures: [AttemptRecord] = []
            for base in bases {
                let url = URLText.resolve(ref, against: base)
                do {
                    checksumBytes = try downloader.fetchSmall(url)
                    plan.checksumSource = url
                    signatureBase = base
                    break
                } catch let DownloadError.failed(attempts, _) {
                    failures += attempts
                } catch {
                    failures.append(AttemptRecord(url: url, outcome: error.description, kind: error.attemptKind))
                }
            }
            guard let bytes = checksumBytes, let source = plan.checksumSource else {
                throw .failed(attempts: failures, allNotFound: false)
            }
            checksumName = URLText.fileName(source)
            var text = String(decoding: bytes, as: UTF8.self)
            let parsed: ChecksumFile
            do { parsed = try ChecksumFile(text: text, source: source) } catch { throw .verification(error) }
            if parsed.isClearsigned {
                if request.noSignature {
                    plan.warnings.append("\(source) is clearsigned, but --no-signature skips checking it.")
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
            do { plan.expected = try table.digest(for: fileName) } catch { throw .verification(error) }
            plan.expectedSize = ChecksumSizeLine.size(in: text, for: fileName)
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
            } else if sigName.hasPrefix(fileName) {
                ofChecksum = false
            } else {
                ofChecksum = checksumBytes != nil
            }
            let v = try makeVerifier()
            let sigBytes: [UInt8]
            do { sigBytes = try downloader.fetchSmall(sigURL, limit: 1 << 20) } catch {
                if error.isNotFound {
                    throw .notFound(what: "the signature", underlying: error,
                                    hint: "Check --signature, or pass --no-signature to skip the check (not recommended).")
                }
                throw .signature(.missing(signature: sigURL, reason: error.description))
            }
            do {
                let sigPath = try v.stage(sigBytes, as: "staged-signature")
                if ofChecksum, let checksumBytes {
                    let data = try v.stage(checksumBytes, as: "staged-data")
                    let report = try v.verifyDetached(signature: sigPath, data: data, label: plan.checksumSource ?? checksumName)
                    plan.signer = report.primaryFingerprint
                    plan.notes.append("\(checksumName): good signature by \(report.primaryFingerprint) (\(report.userID))"
                            + (report.keyExpiredSince ? "; the key has expired since" : ""))
                } else {
                    let label = fileName
                    let keep = v
                    plan.notes.append("\(fileName): its signature \(sigName) is checked once it has arrived")
                    plan.verifyDownload = { path in
                        let report = try keep.verifyDetached(signature: sigPath, data: path, label: label)
                        _ = report
                    }
                }
            } catch { throw .signature(error) }
        } else if plan.signer == nil && !request.noSignature {
            switch request.spec {
            case .digest, .file:
                plan.warnings.append("no signature was checked: the checksum proves the data is intact, not who "
                    + "published it. Pass --signature URL --keyring FILE where the publisher signs, or --no-signature "
                    + "to say you know.")
            case .none:
                break
            }
        } else if request.noSignature && plan.signer == nil {
            plan.warnings.append("signature check skipped (--no-signature).")
        }
        if let verifier { plan.cleanup = { verifier.cleanup() } }
        finished = true
        return plan
    }
}
