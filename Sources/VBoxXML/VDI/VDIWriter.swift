#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes blank dynamic VDI images as VirtualBox creates them (VDICore.h / vdiInitHeader): pre-header, a v1+
/// header of 400 bytes, 1 MiB blocks, a block map of 0xFFFFFFFF ("never allocated") at 1 MiB, and the file ending
/// at offData, so that a disk of any size is sparse and written in milliseconds.
public enum VDIWriter {
    public static let blockSize: UInt64 = 1 << 20
    static let alignment: UInt64 = 1 << 20
    static let signature: UInt32 = 0xBEDA107F
    static let version: UInt32 = 0x00010001
    public static let fileInfo = "<<< Oracle VirtualBox Disk Image >>>\n"

    /// The largest size vdiCreate accepts (below 4 PiB − 3 MiB).
    public static let maximumSize: UInt64 = (4 << 50) - (3 << 20) - 1

    /// Offsets and counts for a disk of `size` bytes.
    public struct Layout: Sendable, Equatable {
        public var size: UInt64
        public var blocks: UInt32
        public var offBlocks: UInt32
        public var offData: UInt32
    }

    public static func layout(size: UInt64) throws(VBoxXMLError) -> Layout {
        guard size >= 1 << 20 else { throw .invalid(path: "disk size", message: "\(size) bytes is less than 1 MiB, the smallest VDI VirtualBox creates") }
        guard size % 512 == 0 else { throw .invalid(path: "disk size", message: "\(size) bytes is not a multiple of 512") }
        guard size <= maximumSize else { throw .invalid(path: "disk size", message: "\(size) bytes is more than VirtualBox's VDI limit (4 PiB − 3 MiB)") }
        let blocks = (size + blockSize - 1) / blockSize
        let offBlocks = alignment  // RT_ALIGN_32(72 + 400, 1 MiB)
        let offData = (offBlocks + 4 * blocks + alignment - 1) / alignment * alignment
        guard blocks <= UInt64(UInt32.max), offData <= UInt64(UInt32.max) else {
            throw .invalid(path: "disk size", message: "\(size) bytes needs more blocks than a VDI header can count")
        }
        return Layout(size: size, blocks: UInt32(blocks), offBlocks: UInt32(offBlocks), offData: UInt32(offData))
    }

    /// The 512 bytes at the start of the file.
    public static func header(layout: Layout, uuid: VBoxUUID, modification: VBoxUUID) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put32(_ v: UInt32, _ at: Int) { for k in 0..<4 { h[at + k] = UInt8((v >> (8 * UInt32(k))) & 0xFF) } }
        func put64(_ v: UInt64, _ at: Int) { for k in 0..<8 { h[at + k] = UInt8((v >> (8 * UInt64(k))) & 0xFF) } }
        for (i, b) in fileInfo.utf8.enumerated() { h[i] = b }
        put32(signature, 0x40)
        put32(version, 0x44)
        put32(400, 0x48)                 // cbHeader: v1+
        put32(1, 0x4C)                   // type: normal (dynamic)
        put32(0, 0x50)                   // flags
        put32(layout.offBlocks, 0x154)
        put32(layout.offData, 0x158)
        put32(512, 0x15C + 12)           // legacy geometry: 0, 0, 0, cbSector 512
        put64(layout.size, 0x170)
        put32(UInt32(blockSize), 0x178)
        put32(0, 0x17C)                  // cbBlockExtra
        put32(layout.blocks, 0x180)
        put32(0, 0x184)                  // cBlocksAllocated
        h.replaceSubrange(0x188..<0x198, with: uuid.iprtBytes)
        h.replaceSubrange(0x198..<0x1A8, with: modification.iprtBytes)
        put32(512, 0x1C8 + 12)           // LCHS geometry: 0, 0, 0, 512
        return h
    }

    /// Creates `path` (which must not exist) as a blank dynamic disk of `size` bytes.
    public static func create(path: String, size: UInt64, uuid: VBoxUUID, modification: VBoxUUID = .random()) throws(VBoxXMLError) {
        guard !uuid.isZero, !modification.isZero else {
            throw .invalid(path: path, message: "a VDI needs non-zero creation and modification UUIDs")
        }
        let l = try layout(size: size)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(path: path, operation: "create it", reason: FileIO.describe(errno)) }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(path) }
        }
        func fail(_ what: String) -> VBoxXMLError { .io(path: path, operation: what, reason: FileIO.describe(errno)) }
        let head = header(layout: l, uuid: uuid, modification: modification)
        guard pwriteAll(fd, head, at: 0) else { throw fail("write the header") }
        // The block map: every entry 0xFFFFFFFF, in 1 MiB pieces.
        let mapBytes = Int(l.blocks) * 4
        let chunk = [UInt8](repeating: 0xFF, count: min(mapBytes, 1 << 20))
        var written = 0
        while written < mapBytes {
            let n = min(chunk.count, mapBytes - written)
            guard pwriteAll(fd, Array(chunk[0..<n]), at: Int(l.offBlocks) + written) else { throw fail("write the block map") }
            written += n
        }
        guard ftruncate(fd, off_t(l.offData)) == 0 else { throw fail("set its size") }
        guard fsync(fd) == 0 else { throw fail("sync it") }
        ok = true
    }

    private static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 { if errno == EINTR { continue }; return false }
            done += n
        }
        return true
    }

    /// Reads uuidCreate from a VDI header (what VirtualBox compares with the media registry), or nil when the file
    /// is not a VDI.
    public static func creationUUID(path: String) -> VBoxUUID? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var h = [UInt8](repeating: 0, count: 512)
        let n = h.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 512, 0) }
        guard n == 512, h[0x40] == 0x7F, h[0x41] == 0x10, h[0x42] == 0xDA, h[0x43] == 0xBE else { return nil }
        return VBoxUUID(iprtBytes: Array(h[0x188..<0x198]))
    }
}

/// Sizes as users write them: `512M`, `64G`, `2T`, `1024K`; a bare number is MiB, as in VBoxManage.
public enum SizeText {
    public static func parse(_ text: String) -> UInt64? {
        var t = Substring(text.uppercased())
        if t.hasSuffix("IB") { t = t.dropLast(2) } else if t.hasSuffix("B") && t.count > 1 && !t.dropLast().allSatisfy(\.isNumber) { t = t.dropLast() }
        let multipliers: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var unit: UInt64 = 1 << 20
        if let last = t.last, let m = multipliers[last] {
            unit = m
            t = t.dropLast()
        }
        guard !t.isEmpty, t.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(t) else { return nil }
        let (v, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : v
    }
}
