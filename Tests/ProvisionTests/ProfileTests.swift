import Foundation
import Provision
import Testing
import TestSupport

@Suite("Profiles")
struct ProfileTests {
    static let shipped = TestPaths.packageRoot.appendingPathComponent("profiles").path

    @Test func everyShippedProfileLoads() throws {
        let catalog = ProfileCatalog(folders: [Self.shipped])
        let results = catalog.loadAll()
        let names = try results.map { try $0.get().name }.sorted()
        #expect(names == ["alma", "alpine", "arch", "custom", "debian", "fedora", "freebsd", "opensuse", "rocky", "ubuntu",
                          "ubuntu-desktop", "windows-server", "windows11"])
        let win = try catalog.load("windows11")
        #expect(win.firmware == .efi && win.tpm && win.secureBoot && win.iso.urls.isEmpty)
        let ubuntu = try catalog.load("ubuntu")
        #expect(ubuntu.isSigned && ubuntu.forwards.first?.guestPort == 22 && ubuntu.diskBytes == 25 << 30)
        #expect(try !catalog.load("rocky").isSigned)
    }

    @Test func extraFoldersComeFirst() throws {
        let dir = TempDir()
        let text = try String(contentsOfFile: Self.shipped + "/ubuntu.yaml", encoding: .utf8)
            .replacingOccurrences(of: "cpus: 2", with: "cpus: 6")
        dir.write("ubuntu.yaml", text)
        let catalog = ProfileCatalog.standard(extra: dir.path)
        #expect(try catalog.load("ubuntu").cpus == 6)
        #expect(catalog.files().contains { $0.name == "debian" })
    }

    static let minimal = """
    name: t
    description: test
    os_type: Ubuntu_64
    firmware: bios
    cpus: 1
    memory_mb: 1024
    disk_size: 8G
    iso:
      urls: [https://example.org/t.iso]
      checksum: file:SHA256SUMS

    """

    @Test func aMinimalProfile() throws {
        let p = try ProfileLoader.parse(Self.minimal, source: "t.yaml")
        #expect(p.graphics == "VMSVGA" && p.storageBus == .sata && p.rdpPort == "3389" && p.forwards.isEmpty)
        #expect(p.installer == nil)
        let rocky = try ProfileLoader.parse(Self.minimal.replacingOccurrences(of: "cpus: 1", with: "cpus: 1\ninstaller: anaconda"),
                                            source: "t.yaml")
        #expect(rocky.installer == .anaconda)
    }

    @Test(arguments: [
        ("cpus: 1", "cpus: 1\ncolour: red", "colour", "unknown key"),
        ("os_type: Ubuntu_64", "os_type: Ubuntu99_64", "os_type", "not a VirtualBox guest OS type"),
        ("disk_size: 8G", "disk_size: -5G", "disk_size", "not a disk size"),
        ("disk_size: 8G", "disk_size: 100K", "disk_size", "at least 1 MiB"),
        ("cpus: 1", "cpus: many", "cpus", "not an integer"),
        ("cpus: 1", "cpus: [1, 2]", "cpus", "must be a"),
        ("memory_mb: 1024", "memory_mb: -1", "memory_mb", "outside"),
        ("firmware: bios", "firmware: uefi", "firmware", "not bios or efi"),
        ("firmware: bios", "firmware: bios\nsecure_boot: true", "secure_boot", "needs firmware: efi"),
        ("  checksum: file:SHA256SUMS", "  checksum: file:SHA256SUMS\n  mirror: x", "iso.mirror", "unknown key"),
        ("  urls: [https://example.org/t.iso]", "  urls: [ftp://example.org/t.iso]", "iso.urls", "not an http(s) URL"),
        ("cpus: 1", "cpus: 1\nforwards:\n  - {name: a, proto: sctp, host_port: 1, guest_port: 2}", "forwards[0]", "proto tcp|udp"),
        ("cpus: 1", "cpus: 1\nrdp_port: \"99999\"", "rdp_port", "outside 1-65535"),
        ("description: test\n", "", "description", "is required"),
        ("  checksum: file:SHA256SUMS", "  checksum: file:SHA256SUMS\n  key_fingerprint: ABCD", "iso.key_fingerprint", "40-hex-digit"),
        ("cpus: 1", "cpus: 1\ninstaller: kickstart", "installer", "not an installer family: give one of ubuntu, debian, anaconda, windows"),
        ("cpus: 1", "cpus: 1\ninstaller: [ubuntu]", "installer", "must be a"),
    ])
    func badProfilesNameTheKey(original: String, replacement: String, key: String, message: String) {
        let text = Self.minimal.replacingOccurrences(of: original, with: replacement)
        do {
            _ = try ProfileLoader.parse(text, source: "bad.yaml")
            Issue.record("accepted: \(replacement)")
        } catch {
            #expect(error.file == "bad.yaml")
            #expect(error.key == key, "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func notYAMLAtAll() {
        #expect(throws: ProfileError.self) { try ProfileLoader.parse("name: [unclosed", source: "x.yaml") }
        #expect(throws: ProfileError.self) { try ProfileLoader.parse("- a list\n", source: "x.yaml") }
    }

    @Test func keyFingerprintsAreComputedFromTheKeyMaterial() throws {
        let key = try TestKey()
        #expect(OpenPGPKeys.primaryFingerprints(Array(bytes(key.publicKey))) == [key.fingerprint])
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (key fingerprints)"))
    func realKeyFingerprints() throws {
        let corpus = try #require(TestPaths.corpus)
        let keys = corpus.appendingPathComponent("checksums/_keys")
        #expect(OpenPGPKeys.primaryFingerprints(Array(bytes(keys.appendingPathComponent("debian-cd-signing-key-DF9B9C49.asc"))))
            .contains("DF9B9C49EAA9298432589D76DA87E80D6294BE9B"))
        #expect(OpenPGPKeys.primaryFingerprints(Array(bytes(keys.appendingPathComponent("ubuntu-keyring-2012-cdimage.gpg"))))
            .contains("843938DF228D22F7B3742BC0D94AA3F0EFE21092"))
        #expect(OpenPGPKeys.primaryFingerprints(Array("not a key".utf8)).isEmpty)
    }

    static let release = """
    name: t
    description: test
    os_type: Debian_64
    firmware: bios
    cpus: 1
    memory_mb: 1024
    disk_size: 8G
    iso:
      mirrors: [https://example.org/]
      folder: debian-cd/current/amd64/iso-cd/
      archive: ["cdimage/archive/{release}/amd64/iso-cd/"]
      pattern: debian-{version}-amd64-netinst.iso
      checksum: file:SHA512SUMS

    """

    @Test func theReleaseForm() throws {
        let p = try ProfileLoader.parse(Self.release, source: "t.yaml")
        #expect(p.iso.isRelease && p.isDownloadable && p.iso.urls.isEmpty && p.iso.archive.count == 1)
    }

    @Test(arguments: [
        ("  pattern: debian-{version}-amd64-netinst.iso", "  pattern: debian-13.7.0-amd64-netinst.iso", "iso.pattern", "exactly one {version}"),
        ("  pattern: debian-{version}-amd64-netinst.iso", "  pattern: a/{version}.iso", "iso.pattern", "exactly one {version}"),
        ("  pattern: debian-{version}-amd64-netinst.iso", "  pattern: \"{version}-{version}.iso\"", "iso.pattern", "exactly one {version}"),
        ("  pattern: debian-{version}-amd64-netinst.iso\n", "", "iso.mirrors", "needs iso.pattern"),
        ("  mirrors: [https://example.org/]\n", "", "iso.mirrors", "is required with iso.pattern"),
        ("  mirrors: [https://example.org/]", "  mirrors: [ftp://example.org/]", "iso.mirrors", "not an http(s) URL"),
        ("  folder: debian-cd/current/amd64/iso-cd/\n", "", "iso.folder", "is required with iso.pattern"),
        ("  folder: debian-cd/current/amd64/iso-cd/", "  folder: ../x/", "iso.folder", "no leading /, no .."),
        ("  checksum: file:SHA512SUMS", "  checksum: sha256:\(String(repeating: "a", count: 64))", "iso.checksum", "must be file:NAME"),
        ("  checksum: file:SHA512SUMS", "  checksum: file:SHA512SUMS\n  urls: [https://example.org/a.iso]", "iso.urls", "not both"),
        ("  archive: [\"cdimage/archive/{release}/amd64/iso-cd/\"]", "  archive: [\"ftp://x/{release}/\"]", "iso.archive", "http(s) URL"),
        ("  archive: [\"cdimage/archive/{release}/amd64/iso-cd/\"]", "  archive: {a: b}", "iso.archive", "must be a list"),
        ("  folder: debian-cd/current/amd64/iso-cd/", "  folder: [a, b]", "iso.folder", "must be a folder path"),
        // A folder or archive folder with a scheme is used as an absolute URL: other schemes are refused at load.
        ("  folder: debian-cd/current/amd64/iso-cd/", "  folder: \"file:///etc/\"", "iso.folder", "no scheme"),
        ("  folder: debian-cd/current/amd64/iso-cd/", "  folder: \"ftp://x/iso/\"", "iso.folder", "no scheme"),
        ("  archive: [\"cdimage/archive/{release}/amd64/iso-cd/\"]", "  archive: [\"file:/etc/{release}/\"]", "iso.archive", "http(s) URL"),
        ("  archive: [\"cdimage/archive/{release}/amd64/iso-cd/\"]", "  archive: [\"gopher:x/{release}/\"]", "iso.archive", "http(s) URL"),
        ("  archive: [\"cdimage/archive/{release}/amd64/iso-cd/\"]", "  archive: [\"/abs/{release}/\"]", "iso.archive", "no leading /"),
    ])
    func badReleaseFormsNameTheKey(original: String, replacement: String, key: String, message: String) {
        let text = Self.release.replacingOccurrences(of: original, with: replacement)
        #expect(text != Self.release)
        do {
            _ = try ProfileLoader.parse(text, source: "bad.yaml")
            Issue.record("accepted: \(replacement)")
        } catch {
            #expect(error.key == key, "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }

    @Test func versionsMatchOnlyDigitsAndDotsAndOrderNumerically() {
        let pattern = "debian-{version}-amd64-netinst.iso"
        #expect(ReleaseResolver.version(of: "debian-13.7.0-amd64-netinst.iso", pattern: pattern) == "13.7.0")
        for other in ["debian-edu-13.7.0-amd64-netinst.iso", "debian-mac-13.7.0-amd64-netinst.iso",
                      "debian-13.7.0-amd64-DVD-1.iso", "debian--amd64-netinst.iso", "debian-13..7-amd64-netinst.iso",
                      "debian-13.7.-amd64-netinst.iso", "debian-１３.7-amd64-netinst.iso", "debian-amd64-netinst.iso"] {
            #expect(ReleaseResolver.version(of: other, pattern: pattern) == nil, "\(other)")
        }
        #expect(ReleaseResolver.compare("24.04.5.1", "24.04.5") == 1)
        #expect(ReleaseResolver.compare("13.10.0", "13.9.0") == 1)
        #expect(ReleaseResolver.compare("13.7", "13.7.0") == 0)
        #expect(ReleaseResolver.compare("2026.09.01", "2026.10.01") == -1)
    }

    /// The built-in profiles are the files in profiles/: regenerating the Swift source gives the same bytes.
    @Test func builtInProfilesAreGeneratedFromTheFiles() throws {
        let dir = TempDir()
        let out = dir.file("BuiltinProfiles.swift")
        let script = TestPaths.packageRoot.appendingPathComponent("scripts/gen-builtin-profiles").path
        let r = try run(which("python3") ?? "/usr/bin/python3", [script, out.path])
        #expect(r.status == 0, "\(r.output)")
        let checkedIn = TestPaths.packageRoot.appendingPathComponent("Sources/Provision/Profiles/BuiltinProfiles.swift")
        #expect(bytes(out) == bytes(checkedIn), "run scripts/gen-builtin-profiles after editing profiles/*.yaml")
        // And each built-in text is its file, loading to the same profile.
        let files = ProfileCatalog(folders: [Self.shipped])
        let builtins = ProfileCatalog(folders: [], includeBuiltins: true)
        #expect(builtins.files().map(\.name) == files.files().map(\.name))
        for (name, text) in BuiltinProfiles.all {
            #expect(text + "\n" == (try String(contentsOfFile: Self.shipped + "/\(name).yaml", encoding: .utf8)))
            var fromFile = try files.load(name)
            fromFile.source = "built-in:\(name)"
            #expect(try builtins.load(name) == fromFile)
        }
    }
}
