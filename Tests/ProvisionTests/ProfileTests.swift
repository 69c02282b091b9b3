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
        let catalog = ProfileCatalog.standard(extra: dir.path, executable: TestPaths.vmprov.path)
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
}
