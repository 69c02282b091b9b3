#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML

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
    private let workDir: String

    /// Where gpgv is looked for, in order, when `VMPROV_GPGV` is not set. The caller's PATH is never searched: a
    /// `gpgv` planted earlier on PATH must not decide what counts as a good signature.
    public static let standardLocations = ["/usr/bin/gpgv", "/bin/gpgv"]

    /// The gpgv to run: `$VMPROV_GPGV` (an absolute path) when set, else the first executable of
    /// `standardLocations`.
    /// - Parameter environment: reads one variable (nil when unset or empty).
    /// - Throws: `.gpgvMissing` naming where it looked.
    public static func locate(environment: (String) -> String? = { name in
        getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }) throws(SignatureError) -> String {
        if let explicit = environment("VMPROV_GPGV") {
            guard explicit.hasPrefix("/"), access(explicit, X_OK) == 0 else {
                throw .gpgvMissing(looked: ["VMPROV_GPGV=\(explicit)"])
            }
            return explicit
        }
        for candidate in standardLocations where access(candidate, X_OK) == 0 { return candidate }
        throw .gpgvMissing(looked: standardLocations)
    }

    /// Prepares a keyring (armoured keys are dearmoured into a private temporary folder).
    /// - Throws: `.gpgvMissing` when gpgv is not at its fixed places, `.keyring` when the keyring cannot be read.
    public init(keyring path: String, pinnedFingerprint: String? = nil) throws(SignatureError) {
        gpgv = try Self.locate()
        var template = Array((TempFiles.base + "/vmprov-gpg-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw .keyring(path: path, reason: "cannot create a temporary folder: \(String(cString: strerror(errno)))")
        }
        workDir = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
            let out = workDir + "/keyring.gpg"
            do { try TempFiles.write(binary, to: out) } catch { throw .keyring(path: path, reason: error.description) }
            keyring = out
        } else if data.first.map({ $0 & 0x80 != 0 }) == true || data.count > 8 && Array(data[8..<min(12, data.count)]) == Array("KBXf".utf8) {
            keyring = path.hasPrefix("/") ? path : TempFiles.cwd() + "/" + path
        } else {
            throw .keyring(path: path, reason: "it is neither an armoured (-----BEGIN PGP PUBLIC KEY BLOCK-----) nor a "
                + "binary OpenPGP keyring")
        }
    }

    /// Removes the private temporary folder.
    public func cleanup() {
        for name in ["keyring.gpg", "clear.txt", "staged-data", "staged-signature"] { unlink(workDir + "/" + name) }
        rmdir(workDir)
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
            result = try Subprocess.run(argv, environment: ["LC_ALL=C", "PATH=/usr/bin:/bin:/usr/local/bin"])
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

/// ASCII armour (RFC 4880 §6).
public enum Armor {
    /// Decodes every armoured block of `kind` in `data` and concatenates them; nil when there is none.
    public static func decodeAll(_ data: [UInt8], kind: String) -> [UInt8]? {
        let text = String(decoding: data, as: UTF8.self)
        let begin = "-----BEGIN \(kind)-----"
        let end = "-----END \(kind)-----"
        var out: [UInt8] = []
        var found = false
        var inBlock = false
        var inHeaders = false
        var body = ""
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.hasPrefix(begin) { inBlock = true; inHeaders = true; body = ""; continue }
            guard inBlock else { continue }
            if line.hasPrefix(end) {
                guard let decoded = Base64.decode(body) else { return nil }
                out += decoded
                found = true
                inBlock = false
                continue
            }
            if inHeaders {
                if line.contains(": ") { continue }
                inHeaders = false
                if line.trimmingCharacters.isEmpty { continue }
            }
            if line.hasPrefix("=") && line.count == 5 { continue }  // CRC-24
            body += line.trimmingCharacters
        }
        return found ? out : nil
    }
}

enum Base64 {
    /// Standard base64 (RFC 4648 §4) with `=` padding.
    static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            var v = UInt32(bytes[i]) << 16
            if n > 1 { v |= UInt32(bytes[i + 1]) << 8 }
            if n > 2 { v |= UInt32(bytes[i + 2]) }
            for k in 0..<4 {
                out.append(k <= n ? alphabet[Int((v >> UInt32(18 - 6 * k)) & 63)] : UInt8(ascii: "="))
            }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ s: String) -> [UInt8]? {
        var table = [Int16](repeating: -1, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(c)] = Int16(i)
        }
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for c in s.utf8 {
            if c == UInt8(ascii: "=") { break }
            let v = table[Int(c)]
            if v < 0 {
                if c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A { continue }
                return nil
            }
            buffer = (buffer << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((buffer >> UInt32(bits)) & 0xFF))
            }
        }
        return out
    }
}

/// Small file helpers for the download and signature code.
public enum TempFiles {
    /// `$TMPDIR`, else /tmp.
    public static var base: String {
        if let t = getenv("TMPDIR"), t.pointee != 0 { return String(cString: t) }
        return "/tmp"
    }

    public static func cwd() -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { return "." }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads a whole file.
    public static func read(_ path: String) throws(IOError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError(path: path, operation: "open", code: errno) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 1 << 16) }
            if n < 0 { if errno == EINTR { continue }; throw IOError(path: path, operation: "read", code: errno) }
            if n == 0 { return out }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    /// Writes a whole file (created 0600, truncated); a symbolic link at `path` is not followed (ELOOP).
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws(IOError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw IOError(path: path, operation: "create", code: errno) }
        defer { close(fd) }
        if let e = FileIO.writeAll(fd: fd, bytes) { throw IOError(path: path, operation: "write", code: e) }
    }
}

/// An operating-system error on a named file.
public struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var code: Int32
    public var description: String { "\(path): cannot \(operation): \(String(cString: strerror(code)))" }
}
