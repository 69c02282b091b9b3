import Foundation
import Provision
import Testing
import TestSupport
import Basics

@Suite("Checksum specs and files")
struct ChecksumTests {
    @Test func specs() throws {
        let hex64 = String(repeating: "ab", count: 32)
        #expect(try ChecksumSpec("sha256:\(hex64)") == .digest(Digest(algorithm: .sha256, hex: hex64)))
        #expect(try ChecksumSpec(hex64.uppercased()) == .digest(Digest(algorithm: .sha256, hex: hex64)))
        #expect(try ChecksumSpec(String(repeating: "a", count: 32)) == .digest(Digest(algorithm: .md5, hex: String(repeating: "a", count: 32))))
        #expect(try ChecksumSpec(String(repeating: "a", count: 40)).description.hasPrefix("sha1:"))
        #expect(try ChecksumSpec(String(repeating: "a", count: 128)).description.hasPrefix("sha512:"))
        #expect(try ChecksumSpec("file:SHA256SUMS") == .file("SHA256SUMS"))
        #expect(try ChecksumSpec("none") == ChecksumSpec.none)
        for bad in ["sha256:abc", "sha999:\(hex64)", "xyz", "file:", String(repeating: "a", count: 33), "sha256:\(String(repeating: "g", count: 64))"] {
            #expect(throws: ChecksumError.self, "\(bad)") { try ChecksumSpec(bad) }
        }
    }

    @Test func urlResolution() {
        let base = "https://releases.example.org/24.04/ubuntu.iso?x=1"
        #expect(URLText.resolve("SHA256SUMS", against: base) == "https://releases.example.org/24.04/SHA256SUMS")
        #expect(URLText.resolve("../keys/k.asc", against: base) == "https://releases.example.org/keys/k.asc")
        #expect(URLText.resolve("/abs/SUMS", against: base) == "https://releases.example.org/abs/SUMS")
        #expect(URLText.resolve("https://other/x", against: base) == "https://other/x")
        #expect(URLText.resolve("SUMS", against: "/data/isos/a.iso") == "/data/isos/SUMS")
        #expect(URLText.fileName("https://h/p/my%20file.iso?x") == "my file.iso")
    }

    @Test func gnuBsdClearsignedCrlfAndPrefixes() throws {
        let a = String(repeating: "a", count: 64)
        let b = String(repeating: "b", count: 64)
        let text = "# comment\r\n\r\n\(a)  ./one.iso\r\n\(b) *two.iso\r\nSHA256 (three.iso) = \(a)\r\n\(a)  one.iso\r\n"
        let f = try ChecksumFile(text: text, source: "SUMS")
        #expect(try f.digest(for: "one.iso").hex == a)
        #expect(try f.digest(for: "two.iso").hex == b)
        #expect(try f.digest(for: "three.iso").hex == a)
        do {
            _ = try f.digest(for: "four.iso")
            Issue.record("found a missing entry")
        } catch {
            #expect(error.description.contains("SUMS") && error.description.contains("one.iso, two.iso, three.iso"))
        }
        let contradictory = try ChecksumFile(text: "\(a)  x.iso\n\(b)  x.iso\n", source: "C")
        #expect(throws: ChecksumError.self) { try contradictory.digest(for: "x.iso") }
        #expect(throws: ChecksumError.self) { try ChecksumFile(text: "<html>404</html>\n", source: "E") }
        #expect(throws: ChecksumError.self) { try ChecksumFile(text: "", source: "E") }
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (checksum file parsing)"))

    func everyRealChecksumFileParses() throws {
        let corpus = try #require(TestPaths.corpus)
        let dir = corpus.appendingPathComponent("checksums")
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir.path).filter { p in
            !p.hasPrefix("_keys") && !p.hasSuffix(".gpg") && !p.hasSuffix(".sign") && !p.hasSuffix(".sig")
                && !p.hasSuffix(".tsv") && !(try! FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(p).path)[.type] as! FileAttributeType == .typeDirectory)
        }.sorted()
        #expect(files.count >= 25)
        for p in files {
            let text = String(decoding: bytes(dir.appendingPathComponent(p)), as: UTF8.self)
            let f = try ChecksumFile(text: text, source: p)
            #expect(!f.entries.isEmpty, "\(p)")
            // Every listed name resolves (aliases have equal hashes).
            for name in f.names where !p.contains("b2sums") {
                #expect((try? f.digest(for: name)) != nil, "\(p): \(name)")
            }
        }
        let arch = try ChecksumFile(text: String(decoding: bytes(dir.appendingPathComponent("archlinux/2023.07.01/b2sums.txt")), as: UTF8.self),
                                    source: "b2sums.txt")
        #expect(arch.entries.allSatisfy { $0.digest.algorithm == .blake2b })
        #expect(throws: ChecksumError.self) { try arch.digest(for: "archlinux-x86_64.iso") }
        let fedora = try ChecksumFile(text: String(decoding: bytes(dir.appendingPathComponent("fedora/37/iso/Fedora-Server-37-1.7-x86_64-CHECKSUM")), as: UTF8.self),
                                      source: "F")
        #expect(fedora.isClearsigned)
        let vbox = try ChecksumFile(text: String(decoding: bytes(dir.appendingPathComponent("virtualbox/5.1.28/MD5SUMS")), as: UTF8.self), source: "MD5SUMS")
        #expect(try vbox.digest(for: "Oracle_VM_VirtualBox_Extension_Pack-5.1.28.vbox-extpack").algorithm == .md5)
    }
}

@Suite("Signatures with gpgv")
struct SignatureTests {
    static func corpusFile(_ p: String) -> String? { TestPaths.corpus?.appendingPathComponent("checksums/" + p).path }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (real detached signatures)"), arguments: [
        ("ubuntu/20.04/SHA256SUMS", "ubuntu/20.04/SHA256SUMS.gpg", "_keys/ubuntu-keyring-2012-cdimage.gpg"),
        ("ubuntu/20.04.1/SHA256SUMS", "ubuntu/20.04.1/SHA256SUMS.gpg", "_keys/ubuntu-keyring-2012-cdimage.gpg"),
        ("ubuntu/cloud-images-22.04-20260722/SHA256SUMS", "ubuntu/cloud-images-22.04-20260722/SHA256SUMS.gpg", "_keys/ubuntu-cloudimage-keyring.gpg"),
        ("debian/11.2.0-amd64-iso-dvd/SHA512SUMS", "debian/11.2.0-amd64-iso-dvd/SHA512SUMS.sign", "_keys/debian-cd-signing-key-DF9B9C49.asc"),
        ("debian/10.6.0-amd64-iso-dvd/SHA256SUMS", "debian/10.6.0-amd64-iso-dvd/SHA256SUMS.sign", "_keys/debian-cd-signing-key-DF9B9C49.asc"),
    ])
    func realDetachedSignatures(data: String, signature: String, key: String) throws {
        let d = try #require(Self.corpusFile(data))
        let s = try #require(Self.corpusFile(signature))
        let k = try #require(Self.corpusFile(key))
        let v = try GPGVerifier(keyring: k)
        let report = try v.verifyDetached(signature: s, data: d, label: data)
        #expect(report.primaryFingerprint.count == 40)
        // Tampered copy → BAD.
        let dir = TempDir()
        var tampered = bytes(URL(fileURLWithPath: d))
        tampered[tampered.count / 2] ^= 0x01
        let t = dir.write("tampered", bytes: tampered)
        #expect(throws: SignatureError.self) { try v.verifyDetached(signature: s, data: t.path, label: "t") }
        do { _ = try v.verifyDetached(signature: s, data: t.path, label: "t") } catch {
            guard case .bad = error else { Issue.record("expected BAD, got \(error)"); return }
        }
        // Another key → rejected as unknown.
        let other = try GPGVerifier(keyring: Self.corpusFile("_keys/freebsd-cperciva.asc")!)
        do {
            _ = try other.verifyDetached(signature: s, data: d, label: data)
            Issue.record("accepted with a foreign key")
        } catch {
            guard case .unknownKey = error else { Issue.record("expected unknown key, got \(error)"); return }
        }
        // A pinned fingerprint that is not the signer's → rejected.
        let pinned = try GPGVerifier(keyring: k, pinnedFingerprint: String(repeating: "A", count: 40))
        #expect(throws: SignatureError.self) { try pinned.verifyDetached(signature: s, data: d, label: data) }
        let right = try GPGVerifier(keyring: k, pinnedFingerprint: report.primaryFingerprint)
        #expect(try right.verifyDetached(signature: s, data: d, label: data) == report)
    }

    @Test(.enabled(if: TestPaths.corpus != nil, "needs ../shared/corpus (real clearsigned files)"), arguments: [
        ("fedora/37/iso/Fedora-Server-37-1.7-x86_64-CHECKSUM", "_keys/RPM-GPG-KEY-fedora-37-primary"),
        ("fedora/36/iso/Fedora-Everything-36-1.5-x86_64-CHECKSUM", "_keys/RPM-GPG-KEY-fedora-36-primary"),
        ("fedora/legacy/Fedora-Cloud_Images-x86_64-23-CHECKSUM", "_keys/RPM-GPG-KEY-fedora-23-primary"),
        ("opensuse/leap-15.0/openSUSE-Leap-15.0-NET-x86_64.iso.sha256", "_keys/RPM-GPG-KEY-openSUSE"),
        ("opensuse/leap-15.2/openSUSE-Leap-15.2-NET-x86_64.iso.sha256", "_keys/RPM-GPG-KEY-openSUSE"),
        ("freebsd/13.2-RELEASE/CHECKSUM.SHA256-FreeBSD-13.2-RELEASE-amd64.asc", "_keys/freebsd-cperciva.asc"),
    ])
    func realClearsignedFiles(file: String, key: String) throws {
        let f = try #require(Self.corpusFile(file))
        let k = try #require(Self.corpusFile(key))
        let v = try GPGVerifier(keyring: k)
        let (_, signed) = try v.verifyClearsigned(file: f, label: file)
        let parsed = try ChecksumFile(text: signed, source: file)
        #expect(!parsed.entries.isEmpty)
        let dir = TempDir()
        var text = String(decoding: bytes(URL(fileURLWithPath: f)), as: UTF8.self)
        // Change one hex digit of the first checksum line.
        let entry = try #require(parsed.entries.first)
        let flipped = String(entry.digest.hex.dropLast()) + (entry.digest.hex.last == "0" ? "1" : "0")
        text = text.replacingOccurrences(of: entry.digest.hex, with: flipped)
        let t = dir.write("tampered", text)
        #expect(throws: SignatureError.self) { try v.verifyClearsigned(file: t.path, label: "t") }
        let other = try GPGVerifier(keyring: Self.corpusFile("_keys/ubuntu-keyring-2012-cdimage.gpg")!)
        #expect(throws: SignatureError.self) { try other.verifyClearsigned(file: f, label: file) }
    }

    @Test func generatedKeyCoversEveryPathWithoutTheCorpus() throws {
        let key = try TestKey()
        let stranger = try TestKey(name: "someone else")
        let dir = TempDir()
        let sums = dir.write("SHA256SUMS", "\(String(repeating: "c", count: 64))  disk.iso\n")
        for kind in [TestKey.Kind.detachedArmoured, .detachedBinary] {
            let sig = dir.write("SHA256SUMS.sig", bytes: try key.sign(sums, kind))
            let v = try GPGVerifier(keyring: key.publicKey.path, pinnedFingerprint: key.fingerprint)
            #expect(try v.verifyDetached(signature: sig.path, data: sums.path, label: "s").primaryFingerprint == key.fingerprint)
            let foreign = try GPGVerifier(keyring: stranger.publicKey.path)
            #expect(throws: SignatureError.self) { try foreign.verifyDetached(signature: sig.path, data: sums.path, label: "s") }
        }
        let clear = dir.write("CHECKSUM", bytes: try key.sign(sums, .clearsigned))
        let v = try GPGVerifier(keyring: key.publicKey.path)
        let (_, text) = try v.verifyClearsigned(file: clear.path, label: "c")
        #expect(text.contains("disk.iso"))
        // Not a signature at all.
        #expect(throws: SignatureError.self) { try v.verifyDetached(signature: sums.path, data: sums.path, label: "x") }
        // A wrong pin.
        let pinned = try GPGVerifier(keyring: key.publicKey.path, pinnedFingerprint: stranger.fingerprint)
        do {
            _ = try pinned.verifyClearsigned(file: clear.path, label: "c")
            Issue.record("accepted a wrong pin")
        } catch {
            guard case .wrongSigner = error else { Issue.record("\(error)"); return }
        }
    }
}
