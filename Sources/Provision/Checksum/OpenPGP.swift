/// OpenPGP public-key fingerprints (v4: SHA-1 over 0x99, length, key packet body), to check a downloaded key
/// before trusting it.
public enum OpenPGPKeys {
    /// Fingerprints of the primary keys in binary or armoured key material.
    public static func primaryFingerprints(_ data: [UInt8]) -> [String] {
        let bytes = Armor.decodeAll(data, kind: "PGP PUBLIC KEY BLOCK") ?? data
        var out: [String] = []
        var i = 0
        while i < bytes.count {
            let tagByte = bytes[i]
            guard tagByte & 0x80 != 0 else { break }
            var tag: Int
            var length = 0
            var header = 1
            if tagByte & 0x40 != 0 {
                tag = Int(tagByte & 0x3F)
                guard i + 1 < bytes.count else { break }
                let l0 = Int(bytes[i + 1])
                if l0 < 192 { length = l0; header = 2 }
                else if l0 < 224 { guard i + 2 < bytes.count else { break }; length = ((l0 - 192) << 8) + Int(bytes[i + 2]) + 192; header = 3 }
                else if l0 == 255 { guard i + 5 < bytes.count else { break }; length = (Int(bytes[i + 2]) << 24) | (Int(bytes[i + 3]) << 16) | (Int(bytes[i + 4]) << 8) | Int(bytes[i + 5]); header = 6 }
                else { break }  // partial lengths never occur in key packets
            } else {
                tag = Int((tagByte >> 2) & 0x0F)
                switch tagByte & 0x03 {
                case 0: guard i + 1 < bytes.count else { return out }; length = Int(bytes[i + 1]); header = 2
                case 1: guard i + 2 < bytes.count else { return out }; length = (Int(bytes[i + 1]) << 8) | Int(bytes[i + 2]); header = 3
                case 2: guard i + 4 < bytes.count else { return out }; length = (Int(bytes[i + 1]) << 24) | (Int(bytes[i + 2]) << 16) | (Int(bytes[i + 3]) << 8) | Int(bytes[i + 4]); header = 5
                default: return out
                }
            }
            let start = i + header
            guard start + length <= bytes.count else { break }
            if tag == 6, length > 0, bytes[start] == 4 {
                var material: [UInt8] = [0x99, UInt8(length >> 8), UInt8(length & 0xFF)]
                material += bytes[start..<(start + length)]
                out.append(StreamingHasher.sha1Hex(material).uppercased())
            }
            i = start + length
        }
        return out
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
