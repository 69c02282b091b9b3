import Foundation
import Provision
import Testing
import TestSupport
import Basics

/// Signatures are required when a key is in play, gpgv comes from a fixed place, small files are capped, checksum
/// files are read as mirrors serve them, and the cache is never trusted — with the built binary, nginx, the fault
/// server and real gpgv.
@Suite("Verification policy, end to end", .serialized)
struct VerificationPolicyTests {
    struct Mirror {
        let nginx: NginxServer
        let key: TestKey
        let payload: Data
        let digest: String
        var iso: String { "\(nginx.base)/rel/disk.iso" }
    }

    static func mirror() throws -> Mirror {
        let nginx = try NginxServer()
        let key = try TestKey()
        let payload = randomData(300_000)
        let digest = try sha256sum(payload)
        nginx.add("rel/disk.iso", bytes: payload)
        let sums = nginx.add("rel/SHA256SUMS", bytes: Data("\(digest) *disk.iso\n".utf8))
        nginx.add("rel/SHA256SUMS.gpg", bytes: try key.sign(sums, .detachedArmoured))
        nginx.add("rel/CHECKSUM", bytes: try key.sign(sums, .clearsigned))
        return Mirror(nginx: nginx, key: key, payload: payload, digest: digest)
    }

    // MARK: - Signature stripping

    @Test func aKeyInPlayRequiresAVerifiedSignature() throws {
        let m = try Self.mirror()
        let out = TempDir()
        let env = ["VMPROV_CACHE": out.file("cache").path]
        // An unsigned checksum file with --keyring: refused, not warned about.
        let stripped = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--keyring", m.key.publicKey.path,
                                   "-o", out.file("a.iso").path], environment: env)
        #expect(stripped.status == 65, "\(stripped.output)")
        #expect(stripped.stderr.contains("\(m.nginx.base)/rel/SHA256SUMS: no signature was verified"))
        #expect(stripped.stderr.contains("the keyring \(m.key.publicKey.path)"))
        // A pinned fingerprint alone is a key in play too.
        let pinned = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--key-fingerprint", m.key.fingerprint,
                                 "-o", out.file("a.iso").path], environment: env)
        #expect(pinned.status == 65 && pinned.stderr.contains("the pinned key \(m.key.fingerprint)"), "\(pinned.output)")
        // A clearsigned file whose armour a mirror stripped: the same.
        m.nginx.add("rel/CHECKSUM", bytes: Data("SHA256 (disk.iso) = \(m.digest)\n".utf8))
        let unwrapped = try vmprov(["fetch", m.iso, "--checksum", "file:CHECKSUM", "--keyring", m.key.publicKey.path,
                                    "-o", out.file("a.iso").path], environment: env)
        #expect(unwrapped.status == 65 && unwrapped.stderr.contains("CHECKSUM had to be clearsigned"), "\(unwrapped.output)")
        #expect(leftovers(out).filter { $0 != "cache" }.isEmpty)
        // Only --no-signature turns this off (and says so).
        let off = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--keyring", m.key.publicKey.path,
                              "--no-signature", "-o", out.file("a.iso").path], environment: env)
        #expect(off.status == 0 && off.stderr.contains("--no-signature"), "\(off.output)")
        // A digest the user types needs no signature, even with a key given.
        let typed = try vmprov(["fetch", m.iso, "--checksum", "sha256:\(m.digest)", "--keyring", m.key.publicKey.path,
                                "-o", out.file("b.iso").path], environment: env)
        #expect(typed.status == 0, "\(typed.output)")
        #expect(typed.stderr.contains("was given by you"))
    }

    /// A signature of the download itself is checked also when the file is already there (from an earlier run with
    /// --no-signature, say): "already present and verified" must never skip the signature a key in play requires.
    @Test func aFileAlreadyThereStillNeedsItsOwnSignatureToVerify() throws {
        let m = try Self.mirror()
        let out = TempDir()
        let dest = out.file("disk.iso").path
        // A "signature of the ISO" that signs something else (the checksum file).
        m.nginx.add("rel/disk.iso.sig", bytes: try m.key.sign(m.nginx.root.file("rel/SHA256SUMS"), .detachedBinary))
        let first = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--no-signature", "--no-cache", "-o", dest])
        #expect(first.status == 0, "\(first.output)")
        let signed = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--signature", "disk.iso.sig",
                                 "--keyring", m.key.publicKey.path, "--no-cache", "-o", dest])
        #expect(signed.status == 65, "\(signed.output)")
        #expect(signed.stderr.contains("BAD signature"), "\(signed.output)")
        #expect(!signed.stdout.contains("already present and verified"))
        // With the ISO's real signature the file that is there is accepted as it is.
        m.nginx.add("rel/disk.iso.sig", bytes: try m.key.sign(m.nginx.root.file("rel/disk.iso"), .detachedBinary))
        let good = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--signature", "disk.iso.sig",
                               "--keyring", m.key.publicKey.path, "--no-cache", "-o", dest])
        #expect(good.status == 0 && good.stdout.contains("already present and verified"), "\(good.output)")
    }

    @Test func createRefusesAProfileChecksumFileStrippedOfItsSignature() throws {
        let mirror = try CreateCommandTests.Mirror()
        let profile = try ProfileCatalog(folders: [CreateCommandTests.profilesDir]).load("fedora")
        let payload = randomData(80_000)
        let url = try mirror.publish(profile, payload: payload)
        // The mirror serves the body without its clearsign armour.
        let folder = String(url.dropFirst(mirror.nginx.base.count + 1).split(separator: "/").dropLast().joined(separator: "/"))
        let ref = try #require({ if case .file(let r)? = try? ChecksumSpec(profile.iso.checksum ?? "") { return r }; return nil }())
        let body = "# \(URLText.fileName(url)): \(payload.count) bytes\nSHA256 (\(URLText.fileName(url))) = \(try sha256sum(payload))\n"
        mirror.nginx.add(folder + "/" + ref, bytes: Data(body.utf8))
        let out = TempDir()
        let env = ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"]
        let r = try vmprov(["create", "--profile", "fedora", "--dir", out.path, "--iso-url", url,
                            "--keyring", mirror.key.publicKey.path, "--quiet"], environment: env)
        #expect(r.status == 65, "\(r.output)")
        #expect(r.stderr.contains("no signature was verified"))
        #expect(leftovers(out).isEmpty)
        let off = try vmprov(["create", "--profile", "fedora", "--dir", out.path, "--iso-url", url, "--no-signature",
                              "--quiet"], environment: env)
        #expect(off.status == 0 && off.stdout.contains("signature: not checked (--no-signature)"), "\(off.output)")
    }

    // MARK: - A typed digest needs no network

    @Test func createWithALocalISOAndATypedDigestUsesNoNetwork() throws {
        let isoDir = TempDir()
        let payload = randomData(20_000)
        let iso = isoDir.write("ubuntu-24.04.5-live-server-amd64.iso", bytes: payload)
        let out = TempDir()
        let closed = "http://127.0.0.1:\(freePort())"
        var env = ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none", "no_proxy": "", "NO_PROXY": ""]
        for v in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"] { env[v] = closed }
        let r = try vmprov(["create", "--profile", "ubuntu", "--dir", out.path, "--iso", iso.path,
                            "--checksum", "sha256:\(try sha256sum(payload))"], environment: env)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("(the digest you gave with --checksum)"))
        #expect(r.stdout.contains("signature: not needed: the digest came from you"))
        #expect(!r.output.contains("fetching"))
        let copy = out.file("ubuntu/ubuntu-24.04.5-live-server-amd64.iso")
        #expect(bytes(copy) == payload)
        // The machine folder goes to the container user: it gets a copy, never the user's own file by a hard link.
        var a = stat(), b = stat()
        #expect(stat(iso.path, &a) == 0 && stat(copy.path, &b) == 0 && a.st_ino != b.st_ino && a.st_nlink == 1)
    }

    // MARK: - gpgv from a fixed place

    @Test func aHostileGpgvOnPathIsNeverRun() throws {
        let m = try Self.mirror()
        let fake = TempDir("fake-gpgv")
        let script = fake.write("gpgv", """
        #!/bin/sh
        echo "[GNUPG:] NEWSIG"
        echo "[GNUPG:] GOODSIG 0000000000000000 Anyone <a@b>"
        echo "[GNUPG:] VALIDSIG \(m.key.fingerprint) 2026-01-01 1767225600 0 4 0 22 8 00 \(m.key.fingerprint)"
        touch "\(fake.path)/ran"
        exit 0

        """)
        chmod(script.path, 0o755)
        // A checksum file changed after it was signed.
        m.nginx.add("rel/SHA256SUMS", bytes: Data("\(String(repeating: "1", count: 64)) *disk.iso\n".utf8))
        let out = TempDir()
        let path = fake.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let r = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--signature", "SHA256SUMS.gpg",
                            "--keyring", m.key.publicKey.path, "-o", out.file("d.iso").path, "--no-cache"],
                           environment: ["PATH": path])
        #expect(r.status == 65, "\(r.output)")
        #expect(r.stderr.contains("BAD signature"))
        #expect(!FileManager.default.fileExists(atPath: fake.file("ran").path), "the fake gpgv ran")
        #expect(leftovers(out).isEmpty)
        // Missing gpgv (an explicit VMPROV_GPGV that is not there): exit 69, naming the package.
        let missing = try vmprov(["fetch", m.iso, "--checksum", "file:CHECKSUM", "--keyring", m.key.publicKey.path,
                                  "-o", out.file("d.iso").path, "--no-cache"],
                                 environment: ["VMPROV_GPGV": "/nonexistent/gpgv"])
        #expect(missing.status == 69, "\(missing.output)")
        #expect(missing.stderr.contains("VMPROV_GPGV=/nonexistent/gpgv") && missing.stderr.contains("gpgv package"))
    }

    // MARK: - Caps

    @Test func oversizedChecksumFilesAndSignaturesAreRefusedForGood() throws {
        let fault = try FaultServer()
        let key = try TestKey()
        let payload = randomData(10_000)
        let digest = try sha256sum(payload)
        fault.add("disk.iso", bytes: payload)
        // A valid entry buried in 5 MiB of comments, and a 17 MiB one.
        let padding = String(repeating: "# padding padding padding padding padding padding padding padding\n", count: 80_000)
        fault.add("BIGSUMS", bytes: Data((padding + "\(digest)  disk.iso\n").utf8))
        fault.add("HUGESUMS", bytes: Data((padding + padding + padding + padding + "\(digest)  disk.iso\n").utf8))
        fault.add("SUMS", bytes: Data("\(digest)  disk.iso\n".utf8))
        fault.add("SUMS.sig", bytes: randomData(5 << 20))
        let out = TempDir()
        for (spec, extra, url) in [("file:BIGSUMS", [String](), "\(fault.base)/ok/BIGSUMS"),
                                   ("file:HUGESUMS", [], "\(fault.base)/ok/HUGESUMS"),
                                   ("file:SUMS", ["--signature", "SUMS.sig", "--keyring", key.publicKey.path], "\(fault.base)/ok/SUMS.sig")] {
            let r = try vmprov(["fetch", "\(fault.base)/ok/disk.iso", "--checksum", spec, "-o", out.file("d.iso").path,
                                "--no-cache", "--retries", "1"] + extra + (extra.isEmpty ? ["--no-signature"] : []),
                               environment: ["VMPROV_TEST_BACKOFF": "0.05"])
            #expect(r.status == 65, "\(spec): \(r.output)")
            #expect(r.stderr.contains("\(url): more than 4 MiB"), "\(r.stderr)")
        }
        #expect(leftovers(out).isEmpty)
        // The same cap for a local checksum file.
        let local = out.write("LOCALSUMS", padding + "\(digest)  d.iso\n")
        let v = try vmprov(["verify", local.path, "--checksum", "file:\(local.path)", "--no-signature"])
        #expect(v.status == 65 && v.stderr.contains("\(local.path): more than 4 MiB"), "\(v.output)")
    }

    /// A --keyring is a key too: over 4 MiB it is refused (65), and a device or pipe is never read without end.
    @Test func anOversizedOrEndlessKeyringIsRefused() throws {
        let m = try Self.mirror()
        let out = TempDir()
        let armoured = try Data(contentsOf: m.key.publicKey)
        let big = out.write("big.asc", bytes: armoured + Data(repeating: 0x0A, count: 5 << 20))
        func fetch(_ keyring: String) throws -> RunResult {
            try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--signature", "SHA256SUMS.gpg",
                        "--keyring", keyring, "--no-cache", "-o", out.file("d.iso").path])
        }
        let oversized = try fetch(big.path)
        // Stop here when the cap is missing: the next case would then read /dev/zero into memory.
        try #require(oversized.status == 65, "\(oversized.output)")
        #expect(oversized.stderr.contains("\(big.path): cannot use this keyring: it is larger than"), "\(oversized.stderr)")
        let device = try fetch("/dev/zero")
        #expect(device.status == 65 && device.stderr.contains("/dev/zero: cannot use this keyring"), "\(device.output)")
        #expect(leftovers(out) == ["big.asc"])
    }

    // MARK: - Checksum files as mirrors serve them

    @Test func checksumFilesAsPublishersAndMirrorsWriteThem() throws {
        let m = try Self.mirror()
        let out = TempDir()
        func fetch(_ url: String, _ spec: String, _ extra: [String] = []) throws -> RunResult {
            try vmprov(["fetch", url, "--checksum", spec, "-o", out.file("f-\(UUID().uuidString)").path, "--no-cache"]
                       + (extra.isEmpty ? ["--no-signature"] : extra))
        }
        // A byte-order mark and CRLF.
        m.nginx.add("rel/BOMSUMS", bytes: Data("\u{FEFF}\(m.digest) *disk.iso\r\n".utf8))
        let bom = try fetch(m.iso, "file:BOMSUMS")
        #expect(bom.status == 0, "\(bom.output)")
        // Sub-folders: two files called mini.iso, told apart by the checksum file's folder.
        let mini = randomData(5000)
        m.nginx.add("inst/netboot/mini.iso", bytes: mini)
        m.nginx.add("inst/hd-media/mini.iso", bytes: randomData(5000))
        m.nginx.add("inst/SHA256SUMS", bytes: Data(("\(try sha256sum(mini))  ./netboot/mini.iso\n"
            + "\(try sha256sum(bytes(m.nginx.root.file("inst/hd-media/mini.iso"))))  ./hd-media/mini.iso\n").utf8))
        let sub = try fetch("\(m.nginx.base)/inst/netboot/mini.iso", "file:../SHA256SUMS")
        #expect(sub.status == 0, "\(sub.output)")
        // A bare digest: accepted for the one download, and said so.
        m.nginx.add("rel/disk.iso.sha256", bytes: Data("\(m.digest)\n".utf8))
        let bare = try fetch(m.iso, "file:disk.iso.sha256")
        #expect(bare.status == 0 && bare.stderr.contains("holds a bare digest"), "\(bare.output)")
        // An alias that redirects: looked up under the name it leads to.
        let alias = try fetch("\(m.nginx.base)/rel/latest--disk.iso", "file:SHA256SUMS",
                              ["--signature", "SHA256SUMS.gpg", "--keyring", m.key.publicKey.path])
        #expect(alias.status == 0, "\(alias.output)")
        #expect(alias.stderr.contains("redirects to \(m.nginx.base)/rel/disk.iso"))
        // With --no-signature a clearsigned file still contributes only its signed body.
        let evil = randomData(3000)
        m.nginx.add("rel/evil.iso", bytes: evil)
        var clear = String(decoding: bytes(m.nginx.root.file("rel/CHECKSUM")), as: UTF8.self)
        clear += "\(try sha256sum(evil))  evil.iso\n"
        m.nginx.add("rel/CHECKSUM", bytes: Data(clear.utf8))
        let outside = try fetch("\(m.nginx.base)/rel/evil.iso", "file:CHECKSUM")
        #expect(outside.status == 65 && outside.stderr.contains("no checksum for evil.iso"), "\(outside.output)")
    }

    // MARK: - The cache behind fetch and create

    @Test func garbageWrittenIntoAnOutputIsNeverServedAgain() throws {
        let m = try Self.mirror()
        let out = TempDir()
        let env = ["VMPROV_CACHE": out.file("cache").path]
        let first = try vmprov(["fetch", m.iso, "--checksum", "sha256:\(m.digest)", "-o", out.file("one.iso").path],
                               environment: env)
        #expect(first.status == 0, "\(first.output)")
        let handle = try FileHandle(forWritingTo: out.file("one.iso"))
        handle.write(Data(repeating: 0x58, count: 8192))
        try handle.close()
        let second = try vmprov(["fetch", m.iso, "--checksum", "sha256:\(m.digest)", "-o", out.file("two.iso").path],
                                environment: env)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.stdout.contains("from the cache, re-hashed before use"))
        #expect(bytes(out.file("two.iso")) == m.payload)
    }

    @Test func aVMFolderISOIsNotTheCacheEntry() throws {
        let mirror = try CreateCommandTests.Mirror()
        let profile = try ProfileCatalog(folders: [CreateCommandTests.profilesDir]).load("debian")
        let payload = randomData(60_000)
        let url = try mirror.publish(profile, payload: payload)
        let out = TempDir()
        let env = ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"]
        let args = ["create", "--profile", "debian", "--dir", out.path, "--iso-url", url, "--keyring",
                    mirror.key.publicKey.path, "--quiet"]
        #expect(try vmprov(args, environment: env).status == 0)
        let iso = out.file("debian/" + URLText.fileName(url))
        // The container user owns the VM folder and writes into the ISO.
        let handle = try FileHandle(forWritingTo: iso)
        handle.write(Data(repeating: 0x58, count: 8192))
        try handle.close()
        let again = try vmprov(args + ["--force"], environment: env)
        #expect(again.status == 0, "\(again.output)")
        #expect(again.stdout.contains("from the cache"))
        #expect(bytes(iso) == payload)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to run as nobody"))
    func withoutAHomeThereIsNoCacheRatherThanATemporaryOne() throws {
        // nobody's passwd home is /nonexistent: with HOME unset there is no private place, so vmprov refuses.
        let out = TempDir()
        chmod(out.path, 0o777)
        let r = try run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/env", "-u", "HOME",
                                             "-u", "XDG_CACHE_HOME", "-u", "VMPROV_CACHE", TestPaths.vmprov.path, "fetch",
                                             "http://127.0.0.1:\(freePort())/x.iso", "--checksum",
                                             "sha256:\(String(repeating: "a", count: 64))", "-o", out.file("x.iso").path,
                                             "--retries", "0"], currentDirectory: out.path)
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains("HOME is not set") && r.stderr.contains("VMPROV_CACHE"), "\(r.stderr)")
        #expect(leftovers(out).isEmpty)
    }

    @Test func aCacheNobodyElseCanWriteOrNoCacheAtAll() throws {
        let m = try Self.mirror()
        let out = TempDir()
        let shared = TempDir()
        chmod(shared.path, 0o777)
        let r = try vmprov(["fetch", m.iso, "--checksum", "sha256:\(m.digest)", "-o", out.file("x.iso").path],
                           environment: ["VMPROV_CACHE": shared.path])
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains(shared.path) && r.stderr.contains("chmod 700"))
        #expect(leftovers(out).isEmpty)
    }
}
