import Foundation
import Provision
import Testing
import TestSupport

/// Segmented downloads (`--connections`): several ranges at once from nginx and the fault server, spread over
/// mirrors, verified before anything appears at the destination. Segments are made small (256 KiB, through
/// VMPROV_TEST_SEGMENT_BYTES) so that small files are segmented.
@Suite("Segmented fetch, end to end", .serialized)
struct FetchSegmentedTests {
    static let payload = randomData(4 << 20)
    static let digest = (try? sha256sum(payload)) ?? ""
    static let env = ["VMPROV_TEST_SEGMENT_BYTES": "262144", "VMPROV_TEST_BACKOFF": "0.05"]

    func fetch(_ urls: [String], _ dest: String, checksum: String = "sha256:\(FetchSegmentedTests.digest)",
               extra: [String] = ["--connections", "4"]) throws -> RunResult {
        try vmprov(["fetch"] + urls + ["--checksum", checksum, "--no-signature", "--no-cache", "-o", dest] + extra,
                   environment: Self.env)
    }

    /// GET lines of the fault server's log with a closed range ("bytes=A-B").
    func rangedGets(_ fault: FaultServer) throws -> [String] {
        try fault.control("/_log").split(separator: "\n").map(String.init)
            .filter { $0.range(of: #" bytes=\d+-\d+ "#, options: .regularExpression) != nil }
    }

    @Test func twoMirrorsShareTheRangesAndTheFileIsVerified() throws {
        let nginx = try NginxServer()
        nginx.add("a.iso", bytes: Self.payload)
        let fault = try FaultServer()
        fault.add("a.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("a.iso").path
        let r = try fetch(["\(nginx.base)/a.iso", "\(fault.base)/ok/a.iso"], dest, extra: ["--connections", "4", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
        #expect(leftovers(out) == ["a.iso"])
        let nginxRanges = nginx.requests().filter { $0.range(of: #"206 range="bytes=\d+-\d+""#, options: .regularExpression) != nil }
        #expect(nginxRanges.count >= 2, "\(nginx.requests())")
        let faultLog = try fault.control("/_log")
        #expect(try rangedGets(fault).count >= 2, "\(faultLog)")
        #expect(r.stdout.contains("\"bytesTransferred\" : \(Self.payload.count)"), "\(r.stdout)")
    }

    @Test func aResetSegmentIsRetried() throws {
        let fault = try FaultServer()
        fault.add("a.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("a.iso").path
        let r = try fetch(["\(fault.base)/reset/a.iso"], dest)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("retry 1 of"), "\(r.stderr)")
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
        #expect(leftovers(out) == ["a.iso"])
        #expect(try rangedGets(fault).count >= 4)
    }

    /// The mirror that sends different bytes for one range is dropped and the range refetched, whether it comes
    /// first (its own complete file then fails the checksum) or second (its ranges are compared with the first's).
    @Test(arguments: [true, false])
    func aMirrorWithDifferentBytesIsDroppedAndTheRightBytesKept(badFirst: Bool) throws {
        let nginx = try NginxServer()
        nginx.add("a.iso", bytes: Self.payload)
        let fault = try FaultServer()
        fault.add("a.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("a.iso").path
        // The first mirror starts with segment 0, the second with segment 1 (262144-524287): the inverted bytes
        // are put in the bad mirror's first segment.
        let bad = "\(fault.base)/badrange/a.iso?at=\(badFirst ? 0 : 300_000)"
        let urls = badFirst ? [bad, "\(nginx.base)/a.iso"] : ["\(nginx.base)/a.iso", bad]
        let r = try fetch(urls, dest)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("sent different bytes"), "\(r.stderr)")
        #expect(r.stderr.contains("badrange"), "\(r.stderr)")
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
        #expect(leftovers(out) == ["a.iso"])
    }

    /// The only server sending different bytes for a range: refused, nothing at the destination.
    @Test func aSingleServerWithDifferentBytesIsRefused() throws {
        let fault = try FaultServer()
        fault.add("a.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("a.iso").path
        let r = try fetch(["\(fault.base)/badrange/a.iso"], dest)
        #expect(r.status == 65, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dest))
        #expect(!leftovers(out).contains("a.iso.partial"))
    }

    /// The file changes in the middle (If-Range no longer matches, the server sends 200): one stream from the
    /// start, with a note; the new bytes fail the checksum, so nothing appears at the destination.
    @Test func aValidatorChangeFallsBackToOneStream() throws {
        let fault = try FaultServer()
        fault.add("a.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("a.iso").path
        let r = try fetch(["\(fault.base)/etag-flip/a.iso"], dest)
        #expect(r.stderr.contains("its file changed"), "\(r.stderr)")
        #expect(r.stderr.contains("one stream"), "\(r.stderr)")
        #expect(r.status == 65, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dest))
        // Without a checksum the second file is what the server now has, fetched as one stream.
        _ = try fault.control("/_reset")
        let plain = out.file("b.iso").path
        let p = try fetch(["\(fault.base)/etag-flip/a.iso"], plain, checksum: "none")
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stderr.contains("one stream"), "\(p.stderr)")
        #expect(bytes(URL(fileURLWithPath: plain)) == Data(Self.payload.map { $0 ^ 0x5A }))
    }

    @Test func aKilledSegmentedDownloadResumesEveryOpenRange() throws {
        let nginx = try NginxServer(slowRate: "1m")
        let payload = randomData(6 << 20)
        let digest = try sha256sum(payload)
        nginx.add("big.iso", bytes: payload)
        let out = TempDir()
        let dest = out.file("big.iso").path
        let args = ["fetch", "\(nginx.base)/slow/big.iso", "--checksum", "sha256:\(digest)", "-o", dest, "--no-cache",
                    "--no-signature", "--connections", "4"]
        let p = Process()
        p.executableURL = TestPaths.vmprov
        p.arguments = args + ["--quiet"]
        p.environment = ProcessInfo.processInfo.environment.merging(Self.env) { $1 }
        try p.run()
        // Wait for a checkpoint that records several open ranges with bytes already on disk.
        var sidecar = ""
        for _ in 0..<100 {
            Thread.sleep(forTimeInterval: 0.1)
            sidecar = (try? String(contentsOfFile: dest + ".partial.info", encoding: .utf8)) ?? ""
            if let line = sidecar.split(separator: "\n").first(where: { $0.hasPrefix("missing=") }),
               !line.hasPrefix("missing=0-") { break }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        sidecar = (try? String(contentsOfFile: dest + ".partial.info", encoding: .utf8)) ?? ""
        #expect(sidecar.hasPrefix("vmprov-partial 2\n"), "\(sidecar)")
        let missing = sidecar.split(separator: "\n").first { $0.hasPrefix("missing=") }.map { String($0.dropFirst(8)) } ?? ""
        #expect(missing.split(separator: ",").count >= 2, "several ranges open: \(missing)")
        #expect(!FileManager.default.fileExists(atPath: dest))
        let r = try vmprov(args + ["--json"], environment: Self.env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(bytes(URL(fileURLWithPath: dest)) == payload)
        #expect(leftovers(out) == ["big.iso"])
        // Exactly the missing bytes were fetched again.
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        let resumed = (json["resumedFrom"] as? Int) ?? -1
        let moved = (json["bytesTransferred"] as? Int) ?? -1
        #expect(resumed > 0, "\(r.stdout)")
        #expect(resumed + moved == payload.count, "\(r.stdout)")
    }

    /// `--connections 1` is one stream as before: no HEAD, one GET without a range.
    @Test func oneConnectionIsOneStream() throws {
        let nginx = try NginxServer()
        nginx.add("a.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("a.iso").path
        let r = try fetch(["\(nginx.base)/a.iso"], dest, extra: ["--connections", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(nginx.requests() == ["/a.iso 200 range=\"-\" ifrange=\"-\" bytes=\(Self.payload.count)"], "\(nginx.requests())")
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
        let bad = try fetch(["\(nginx.base)/a.iso"], out.file("b.iso").path, extra: ["--connections", "0"])
        #expect(bad.status == 64 && bad.stderr.contains("--connections"), "\(bad.stderr)")
    }
}
