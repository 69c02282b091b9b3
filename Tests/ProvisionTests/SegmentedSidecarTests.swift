import Foundation
import Provision
import Testing
import TestSupport

/// The `vmprov-partial 2` sidecar of a segmented part: its missing ranges are honoured by a segmented resume and by
/// a one-stream resume (which continues only from the first hole), and a malformed list restarts from zero.
@Suite("Segmented sidecar", .serialized)
struct SegmentedSidecarTests {
    static let payload = randomData(2 << 20)
    static let digest = Digest(algorithm: .sha256, hex: (try? sha256sum(payload)) ?? "")

    /// A part whose first MiB is right and whose second MiB is garbage, with a sidecar saying the second is missing.
    func plant(_ dest: String, url: String, missing: String) throws {
        var part = Self.payload
        part.replaceSubrange((1 << 20)..<(2 << 20), with: Data(repeating: 0xEE, count: 1 << 20))
        try part.write(to: URL(fileURLWithPath: dest + ".partial"))
        let info = "vmprov-partial 2\nurl=\(url)\nvalidator=\ndigest=\(Self.digest.description)\nsize=\(Self.payload.count)\n"
            + "missing=\(missing)\n"
        try Data(info.utf8).write(to: URL(fileURLWithPath: dest + ".partial.info"))
    }

    @Test(arguments: [1, 4])
    func aSegmentedPartResumesFromItsHoles(connections: Int) throws {
        let nginx = try NginxServer()
        nginx.add("a.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("a.iso").path
        let url = "\(nginx.base)/a.iso"
        // Missing: 1 MiB - 1.5 MiB and 1.5 MiB - 2 MiB (two open ranges; the garbage is all inside them).
        try plant(dest, url: url, missing: "1048576-1572863,1572864-2097151")
        var o = testOptions()
        o.connections = connections
        o.segmentBytes = 256 << 10
        let r = try Downloader(options: o).fetch(DownloadRequest(urls: [url], destination: dest, expected: Self.digest))
        #expect(r.resumedFrom == 1 << 20)
        #expect(r.bytesTransferred == 1 << 20)
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
        #expect(leftovers(out) == ["a.iso"])
    }

    @Test(arguments: ["1048576-2097152", "2-1,5-9", "1048576-", "x", "0-10,5-20"])
    func aMalformedMissingListRestartsFromZero(missing: String) throws {
        let nginx = try NginxServer()
        nginx.add("a.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("a.iso").path
        let url = "\(nginx.base)/a.iso"
        try plant(dest, url: url, missing: missing)
        let notes = NoteBox()
        var o = testOptions()
        o.connections = 4
        o.segmentBytes = 256 << 10
        o.onNote = { notes.add($0) }
        let r = try Downloader(options: o).fetch(DownloadRequest(urls: [url], destination: dest, expected: Self.digest))
        #expect(r.resumedFrom == 0)
        #expect(notes.all.contains { $0.contains("missing ranges") }, "\(notes.all)")
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
    }
}

/// Notes collected from the downloader's callback.
final class NoteBox: @unchecked Sendable {
    private let lock = NSLock()
    private var notes: [String] = []
    func add(_ s: String) { lock.lock(); notes.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return notes }
}
