#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML

/// Writes blank dynamic VDI images as VirtualBox creates them (VDICore.h / vdiInitHeader): pre-header, a v1+
/// header of 400 bytes, 1 MiB blocks, a block map of 0xFFFFFFFF ("never allocated") at 1 MiB, and the file ending
/// at offData, so that a disk of any size is sparse and written in milliseconds.
public enum VDIWriter {
    /// Bytes per block (cbBlock): 1 MiB, VirtualBox's default.
    public static let blockSize: UInt64 = 1 << 20
    static let alignment: UInt64 = 1 << 20
    static let signature: UInt32 = 0xBEDA107F
    static let version: UInt32 = 0x00010001
    /// The text at the start of the pre-header (VDI_IMAGE_FILE_INFO).
    public static let fileInfo = "<<< Oracle VirtualBox Disk Image >>>\n"

    /// The largest size vdiCreate accepts (below 4 PiB − 3 MiB).
    public static let maximumSize: UInt64 = (4 << 50) - (3 << 20) - 1

    /// Offsets and counts for a disk of `size` bytes.
    public struct Layout: Sendable, Equatable {
        /// The disk's size in bytes (cbDisk).
        public var size: UInt64
        /// The number of 1 MiB blocks (cBlocks).
        public var blocks: UInt32
        /// The block map's offset in the file, in bytes (offBlocks).
        public var offBlocks: UInt32
        /// The first data block's offset, in bytes (offData); a blank image ends there.
        public var offData: UInt32
    }

    /// The layout vdiCreate gives a disk of `size` bytes.
    /// - Throws: `VBoxXMLError.invalid` for a size under 1 MiB, not a multiple of 512, or over `maximumSize`.
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

    /// Creates `path` (which must not exist) as a blank dynamic disk of `size` bytes; on any error nothing is left.
    /// - Throws: `VBoxXMLError.invalid` for a bad size or zero UUID, `.io` naming the file and the step.
    public static func create(path: String, size: UInt64, uuid: VBoxUUID, modification: VBoxUUID = .random()) throws(VBoxXMLError) {
        guard !uuid.isZero, !modification.isZero else {
            throw .invalid(path: path, message: "a VDI needs non-zero creation and modification UUIDs")
        }
        let l = try layout(size: size)
        guard let fd = OwnedFD.openOrNil(path, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600) else {
            throw .io(path: path, operation: "create it", reason: FileIO.describe(errno))
        }
        var ok = false
        defer {
            fd.close()
            if !ok { unlink(path) }
        }
        func fail(_ what: String, _ code: Int32 = errno) -> VBoxXMLError {
            .io(path: path, operation: what, reason: FileIO.describe(code))
        }
        let head = header(layout: l, uuid: uuid, modification: modification)
        if let e = FileIO.writeAll(fd: fd.raw, head, at: 0) { throw fail("write the header", e) }
        // The block map: every entry 0xFFFFFFFF, in 1 MiB pieces.
        let mapBytes = Int(l.blocks) * 4
        let chunk = [UInt8](repeating: 0xFF, count: min(mapBytes, 1 << 20))
        var written = 0
        while written < mapBytes {
            let n = min(chunk.count, mapBytes - written)
            if let e = FileIO.writeAll(fd: fd.raw, Array(chunk[0..<n]), at: Int64(l.offBlocks) + Int64(written)) {
                throw fail("write the block map", e)
            }
            written += n
        }
        guard Syscall.retrying({ ftruncate(fd.raw, off_t(l.offData)) }) == 0 else { throw fail("set its size") }
        guard Syscall.retrying({ fsync(fd.raw) }) == 0 else { throw fail("sync it") }
        ok = true
    }
}

