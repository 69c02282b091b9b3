#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML

/// Grows a dynamic VDI in place, offline, as VirtualBox's `vdiResize` (src/VBox/Storage/VDI.cpp) does, without its
/// cap defect (vbox-storage-devices §3.1–3.3): the header's `cbDisk`/`cBlocks`, the block map extended with
/// `0xFFFFFFFF` ("never allocated") entries, allocated blocks untouched. When the longer map no longer fits below
/// `offData`, the first `rotation` data blocks are copied to the end of the data area and every allocated map entry is
/// renumbered (the data area "rotates" forward by `rotation` blocks, `offData += rotation·cbBlock`).
///
/// Crash safety, by steps (``Step``); each step ends with `fsync`:
/// - Map fits: (1) the new map entries go into the gap between the old map and `offData`, which the old image never
///   reads; (2) the header (one 512-byte write) switches to the new size. A crash leaves the old or the new image.
/// - Blocks move: (1) the moved blocks are copied past the old end of the data (the old image is intact); (2) a
///   journal `IMAGE.vmprov-grow` with the new header and map is written and synced (old image intact); (3) the header's
///   signature is cleared, so that neither VirtualBox nor qemu opens the image while its map is rewritten (a half
///   rewritten map would read as valid but wrong data); (4) the map is rewritten in place; (5) the new header, with
///   its signature; (6) the journal is removed. After a kill in (3)–(5) the image is refused as "not a VDI" until
///   ``grow(path:to:fault:)`` (any later call, any size) finishes it from the journal, before anything else, so no
///   data is lost; the journal is verified by a checksum and by the old header it was made for.
public enum VDIGrower {
    /// Durable points of a grow, for fault tests (the hook runs after each).
    public enum Step: Int, Sendable, CaseIterable {
        /// Map entries written (in place) or moved blocks copied (relocation).
        case prepared = 1
        /// Journal written (relocation only).
        case journaled = 2
        /// Header signature cleared: the image is closed to every reader (relocation only).
        case sealed = 3
        /// Map rewritten in place (relocation only).
        case mapWritten = 4
        /// Header switched to the new size.
        case headerWritten = 5
        /// Journal removed (relocation only).
        case finished = 6
    }

    /// What a grow did.
    public struct Outcome: Sendable, Equatable {
        /// Virtual size before, bytes.
        public var oldSize: UInt64
        /// Virtual size after, bytes.
        public var newSize: UInt64
        /// Data blocks copied to make room for the map (0 when it fit).
        public var movedBlocks: Int
        /// Whether an interrupted grow was completed from its journal first.
        public var recovered: Bool
    }

    /// The header fields a grow reads and writes.
    struct Header {
        var raw: [UInt8]
        var type: UInt32 { u32(0x4C) }
        var offBlocks: UInt64 { UInt64(u32(0x154)) }
        var offData: UInt64 { UInt64(u32(0x158)) }
        var cbDisk: UInt64 { u64(0x170) }
        var cbBlock: UInt64 { UInt64(u32(0x178)) }
        var cbBlockExtra: UInt64 { UInt64(u32(0x17C)) }
        var cBlocks: UInt64 { UInt64(u32(0x180)) }
        var cAllocated: UInt64 { UInt64(u32(0x184)) }
        var cbHeader: UInt32 { u32(0x48) }

        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(raw[at + $1]) << (8 * UInt32($1)) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(raw[at + $1]) << (8 * UInt64($1)) } }
        mutating func set32(_ v: UInt32, _ at: Int) { for k in 0..<4 { raw[at + k] = UInt8((v >> (8 * UInt32(k))) & 0xFF) } }
        mutating func set64(_ v: UInt64, _ at: Int) { for k in 0..<8 { raw[at + k] = UInt8((v >> (8 * UInt64(k))) & 0xFF) } }
        var linkIsZero: Bool { raw[0x1A8..<0x1C8].allSatisfy { $0 == 0 } }
    }

    static let free: UInt32 = 0xFFFF_FFFF
    static let journalMagic = Array("VMPROV-VDI-GROW-JOURNAL-1\n".utf8)

    /// The journal's path for an image.
    public static func journalPath(_ path: String) -> String { path + ".vmprov-grow" }

    /// The virtual size of a VDI (header `cbDisk`), its type (1 dynamic, 2 fixed, 3 undo, 4 differencing).
    /// - Throws: `VBoxXMLError.notFound`/`.io` when it cannot be read, `.invalid` when it is not a VDI.
    public static func info(path: String) throws(VBoxXMLError) -> (size: UInt64, type: UInt32) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .notFound(path: path, reason: "no such disk image") }
            throw .io(path: path, operation: "open it", reason: FileIO.describe(errno))
        }
        defer { close(fd) }
        let h = try readHeader(fd, path: path)
        return (h.cbDisk, h.type)
    }

    /// Grows the dynamic VDI at `path` to `newSize` bytes (a multiple of 512, at most ``VDIWriter/maximumSize``).
    /// The same size changes nothing. A journal left by an interrupted grow is completed first.
    /// - Parameter fault: called after each durable ``Step`` (tests end the process there).
    /// - Throws: `VBoxXMLError.invalid` for a fixed, differencing or undo image, a shrink, a bad size, a header or
    ///   block map that is not consistent (run `qemu-img check`), or a journal that does not belong to the image;
    ///   `.notFound`/`.io` for file errors.
    @discardableResult
    public static func grow(path: String, to newSize: UInt64,
                            fault: ((Step) -> Void)? = nil) throws(VBoxXMLError) -> Outcome {
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ENOENT { throw .notFound(path: path, reason: "no such disk image") }
            throw .io(path: path, operation: "open it for writing", reason: FileIO.describe(errno))
        }
        defer { close(fd) }
        let recovered = try recover(fd, path: path)
        var header = try readHeader(fd, path: path)
        switch header.type {
        case 1: break
        case 2: throw .invalid(path: path, message: "this is a fixed-size VDI; VirtualBox cannot grow those either. "
            + "Copy it into a new, larger dynamic image (VBoxManage clonemedium --variant Standard, then resize).")
        case 4: throw .invalid(path: path, message: "this is a differencing image (a snapshot's changes); vmprov grows "
            + "base images only. Delete the snapshots (or clone the machine's current state) and grow the base disk.")
        default: throw .invalid(path: path, message: "VDI image type \(header.type) (undo) cannot be grown.")
        }
        guard header.linkIsZero else {
            throw .invalid(path: path, message: "the image has a parent UUID (a differencing image); vmprov grows base images only.")
        }
        let oldSize = header.cbDisk
        guard newSize >= oldSize else {
            throw .invalid(path: path, message: "the image is \(oldSize) bytes; shrinking to \(newSize) is not supported "
                + "(VirtualBox refuses it too). Give a size of at least \(oldSize) bytes.")
        }
        guard newSize % 512 == 0 else {
            throw .invalid(path: path, message: "\(newSize) bytes is not a multiple of 512; give whole MiB (e.g. 64G).")
        }
        guard newSize <= VDIWriter.maximumSize else {
            throw .invalid(path: path, message: "\(newSize) bytes is more than VirtualBox's VDI limit (4 PiB − 3 MiB).")
        }
        if newSize == oldSize { return Outcome(oldSize: oldSize, newSize: newSize, movedBlocks: 0, recovered: recovered) }
        let blockBytes = header.cbBlock + header.cbBlockExtra
        let oldBlocks = header.cBlocks
        // A header may count more blocks than its size needs (vdiValidateHeader only asks cbBlock·cBlocks ≥ cbDisk):
        // the map keeps every entry it has, so it never gets shorter.
        let newBlocks = max((newSize + header.cbBlock - 1) / header.cbBlock, oldBlocks)
        let alloc = header.cAllocated
        guard newBlocks <= 0x3FFF_FFFF else {
            throw .invalid(path: path, message: "\(newSize) bytes needs \(newBlocks) blocks, more than a VDI map holds.")
        }
        let map = try readMap(fd, header, path: path)
        let newMapEnd = header.offBlocks + 4 * newBlocks

        if newMapEnd <= header.offData {
            // (1) New entries into the gap the old image never reads.
            let extra = [UInt8](repeating: 0xFF, count: Int(4 * (newBlocks - oldBlocks)))
            try writeAt(fd, extra, header.offBlocks + 4 * oldBlocks, path: path, what: "extend the block map")
            try sync(fd, path)
            fault?(.prepared)
            // (2) One header write switches to the new size.
            setSize(&header, newSize, blocks: newBlocks)
            try writeAt(fd, Array(header.raw[0..<512]), 0, path: path, what: "write the header")
            try sync(fd, path)
            fault?(.headerWritten)
            return Outcome(oldSize: oldSize, newSize: newSize, movedBlocks: 0, recovered: recovered)
        }

        // The data area rotates forward by rotation blocks.
        let rotation = (newMapEnd - header.offData + blockBytes - 1) / blockBytes
        let moved = min(rotation, alloc)
        let newOffData = header.offData + rotation * blockBytes
        guard newOffData <= UInt64(UInt32.max) else {
            throw .invalid(path: path, message: "the block map for \(newSize) bytes would end past 4 GiB into the file; "
                + "a VDI header cannot point there.")
        }
        // Old data index k → new data index.
        func newIndex(_ k: UInt64) -> UInt64 {
            if k >= rotation { return k - rotation }
            return rotation <= alloc ? alloc - rotation + k : k
        }
        // (1) Copy the moved blocks past the old end of the data.
        var buffer = [UInt8](repeating: 0, count: moved > 0 ? Int(blockBytes) : 0)
        for k in 0..<moved {
            let from = header.offData + k * blockBytes
            let to = newOffData + newIndex(k) * blockBytes
            try readAt(fd, &buffer, from, path: path, what: "read data block \(k)")
            try writeAt(fd, buffer, to, path: path, what: "copy data block \(k)")
        }
        try sync(fd, path)
        fault?(.prepared)
        // (2) The journal: new header and map.
        var newHeader = header
        setSize(&newHeader, newSize, blocks: newBlocks)
        newHeader.set32(UInt32(newOffData), 0x158)
        var newMap = [UInt8](repeating: 0xFF, count: Int(4 * newBlocks))
        for (i, entry) in map.enumerated() where entry < 0xFFFF_FFFE {
            let v = UInt32(newIndex(UInt64(entry)))
            for b in 0..<4 { newMap[4 * i + b] = UInt8((v >> (8 * UInt32(b))) & 0xFF) }
        }
        for (i, entry) in map.enumerated() where entry == 0xFFFF_FFFE {
            for b in 0..<4 { newMap[4 * i + b] = UInt8((entry >> (8 * UInt32(b))) & 0xFF) }
        }
        try writeJournal(path: path, oldHeader: Array(header.raw[0..<512]), newHeader: Array(newHeader.raw[0..<512]),
                         map: newMap, fileLength: newOffData + alloc * blockBytes)
        fault?(.journaled)
        try apply(fd, path: path, newHeader: Array(newHeader.raw[0..<512]), map: newMap,
                  fileLength: newOffData + alloc * blockBytes, fault: fault)
        return Outcome(oldSize: oldSize, newSize: newSize, movedBlocks: Int(moved), recovered: recovered)
    }

    /// The header with its signature cleared: what the image carries while its map is rewritten.
    static func sealed(_ header: [UInt8]) -> [UInt8] {
        var h = header
        for i in 0x40..<0x44 { h[i] = 0 }
        return h
    }

    /// Steps 3–6: seal, map (and zeros up to the new `offData`), header, file length, journal removal. Idempotent.
    static func apply(_ fd: Int32, path: String, newHeader: [UInt8], map: [UInt8], fileLength: UInt64,
                      fault: ((Step) -> Void)?) throws(VBoxXMLError) {
        let h = Header(raw: newHeader)
        var current = [UInt8](repeating: 0, count: 512)
        try readAt(fd, &current, 0, path: path, what: "read the header")
        try writeAt(fd, sealed(current), 0, path: path, what: "mark the header as being changed")
        try sync(fd, path)
        fault?(.sealed)
        try writeAt(fd, map, h.offBlocks, path: path, what: "write the block map")
        // What lies between the new map and the new data start was data the map no longer points to: zero it.
        let mapEnd = h.offBlocks + UInt64(map.count)
        if mapEnd < h.offData {
            var at = mapEnd
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            while at < h.offData {
                let n = min(UInt64(zeros.count), h.offData - at)
                try writeAt(fd, Array(zeros[0..<Int(n)]), at, path: path, what: "clear the old data start")
                at += n
            }
        }
        try sync(fd, path)
        fault?(.mapWritten)
        try writeAt(fd, newHeader, 0, path: path, what: "write the header")
        guard ftruncate(fd, off_t(fileLength)) == 0 else {
            throw .io(path: path, operation: "set its length", reason: FileIO.describe(errno))
        }
        try sync(fd, path)
        fault?(.headerWritten)
        let journal = journalPath(path)
        if unlink(journal) != 0, errno != ENOENT {
            throw .io(path: journal, operation: "remove the finished grow journal", reason: FileIO.describe(errno))
        }
        _ = FileIO.syncDirectory(FileIO.directory(of: path))
        fault?(.finished)
    }

    // MARK: Journal

    /// FNV-1a, 64 bits: detects a torn journal (not an attacker; the journal sits next to the image).
    static func checksum(_ parts: [[UInt8]]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for p in parts { for b in p { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
        return h
    }

    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * UInt64($0))) & 0xFF) } }

    static func writeJournal(path: String, oldHeader: [UInt8], newHeader: [UInt8], map: [UInt8],
                             fileLength: UInt64) throws(VBoxXMLError) {
        let journal = journalPath(path)
        let tmp = journal + ".tmp"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .io(path: tmp, operation: "create the grow journal", reason: FileIO.describe(errno)) }
        var ok = false
        defer { close(fd); if !ok { unlink(tmp) } }
        let body = journalMagic + oldHeader + newHeader + le64(fileLength) + le64(UInt64(map.count)) + map
        let all = body + le64(checksum([body]))
        try writeAt(fd, all, 0, path: tmp, what: "write the grow journal")
        try sync(fd, tmp)
        guard rename(tmp, journal) == 0 else {
            throw .io(path: journal, operation: "put the grow journal in place", reason: FileIO.describe(errno))
        }
        ok = true
        _ = FileIO.syncDirectory(FileIO.directory(of: path))
    }

    /// Completes an interrupted grow from its journal. A journal that is torn (the crash hit it while it was being
    /// written: the image is still the old one) is removed.
    /// - Returns: whether a grow was completed.
    static func recover(_ fd: Int32, path: String) throws(VBoxXMLError) -> Bool {
        let journal = journalPath(path)
        unlink(journal + ".tmp")
        let fixed = journalMagic.count + 512 + 512 + 16
        guard let bytes = try readJournal(journal, limit: fixed + 4 * 0x3FFF_FFFF + 8) else { return false }
        func drop() throws(VBoxXMLError) -> Bool {
            guard unlink(journal) == 0 || errno == ENOENT else {
                throw .io(path: journal, operation: "remove a torn grow journal", reason: FileIO.describe(errno))
            }
            return false
        }
        guard bytes.count >= fixed + 8, Array(bytes[0..<journalMagic.count]) == journalMagic else { return try drop() }
        let body = Array(bytes[0..<(bytes.count - 8)])
        let sum = Header(raw: Array(bytes[(bytes.count - 8)...]) + [UInt8](repeating: 0, count: 8)).u64(0)
        guard checksum([body]) == sum else { return try drop() }
        var at = journalMagic.count
        let oldHeader = Array(bytes[at..<(at + 512)]); at += 512
        let newHeader = Array(bytes[at..<(at + 512)]); at += 512
        let meta = Header(raw: Array(bytes[at..<(at + 16)]))
        let fileLength = meta.u64(0)
        at += 16
        guard let mapCount = Int(exactly: meta.u64(8)), mapCount <= bytes.count, bytes.count == fixed + mapCount + 8 else {
            return try drop()
        }
        let map = Array(bytes[at..<(at + mapCount)])
        var current = [UInt8](repeating: 0, count: 512)
        try readAt(fd, &current, 0, path: path, what: "read the header")
        // Same UUIDs as the journal's image: the creation and modification UUIDs sit in the header.
        guard current[0x188..<0x1A8] == oldHeader[0x188..<0x1A8],
              [oldHeader, newHeader, sealed(oldHeader), sealed(newHeader)].contains(current) else {
            throw .invalid(path: path, message: "a grow journal \(journal) is there but does not belong to this image's "
                + "header. Move it aside after checking the image with qemu-img check.")
        }
        try apply(fd, path: path, newHeader: newHeader, map: map, fileLength: fileLength, fault: nil)
        return true
    }

    /// The journal's bytes, nil when there is none. Only a regular file (not followed through a symlink) of at most
    /// `limit` bytes is read: vmprov writes nothing else there.
    /// - Throws: `.invalid` for a symlink, a non-file or an oversized file (left in place), `.io` for read errors.
    static func readJournal(_ journal: String, limit: Int) throws(VBoxXMLError) -> [UInt8]? {
        let fd = open(journal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            if errno == ELOOP {
                throw .invalid(path: journal, message: "the grow journal is a symlink; vmprov writes it only as a plain "
                    + "file and does not follow it. Remove it (and check the image with qemu-img check), then run "
                    + "grow-disk again.")
            }
            throw .io(path: journal, operation: "open the grow journal", reason: FileIO.describe(errno))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw .io(path: journal, operation: "inspect the grow journal", reason: FileIO.describe(errno))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_size <= limit else {
            throw .invalid(path: journal, message: "the grow journal is not a regular file of at most \(limit) bytes, "
                + "so vmprov did not write it. Remove it (and check the image with qemu-img check), then run grow-disk "
                + "again.")
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        if !bytes.isEmpty { try readAt(fd, &bytes, 0, path: journal, what: "read the grow journal") }
        return bytes
    }

    // MARK: Reading and checking

    static func readHeader(_ fd: Int32, path: String) throws(VBoxXMLError) -> Header {
        var raw = [UInt8](repeating: 0, count: 512)
        let n = raw.withUnsafeMutableBytes { FileIO.readFully(fd: fd, into: $0, at: 0) }
        if n < 0 { throw .io(path: path, operation: "read its header", reason: FileIO.describe(errno)) }
        guard n == 512 else { throw .invalid(path: path, message: "too short to be a VDI image.") }
        let h = Header(raw: raw)
        guard h.u32(0x40) == VDIWriter.signature else {
            if h.u32(0x40) == 0, h.u32(0x44) == VDIWriter.version {
                throw .invalid(path: path, message: "the VDI signature is cleared: a grow-disk was interrupted while it "
                    + "rewrote the block map, and its journal \(journalPath(path)) is missing. Restore the journal and "
                    + "run grow-disk again; the image cannot be used without it.")
            }
            throw .invalid(path: path, message: "not a VDI image (no VDI signature). grow-disk grows VDI images only.")
        }
        guard h.u32(0x44) == VDIWriter.version, h.cbHeader >= 384 else {
            throw .invalid(path: path, message: "VDI version \(String(h.u32(0x44), radix: 16)) or header size "
                + "\(h.cbHeader) is not one vmprov grows (v1.1).")
        }
        guard h.cbBlock > 0, h.cbBlock & (h.cbBlock - 1) == 0, h.cbBlock % 512 == 0, h.cbBlockExtra == 0,
              h.offBlocks >= 456, h.offBlocks % 512 == 0, h.offData % 512 == 0,
              h.offData >= h.offBlocks + 4 * h.cBlocks, h.cBlocks > 0, h.cAllocated <= h.cBlocks,
              h.cbBlock * h.cBlocks >= h.cbDisk else {
            throw .invalid(path: path, message: "the VDI header is not consistent (block size, offsets or counts); "
                + "check the image with qemu-img check before growing it.")
        }
        return h
    }

    /// The block map, checked as `qemu-img check` does plus VirtualBox's layout rule: the allocated entries are
    /// exactly `0..<cBlocksAllocated`, each once, and the file holds them all.
    static func readMap(_ fd: Int32, _ h: Header, path: String) throws(VBoxXMLError) -> [UInt32] {
        // The header's counts say how much to allocate: believe them only as far as the file backs them.
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: path, operation: "inspect it", reason: FileIO.describe(errno)) }
        guard UInt64(st.st_size) >= h.offBlocks + 4 * h.cBlocks else {
            throw .invalid(path: path, message: "the file (\(st.st_size) bytes) ends before its block map of \(h.cBlocks) "
                + "entries at offset \(h.offBlocks); the image is truncated or its header is damaged. vmprov does not grow it.")
        }
        var raw = [UInt8](repeating: 0, count: Int(4 * h.cBlocks))
        try readAt(fd, &raw, h.offBlocks, path: path, what: "read the block map")
        var map = [UInt32](repeating: 0, count: Int(h.cBlocks))
        var seen = [Bool](repeating: false, count: Int(h.cAllocated))
        var count: UInt64 = 0
        for i in 0..<map.count {
            let v = UInt32(raw[4 * i]) | UInt32(raw[4 * i + 1]) << 8 | UInt32(raw[4 * i + 2]) << 16 | UInt32(raw[4 * i + 3]) << 24
            map[i] = v
            guard v < 0xFFFF_FFFE else { continue }
            guard UInt64(v) < h.cAllocated, !seen[Int(v)] else {
                throw .invalid(path: path, message: "block map entry \(i) (\(v)) is out of range or used twice; the image "
                    + "is damaged. Check it with qemu-img check; vmprov does not grow it.")
            }
            seen[Int(v)] = true
            count += 1
        }
        guard count == h.cAllocated else {
            throw .invalid(path: path, message: "the header counts \(h.cAllocated) allocated blocks but the map has "
                + "\(count); check the image with qemu-img check.")
        }
        guard UInt64(st.st_size) >= h.offData + h.cAllocated * h.cbBlock else {
            throw .invalid(path: path, message: "the file is shorter than its \(h.cAllocated) allocated blocks; the image "
                + "is truncated. vmprov does not grow it.")
        }
        return map
    }

    static func setSize(_ h: inout Header, _ size: UInt64, blocks: UInt64) {
        h.set64(size, 0x170)
        h.set32(UInt32(blocks), 0x180)
        // LCHS (v1+): VDResize recomputes the cylinders when a geometry is set; 0/0/0 ("auto") stays.
        if h.cbHeader >= 400 {
            let heads = UInt64(h.u32(0x1C8 + 4)), sectors = UInt64(h.u32(0x1C8 + 8))
            if heads > 0, sectors > 0 {
                h.set32(UInt32(min(size / 512 / heads / sectors, UInt64(UInt32.max))), 0x1C8)
            }
        }
    }

    static func readAt(_ fd: Int32, _ buffer: inout [UInt8], _ offset: UInt64, path: String,
                       what: String) throws(VBoxXMLError) {
        let n = buffer.withUnsafeMutableBytes { FileIO.readFully(fd: fd, into: $0, at: Int64(offset)) }
        if n < 0 { throw .io(path: path, operation: what, reason: FileIO.describe(errno)) }
        if n < buffer.count { throw .invalid(path: path, message: "the file ends early (\(what)); the image is truncated.") }
    }

    static func writeAt(_ fd: Int32, _ bytes: [UInt8], _ offset: UInt64, path: String,
                        what: String) throws(VBoxXMLError) {
        if let e = FileIO.writeAll(fd: fd, bytes, at: Int64(offset)) {
            throw .io(path: path, operation: what, reason: FileIO.describe(e))
        }
    }

    static func sync(_ fd: Int32, _ path: String) throws(VBoxXMLError) {
        guard fsync(fd) == 0 else { throw .io(path: path, operation: "sync it", reason: FileIO.describe(errno)) }
    }
}
