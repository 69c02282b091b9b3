import Foundation
import Provision
import Testing
import TestSupport

/// Checksum files as publishers and mirrors really write them.
@Suite("Checksum files as served")
struct ChecksumFormatTests {
    static let a = String(repeating: "a", count: 64)
    static let b = String(repeating: "b", count: 64)

    @Test func byteOrderMarkAndCRLF() throws {
        let f = try ChecksumFile(text: "\u{FEFF}\(Self.a)  first.iso\r\n\(Self.b) *second.iso\r\n", source: "SUMS")
        #expect(try f.digest(for: "first.iso").hex == Self.a, "the first line keeps its entry after a BOM")
        #expect(try f.digest(for: "second.iso").hex == Self.b)
        let bsd = try ChecksumFile(text: "\u{FEFF}SHA256 (x.iso) = \(Self.a)\r\n", source: "CHECKSUM")
        #expect(try bsd.digest(for: "x.iso").hex == Self.a)
    }

    @Test func subFoldersMatchRelativeToTheChecksumFilesFolder() throws {
        let f = try ChecksumFile(text: "\(Self.a)  ./netboot/mini.iso\n\(Self.b)  ./hd-media/mini.iso\n", source: "SUMS")
        #expect(try f.digest(for: "mini.iso", relativePath: "netboot/mini.iso").hex == Self.a)
        #expect(try f.digest(for: "mini.iso", relativePath: "hd-media/mini.iso").hex == Self.b)
        // Without knowing the folder, two different files of that name are contradictory, never a guess.
        #expect(throws: ChecksumError.self) { try f.digest(for: "mini.iso") }
        // A plain name beside the file wins over a same-named file in a sub-folder.
        let g = try ChecksumFile(text: "\(Self.b)  sub/x.iso\n\(Self.a)  x.iso\n", source: "SUMS")
        #expect(try g.digest(for: "x.iso", relativePath: "x.iso").hex == Self.a)
    }

    /// A download beside the checksum file is never matched with a same-named file in a sub-folder
    /// (`evil/ubuntu.iso` is not `ubuntu.iso`), nor with a name that merely starts or ends like it.
    @Test func aKnownPlaceIsNeverMatchedWithAnotherFoldersFile() throws {
        let f = try ChecksumFile(text: "\(Self.b)  evil/ubuntu.iso\n\(Self.a)  ubuntu.iso.torrent\n\(Self.a)  xubuntu.iso\n",
                                 source: "SUMS")
        #expect(throws: ChecksumError.self) { try f.digest(for: "ubuntu.iso", relativePath: "ubuntu.iso") }
        #expect(throws: ChecksumError.self) { try f.digest(for: "ubuntu.iso", relativePath: "other/ubuntu.iso") }
        #expect(try f.digest(for: "ubuntu.iso", relativePath: "evil/ubuntu.iso").hex == Self.b)
        // Where the download is not below the checksum file's folder, its one same-named entry still serves.
        #expect(try f.digest(for: "ubuntu.iso").hex == Self.b)
    }

    @Test func aBareDigestServesOneDownload() throws {
        let f = try ChecksumFile(text: "\(Self.a.uppercased())\n", source: "disk.iso.sha256")
        #expect(f.entries.isEmpty && f.bareDigest?.hex == Self.a)
        #expect(try f.digest(for: "anything.iso").hex == Self.a)
        // Two bare digests, or a bare digest among named lines, name nothing reliably.
        #expect(throws: ChecksumError.self) { try ChecksumFile(text: "\(Self.a)\n\(Self.b)\n", source: "S") }
        let mixed = try ChecksumFile(text: "\(Self.a)\n\(Self.b)  x.iso\n", source: "S")
        #expect(mixed.bareDigest == nil && (try? mixed.digest(for: "y.iso")) == nil)
    }

    @Test func onlyTheSignedBodyOfAClearsignedFileCounts() throws {
        let text = """
        \(Self.b)  evil.iso
        -----BEGIN PGP SIGNED MESSAGE-----
        Hash: SHA256

        \(Self.a)  good.iso
        -----BEGIN PGP SIGNATURE-----

        iQEzBAEBCAAdFiEE
        -----END PGP SIGNATURE-----
        \(Self.b)  also-evil.iso

        """
        let f = try ChecksumFile(text: text, source: "CHECKSUM")
        #expect(f.isClearsigned)
        #expect(f.names == ["good.iso"])
        #expect(throws: ChecksumError.self) { try f.digest(for: "evil.iso") }
        #expect(throws: ChecksumError.self) { try f.digest(for: "also-evil.iso") }
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus"))
    func everyRealFileStillParsesWithBOMAndCRLF() throws {
        let corpus = try #require(TestPaths.corpus)
        for p in ["debian/11.2.0-amd64-iso-dvd/SHA256SUMS", "rocky/9.4-isos-x86_64/CHECKSUM", "virtualbox/5.1.28/MD5SUMS",
                  "fedora/37/iso/Fedora-Server-37-1.7-x86_64-CHECKSUM"] {
            let text = String(decoding: bytes(corpus.appendingPathComponent("checksums/" + p)), as: UTF8.self)
            let plain = try ChecksumFile(text: text, source: p)
            let mangled = try ChecksumFile(text: "\u{FEFF}" + text.replacingOccurrences(of: "\n", with: "\r\n"), source: p)
            #expect(plain.entries == mangled.entries, "\(p)")
        }
    }
}
