#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
internal import CZlib

/// Reads one member of a gzip-compressed tar archive (an extension pack) without unpacking it.
///
/// Streaming and bounded: the file is read in 64 KiB pieces, inflated through zlib into a 64 KiB window, and tar
/// headers are parsed as they pass; other members' data is inflated and dropped, never kept. Memory stays at a
/// few hundred KiB plus the wanted member, which may be at most `limit` bytes (checked against its header before
/// any of it is kept); the whole archive may inflate to at most `totalLimit` bytes, so a decompression bomb is
/// refused early. Layout: POSIX ustar (with GNU `L` long names and pax `x` headers), as VirtualBox's
/// `VBoxExtPackOpenTarFss` in `src/VBox/Main/src-all/ExtPackUtil.cpp` reads packs.
public enum TarGz {
    /// Why a member could not be read from an archive.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        case notGzip(String)
        case notFound(member: String, archive: String, members: [String])
        case damaged(String)
        /// The wanted member is larger than the cap.
        case memberTooLarge(member: String, archive: String, size: Int, limit: Int)
        /// The archive inflates to more than the cap (a decompression bomb, or not an extension pack).
        case inflatesTooMuch(archive: String, limit: Int)
        case unreadable(String, errno: Int32)

        /// What is wrong with which archive, and what it probably means.
        public var description: String {
            switch self {
            case let .notGzip(path): return "\(path): not a gzip-compressed tar archive"
            case let .notFound(member, archive, members):
                return "\(archive): has no \(member) (it holds \(members.prefix(10).joined(separator: ", ")))"
                    + "; is it a VirtualBox extension pack?"
            case let .damaged(path): return "\(path): the archive is damaged or truncated"
            case let .memberTooLarge(member, archive, size, limit):
                return "\(archive): \(member) claims \(size) bytes, more than the \(limit) an extension pack's "
                    + "\(member) can sensibly have; refusing it (a damaged or hostile archive)"
            case let .inflatesTooMuch(archive, limit):
                return "\(archive): inflates to more than \(limit >> 20) MiB before the wanted member appears "
                    + "(a decompression bomb, or not an extension pack); refusing it"
            case let .unreadable(path, code): return "\(path): cannot read it: \(String(cString: strerror(code)))"
            }
        }
    }

    /// The bytes of `member` (matched with or without a leading `./`).
    /// - Parameters:
    ///   - limit: the most bytes the member may have (default 1 MiB: a license text or a manifest).
    ///   - totalLimit: the most bytes the archive may inflate to before the member is found (default 512 MiB;
    ///     a real extension pack inflates to well under 100 MiB).
    /// - Throws: `Failure` naming the archive: not gzip, damaged, member missing or too large, inflates too much.
    public static func member(_ member: String, in path: String, limit: Int = 1 << 20,
                              totalLimit: Int = 512 << 20) throws(Failure) -> [UInt8] {
        let stream = try InflateStream(path: path, totalLimit: totalLimit)
        var names: [String] = []
        var longName: String?
        var paxPath: String?
        while true {
            guard let header = try stream.read(512), header.count == 512 else {
                // A tar without its two end blocks: nothing more to read.
                if stream.atEnd && names.isEmpty { throw .damaged(path) }
                throw .notFound(member: member, archive: path, members: names)
            }
            if header.allSatisfy({ $0 == 0 }) { break }
            guard checksumOK(header) else { throw names.isEmpty && !stream.sawTarMagic(header) ? .notGzip(path) : .damaged(path) }
            guard let size = number(header[124..<136]), size >= 0 else { throw .damaged(path) }
            let type = header[156]
            let padded = (size + 511) / 512 * 512
            switch type {
            case 0x4C, 0x78: // 'L' GNU long name, 'x' pax extended header: small, read them
                guard size <= 64 << 10 else { throw .damaged(path) }
                guard let data = try stream.read(size), data.count == size else { throw .damaged(path) }
                try stream.skip(padded - size)
                if type == 0x4C {
                    longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
                } else {
                    paxPath = paxValue("path", in: data)
                }
                continue
            default:
                break
            }
            let name = String(decoding: header[0..<100].prefix { $0 != 0 }, as: UTF8.self)
            let prefix = String(decoding: header[345..<500].prefix { $0 != 0 }, as: UTF8.self)
            let full = paxPath ?? longName ?? (prefix.isEmpty ? name : prefix + "/" + name)
            longName = nil
            paxPath = nil
            let clean = full.hasPrefix("./") ? String(full.dropFirst(2)) : full
            if names.count < 64 { names.append(clean) }
            if clean == member && (type == 0x30 || type == 0) {
                guard size <= limit else {
                    throw .memberTooLarge(member: member, archive: path, size: size, limit: limit)
                }
                guard let data = try stream.read(size), data.count == size else { throw .damaged(path) }
                return data
            }
            try stream.skip(padded)
        }
        throw .notFound(member: member, archive: path, members: names)
    }

    /// The header checksum: the sum of all bytes with the checksum field taken as spaces.
    static func checksumOK(_ h: [UInt8]) -> Bool {
        guard let stored = number(h[148..<156]) else { return false }
        var sum = 0
        for (i, b) in h.enumerated() { sum += (148..<156).contains(i) ? 0x20 : Int(b) }
        return sum == stored
    }

    /// An octal tar number (NUL or space terminated), or GNU base-256 when the high bit of the first byte is set.
    static func number(_ field: ArraySlice<UInt8>) -> Int? {
        guard let first = field.first else { return nil }
        if first & 0x80 != 0 {
            var v = Int(first & 0x3F)
            for b in field.dropFirst() {
                guard v < Int.max >> 9 else { return nil }
                v = v << 8 | Int(b)
            }
            return v
        }
        let digits = field.drop { $0 == 0x20 }.prefix { $0 != 0 && $0 != 0x20 }
        if digits.isEmpty { return 0 }
        var v = 0
        for d in digits {
            guard d >= 0x30 && d <= 0x37, v < Int.max >> 4 else { return nil }
            v = v * 8 + Int(d - 0x30)
        }
        return v
    }

    /// `key=value` from pax records (`LEN key=value\n`).
    static func paxValue(_ key: String, in data: [UInt8]) -> String? {
        for record in data.split(separator: 0x0A) {
            guard let space = record.firstIndex(of: 0x20) else { continue }
            let kv = record[(space + 1)...]
            guard let eq = kv.firstIndex(of: 0x3D) else { continue }
            if String(decoding: kv[..<eq], as: UTF8.self) == key {
                return String(decoding: kv[(eq + 1)...], as: UTF8.self)
            }
        }
        return nil
    }
}

/// `read(2)` under a name the stream's own `read(_:)` does not hide.
private func readFD(_ fd: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// A gzip file inflated on demand: owns the file descriptor, the zlib stream and its two 64 KiB buffers (stable
/// addresses, freed in `deinit`), and counts every inflated byte against a cap.
final class InflateStream {
    private static let bufferSize = 1 << 16
    private let path: String
    private let fd: OwnedFD
    /// The zlib stream at a stable, allocated address (zlib keeps pointers into it), owned by this object.
    private let zs: UnsafeMutablePointer<z_stream>
    private let input: UnsafeMutablePointer<UInt8>
    private let window: UnsafeMutablePointer<UInt8>
    private var windowStart = 0
    private var windowEnd = 0
    private var ended = false
    private let totalLimit: Int
    /// Bytes inflated so far.
    private(set) var inflated = 0

    init(path: String, totalLimit: Int) throws(TarGz.Failure) {
        self.path = path
        self.totalLimit = totalLimit
        guard let descriptor = OwnedFD.openOrNil(path, O_RDONLY) else { throw .unreadable(path, errno: errno) }
        // Gzip magic first, so a text file is "not gzip" rather than "damaged".
        var magic: [UInt8] = [0, 0]
        let n = Syscall.retrying { magic.withUnsafeMutableBytes { pread(descriptor.raw, $0.baseAddress, 2, 0) } }
        guard n == 2, magic == [0x1F, 0x8B] else { throw .notGzip(path) }
        fd = descriptor
        zs = .allocate(capacity: 1)
        zs.initialize(to: z_stream())
        input = .allocate(capacity: Self.bufferSize)
        window = .allocate(capacity: Self.bufferSize)
        guard vmp_inflate_init_gzip(zs) == Z_OK else {
            // deinit runs for a fully initialised object; inflateEnd on a failed init is harmless.
            throw .notGzip(path)
        }
    }

    deinit {
        inflateEnd(zs)
        zs.deinitialize(count: 1)
        zs.deallocate()
        input.deallocate()
        window.deallocate()
    }

    /// True once zlib reported the end of the gzip stream and the window is empty.
    var atEnd: Bool { ended && windowStart == windowEnd }

    /// Whether a header block carries the ustar magic (tells "not a tar" from "damaged tar").
    func sawTarMagic(_ header: [UInt8]) -> Bool { Array(header[257..<262]) == Array("ustar".utf8) }

    /// Refills the window; false at the end of the stream.
    private func fill() throws(TarGz.Failure) -> Bool {
        windowStart = 0
        windowEnd = 0
        while windowEnd == 0 {
            if ended { return false }
            if zs.pointee.avail_in == 0 {
                let n = Syscall.retrying { readFD(fd.raw, input, Self.bufferSize) }
                if n < 0 { throw .unreadable(path, errno: errno) }
                if n == 0 { throw .damaged(path) }   // the file ended inside the gzip stream
                zs.pointee.next_in = input
                zs.pointee.avail_in = uInt(n)
            }
            zs.pointee.next_out = window
            zs.pointee.avail_out = uInt(Self.bufferSize)
            let rc = CZlib.inflate(zs, Z_NO_FLUSH)
            windowEnd = Self.bufferSize - Int(zs.pointee.avail_out)
            inflated += windowEnd
            if inflated > totalLimit { throw .inflatesTooMuch(archive: path, limit: totalLimit) }
            if rc == Z_STREAM_END { ended = true } else if rc != Z_OK && rc != Z_BUF_ERROR { throw .damaged(path) }
        }
        return true
    }

    /// Up to `count` bytes (fewer only at the end); nil when nothing is left.
    func read(_ count: Int) throws(TarGz.Failure) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            if windowStart == windowEnd, try !fill() { break }
            let take = min(count - out.count, windowEnd - windowStart)
            out.append(contentsOf: UnsafeBufferPointer(start: window + windowStart, count: take))
            windowStart += take
        }
        return out.isEmpty && count > 0 ? nil : out
    }

    /// Inflates and drops `count` bytes.
    func skip(_ count: Int) throws(TarGz.Failure) {
        var left = count
        while left > 0 {
            if windowStart == windowEnd, try !fill() { throw .damaged(path) }
            let take = min(left, windowEnd - windowStart)
            windowStart += take
            left -= take
        }
    }
}
