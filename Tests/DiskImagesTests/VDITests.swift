import Foundation
import Testing
import TestSupport
import Basics
import DiskImages
import VBoxXML

@Suite("VDI writer")
struct VDITests {
    static let uuid = VBoxUUID("6d1f9c2e-8a47-4b6e-9f1e-2b3c4d5e6f70")!

    @Test func headerMatchesTheReferenceLayout() throws {
        let layout = try VDIWriter.layout(size: 64 << 20)
        #expect(layout.blocks == 64 && layout.offBlocks == 0x100000 && layout.offData == 0x200000)
        let h = VDIWriter.header(layout: layout, uuid: Self.uuid, modification: VBoxUUID("11111111-2222-4333-8444-555555555555")!)
        #expect(Array(h[0x40..<0x48]) == [0x7f, 0x10, 0xda, 0xbe, 0x01, 0x00, 0x01, 0x00])
        #expect(Array(h[0x48..<0x4C]) == [0x90, 0x01, 0, 0])  // 400
        #expect(Array(h[0x188..<0x198]) == [0x2e, 0x9c, 0x1f, 0x6d, 0x47, 0x8a, 0x6e, 0x4b, 0x9f, 0x1e, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f, 0x70])
        #expect(String(decoding: h[0..<37], as: UTF8.self) == "<<< Oracle VirtualBox Disk Image >>>\n")
        #expect(try VDIWriter.layout(size: 300 << 30).offData == 0x300000)
        #expect(try VDIWriter.layout(size: (10 << 20) + 512).blocks == 11)
    }

    @Test func badSizesAreRefused() {
        for size: UInt64 in [0, 512, (1 << 20) - 512, (1 << 20) + 1, 1 << 52] {
            #expect(throws: VBoxXMLError.self, "\(size)") { try VDIWriter.layout(size: size) }
        }
    }

    @Test(arguments: [UInt64(1) << 20, UInt64(10 << 20) + 512, UInt64(64) << 30, UInt64(2) << 40] as [UInt64])
    func qemuImgAcceptsIt(size: UInt64) throws {
        guard let qemu = which("qemu-img") else {
            Issue.record("qemu-img is not installed (scripts/install-deps installs qemu-utils)")
            return
        }
        let dir = TempDir()
        let path = dir.file("d.vdi").path
        let started = Date()
        try VDIWriter.create(path: path, size: size, uuid: Self.uuid)
        #expect(Date().timeIntervalSince(started) < 5)
        let check = try run(qemu, ["check", "-f", "vdi", path])
        #expect(check.status == 0 && check.stdout.contains("No errors were found"), "\(check.output)")
        let info = try run(qemu, ["info", "--output=json", "-f", "vdi", path])
        #expect(info.stdout.contains("\"virtual-size\": \(size)"), "\(info.stdout)")
        #expect(info.stdout.contains("\"cluster-size\": 1048576"))
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        let layout = try VDIWriter.layout(size: size)
        #expect((attrs[.size] as? Int) == Int(layout.offData))
        // Sparse: what is on disk is the header and the block map, a few MiB at most even for 2 TiB.
        var st = stat()
        stat(path, &st)
        #expect(Int(st.st_blocks) * 512 <= Int(layout.offData) && Int(st.st_blocks) * 512 < 16 << 20)
        #expect(VDIHeader.creationUUID(path: path) == Self.uuid)
        // Writing through qemu keeps the image valid and the UUID unchanged.
        if size == 64 << 30, let io = which("qemu-io") {
            #expect(try run(io, ["-f", "vdi", "-c", "write -P 0xab 3M 4k", path]).status == 0)
            #expect(try run(qemu, ["check", "-f", "vdi", path]).status == 0)
            #expect(VDIHeader.creationUUID(path: path) == Self.uuid)
        }
    }

    @Test func sizeText() {
        #expect(SizeText.parse("512M") == 512 << 20)
        #expect(SizeText.parse("64G") == 64 << 30)
        #expect(SizeText.parse("2T") == 2 << 40)
        #expect(SizeText.parse("2048") == 2048 << 20)
        #expect(SizeText.parse("25GiB") == 25 << 30)
        #expect(SizeText.parse("-5G") == nil && SizeText.parse("x") == nil && SizeText.parse("") == nil)
    }

    @Test func uuidRoundTrips() {
        let u = VBoxUUID.random()
        #expect(VBoxUUID(u.braced) == u && VBoxUUID(u.description.uppercased()) == u)
        #expect(u.description.count == 36 && Array(u.description)[14] == "4")
        #expect(VBoxUUID(iprtBytes: u.iprtBytes) == u)
        #expect(VBoxUUID("not-a-uuid") == nil)
        #expect(VBoxUUID("00000000-0000-0000-0000-000000000000")!.isZero)
    }
}
