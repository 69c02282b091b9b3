import DiskImages
import Foundation
import Testing
import TestSupport

/// Seed images written by libarchive, read back by independent readers: blkid, isoinfo, xorriso, pycdlib, and
/// libarchive's own reader (`ISOReader`).
@Suite struct SeedImageTests {
    static let userData = "#cloud-config\nautoinstall:\n  version: 1\n"
    static let metaData = "instance-id: vmprov-3b9f5a10\n"
    static let binary: [UInt8] = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    static var cidata: SeedImage {
        SeedImage(label: "cidata", files: [
            .init(path: "user-data", text: userData),
            .init(path: "meta-data", text: metaData),
            .init(path: "scripts/late/vmprov-post-install.sh", text: "#!/bin/sh\necho done\n"),
            .init(path: "payload.bin", bytes: binary),
            .init(path: "empty", bytes: []),
        ])
    }

    func tool(_ name: String) throws -> String {
        try #require(which(name), "\(name) is missing: run scripts/install-deps")
    }

    @Test func blkidReportsLabelAndType() throws {
        let dir = TempDir()
        let iso = dir.file("seed.iso").path
        try Self.cidata.write(to: iso)
        let r = try run(try tool("blkid"), ["-p", "-o", "export", iso])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("\nLABEL=cidata\n"), "\(r.stdout)")
        #expect(r.stdout.contains("\nTYPE=iso9660\n"), "\(r.stdout)")
        let oem = dir.file("oem.iso").path
        try SeedImage(label: "OEMDRV", files: [.init(path: "ks.cfg", text: "text\n")]).write(to: oem)
        let r2 = try run(try tool("blkid"), ["-p", "-o", "export", oem])
        #expect(r2.stdout.contains("\nLABEL=OEMDRV\n"), "\(r2.stdout)")
    }

    @Test func isoinfoSeesVolumeRockRidgeAndJoliet() throws {
        let dir = TempDir()
        let iso = dir.file("seed.iso").path
        try Self.cidata.write(to: iso)
        let isoinfo = try tool("isoinfo")
        let d = try run(isoinfo, ["-d", "-i", iso])
        #expect(d.status == 0, "\(d.output)")
        #expect(d.stdout.contains("Volume id: CIDATA"), "\(d.stdout)")
        #expect(d.stdout.contains("Joliet with UCS level 3 found"), "\(d.stdout)")
        #expect(d.stdout.contains("Rock Ridge signatures version 1 found"), "\(d.stdout)")
        for flag in ["-R", "-J"] {
            let f = try run(isoinfo, ["-f", flag, "-i", iso])
            #expect(f.status == 0, "\(f.output)")
            let names = Set(f.stdout.split(separator: "\n").map(String.init))
            for want in ["/user-data", "/meta-data", "/scripts/late/vmprov-post-install.sh", "/payload.bin", "/empty"] {
                #expect(names.contains(want), "isoinfo \(flag) lacks \(want): \(f.stdout)")
            }
        }
        // Extract through Rock Ridge with isoinfo too.
        let x = try run(isoinfo, ["-R", "-i", iso, "-x", "/user-data"])
        #expect(x.stdout == Self.userData)
    }

    @Test func xorrisoFindsEveryFile() throws {
        let dir = TempDir()
        let iso = dir.file("seed.iso").path
        try Self.cidata.write(to: iso)
        let r = try run(try tool("xorriso"), ["-abort_on", "FAILURE", "-indev", iso, "-find", "/", "-type", "f"])
        #expect(r.status == 0, "\(r.output)")
        let found = Set(r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) })
        #expect(found == ["/user-data", "/meta-data", "/scripts/late/vmprov-post-install.sh", "/payload.bin", "/empty"],
                "\(r.stdout)")
        #expect(r.stderr.contains("Volume id    : 'CIDATA'"), "\(r.stderr)")
    }

    /// pycdlib reads each file through Rock Ridge, Joliet and the ISO 9660 names; every byte must match.
    @Test func pycdlibReadsEveryFileByteIdentical() throws {
        let dir = TempDir()
        let iso = dir.file("seed.iso").path
        let image = Self.cidata
        try image.write(to: iso)
        let script = """
        import hashlib, io, json, sys, pycdlib
        iso = pycdlib.PyCdlib(); iso.open(sys.argv[1]); out = {}
        for kind in ("rr_path", "joliet_path"):
            for path in sys.argv[2:]:
                buf = io.BytesIO(); iso.get_file_from_iso_fp(buf, **{kind: "/" + path})
                out[kind + ":" + path] = hashlib.sha256(buf.getvalue()).hexdigest()
        print(json.dumps({"rr": bool(iso.has_rock_ridge()), "joliet": iso.has_joliet(), "files": out}))
        """
        // Debian's python3-pycdlib lives in the system interpreter (a pyenv python3 may come first on PATH).
        let r = try run("/usr/bin/python3", ["-c", script, iso] + image.files.map(\.path))
        #expect(r.status == 0, "\(r.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["rr"] as? Bool == true, "pycdlib sees Rock Ridge")
        #expect(json["joliet"] as? Bool == true)
        let hashes = try #require(json["files"] as? [String: String])
        for file in image.files {
            let want = sha256Hex(file.bytes)
            #expect(hashes["rr_path:" + file.path] == want, "Rock Ridge \(file.path)")
            #expect(hashes["joliet_path:" + file.path] == want, "Joliet \(file.path)")
        }
    }

    @Test func libarchiveReaderListsAndExtracts() throws {
        let dir = TempDir()
        let iso = dir.file("seed.iso").path
        let image = Self.cidata
        try image.write(to: iso)
        let entries = try ISOReader.list(iso)
        #expect(Set(entries.filter { !$0.isDirectory }.map(\.path)) == Set(image.files.map(\.path)))
        #expect(entries.contains { $0.path == "scripts/late" && $0.isDirectory })
        let got = try ISOReader.read(iso, members: ["/user-data", "./payload.bin", "empty", "absent"])
        #expect(got["user-data"] == Array(Self.userData.utf8))
        #expect(got["payload.bin"] == Self.binary)
        #expect(got["empty"] == [])
        #expect(got["absent"] == nil)
        #expect(throws: DiskImageError.self) { try ISOReader.read(iso, members: ["payload.bin"], limit: 100) }
    }

    @Test func writeIsAtomicPrivateAndRefusesExistingOrSymlinkedTargets() throws {
        let dir = TempDir()
        let iso = dir.file("seed.iso").path
        try Self.cidata.write(to: iso)
        var st = stat()
        #expect(stat(iso, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600, "seeds carry password hashes: owner-only")
        #expect(st.st_size % 2048 == 0)
        // Exists: refused, file unchanged.
        let before = bytes(URL(fileURLWithPath: iso))
        #expect(throws: DiskImageError.exists(path: iso)) { try Self.cidata.write(to: iso) }
        #expect(bytes(URL(fileURLWithPath: iso)) == before)
        // A symlink at the target is replaced, never followed.
        let victim = dir.write("victim", "keep me")
        let link = dir.file("link.iso").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: victim.path)
        #expect(throws: DiskImageError.exists(path: link)) { try Self.cidata.write(to: link) }
        try Self.cidata.write(to: link, replace: true)
        #expect(String(decoding: bytes(victim), as: UTF8.self) == "keep me")
        #expect(try FileManager.default.attributesOfItem(atPath: link)[.type] as? FileAttributeType == .typeRegular)
        // Nothing but the outputs and the victim remain (no temporary files).
        #expect(leftovers(dir) == ["link.iso", "seed.iso", "victim"])
        // A missing folder: an I/O error naming the path, nothing written.
        let missing = dir.file("no/such/seed.iso").path
        #expect { try Self.cidata.write(to: missing) } throws: { error in
            guard case let DiskImageError.io(path, _, _) = error else { return false }
            return path == missing
        }
    }

    @Test(arguments: [
        ("", "label"), ("a-b", "label"), (String(repeating: "x", count: 33), "label"),
    ]) func badLabelsAreRefused(label: String, _: String) throws {
        let image = SeedImage(label: label, files: [.init(path: "a", text: "x")])
        #expect(throws: DiskImageError.self) { try image.validate() }
    }

    @Test(arguments: ["", "/user-data", "a//b", "a/../b", "./a", "a/", "tab\there", "back\\slash",
                      String(repeating: "n", count: 65), "é"])
    func badPathsAreRefused(path: String) throws {
        let dir = TempDir()
        let image = SeedImage(label: "cidata", files: [.init(path: path, text: "x")])
        #expect(throws: DiskImageError.self) { try image.write(to: dir.file("x.iso").path) }
        #expect(leftovers(dir).isEmpty)
    }

    @Test func duplicateAndFileFolderClashesAreRefused() {
        let dup = SeedImage(label: "cidata", files: [.init(path: "a", text: "1"), .init(path: "a", text: "2")])
        #expect(throws: DiskImageError.self) { try dup.validate() }
        let clash = SeedImage(label: "cidata", files: [.init(path: "a", text: "1"), .init(path: "a/b", text: "2")])
        #expect(throws: DiskImageError.self) { try clash.validate() }
        #expect(throws: DiskImageError.self) { try SeedImage(label: "cidata", files: []).validate() }
    }

    @Test func readerRefusesNonISOAndMissingFiles() throws {
        let dir = TempDir()
        let text = dir.write("not.iso", String(repeating: "not an iso\n", count: 1000))
        #expect(throws: DiskImageError.self) { try ISOReader.list(text.path) }
        #expect { try ISOReader.list(dir.file("missing.iso").path) } throws: { error in
            if case DiskImageError.notFound = error { return true }
            return false
        }
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    let dir = TempDir()
    let f = dir.write("blob", bytes: Data(bytes))
    let r = try? run("/usr/bin/sha256sum", [f.path])
    return String(r?.stdout.prefix(64) ?? "")
}
