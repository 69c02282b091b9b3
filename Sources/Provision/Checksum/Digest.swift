import Crypto

/// Hash algorithms publishers use in checksum files.
public enum HashAlgorithm: String, Sendable, CaseIterable, Codable {
    case md5, sha1, sha256, sha512
    /// BLAKE2b-512 (Arch's b2sums.txt): recognised, but not verifiable here.
    case blake2b

    /// Hex digits in a digest.
    public var hexLength: Int {
        switch self {
        case .md5: return 32
        case .sha1: return 40
        case .sha256: return 64
        case .sha512, .blake2b: return 128
        }
    }

    /// The algorithm a bare hex digest of this length means (128 → SHA-512).
    public static func forHexLength(_ n: Int) -> HashAlgorithm? {
        switch n {
        case 32: return .md5
        case 40: return .sha1
        case 64: return .sha256
        case 128: return .sha512
        default: return nil
        }
    }

    /// BSD-tag names (`SHA256 (name) = hex`).
    public static func fromTag(_ tag: String) -> HashAlgorithm? {
        switch tag.uppercased() {
        case "MD5": return .md5
        case "SHA1": return .sha1
        case "SHA256": return .sha256
        case "SHA512": return .sha512
        case "BLAKE2B", "BLAKE2B-512", "BLAKE2": return .blake2b
        default: return nil
        }
    }

    /// Whether vmprov can compute it.
    public var isSupported: Bool { self != .blake2b }
}

/// An expected digest.
public struct Digest: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// The hash function.
    public var algorithm: HashAlgorithm
    /// Lowercase hex.
    public var hex: String

    /// A digest of `algorithm`; `hex` is stored lowercase (not checked here).
    public init(algorithm: HashAlgorithm, hex: String) {
        self.algorithm = algorithm
        self.hex = hex.lowercased()
    }

    /// `ALGO:hex`, the `--checksum` form.
    public var description: String { "\(algorithm.rawValue):\(hex)" }

    static func isHex(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) }
    }
}

/// An incremental hash over one of the supported algorithms.
public struct StreamingHasher: Sendable {
    private enum State: Sendable {
        case md5(Insecure.MD5)
        case sha1(Insecure.SHA1)
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    /// The hash function this hasher computes.
    public let algorithm: HashAlgorithm

    /// Nil for algorithms vmprov cannot compute.
    public init?(_ algorithm: HashAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .md5: state = .md5(Insecure.MD5())
        case .sha1: state = .sha1(Insecure.SHA1())
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        case .blake2b: return nil
        }
    }

    /// Adds `buffer`'s bytes to the hash.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        switch state {
        case .md5(var h): h.update(bufferPointer: buffer); state = .md5(h)
        case .sha1(var h): h.update(bufferPointer: buffer); state = .sha1(h)
        case .sha256(var h): h.update(bufferPointer: buffer); state = .sha256(h)
        case .sha512(var h): h.update(bufferPointer: buffer); state = .sha512(h)
        }
    }

    /// Adds `bytes` to the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest in lowercase hex.
    public func finalize() -> Digest {
        let hex: String
        switch state {
        case .md5(let h): hex = Self.hex(h.finalize())
        case .sha1(let h): hex = Self.hex(h.finalize())
        case .sha256(let h): hex = Self.hex(h.finalize())
        case .sha512(let h): hex = Self.hex(h.finalize())
        }
        return Digest(algorithm: algorithm, hex: hex)
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Lowercase hex SHA-1 of some bytes (OpenPGP v4 fingerprints).
    public static func sha1Hex(_ bytes: [UInt8]) -> String {
        hex(Insecure.SHA1.hash(data: bytes))
    }

    /// Lowercase hex SHA-256 of some bytes.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }
}
