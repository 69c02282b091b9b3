/// A UUID as VirtualBox writes it (`{lowercase}`), with the byte layouts a VDI header needs.
public struct VBoxUUID: Sendable, Hashable, CustomStringConvertible {
    /// Bytes in string order (RFC 4122 / big-endian fields).
    public var bytes: [UInt8]

    /// A UUID from 16 bytes in string order.
    /// - Precondition: `bytes.count == 16`.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16)
        self.bytes = bytes
    }

    /// A random version-4 UUID.
    public static func random<G: RandomNumberGenerator>(using g: inout G) -> VBoxUUID {
        var b = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        return VBoxUUID(bytes: b)
    }

    /// A random version-4 UUID from the system generator.
    public static func random() -> VBoxUUID {
        var g = SystemRandomNumberGenerator()
        return random(using: &g)
    }

    /// Parses with or without braces, any case.
    public init?(_ text: String) {
        var t = Substring(text)
        if t.hasPrefix("{") && t.hasSuffix("}") { t = t.dropFirst().dropLast() }
        let hex = t.filter { $0 != "-" }
        guard t.count == 36, hex.count == 32, [8, 13, 18, 23].allSatisfy({ t[t.index(t.startIndex, offsetBy: $0)] == "-" }) else {
            return nil
        }
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let v = UInt8(hex[i..<j], radix: 16) else { return nil }
            out.append(v)
            i = j
        }
        self.init(bytes: out)
    }

    /// All 16 bytes are zero (VirtualBox treats the nil UUID as "none").
    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase.
    public var description: String {
        let digits = Array("0123456789abcdef")
        var s = ""
        for (i, b) in bytes.enumerated() {
            if [4, 6, 8, 10].contains(i) { s.append("-") }
            s.append(digits[Int(b >> 4)])
            s.append(digits[Int(b & 0x0F)])
        }
        return s
    }

    /// `{…}` as in settings files.
    public var braced: String { "{\(description)}" }

    /// IPRT's in-memory layout (what a VDI header stores): the first three fields little-endian.
    public var iprtBytes: [UInt8] {
        [bytes[3], bytes[2], bytes[1], bytes[0], bytes[5], bytes[4], bytes[7], bytes[6]] + Array(bytes[8...])
    }

    /// A UUID from IPRT's `RTUUID` byte layout (first three fields little-endian), as in a VDI header.
    /// - Precondition: at least 16 bytes.
    public init(iprtBytes b: [UInt8]) {
        self.init(bytes: [b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]] + Array(b[8..<16]))
    }
}
