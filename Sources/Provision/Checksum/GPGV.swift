#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import Basics

/// What gpgv's machine-readable status output says about one verification.
public struct SignatureReport: Sendable, Equatable {
    /// Fingerprint of the key that made the signature (VALIDSIG field 1).
    public var signerFingerprint: String
    /// Fingerprint of its primary key (VALIDSIG last field).
    public var primaryFingerprint: String
    /// The user id from GOODSIG.
    public var userID: String
    /// The key has expired since it made this signature (EXPKEYSIG with a signature older than the expiry).
    public var keyExpiredSince = false
}

/// Verifies OpenPGP signatures with gpgv, reading its `--status-fd` lines, never its prose.
public struct GPGVerifier: Sendable {
    /// A binary keyring file gpgv can read.
    public let keyring: String
    /// The keyring as the user named it, for messages.
    public let keyringSource: String
    /// Pinned key: the signer's or its primary key's fingerprint must equal this.
    public let pinnedFingerprint: String?
    /// The gpgv that runs (an absolute path from `GPGVerifier.locate`).
    public let gpgv: String
    /// The private folder gpgv works in (its --homedir, the dearmoured keyring, staged files); removed when the
    /// last copy of this verifier is gone.
    private let folder: TempFolder
    private var workDir: String { folder.path }

    /// Where gpgv is looked for, in order, when `VMPROV_GPGV` is not set. The caller's PATH is never searched: a
    /// `gpgv` planted earlier on PATH must not decide what counts as a good signature.
    public static let standardLocations = ["/usr/bin/gpgv", "/bin/gpgv"]

    /// The gpgv to run: `explicit` (an absolute path: the CLI passes `$VMPROV_GPGV`) when given, else the first
    /// executable of `standardLocations`.
    /// - Throws: `.gpgvMissing` naming where it looked (`VMPROV_GPGV=PATH` for an explicit path that is not an
    ///   absolute path to an executable).
    public static func locate(explicit: String?) throws(SignatureError) -> String {
        if let explicit {
            guard explicit.hasPrefix("/"), access(explicit, X_OK) == 0 else {
                throw .gpgvMissing(looked: ["VMPROV_GPGV=\(explicit)"])
            }
            return explicit
        }
        for candidate in standardLocations where access(candidate, X_OK) == 0 { return candidate }
        throw .gpgvMissing(looked: standardLocations)
    }

    /// Prepares a keyring (armoured keys are dearmoured into a private temporary folder).
    /// - Parameter gpgv: the gpgv to run (see `locate(explicit:)`); nil for the standard locations.
    /// - Throws: `.gpgvMissing` when gpgv is not at `gpgv` or its fixed places, `.keyring` when the keyring cannot be
    ///   read.
    public init(keyring path: String, pinnedFingerprint: String? = nil, gpgv: String? = nil) throws(SignatureError) {
        self.gpgv = try Self.locate(explicit: gpgv)
        do { folder = try TempFolder(prefix: "vmprov-gpg") } catch {
            throw .keyring(path: path, reason: "cannot create a temporary folder: \(String(cString: strerror(error.code)))")
        }
        keyringSource = path
        self.pinnedFingerprint = pinnedFingerprint.map { $0.uppercased().filter { $0 != " " } }
        // Bounded like every key vmprov reads (a keyring over 4 MiB is not one), and only a regular file: a
        // device or pipe (/dev/zero) would otherwise be read into memory without end.
        let data: [UInt8]
        do {
            guard let bytes = try SafeFiles.readBounded(path, limit: Downloader.smallFileLimit, followLinks: true) else {
                throw SignatureError.keyring(path: path, reason: "it is larger than \(Downloader.smallFileLimit) bytes "
                    + "(4 MiB), too large for a keyring; pass the publisher's key file")
            }
            data = bytes
        } catch let e as SignatureError {
            throw e
        } catch DownloadError.unsafeFile(_, let why) {
            throw .keyring(path: path, reason: why + "; pass the publisher's key file")
        } catch DownloadError.io(let e) {
            // The IOError names the path again: say what failed, once, and what to do.
            throw .keyring(path: path, reason: "cannot \(e.operation) it (\(String(cString: strerror(e.code)))); "
                + "pass --keyring with the path of the publisher's public key (an armoured .asc or a binary .gpg file)")
        } catch {
            throw .keyring(path: path, reason: "\(error)")
        }
        if let binary = Armor.decodeAll(data, kind: "PGP PUBLIC KEY BLOCK") {
            let out = folder.file("keyring.gpg")
            do { try TempFiles.write(binary, to: out) } catch { throw .keyring(path: path, reason: error.description) }
            keyring = out
        } else if data.first.map({ $0 & 0x80 != 0 }) == true || data.count > 8 && Array(data[8..<min(12, data.count)]) == Array("KBXf".utf8) {
            keyring = path.hasPrefix("/") ? path : TempFiles.cwd() + "/" + path
        } else {
            throw .keyring(path: path, reason: "it is neither an armoured (-----BEGIN PGP PUBLIC KEY BLOCK-----) nor a "
                + "binary OpenPGP keyring")
        }
    }

    /// Writes bytes into the private folder (for signatures and checksum files fetched into memory).
    public func stage(_ bytes: [UInt8], as name: String) throws(SignatureError) -> String {
        let path = workDir + "/" + name
        do { try TempFiles.write(bytes, to: path) } catch { throw .keyring(path: path, reason: error.description) }
        return path
    }

    /// Checks a detached signature (armoured or binary) over `data`.
    /// - Parameter signatureLabel: how messages name the signature (its URL); default its path.
    public func verifyDetached(signature: String, data: String, label: String,
                               signatureLabel: String? = nil) throws(SignatureError) -> SignatureReport {
        let argv = [gpgv, "--homedir", workDir, "--status-fd", "1", "--keyring", keyring, signature, data]
        return try evaluate(argv, label: label, signatureLabel: signatureLabel ?? signature).0
    }

    /// Checks a clearsigned file and returns the text gpgv says was signed.
    public func verifyClearsigned(file: String, label: String) throws(SignatureError) -> (SignatureReport, String) {
        let out = workDir + "/clear.txt"
        unlink(out)
        let argv = [gpgv, "--homedir", workDir, "--status-fd", "1", "--keyring", keyring, "--output", out, file]
        let report = try evaluate(argv, label: label, signatureLabel: "clearsigned").0
        let text = (try? TempFiles.read(out)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        unlink(out)
        return (report, text)
    }

    private func evaluate(_ argv: [String], label: String, signatureLabel: String) throws(SignatureError) -> (SignatureReport, ProcessOutput) {
        let result: ProcessOutput
        do {
            result = try ProcessRunner.run(argv, environment: ["LC_ALL=C", "PATH=/usr/bin:/bin:/usr/local/bin"])
        } catch {
            throw .gpgvMissing(looked: [gpgv])
        }
        let status = GPGStatus.parse(result.stdoutText)
        if let bad = status.bad {
            throw .bad(file: label, signature: signatureLabel, detail: "gpgv reports BADSIG from \(bad)")
        }
        if let missing = status.missingKey {
            throw .unknownKey(file: label, signature: signatureLabel, keyID: missing, keyring: keyringSource)
        }
        guard result.status == 0, let valid = status.valid, status.good != nil else {
            if status.noData {
                throw .bad(file: label, signature: signatureLabel, detail: "no OpenPGP signature found in it")
            }
            if status.problems.isEmpty {
                throw .bad(file: label, signature: signatureLabel, detail: "gpgv exit \(result.status)")
            }
            throw .rejected(file: label, signature: signatureLabel, detail: status.problems.joined(separator: ", "))
        }
        if let pin = pinnedFingerprint, valid.signerFingerprint != pin, valid.primaryFingerprint != pin {
            throw .wrongSigner(file: label, signer: valid.primaryFingerprint, pinned: pin)
        }
        return (valid, result)
    }
}

/// The `[GNUPG:]` status lines that matter.
struct GPGStatus {
    var good: String?
    var expiredKey = false
    var keyExpiry: Int?
    var signatureTime: Int?
    var bad: String?
    var valid: SignatureReport?
    var missingKey: String?
    var noData = false
    var problems: [String] = []

    static func parse(_ text: String) -> GPGStatus {
        var s = GPGStatus()
        for line in text.split(separator: "\n") where line.hasPrefix("[GNUPG:] ") {
            let fields = line.dropFirst(9).split(separator: " ").map(String.init)
            guard let keyword = fields.first else { continue }
            switch keyword {
            case "GOODSIG":
                s.good = fields.dropFirst(2).joined(separator: " ")
            case "BADSIG":
                s.bad = fields.dropFirst().joined(separator: " ")
            case "KEYEXPIRED":
                s.keyExpiry = fields.count > 1 ? Int(fields[1]) : nil
            case "EXPKEYSIG":
                s.good = fields.dropFirst(2).joined(separator: " ")
                s.expiredKey = true
            case "VALIDSIG":
                s.signatureTime = fields.count > 3 ? Int(fields[3]) : nil
                if fields.count >= 11 {
                    s.valid = SignatureReport(signerFingerprint: fields[1], primaryFingerprint: fields[10],
                                              userID: s.good ?? "")
                } else if fields.count >= 2 {
                    s.valid = SignatureReport(signerFingerprint: fields[1], primaryFingerprint: fields[1], userID: s.good ?? "")
                }
            case "NO_PUBKEY":
                s.missingKey = fields.count > 1 ? fields[1] : "?"
            case "ERRSIG":
                // Field 6 is the reason code: 9 = no public key.
                if fields.count > 6, fields[6] == "9" { s.missingKey = fields[1] } else { s.problems.append(String(line.dropFirst(9))) }
            case "NODATA":
                s.noData = true
            case "REVKEYSIG", "EXPSIG":
                s.problems.append("\(keyword) \(fields.dropFirst().joined(separator: " "))")
                s.good = nil
            default:
                continue
            }
        }
        if let valid = s.valid { s.valid?.userID = s.good ?? valid.userID }
        if s.expiredKey {
            // Good when the key was valid at signing time; it merely expired later.
            if let made = s.signatureTime, let expiry = s.keyExpiry, made < expiry {
                s.valid?.keyExpiredSince = true
            } else {
                s.problems.append("the signing key had expired when the signature was made")
            }
        }
        if !s.problems.isEmpty { s.good = nil }
        return s
    }
}
