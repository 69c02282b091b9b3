internal import CZlib

/// Reads one member of a gzip-compressed tar archive (an extension pack) without unpacking it.
public enum TarGz {
    public enum Failure: Error, Sendable, CustomStringConvertible {
        case notGzip(String)
        case notFound(member: String, archive: String, members: [String])
        case damaged(String)

        public var description: String {
            switch self {
            case let .notGzip(path): return "\(path): not a gzip-compressed tar archive"
            case let .notFound(member, archive, members):
                return "\(archive): has no \(member) (it holds \(members.prefix(10).joined(separator: ", ")))"
            case let .damaged(path): return "\(path): the archive is damaged or truncated"
            }
        }
    }

    /// The bytes of `member` (matched with or without a leading `./`).
    public static func member(_ member: String, in path: String, limit: Int = 16 << 20) throws(Failure) -> [UInt8] {
        let data: [UInt8]
        do { data = try TempFiles.read(path) } catch { throw .notGzip(path) }
        guard data.count > 2, data[0] == 0x1F, data[1] == 0x8B else { throw .notGzip(path) }
        let tar = try inflate(data, path: path, limit: 512 << 20)
        var offset = 0
        var names: [String] = []
        while offset + 512 <= tar.count {
            let header = Array(tar[offset..<(offset + 512)])
            if header.allSatisfy({ $0 == 0 }) { break }
            let name = String(decoding: header[0..<100].prefix { $0 != 0 }, as: UTF8.self)
            let prefix = String(decoding: header[345..<500].prefix { $0 != 0 }, as: UTF8.self)
            let full = prefix.isEmpty ? name : prefix + "/" + name
            let sizeText = String(decoding: header[124..<136].prefix { $0 != 0 && $0 != 0x20 }, as: UTF8.self)
            guard let size = Int(sizeText.isEmpty ? "0" : sizeText, radix: 8) else { throw .damaged(path) }
            let clean = full.hasPrefix("./") ? String(full.dropFirst(2)) : full
            names.append(clean)
            let start = offset + 512
            guard start + size <= tar.count else { throw .damaged(path) }
            if clean == member && (header[156] == 0x30 || header[156] == 0) {
                guard size <= limit else { throw .damaged(path) }
                return Array(tar[start..<(start + size)])
            }
            offset = start + (size + 511) / 512 * 512
        }
        throw .notFound(member: member, archive: path, members: names)
    }

    static func inflate(_ input: [UInt8], path: String, limit: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard vmp_inflate_init_gzip(&stream) == Z_OK else { throw .notGzip(path) }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = input
        let ok: Bool = input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            while true {
                let rc: Int32 = chunk.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(outBuf.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                out.append(contentsOf: chunk[0..<produced])
                if rc == Z_STREAM_END { return true }
                if rc != Z_OK || out.count > limit { return false }
                if stream.avail_in == 0 && produced == 0 { return false }
            }
        }
        guard ok else { throw .damaged(path) }
        return out
    }
}
