#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCrypt
import Basics

/// What went wrong while reading or hashing a password, or building an answer file.
public enum UnattendedError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An input cannot be used; `field` names it (`--user`, `hostname`, a preseed question …).
    case invalid(field: String, message: String)
    /// libcrypt refused to hash (an unsupported setting or no memory).
    case hashFailed(message: String)
    /// Standard input could not be read.
    case io(what: String, reason: String)

    /// What happened, to which input, and what to do.
    public var description: String {
        switch self {
        case let .invalid(field, message): return "\(field): \(message)"
        case let .hashFailed(message): return "password hashing failed: \(message)"
        case let .io(what, reason): return "could not read \(what): \(reason)."
        }
    }
}

/// A SHA-512-crypt hash (`$6$<salt>$<86 characters>`, crypt(5)) made by libxcrypt's `crypt_r`: the form
/// subiquity (`identity.password`), d-i (`passwd/user-password-crypted`) and Anaconda (`--iscrypted`) take.
/// Holds only the hash; the password itself is never stored. Mirrors VirtualBox's `*_SHACRYPT512` placeholders
/// (UnattendedScript.cpp): a random salt, default rounds.
public struct PasswordHash: Sendable, Equatable, CustomStringConvertible {
    /// The full crypt string, `$6$salt$hash`.
    public let value: String

    /// The salt alphabet of crypt(5): `./0-9A-Za-z` (64 characters).
    public static let saltAlphabet = Array("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// Hashes `password` with a fresh 16-character salt from the system RNG (`getrandom`, through Swift's
    /// `SystemRandomNumberGenerator`; 96 bits).
    /// - Throws: `UnattendedError.invalid` for an empty password or one with a NUL or newline, `.hashFailed` when
    ///   libcrypt refuses.
    public static func sha512(password: String) throws(UnattendedError) -> PasswordHash {
        var rng = SystemRandomNumberGenerator()
        // 256 is a multiple of 64, so `& 63` keeps every salt character equally likely.
        let salt = String(decoding: (0..<16).map { _ in saltAlphabet[Int(UInt8.random(in: 0...255, using: &rng) & 63)] },
                          as: UTF8.self)
        return try sha512(password: password, salt: salt)
    }

    /// Hashes `password` with the given `salt` (1–16 characters of `./0-9A-Za-z`), default rounds (5000).
    /// Equal to `openssl passwd -6 -salt SALT PASSWORD`.
    /// - Throws: `UnattendedError.invalid` for a bad password or salt, `.hashFailed` when libcrypt refuses.
    public static func sha512(password: String, salt: String) throws(UnattendedError) -> PasswordHash {
        try check(password: password)
        guard (1...16).contains(salt.utf8.count), salt.utf8.allSatisfy(saltAlphabet.contains) else {
            throw .invalid(field: "salt", message: "a SHA-512-crypt salt is 1 to 16 characters from ./0-9A-Za-z")
        }
        let size = vmp_crypt_output_size()
        var out = [CChar](repeating: 0, count: size)
        let rc = out.withUnsafeMutableBufferPointer { buf in
            vmp_crypt(password, "$6$" + salt, buf.baseAddress, size)
        }
        guard rc == 0 else { throw .hashFailed(message: "libcrypt refused the $6$ setting (SHA-512-crypt)") }
        let value = String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard value.hasPrefix("$6$" + salt + "$") else {
            throw .hashFailed(message: "libcrypt answered something that is not a $6$ hash")
        }
        return PasswordHash(value: value)
    }

    /// Wraps an existing crypt string after checking its shape (`$6$[rounds=N$]salt$86 characters`).
    /// - Throws: `UnattendedError.invalid` when it is not a SHA-512-crypt hash.
    public init(crypt value: String) throws(UnattendedError) {
        let parts = value.split(separator: "$", omittingEmptySubsequences: false)
        let ok = value.hasPrefix("$6$") && (parts.count == 4 || (parts.count == 5 && parts[2].hasPrefix("rounds=")))
            && parts.last.map { $0.utf8.count == 86 && $0.utf8.allSatisfy(Self.saltAlphabet.contains) } == true
            && parts[parts.count - 2].utf8.allSatisfy(Self.saltAlphabet.contains)
        guard ok else {
            throw .invalid(field: "password hash", message: "is not a SHA-512-crypt hash ($6$salt$…); make one "
                + "with `openssl passwd -6`")
        }
        self.value = value
    }

    private init(value: String) { self.value = value }

    /// The crypt string. A hash is not a secret in the sense of a password, but log it only when needed.
    public var description: String { value }

    static func check(password: String) throws(UnattendedError) {
        guard !password.isEmpty else {
            throw .invalid(field: "password", message: "is empty; an installed system needs a password for its user")
        }
        guard !password.utf8.contains(where: { $0 == 0 || $0 == 0x0A || $0 == 0x0D }) else {
            throw .invalid(field: "password", message: "contains a NUL byte or a line break, which installers cannot take")
        }
    }
}

/// Reads a secret from a file descriptor (standard input for `--password-stdin`): the first line, without its
/// `\n` or `\r\n`. Reads byte by byte so nothing after the line is consumed; the value is never logged.
public enum SecretInput {
    /// The longest line accepted, in bytes.
    public static let maximumLength = 4096

    /// The first line read from `fd` (default 0, standard input).
    /// - Throws: `UnattendedError.invalid` when the line is empty, too long or not UTF-8; `.io` when reading fails.
    public static func readLine(fd: Int32 = 0, what: String = "the password from standard input") throws(UnattendedError) -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = Syscall.retrying { read(fd, &byte, 1) }
            if n < 0 { throw .io(what: what, reason: String(cString: strerror(errno))) }
            if n == 0 || byte == 0x0A { break }
            bytes.append(byte)
            guard bytes.count <= maximumLength else {
                throw .invalid(field: what, message: "the first line is longer than \(maximumLength) bytes")
            }
        }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else {
            throw .invalid(field: what, message: "standard input gave an empty first line or none; pipe the "
                + "password in, for example printf '%s\\n' \"$PW\" | vmprov …")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .invalid(field: what, message: "is not valid UTF-8")
        }
        return text
    }
}
