import Foundation
import Testing
import TestSupport
import Basics
import DiskImages
import VBoxXML

/// grow-disk's library part, checked with qemu-img and qemu-io (real qemu, VDI driver block/vdi.c).
@Suite("VDI grower")
struct VDIGrowTests {
    static let uuid = VBoxUUID("6d1f9c2e-8a47-4b6e-9f1e-2b3c4d5e6f70")!

    static func tool(_ name: String) throws -> String {
        try #require(which(name), "\(name) is not installed (scripts/install-deps installs qemu-utils)")
    }

    static func qemuIO(_ path: String, _ commands: [String]) throws -> RunResult {
        var args = ["-f", "vdi"]
        for c in commands { args += ["-c", c] }
        return try run(try tool("qemu-io"), args + [path])
    }

    static func expectClean(_ path: String, size: UInt64, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let check = try run(try tool("qemu-img"), ["check", "-f", "vdi", path])
        #expect(check.status == 0 && check.stdout.contains("No errors were found"), "\(check.output)", sourceLocation: sourceLocation)
        let info = try run(try tool("qemu-img"), ["info", "-f", "vdi", "--output=json", path])
        #expect(info.stdout.contains("\"virtual-size\": \(size)"), "\(info.stdout)", sourceLocation: sourceLocation)
    }

    /// Writes recognisable patterns at `offsets` (in MiB) and returns the qemu-io commands that read them back.
    static func writePatterns(_ path: String, mib offsets: [UInt64]) throws -> [String] {
        var reads: [String] = []
        var writes: [String] = []
        for (n, off) in offsets.enumerated() {
            let pattern = 0xA0 + n % 0x50
            writes.append("write -P \(pattern) \(off)M 64k")
            reads.append("read -P \(pattern) \(off)M 64k")
        }
        let w = try qemuIO(path, writes)
        #expect(w.status == 0 && !w.output.contains("failed"), "\(w.output)")
        return reads
    }

    static func expectReads(_ path: String, _ reads: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try qemuIO(path, reads)
        #expect(r.status == 0 && !r.output.contains("Pattern verification failed") && !r.output.contains("failed"),
                "\(r.output)", sourceLocation: sourceLocation)
    }

    enum Maker { case qemu, vmprov }

    static func make(_ maker: Maker, _ dir: TempDir, _ name: String, size: UInt64) throws -> String {
        let path = dir.file(name).path
        switch maker {
        case .qemu:
            let r = try run(try tool("qemu-img"), ["create", "-f", "vdi", path, String(size)])
            #expect(r.status == 0, "\(r.output)")
        case .vmprov:
            try VDIWriter.create(path: path, size: size, uuid: uuid)
        }
        return path
    }

    /// (maker, old size, new size, MiB offsets written): in place and with blocks moved, few and many blocks.
    static let cases: [(Maker, UInt64, UInt64, [UInt64])] = [
        (.qemu, 64 << 20, 300 << 20, [0, 3, 17, 63]),          // qemu's 512-byte layout: blocks move
        (.qemu, 64 << 20, 1 << 40, [5]),                         // one block, grown by a large factor (VirtualBox's cap defect)
        (.vmprov, 20 << 30, 256 << 30, [0, 1, 4095, 20479]),     // VirtualBox layout: map fits, nothing moves
        (.vmprov, 20 << 30, 300 << 30, [0, 1, 2, 4095, 20479]), // map outgrows 1 MiB: a block moves
        (.vmprov, 64 << 20, 2 << 40, [0, 2, 63]),                // up to 2 TiB
    ]

    @Test(arguments: 0..<cases.count)
    func growKeepsDataAndNewSpaceReadsZero(index: Int) throws {
        let (maker, old, new, offsets) = Self.cases[index]
        let dir = TempDir()
        let path = try Self.make(maker, dir, "d.vdi", size: old)
        let reads = try Self.writePatterns(path, mib: offsets)
        let before = dir.file("before.vdi").path
        try FileManager.default.copyItem(atPath: path, toPath: before)
        let headerUUID = VDIHeader.creationUUID(path: path)
        let outcome = try VDIGrower.grow(path: path, to: new)
        #expect(outcome.oldSize == old && outcome.newSize == new)
        try Self.expectClean(path, size: new)
        try Self.expectReads(path, reads)
        #expect(VDIHeader.creationUUID(path: path) == headerUUID)
        // The new space reads as zeros, and takes writes.
        let tail = try Self.qemuIO(path, ["read -P 0 \(new - (1 << 20)) 1M", "write -P 0x5a \(new - (1 << 20)) 4k",
                                          "read -P 0x5a \(new - (1 << 20)) 4k"])
        #expect(tail.status == 0 && !tail.output.contains("failed"), "\(tail.output)")
        try Self.expectReads(path, reads)
        try Self.expectClean(path, size: new)
        // The whole old content is unchanged and everything past it is zero (qemu-img compare, non-strict).
        let cmp = try run(try Self.tool("qemu-img"), ["compare", "-f", "vdi", "-F", "vdi", before, path])
        #expect(cmp.status == 1 && cmp.stdout.contains("Content mismatch at offset \(new - (1 << 20))"), "\(cmp.output)")
        // Growing to the same size again changes nothing.
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(try VDIGrower.grow(path: path, to: new).movedBlocks == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == size)
    }

    @Test func rawImageIsOldRawPlusZeros() throws {
        let qemuImg = try Self.tool("qemu-img")
        let dir = TempDir()
        let path = try Self.make(.qemu, dir, "d.vdi", size: 64 << 20)
        _ = try Self.writePatterns(path, mib: [0, 1, 30, 63])
        #expect(try run(qemuImg, ["convert", "-f", "vdi", "-O", "raw", path, dir.file("old.raw").path]).status == 0)
        let outcome = try VDIGrower.grow(path: path, to: 300 << 20)
        #expect(outcome.movedBlocks > 0)
        #expect(try run(qemuImg, ["convert", "-f", "vdi", "-O", "raw", path, dir.file("new.raw").path]).status == 0)
        let old = try Data(contentsOf: dir.file("old.raw"))
        let new = try Data(contentsOf: dir.file("new.raw"))
        #expect(new.count == 300 << 20)
        #expect(new.prefix(old.count) == old)
        #expect(new.dropFirst(old.count).allSatisfy { $0 == 0 })
    }

    @Test func refusals() throws {
        let qemuImg = try Self.tool("qemu-img")
        let dir = TempDir()
        // Fixed-size image.
        let fixed = dir.file("fixed.vdi").path
        #expect(try run(qemuImg, ["create", "-f", "vdi", "-o", "static=on", fixed, "8M"]).status == 0)
        let fixedBefore = bytes(dir.file("fixed.vdi"))
        #expect { try VDIGrower.grow(path: fixed, to: 16 << 20) } throws: { "\($0)".contains("fixed-size") }
        #expect(bytes(dir.file("fixed.vdi")) == fixedBefore)
        // Shrinking and a size that is not a multiple of 512.
        let path = try Self.make(.vmprov, dir, "d.vdi", size: 64 << 20)
        let before = bytes(dir.file("d.vdi"))
        #expect { try VDIGrower.grow(path: path, to: 32 << 20) } throws: { "\($0)".contains("shrinking") }
        #expect { try VDIGrower.grow(path: path, to: (128 << 20) + 1) } throws: { "\($0)".contains("multiple of 512") }
        #expect(bytes(dir.file("d.vdi")) == before)
        // A differencing image (type 4, parent UUID set).
        var diff = [UInt8](before)
        diff[0x4C] = 4
        for i in 0x1A8..<0x1B8 { diff[i] = 0x11 }
        let diffURL = dir.write("diff.vdi", bytes: Data(diff))
        #expect { try VDIGrower.grow(path: diffURL.path, to: 128 << 20) } throws: { "\($0)".contains("differencing") }
        #expect(bytes(diffURL) == Data(diff))
        // Not a VDI at all.
        let text = dir.write("x.vdi", String(repeating: "x", count: 4096))
        #expect { try VDIGrower.grow(path: text.path, to: 128 << 20) } throws: { "\($0)".contains("not a VDI") }
        // A damaged map (an entry used twice) is refused, not grown.
        _ = try Self.writePatterns(path, mib: [0, 1])
        var damaged = [UInt8](bytes(dir.file("d.vdi")))
        damaged[0x100000 + 4] = damaged[0x100000]  // entry 1 = entry 0
        let damagedURL = dir.write("damaged.vdi", bytes: Data(damaged))
        #expect { try VDIGrower.grow(path: damagedURL.path, to: 128 << 20) } throws: { "\($0)".contains("used twice") }
        #expect(bytes(damagedURL) == Data(damaged))
    }

    /// A journal from an interrupted relocation is completed by the next grow (here: the process "died" right
    /// after the journal; the fault hook throws out of grow through a flag).
    @Test func interruptedRelocationIsCompletedFromTheJournal() throws {
        let dir = TempDir()
        let path = try Self.make(.qemu, dir, "d.vdi", size: 64 << 20)
        let reads = try Self.writePatterns(path, mib: [0, 1, 2, 40])
        // Simulate the crash after the map was rewritten: copy the file at that moment.
        let snapshot = dir.file("at-step3.vdi").path
        try VDIGrower.grow(path: path, to: 512 << 20) { step in
            if step == .mapWritten {
                try? FileManager.default.copyItem(atPath: path, toPath: snapshot)
                try? FileManager.default.copyItem(atPath: VDIGrower.journalPath(path),
                                                  toPath: VDIGrower.journalPath(snapshot))
            }
        }
        try Self.expectClean(path, size: 512 << 20)
        #expect(!FileManager.default.fileExists(atPath: VDIGrower.journalPath(path)))
        // The copy is the state a kill there leaves: sealed, so qemu does not open it (no valid-looking wrong data);
        // the next grow completes it first.
        let sealed = try run(try Self.tool("qemu-img"), ["check", "-f", "vdi", snapshot])
        #expect(sealed.status != 0, "\(sealed.output)")
        // Without its journal it is refused with a message that says so.
        let journal = VDIGrower.journalPath(snapshot)
        try FileManager.default.moveItem(atPath: journal, toPath: journal + ".aside")
        #expect { try VDIGrower.grow(path: snapshot, to: 512 << 20) } throws: { "\($0)".contains("journal") }
        try FileManager.default.moveItem(atPath: journal + ".aside", toPath: journal)
        let outcome = try VDIGrower.grow(path: snapshot, to: 512 << 20)
        #expect(outcome.recovered)
        try Self.expectClean(snapshot, size: 512 << 20)
        try Self.expectReads(snapshot, reads)
        #expect(!FileManager.default.fileExists(atPath: VDIGrower.journalPath(snapshot)))
    }

    static func put32(_ b: inout [UInt8], _ v: UInt32, at: Int) {
        for k in 0..<4 { b[at + k] = UInt8((v >> (8 * UInt32(k))) & 0xFF) }
    }

    /// A header that counts more blocks than its size needs (VirtualBox accepts it: cbBlock·cBlocks ≥ cbDisk) is
    /// grown without shortening its map: the old code computed the new count from the size alone and trapped on
    /// `newBlocks - oldBlocks` (or indexed past the new map when blocks moved).
    @Test func headerWithSpareBlocksGrowsWithoutLosingEntries() throws {
        let dir = TempDir()
        let path = try Self.make(.vmprov, dir, "d.vdi", size: 64 << 20)
        let reads = try Self.writePatterns(path, mib: [0, 63])
        var b = [UInt8](bytes(dir.file("d.vdi")))
        Self.put32(&b, 80, at: 0x180)  // cBlocks 80 for a 64 MiB disk; entries 64..79 are 0xFFFFFFFF already
        for i in (0x100000 + 4 * 64)..<(0x100000 + 4 * 80) { b[i] = 0xFF }
        let url = dir.write("spare.vdi", bytes: Data(b))
        let outcome = try VDIGrower.grow(path: url.path, to: 65 << 20)
        #expect(outcome.newSize == 65 << 20)
        let after = [UInt8](bytes(url))
        #expect(after[0x180] == 80 && after[0x181] == 0, "cBlocks must stay 80")
        try Self.expectReads(url.path, reads)
        // The relocating path with the same header.
        let url2 = dir.write("spare2.vdi", bytes: Data(b))
        try VDIGrower.grow(path: url2.path, to: 300 << 30)
        try Self.expectClean(url2.path, size: 300 << 30)
        try Self.expectReads(url2.path, reads)
    }

    /// Counts in a crafted header are believed only as far as the file backs them: a 512-byte file claiming a
    /// 4 GiB block map is refused before anything that large is allocated (the old code allocated 8 GiB first).
    @Test func headerClaimingAMapPastTheEndIsRefusedBeforeAllocating() throws {
        let dir = TempDir()
        let path = try Self.make(.vmprov, dir, "d.vdi", size: 64 << 20)
        var b = Array([UInt8](bytes(URL(fileURLWithPath: path)))[0..<512])
        let blocks: UInt32 = 0x3FF0_0000
        Self.put32(&b, blocks, at: 0x180)
        Self.put32(&b, 0xFFF0_0000, at: 0x158)  // offData past the claimed map
        for k in 0..<8 { b[0x170 + k] = UInt8((UInt64(blocks) << 20) >> (8 * UInt64(k)) & 0xFF) }
        let url = dir.write("claims.vdi", bytes: Data(b))
        #expect { try VDIGrower.grow(path: url.path, to: (UInt64(blocks) + 1) << 20) } throws: { "\($0)".contains("ends before its block map") }
        #expect(bytes(url) == Data(b))
    }

    /// The journal is read only as a plain file of bounded size: a symlink there (to /dev/zero, which never
    /// ends) is refused, not followed, and the image is unchanged.
    @Test func journalSymlinkIsNotFollowed() throws {
        let dir = TempDir()
        let path = try Self.make(.vmprov, dir, "d.vdi", size: 64 << 20)
        let before = bytes(URL(fileURLWithPath: path))
        try FileManager.default.createSymbolicLink(atPath: VDIGrower.journalPath(path), withDestinationPath: "/dev/zero")
        #expect { try VDIGrower.grow(path: path, to: 128 << 20) } throws: { "\($0)".contains("symlink") }
        #expect(bytes(URL(fileURLWithPath: path)) == before)
        // A FIFO there would block a plain read for ever.
        unlink(VDIGrower.journalPath(path))
        #expect(mkfifo(VDIGrower.journalPath(path), 0o600) == 0)
        #expect { try VDIGrower.grow(path: path, to: 128 << 20) } throws: { "\($0)".contains("not a regular file") }
        #expect(bytes(URL(fileURLWithPath: path)) == before)
    }
}
