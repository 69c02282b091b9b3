import Foundation
import Provision
import Testing
import TestSupport

/// `vmprov fetch` and `create`: names from URLs, bounds, stalls, exit codes, offline behaviour.
@Suite("Fetch safety, end to end", .serialized)
struct FetchSafetyTests {
    static let payload = randomData(3 << 20)
    static let digest = (try? sha256sum(payload)) ?? ""

    /// A name that would climb out of the folder, or carries NUL or control characters, is refused (64).
    @Test func namesThatAreNotOnePlainSegmentAreRefused() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let top = TempDir()
        let cwd = top.file("a/b").path
        try FileManager.default.createDirectory(atPath: cwd, withIntermediateDirectories: true)
        for name in ["..%2F..%2Fevil.iso", "%2Ftmp%2Fevil.iso", "%2e%2e", "evil%00.iso", "evil%0D%0A.iso", ""] {
            // /named/ANY?f=f.iso serves the file whatever ANY is: the old code wrote it to ../../evil.iso.
            let r = try vmprov(["fetch", "\(fault.base)/named/\(name)?f=f.iso", "--checksum", "none", "--no-cache",
                                "--retries", "0"], currentDirectory: cwd)
            #expect(r.status == 64, "\(name): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("-o PATH"), "\(r.stderr)")
            #expect(!r.stderr.contains("\r"))
        }
        #expect(leftovers(top) == ["a"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: cwd).isEmpty)
        // With -o the URL's name does not matter.
        let o = try vmprov(["fetch", "\(fault.base)/named/..%2F..%2Fx?f=f.iso", "--checksum", "sha256:\(Self.digest)",
                            "--no-signature", "--no-cache", "-o", "mine.iso"], currentDirectory: cwd)
        #expect(o.status == 0, "\(o.stderr)")
        // A redirect to a climbing name changes nothing: the name comes from the URL asked for.
        let r = try vmprov(["fetch", "\(fault.base)/redirect-name/f.iso", "--checksum", "sha256:\(Self.digest)",
                            "--no-signature", "--no-cache"], currentDirectory: cwd)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cwd).sorted() == ["f.iso", "mine.iso"])
        #expect(leftovers(top) == ["a"])
    }

    /// `create --iso-url` names its download the same way (the old code put it at cache/downloads/../../evil.iso).
    @Test func createRefusesAClimbingISOName() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let r = try vmprov(["create", "--profile", "ubuntu", "--iso-url", "\(fault.base)/named/..%2F..%2Fevil.iso?f=f.iso",
                            "--checksum", "sha256:\(Self.digest)", "--no-signature", "--dir", out.file("vms").path],
                           environment: ["VMPROV_CACHE": out.file("cache/vmprov").path, "VMPROV_GUEST_ADDITIONS": "none"])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("slash"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.file("evil.iso").path))
        #expect(!FileManager.default.fileExists(atPath: out.file("cache/evil.iso").path))
        #expect(!FileManager.default.fileExists(atPath: out.file("vms").path))
    }

    @Test func maxSizeRefusesAndKeepsNothing() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        for (kind, spec) in [("ok", "sha256:\(Self.digest)"), ("endless", "none")] {
            let r = try vmprov(["fetch", "\(fault.base)/\(kind)/f.iso", "--checksum", spec, "--max-size", "2M",
                                "--no-signature", "--no-cache", "-o", out.file("f.iso").path])
            #expect(r.status == 65, "\(kind): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("larger than 2097152 bytes (--max-size 2M)"), "\(r.stderr)")
            #expect(leftovers(out).isEmpty, "\(leftovers(out))")
        }
        let ok = try vmprov(["fetch", "\(fault.base)/ok/f.iso", "--checksum", "sha256:\(Self.digest)", "--max-size", "3M",
                             "--no-signature", "--no-cache", "-o", out.file("f.iso").path])
        #expect(ok.status == 0, "\(ok.stderr)")
        let bad = try vmprov(["fetch", "\(fault.base)/ok/f.iso", "--checksum", "none", "--max-size", "lots"])
        #expect(bad.status == 64 && bad.stderr.contains("--max-size"))
    }

    /// Fedora, Rocky and Alma checksum files state each file's size; a larger download is refused before its body.
    @Test func aChecksumFilesSizeLineBoundsTheDownload() throws {
        let nginx = try NginxServer()
        nginx.add("d/disk.iso", bytes: Self.payload)
        nginx.add("d/CHECKSUM", bytes: Data("# disk.iso: 1000 bytes\nSHA256 (disk.iso) = \(Self.digest)\n".utf8))
        nginx.add("e/disk.iso", bytes: Self.payload)
        nginx.add("e/CHECKSUM", bytes: Data("# disk.iso: \(Self.payload.count) bytes\nSHA256 (disk.iso) = \(Self.digest)\n".utf8))
        let out = TempDir()
        let r = try vmprov(["fetch", "\(nginx.base)/d/disk.iso", "--checksum", "file:CHECKSUM", "--no-signature",
                            "--no-cache", "-o", out.file("disk.iso").path])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(r.stderr.contains("larger than 1000 bytes (the size \(nginx.base)/d/CHECKSUM states)"), "\(r.stderr)")
        #expect(leftovers(out).isEmpty)
        let ok = try vmprov(["fetch", "\(nginx.base)/e/disk.iso", "--checksum", "file:CHECKSUM", "--no-signature",
                             "--no-cache", "-o", out.file("disk.iso").path])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    /// Two vmprov processes for one destination: the second is refused at once (75); the first finishes intact.
    @Test func aSecondDownloadToTheSameFileIsRefused() throws {
        let nginx = try NginxServer(slowRate: "1m")
        nginx.add("big.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("big.iso").path
        let first = Process()
        first.executableURL = TestPaths.vmprov
        first.arguments = ["fetch", "\(nginx.base)/slow/big.iso", "--checksum", "sha256:\(Self.digest)", "-o", dest,
                           "--no-cache", "--no-signature", "--quiet"]
        try first.run()
        // Wait until the first one writes its part (no timing assertion: just a start signal).
        for _ in 0..<200 where FileHasher.size(dest + ".partial") == 0 { Thread.sleep(forTimeInterval: 0.05) }
        #expect(FileHasher.size(dest + ".partial") > 0)
        let second = try vmprov(["fetch", "\(nginx.base)/big.iso", "--checksum", "sha256:\(Self.digest)", "-o", dest,
                                 "--no-cache", "--no-signature"])
        first.waitUntilExit()
        #expect(second.status == 75, "\(second.stderr)")
        #expect(second.stderr.contains("another vmprov is downloading to it"), "\(second.stderr)")
        #expect(first.terminationStatus == 0)
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
        #expect(leftovers(out) == ["big.iso"])
    }

    @Test func aTrickleStallsAndIsKeptForResume() throws {
        let fault = try FaultServer()
        fault.add("t.iso", bytes: Data(Self.payload.prefix(4096)))
        let out = TempDir()
        let r = try vmprov(["fetch", "\(fault.base)/trickle/t.iso", "--checksum", "none", "--no-cache", "--retries", "0",
                            "--stall-time", "2", "--stall-speed", "1024", "-o", out.file("t.iso").path])
        #expect(r.status == 75, "\(r.stderr)")
        #expect(r.stderr.contains("stalled: below 1024 bytes/s for 2 s"), "\(r.stderr)")
        #expect(leftovers(out) == ["t.iso.partial", "t.iso.partial.info"])
    }

    /// The README's exit codes: not found 66, refusals 65, tools 69; never 75 for what retrying cannot fix.
    /// A libcurl that cannot be loaded is "tool missing" (69) with one message naming the library and dlerror()'s
    /// text from the moment of the failure (the old loader asked dlerror() only when the message was built, after
    /// the text was gone, and said "libcurl.so.4 not found" whatever happened); nothing is left at the destination.
    @Test func aLibcurlThatCannotBeLoadedIsNamedWithTheLoadersReason() throws {
        let out = TempDir()
        let dest = out.file("x.iso").path
        let cases: [(library: String, expected: [String])] = [
            ("/nonexistent/libcurl-missing.so.4", ["/nonexistent/libcurl-missing.so.4", "No such file or directory"]),
            // A real library without libcurl's symbols: the missing symbol and dlsym's reason.
            ("libz.so.1", ["libz.so.1 has no curl_global_init", "undefined symbol"]),
        ]
        for (library, expected) in cases {
            let r = try vmprov(["fetch", "http://127.0.0.1:9/x.iso", "-o", dest, "--checksum", "none", "--retries", "0"],
                               environment: ["VMPROV_CACHE": out.file("cache").path, "VMPROV_TEST_LIBCURL": library])
            #expect(r.status == 69, "\(library): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("libcurl could not be loaded"), "\(r.stderr)")
            for text in expected { #expect(r.stderr.contains(text), "\(library): \(r.stderr)") }
            #expect(!FileManager.default.fileExists(atPath: dest))
        }
    }

    @Test func exitCodesMatchTheREADME() throws {
        let nginx = try NginxServer()
        let fault = try FaultServer()
        let key = try TestKey()
        nginx.add("d/disk.iso", bytes: Self.payload)
        nginx.add("d/SHA256SUMS", bytes: Data("\(Self.digest)  disk.iso\n".utf8))
        let out = TempDir()
        let iso = "\(nginx.base)/d/disk.iso"
        let dest = out.file("disk.iso").path
        let sha = "sha256:\(Self.digest)"
        let cases: [(String, [String], Int32, String)] = [
            ("checksum file 404", [iso, "--checksum", "file:NOSUCHSUMS", "--no-signature"], 66, "NOSUCHSUMS: HTTP 404"),
            ("local checksum file", [iso, "--checksum", "file:/nonexistent/SUMS", "--no-signature"], 66, "/nonexistent/SUMS"),
            ("signature 404", [iso, "--checksum", sha, "--signature", "nope.gpg", "--keyring", key.publicKey.path],
             66, "the signature was not found"),
            ("keyring missing", [iso, "--checksum", "file:SHA256SUMS", "--signature", "SHA256SUMS.gpg",
                                 "--keyring", "/nonexistent/key.asc"], 66, "/nonexistent/key.asc"),
            ("redirect to ftp", ["\(fault.base)/redirect-ftp", "-o", dest, "--checksum", "none"], 65, "only http and https"),
            ("redirect to file", ["\(fault.base)/redirect-file", "-o", dest, "--checksum", "none"], 65, "only http and https"),
            ("redirect loop", ["\(fault.base)/loop", "-o", dest, "--checksum", "none"], 65, "redirect"),
            ("malformed URL", ["http://127.0.0.1:\(fault.port)/a\r\nX-Evil: 1/b.iso", "-o", dest, "--checksum", "none"],
             65, "a\\r\\nX-Evil: 1/b.iso"),
            ("no protocol restriction", [iso, "--checksum", sha, "--no-signature"], 69, "CURLOPT_PROTOCOLS_STR and CURLOPT_PROTOCOLS"),
        ]
        for (what, args, code, text) in cases {
            var env = ["VMPROV_CACHE": out.file("cache").path, "VMPROV_TEST_BACKOFF": "0.01"]
            if what == "no protocol restriction" { env["VMPROV_TEST_FAIL_CURLOPT"] = "CURLOPT_PROTOCOLS_STR,CURLOPT_PROTOCOLS" }
            var argv = ["fetch"] + args
            if !args.contains("-o") { argv += ["-o", dest] }
            let r = try vmprov(argv, environment: env)
            #expect(r.status == code, "\(what): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(text), "\(what): \(r.stderr)")
            #expect(!r.stderr.contains("\r"), "\(what): raw CR in \(r.stderr.debugDescription)")
            #expect(!r.stderr.contains("; retry "), "\(what) was retried: \(r.stderr)")
        }
        // The CLI's last line of defence: no message sends a raw control character to the terminal.
        let odd = try vmprov(["verify", "/nonexistent/x\r\u{1B}[2J.iso", "--checksum", "none"])
        #expect(odd.status == 66)
        #expect(odd.stderr.contains("/nonexistent/x\\r\\u{1B}[2J.iso"), "\(odd.stderr.debugDescription)")
        #expect(!odd.stderr.contains("\u{1B}") && !odd.stderr.contains("\r"))
        // gpgv missing: 69. gpgv is never looked up on PATH, so "missing" is a VMPROV_GPGV that is not there (the
        // standard locations are tried only without it).
        nginx.add("d/SHA256SUMS.gpg", bytes: Data("not checked: gpgv is missing".utf8))
        let noGPG = try vmprov(["fetch", iso, "--checksum", "file:SHA256SUMS", "--signature", "SHA256SUMS.gpg",
                                "--keyring", key.publicKey.path, "-o", dest],
                               environment: ["VMPROV_GPGV": "/nonexistent/gpgv", "VMPROV_CACHE": out.file("cache").path])
        #expect(noGPG.status == 69, "\(noGPG.stderr)")
        #expect(noGPG.stderr.contains("gpgv"))
        #expect(!FileManager.default.fileExists(atPath: dest))
    }

    /// Offline: a name that does not resolve is reported once, not retried, exit 75, and leaves nothing behind.
    @Test func offlineFetchAndCreateFailFastAndLeaveNothing() throws {
        let out = TempDir()
        let url = "http://releases.vmprov-test.invalid/x/disk.iso"
        let r = try vmprov(["fetch", url, "--checksum", "sha256:\(Self.digest)", "--no-signature", "--no-cache"],
                           currentDirectory: out.path)
        #expect(r.status == 75, "\(r.stderr)")
        #expect(r.stderr.components(separatedBy: url).count - 1 == 1, "the URL once: \(r.stderr)")
        #expect(r.stderr.contains("not retried") && !r.stderr.contains("retry 1"), "\(r.stderr)")
        #expect(leftovers(out).isEmpty)

        let base = try String(contentsOfFile: TestPaths.packageRoot.appendingPathComponent("profiles/ubuntu.yaml").path,
                              encoding: .utf8)
        let profiles = TempDir()
        profiles.write("offline.yaml", base.replacingOccurrences(of: "name: ubuntu", with: "name: offline")
            .replacingOccurrences(of: "https://releases.ubuntu.com", with: "https://releases.vmprov-test.invalid")
            .replacingOccurrences(of: "https://keyserver.ubuntu.com", with: "https://keys.vmprov-test.invalid"))
        let c = try vmprov(["create", "--profile", "offline", "--dir", out.file("new/vms").path],
                           environment: ["VMPROV_PROFILES": profiles.path, "VMPROV_CACHE": out.file("cache").path])
        #expect(c.status == 75, "\(c.stderr)")
        #expect(c.stderr.contains("keys.vmprov-test.invalid") && !c.stderr.contains("retry 1"), "\(c.stderr)")
        #expect(c.stderr.split(separator: "\n").filter { $0.hasPrefix("    https://keys.vmprov-test.invalid") }.count == 1,
                "\(c.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.file("new").path), "the --dir folder vmprov made is gone")
        // A --dir that existed before stays.
        try FileManager.default.createDirectory(atPath: out.file("mine").path, withIntermediateDirectories: true)
        let m = try vmprov(["create", "--profile", "offline", "--dir", out.file("mine").path],
                           environment: ["VMPROV_PROFILES": profiles.path, "VMPROV_CACHE": out.file("cache").path])
        #expect(m.status == 75)
        #expect(FileManager.default.fileExists(atPath: out.file("mine").path))
    }
}
