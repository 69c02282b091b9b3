import Foundation
import Testing
import TestSupport

/// `vmprov fetch` and `vmprov verify` against a publisher-like layout on nginx, signed with a test key.
@Suite("Fetch and verify commands", .serialized)
struct FetchCommandTests {
    struct Mirror {
        let nginx: NginxServer
        let key: TestKey
        let payload: Data
        let digest: String
        var iso: String { "\(nginx.base)/releases/1.0/disk.iso" }
    }

    static func mirror() throws -> Mirror {
        let nginx = try NginxServer()
        let key = try TestKey()
        let payload = randomData(1 << 20)
        let digest = try sha256sum(payload)
        nginx.add("releases/1.0/disk.iso", bytes: payload)
        let sums = nginx.add("releases/1.0/SHA256SUMS", bytes: Data("\(String(repeating: "0", count: 64))  other.iso\n\(digest) *disk.iso\n".utf8))
        nginx.add("releases/1.0/SHA256SUMS.gpg", bytes: try key.sign(sums, .detachedArmoured))
        nginx.add("releases/1.0/CHECKSUM", bytes: try key.sign(sums, .clearsigned))
        let iso = nginx.root.file("releases/1.0/disk.iso")
        nginx.add("releases/1.0/disk.iso.sig", bytes: try key.sign(iso, .detachedBinary))
        return Mirror(nginx: nginx, key: key, payload: payload, digest: digest)
    }

    @Test func signedChecksumFileDetachedSignature() throws {
        let m = try Self.mirror()
        let out = TempDir()
        let dest = out.file("disk.iso").path
        let r = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--signature", "SHA256SUMS.gpg",
                            "--keyring", m.key.publicKey.path, "--key-fingerprint", m.key.fingerprint, "-o", dest],
                           environment: ["VMPROV_CACHE": out.file("cache").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("SHA256SUMS: good signature by \(m.key.fingerprint)"))
        #expect(r.stdout.contains("sha256:\(m.digest)"))
        #expect(bytes(out.file("disk.iso")) == m.payload)
        let v = try vmprov(["verify", dest, "--checksum", "sha256:\(m.digest)", "--no-signature"])
        #expect(v.status == 0 && v.stdout.contains("OK"))
    }

    @Test func clearsignedChecksumFileAndSignatureOfTheDownload() throws {
        let m = try Self.mirror()
        let out = TempDir()
        let r = try vmprov(["fetch", m.iso, "--checksum", "file:CHECKSUM", "--keyring", m.key.publicKey.path,
                            "-o", out.file("a.iso").path, "--no-cache"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("CHECKSUM: good signature"))
        let s = try vmprov(["fetch", m.iso, "--checksum", "sha256:\(m.digest)", "--signature", "disk.iso.sig",
                            "--keyring", m.key.publicKey.path, "-o", out.file("b.iso").path, "--no-cache"])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(bytes(out.file("b.iso")) == m.payload)
    }

    @Test func foreignKeyTamperedSumsAndMissingSignatureLeaveNothing() throws {
        let m = try Self.mirror()
        let stranger = try TestKey(name: "stranger")
        let out = TempDir()
        let dest = out.file("disk.iso").path
        let foreign = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--signature", "SHA256SUMS.gpg",
                                  "--keyring", stranger.publicKey.path, "-o", dest, "--no-cache"])
        #expect(foreign.status == 65)
        #expect(foreign.stderr.contains("not in \(stranger.publicKey.path)"))
        // Tamper with the checksum file after signing.
        m.nginx.add("releases/1.0/SHA256SUMS", bytes: Data("\(String(repeating: "1", count: 64))  disk.iso\n".utf8))
        let tampered = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--signature", "SHA256SUMS.gpg",
                                   "--keyring", m.key.publicKey.path, "-o", dest, "--no-cache"])
        #expect(tampered.status == 65)
        #expect(tampered.stderr.contains("BAD signature"))
        // The message names the signature by its URL, not by a temporary copy that is gone when it is read.
        #expect(tampered.stderr.contains("(\(m.nginx.base)/releases/1.0/SHA256SUMS.gpg)"), "\(tampered.stderr)")
        #expect(!tampered.stderr.contains("staged-signature"), "\(tampered.stderr)")
        let missing = try vmprov(["fetch", m.iso, "--checksum", "sha256:\(m.digest)", "--signature", "nope.gpg",
                                  "--keyring", m.key.publicKey.path, "-o", dest, "--no-cache", "--retries", "0"])
        #expect(missing.status == 66, "a missing signature is a file not found")
        #expect(missing.stderr.contains("nope.gpg") && missing.stderr.contains("404"))
        let noKey = try vmprov(["fetch", m.iso, "--checksum", "file:CHECKSUM", "-o", dest, "--no-cache"])
        #expect(noKey.status == 65 && noKey.stderr.contains("--keyring"))
        #expect(leftovers(out).isEmpty)
    }

    @Test func mismatchAndMissingEntry() throws {
        let m = try Self.mirror()
        let out = TempDir()
        let dest = out.file("disk.iso").path
        let wrong = try vmprov(["fetch", m.iso, "--checksum", "sha256:\(String(repeating: "2", count: 64))", "-o", dest,
                                "--no-cache", "--no-signature"])
        #expect(wrong.status == 65)
        #expect(wrong.stderr.contains("expected sha256:2222") && wrong.stderr.contains("actual   sha256:\(m.digest)"))
        #expect(leftovers(out) == ["disk.iso.corrupt"])
        let entry = try vmprov(["fetch", "\(m.nginx.base)/releases/1.0/SHA256SUMS.gpg", "--checksum", "file:SHA256SUMS",
                                "-o", out.file("x").path, "--no-signature"])
        #expect(entry.status == 65)
        #expect(entry.stderr.contains("no checksum for SHA256SUMS.gpg") && entry.stderr.contains("other.iso, disk.iso"))
        let notFound = try vmprov(["fetch", "\(m.nginx.base)/none.iso", "--checksum", "sha256:\(m.digest)",
                                   "-o", out.file("n").path, "--no-signature"])
        #expect(notFound.status == 66)
        #expect(notFound.stderr.contains("\(m.nginx.base)/none.iso: HTTP 404"))
    }

    @Test func badOptionValues() throws {
        for (args, message) in [
            (["fetch", "ftp://x/y.iso", "--checksum", "none"], "only http and https"),
            (["fetch", "http://127.0.0.1:1/y.iso", "--checksum", "sha256:zz"], "not hexadecimal"),
            (["fetch", "http://127.0.0.1:1/y.iso", "--checksum", "sha256:abcd"], "64 hex digits"),
            (["verify", "/nonexistent", "--checksum", "none"], "/nonexistent"),
        ] {
            let r = try vmprov(args)
            #expect(r.status == 64 || r.status == 66, "\(args): \(r.status)")
            #expect(r.stderr.contains(message), "\(r.stderr)")
        }
        let none = try vmprov(["fetch", "http://127.0.0.1:\(freePort())/y.iso", "--checksum", "none", "--retries", "0",
                               "-o", "/tmp/vmprov-none-\(UUID().uuidString)"])
        #expect(none.stderr.contains("NOT verified"))
        #expect(none.status == 75)
    }
}
