import Foundation
import Provision
import Testing
import TestSupport

/// What a new user following the README ran into: leftovers, exit codes, options and messages.
@Suite("New user findings, end to end", .serialized)
struct NewUserTests {
    static let env = ["VMPROV_GUEST_ADDITIONS": "none"]

    /// Every entry of `dir`, hidden ones included, relative to it.
    static func tree(_ dir: TempDir) -> [String] {
        (FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? []).sorted()
    }

    @Test func aFailedCreateWithoutCacheLeavesNothingInDir() throws {
        let nginx = try NginxServer()
        let payload = randomData(60_000)
        nginx.add("iso/mirror.iso", bytes: payload)
        let out = TempDir()
        let wrong = "sha256:" + String(repeating: "0", count: 64)
        let bad = try vmprov(["create", "--profile", "ubuntu", "--dir", out.path, "--iso-url", nginx.base + "/iso/mirror.iso",
                              "--checksum", wrong, "--no-cache", "--quiet"], environment: Self.env)
        #expect(bad.status == 65 && bad.stderr.contains("checksum mismatch"), "\(bad.output)")
        #expect(!bad.stderr.contains(".corrupt"), "\(bad.stderr)")
        #expect(Self.tree(out).isEmpty, "\(Self.tree(out))")
        let missing = try vmprov(["create", "--profile", "ubuntu", "--dir", out.path, "--iso-url", nginx.base + "/iso/gone.iso",
                                  "--checksum", wrong, "--no-cache", "--quiet"], environment: Self.env)
        #expect(missing.status == 66, "\(missing.output)")
        #expect(Self.tree(out).isEmpty, "\(Self.tree(out))")
    }

    @Test func aFailedCreateWithCacheKeepsNoCorruptCopyThere() throws {
        let nginx = try NginxServer()
        nginx.add("iso/mirror.iso", bytes: randomData(60_000))
        let out = TempDir()
        let cache = TempDir()
        let bad = try vmprov(["create", "--profile", "ubuntu", "--dir", out.path, "--iso-url", nginx.base + "/iso/mirror.iso",
                              "--checksum", "sha256:" + String(repeating: "0", count: 64), "--quiet"],
                             environment: Self.env.merging(["VMPROV_CACHE": cache.path]) { $1 })
        #expect(bad.status == 65, "\(bad.output)")
        #expect(!Self.tree(cache).contains { $0.hasSuffix(".corrupt") }, "\(Self.tree(cache))")
        #expect(Self.tree(out).isEmpty)
    }

    @Test func verifyOfALocalFileDoesNotBlameAMirror() throws {
        let dir = TempDir()
        let file = dir.write("a.iso", bytes: randomData(1000))
        let r = try vmprov(["verify", file.path, "--checksum", "sha256:" + String(repeating: "0", count: 64)])
        #expect(r.status == 65, "\(r.output)")
        #expect(!r.stderr.contains("mirror") && r.stderr.contains("differs from the digest"), "\(r.stderr)")
    }

    @Test func fetchingIsSaidOnlyWhenDownloading() throws {
        let nginx = try NginxServer()
        let payload = randomData(30_000)
        nginx.add("iso/c.iso", bytes: payload)
        let out = TempDir()
        let env = Self.env.merging(["VMPROV_CACHE": TempDir().path]) { $1 }
        let args = ["create", "--profile", "ubuntu", "--dir", out.path, "--iso-url", nginx.base + "/iso/c.iso",
                    "--checksum", "sha256:" + (try sha256sum(payload))]
        let first = try vmprov(args, environment: env)
        #expect(first.status == 0 && first.stderr.contains("vmprov: fetching"), "\(first.output)")
        let second = try vmprov(args + ["--name", "again"], environment: env)
        #expect(second.status == 0 && second.stdout.contains("from the cache"), "\(second.output)")
        #expect(!second.stderr.contains("vmprov: fetching"), "\(second.stderr)")
    }
    @Test func contradictoryOptionsAreUsage() throws {
        let m = try FetchCommandTests.mirror()
        let out = TempDir()
        let r = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--signature", "SHA256SUMS.gpg",
                            "--keyring", m.key.publicKey.path, "--no-signature", "-o", out.file("d.iso").path, "--no-cache"])
        #expect(r.status == 64, "\(r.output)")
        #expect(r.stderr.contains("drop one of them") && !r.stderr.contains("or pass --no-signature"), "\(r.stderr)")
        #expect(leftovers(out).isEmpty)
    }

    @Test func aBadChecksumSpecPrintsTheSubcommandsUsage() throws {
        let r = try vmprov(["fetch", "http://127.0.0.1:9/x.iso", "--checksum", "sha999:abc"])
        #expect(r.status == 64, "\(r.output)")
        #expect(r.stderr.contains("Usage: vmprov fetch") && !r.stderr.contains("Usage: vmprov <subcommand>"), "\(r.stderr)")
    }

    @Test(arguments: ["abc", "inf", "-5"])
    func aBadLockTimeoutIsUsageNamingTheVariable(value: String) throws {
        let dir = TempDir()
        let vbox = dir.write("demo.vbox", "not even XML")
        let before = bytes(vbox)
        let r = try vmprov(["add-forward", vbox.path, "--name", "x", "--host-port", "2000", "--guest-port", "22", "--force"],
                           environment: ["VMPROV_LOCK_TIMEOUT": value])
        #expect(r.status == 64 && r.stderr.contains("VMPROV_LOCK_TIMEOUT=\(value)"), "\(r.output)")
        #expect(bytes(vbox) == before)
    }

    @Test func aBadSignatureNamesTheSignaturesSourceNotATemporaryFile() throws {
        let m = try FetchCommandTests.mirror()
        m.nginx.add("releases/1.0/SHA256SUMS", bytes: Data("\(String(repeating: "1", count: 64))  disk.iso\n".utf8))
        let out = TempDir()
        let r = try vmprov(["fetch", m.iso, "--checksum", "file:SHA256SUMS", "--signature", "SHA256SUMS.gpg",
                            "--keyring", m.key.publicKey.path, "-o", out.file("d.iso").path, "--no-cache"])
        #expect(r.status == 65 && r.stderr.contains("BAD signature"), "\(r.output)")
        #expect(r.stderr.contains("(\(m.nginx.base)/releases/1.0/SHA256SUMS.gpg)") && !r.stderr.contains("staged-signature"),
                "\(r.stderr)")
        let stranger = try TestKey(name: "stranger")
        let u = try vmprov(["fetch", m.iso, "--checksum", "sha256:\(m.digest)", "--signature", "disk.iso.sig",
                            "--keyring", stranger.publicKey.path, "-o", out.file("e.iso").path, "--no-cache"])
        #expect(u.status == 65, "\(u.output)")
        #expect(u.stderr.contains("\(m.nginx.base)/releases/1.0/disk.iso.sig") && !u.stderr.contains("staged-signature"),
                "\(u.stderr)")
    }

    @Test func aMissingKeyringNamesItOnceAndSaysWhatToDo() throws {
        let dir = TempDir()
        let file = dir.write("f.iso", bytes: randomData(100))
        let sig = dir.write("f.iso.sig", bytes: randomData(100))
        let r = try vmprov(["verify", file.path, "--checksum", "sha256:" + String(repeating: "0", count: 64),
                            "--signature", sig.path, "--keyring", "/nonexistent.asc"])
        #expect(r.status == 66, "\(r.output)")
        #expect(r.stderr.components(separatedBy: "/nonexistent.asc").count == 2 && r.stderr.contains("pass --keyring"),
                "\(r.stderr)")
    }

    @Test func aKeyFingerprintOfYourOwnNeedsYourKeyring() throws {
        let nginx = try NginxServer()
        nginx.add("iso/k.iso", bytes: randomData(1000))
        let out = TempDir()
        let r = try vmprov(["create", "--profile", "ubuntu", "--dir", out.path, "--iso-url", nginx.base + "/iso/k.iso",
                            "--key-fingerprint", String(repeating: "A", count: 40), "--quiet"],
                           environment: Self.env.merging(["VMPROV_CACHE": TempDir().path]) { $1 })
        #expect(r.status == 64 && r.stderr.contains("needs --keyring"), "\(r.output)")
        #expect(!r.stderr.contains("fetching the signing key"), "the profile's key is not fetched: \(r.stderr)")
        #expect(Self.tree(out).isEmpty)
    }

    @Test func nextStepsKeepEveryItemOfTheRDPPortList() throws {
        let dir = TempDir()
        let payload = randomData(5000)
        let iso = dir.write("w.iso", bytes: payload)
        let out = TempDir()
        let r = try vmprov(["create", "--profile", "windows11", "--dir", out.path, "--iso", iso.path, "--checksum",
                            "sha256:\(try sha256sum(payload))", "--rdp-port", "5000-5050,5100", "--disk-size", "64M"],
                           environment: Self.env.merging(["VMPROV_CACHE": TempDir().path]) { $1 })
        #expect(r.status == 0, "\(r.output)")
        let step = r.stdout.split(separator: "\n").first { $0.contains("1. In docker/.env") }.map(String.init) ?? ""
        #expect(step.contains("VRDP=5000-5050") && step.contains("5100"), "\(step)")
        #expect(r.stdout.contains("\"127.0.0.1:5100:5100\""), "\(r.stdout)")
    }
    @Test func createsDirDefaultIsVMDIRThenVms() throws {
        let dir = TempDir()
        let payload = randomData(5000)
        let iso = dir.write("w.iso", bytes: payload)
        let here = TempDir()
        let parent = TempDir()
        let args = ["create", "--profile", "windows11", "--iso", iso.path, "--checksum",
                    "sha256:\(try sha256sum(payload))", "--disk-size", "64M", "--quiet"]
        let r = try vmprov(args, environment: Self.env.merging(["VMPROV_CACHE": TempDir().path, "VMDIR": parent.path]) { $1 },
                           currentDirectory: here.path)
        #expect(r.status == 0, "\(r.output)")
        #expect(FileManager.default.fileExists(atPath: parent.file("windows11/windows11.vbox").path), "\(r.stdout)")
        #expect(leftovers(here).isEmpty)
        let v = try vmprov(args, environment: Self.env.merging(["VMPROV_CACHE": TempDir().path]) { $1 },
                           currentDirectory: here.path)
        #expect(v.status == 0, "\(v.output)")
        #expect(FileManager.default.fileExists(atPath: here.file("vms/windows11/windows11.vbox").path), "\(v.stdout)")
    }
}

/// `vmprov setup`'s exit codes follow the README's table, and refusals come before any step runs.
extension ProcessSensitive {
@Suite("New user findings: setup", .serialized)
struct NewUserSetupTests {
    @Test func aVmdirSymlinkOutOfTheRootIsUsageAndRefusedBeforeAnyStep() throws {
        let root = try SetupCommandTests.makeRoot()
        let outside = TempDir("outside")
        try FileManager.default.createSymbolicLink(atPath: root.file("esc").path, withDestinationPath: outside.path)
        let before = ["etc/passwd", "etc/group"].map { bytes(root.file($0)) }
        let r = try vmprov(["setup", "--root", root.path, "--timezone", "Europe/Berlin", "--user", "vbox", "--uid", "70000",
                            "--vmdir", "/esc/vms"])
        #expect(r.status == 64 && r.stderr.contains("outside the root folder"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: root.file("etc/localtime").path), "no step ran")
        #expect(["etc/passwd", "etc/group"].map { bytes(root.file($0)) } == before)
        #expect(!FileManager.default.fileExists(atPath: root.file("home/vbox").path))
        #expect(leftovers(outside).isEmpty)
    }

    @Test func extpackAutoWithoutVBoxManageIsToolMissing() throws {
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = TempDir().path
        let r = try run(TestPaths.vmprov.path, ["setup", "--extpack", "auto"], environment: env)
        #expect(r.status == 69, "\(r.output)")
    }

    @Test func aMissingExtpackFileIsNotFound() throws {
        let r = try vmprov(["setup", "--extpack", "/nonexistent.vbox-extpack"])
        #expect(r.status == 66 && r.stderr.contains("no such file"), "\(r.output)")
    }

    @Test func aMissingRootOrAccountFileIsNotFoundWithOnePathAndAdvice() throws {
        let missing = try vmprov(["setup", "--root", "/nonexistent-root", "--user", "vbox", "--uid", "70000"])
        #expect(missing.status == 66, "\(missing.output)")
        #expect(missing.stderr.contains("etc/passwd, etc/group, etc/shadow, etc/gshadow"), "\(missing.stderr)")
        let root = try SetupCommandTests.makeRoot()
        try FileManager.default.removeItem(atPath: root.file("etc/group").path)
        let r = try vmprov(["setup", "--root", root.path, "--user", "vbox", "--uid", "70000"])
        #expect(r.status == 66, "\(r.output)")
        let path = root.file("etc/group").path
        #expect(r.stderr.components(separatedBy: path).count == 2, "one path: \(r.stderr)")
        #expect(r.stderr.contains("etc/passwd, etc/group, etc/shadow, etc/gshadow"), "\(r.stderr)")
    }
}
}
