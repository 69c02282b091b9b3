import Foundation
import Provision
import Testing
import TestSupport

func testOptions(retries: Int = 3, cache: String? = nil) -> DownloadOptions {
    var o = DownloadOptions()
    o.retries = retries
    o.initialBackoff = 0.05
    o.maximumBackoff = 0.2
    o.stallSeconds = 2
    o.lowSpeedBytes = 1000
    o.cacheDirectory = cache
    return o
}


@Suite("Downloads against nginx and the fault server", .serialized)
struct DownloadTests {
    static let payload = randomData(3 << 20)
    static let digest = Digest(algorithm: .sha256, hex: (try? sha256sum(payload)) ?? "")

    @Test func plainDownloadFromNginxIsVerifiedAndCached() throws {
        let nginx = try NginxServer()
        nginx.add("disk.iso", bytes: Self.payload)
        let out = TempDir()
        let cache = TempDir()
        let d = Downloader(options: testOptions(cache: cache.path))
        let dest = out.file("disk.iso").path
        let report = try d.fetch(DownloadRequest(urls: ["\(nginx.base)/disk.iso"], destination: dest, expected: Self.digest))
        #expect(report.digest == Self.digest && report.bytes == Int64(Self.payload.count))
        #expect(bytes(out.file("disk.iso")) == Self.payload)
        #expect(leftovers(out) == ["disk.iso"])
        #expect(FileManager.default.fileExists(atPath: "\(cache.path)/sha256/\(Self.digest.hex)"))
        // A second fetch of the same digest elsewhere uses no network.
        let before = nginx.requests().count
        let again = try d.fetch(DownloadRequest(urls: ["\(nginx.base)/disk.iso"], destination: out.file("copy.iso").path,
                                                expected: Self.digest))
        #expect(again.fromCache)
        #expect(nginx.requests().count == before)
        #expect(bytes(out.file("copy.iso")) == Self.payload)
        // Fetching onto an existing good file is a no-op.
        let present = try d.fetch(DownloadRequest(urls: ["\(nginx.base)/disk.iso"], destination: dest, expected: Self.digest))
        #expect(present.alreadyPresent)
    }

    @Test func redirectsAreFollowed() throws {
        let nginx = try NginxServer()
        nginx.add("disk.iso", bytes: Self.payload)
        let out = TempDir()
        let r = try Downloader(options: testOptions()).fetch(DownloadRequest(
            urls: ["\(nginx.base)/r/disk.iso"], destination: out.file("d.iso").path, expected: Self.digest))
        #expect(r.bytes == Int64(Self.payload.count))
    }

    @Test func httpErrorKeepsNoBytesAndNamesTheURL() throws {
        let nginx = try NginxServer()
        let out = TempDir()
        let dest = out.file("x.iso").path
        do {
            _ = try Downloader(options: testOptions()).fetch(DownloadRequest(
                urls: ["\(nginx.base)/nope.iso"], destination: dest, expected: Self.digest))
            Issue.record("a 404 was accepted")
        } catch {
            guard case let .failed(attempts, allNotFound) = error else { Issue.record("\(error)"); return }
            #expect(allNotFound)
            #expect(attempts.count == 1, "a 404 is not retried")
            #expect(attempts[0].url.hasSuffix("/nope.iso") && attempts[0].outcome.contains("404"))
        }
        #expect(FileHasher.size(dest + ".partial") == 0)
        #expect(!FileManager.default.fileExists(atPath: dest))
    }

    @Test func killedTransferResumesWithARangeRequest() throws {
        let nginx = try NginxServer(slowRate: "1m")
        nginx.add("big.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("big.iso").path
        let p = Process()
        p.executableURL = TestPaths.vmprov
        p.arguments = ["fetch", "\(nginx.base)/slow/big.iso", "--checksum", Self.digest.description, "-o", dest,
                       "--no-cache", "--no-signature", "--quiet"]
        try p.run()
        Thread.sleep(forTimeInterval: 1.5)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let part = FileHasher.size(dest + ".partial")
        #expect(part > 0 && part < Int64(Self.payload.count))
        #expect(!FileManager.default.fileExists(atPath: dest))
        let r = try vmprov(["fetch", "\(nginx.base)/slow/big.iso", "--checksum", Self.digest.description, "-o", dest,
                            "--no-cache", "--no-signature", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"resumedFrom\" : \(part)"))
        #expect(r.stdout.contains("\"bytesTransferred\" : \(Int64(Self.payload.count) - part)"))
        #expect(nginx.requests().contains { $0.hasPrefix("/slow/big.iso 206 range=\"bytes=\(part)-\" ifrange=\"\\x22") }, "\(nginx.requests())")
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
        #expect(leftovers(out) == ["big.iso"])
    }

    @Test(arguments: ["truncated", "reset", "stall", "flaky500", "busy429"])
    func transientFaultsAreRetriedAndResumed(kind: String) throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        let started = Date()
        let report = try Downloader(options: testOptions()).fetch(DownloadRequest(
            urls: ["\(fault.base)/\(kind)/f.iso"], destination: dest, expected: Self.digest))
        #expect(report.digest == Self.digest)
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
        #expect(report.attempts.count == 2, "\(report.attempts)")
        let log = try fault.control("/_log").split(separator: "\n")
        if kind == "truncated" || kind == "stall" {
            #expect(log.contains { $0.contains("/\(kind)/f.iso bytes=\(Self.payload.count / 2)-") }, "\(log)")
        }
        if kind == "busy429" { #expect(Date().timeIntervalSince(started) >= 1.0, "Retry-After was honoured") }
        #expect(leftovers(out) == ["f.iso"])
    }

    @Test func aServerThatIgnoresRangeRestartsCleanly() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        // A stale part from an earlier run that claims this digest.
        out.write("f.iso.partial", bytes: Self.payload.prefix(1000))
        out.write("f.iso.partial.info", "vmprov-partial 1\nurl=http://other-mirror.example/f.iso\nvalidator=\ndigest=\(Self.digest)\n")
        let report = try Downloader(options: testOptions()).fetch(DownloadRequest(
            urls: ["\(fault.base)/ignore-range/f.iso"], destination: dest, expected: Self.digest))
        #expect(report.attempts.last?.outcome.contains("restarted") == true)
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
    }

    @Test func aChangedETagBetweenRunsRestartsCleanly() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        _ = try fault.control("/_set?truncate=1")
        let first = Downloader(options: testOptions(retries: 0))
        // The first run is cut off halfway: the part stays.
        #expect(throws: DownloadError.self) {
            try first.fetch(DownloadRequest(urls: ["\(fault.base)/etag/f.iso"], destination: dest, expected: nil))
        }
        #expect(FileHasher.size(dest + ".partial") == Int64(Self.payload.count / 2))
        // The file changes on the server (new ETag, other bytes).
        _ = try fault.control("/_set?truncate=0&etag=v2")
        let changed = Data(Self.payload.map { $0 ^ 0x5A })
        let want = Digest(algorithm: .sha256, hex: try sha256sum(changed))
        let report = try Downloader(options: testOptions()).fetch(DownloadRequest(
            urls: ["\(fault.base)/etag/f.iso"], destination: dest, expected: want))
        #expect(report.digest == want)
        let log = try fault.control("/_log")
        #expect(log.contains("bytes=\(Self.payload.count / 2)- \"v1\""), "the rerun asked If-Range with the old ETag: \(log)")
        #expect(bytes(URL(fileURLWithPath: dest)) == changed)
    }

    @Test(arguments: ["redirect-file", "redirect-ftp", "loop"])
    func dangerousOrEndlessRedirectsFail(path: String) throws {
        let fault = try FaultServer()
        let out = TempDir()
        do {
            _ = try Downloader(options: testOptions()).fetch(DownloadRequest(
                urls: ["\(fault.base)/\(path)"], destination: out.file("x").path, expected: Self.digest))
            Issue.record("followed \(path)")
        } catch {
            guard case let .failed(attempts, _) = error else { Issue.record("\(error)"); return }
            #expect(attempts.count == 1, "not retried: \(attempts)")
            let outcome = attempts[0].outcome.lowercased()
            #expect(path == "loop" ? outcome.contains("redirect") : outcome.contains("only http and https"), "\(outcome)")
        }
        #expect(leftovers(out).isEmpty)
    }

    @Test func wrongBytesAreKeptAsCorruptAndNothingAtDest() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        do {
            _ = try Downloader(options: testOptions()).fetch(DownloadRequest(
                urls: ["\(fault.base)/wrong/f.iso"], destination: dest, expected: Self.digest))
            Issue.record("accepted wrong bytes")
        } catch {
            guard case let .verification(.mismatch(_, expected, actual, keptAt)) = error else { Issue.record("\(error)"); return }
            #expect(expected == Self.digest && actual != Self.digest)
            #expect(keptAt == dest + ".corrupt")
        }
        #expect(leftovers(out) == ["f.iso.corrupt"])
    }

    /// A kept part whose bytes are wrong (damaged on disk, or left by another server) is resumed, found wrong at the
    /// end, and fetched once more from zero from the same URL: the good file arrives, nothing is blamed on the mirror.
    @Test func aDamagedPartIsDroppedAndTheFileFetchedAgain() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        let url = "\(fault.base)/ok/f.iso"
        out.write("f.iso.partial", bytes: randomData(100_000))
        out.write("f.iso.partial.info", bytes: Data(("vmprov-partial 1\nurl=\(url)\nvalidator=\ndigest=\(Self.digest)\n"
            + "size=\(Self.payload.count)\n").utf8))
        let report = try Downloader(options: testOptions()).fetch(DownloadRequest(urls: [url], destination: dest,
                                                                                expected: Self.digest))
        #expect(report.digest == Self.digest)
        #expect(bytes(out.file("f.iso")) == Self.payload)
        #expect(leftovers(out) == ["f.iso"])
        #expect(try fault.control("/_log").contains("bytes=100000-"), "the part was resumed first")
    }

    @Test func moreBytesThanContentLengthAreNotKept() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        let report = try Downloader(options: testOptions()).fetch(DownloadRequest(
            urls: ["\(fault.base)/excess/f.iso"], destination: dest, expected: Self.digest))
        #expect(report.bytes == Int64(Self.payload.count))
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
    }

    @Test func mirrorsAreTriedInOrderAndTheErrorListsEveryURL() throws {
        let nginx = try NginxServer()
        nginx.add("m.iso", bytes: Self.payload)
        let out = TempDir()
        let dead = "http://127.0.0.1:\(freePort())/m.iso"
        let report = try Downloader(options: testOptions(retries: 1)).fetch(DownloadRequest(
            urls: [dead, "\(nginx.base)/missing.iso", "\(nginx.base)/m.iso"], destination: out.file("m.iso").path,
            expected: Self.digest))
        #expect(report.url == "\(nginx.base)/m.iso")
        #expect(report.attempts.map(\.url) == [dead, dead, "\(nginx.base)/missing.iso", "\(nginx.base)/m.iso"])
        do {
            _ = try Downloader(options: testOptions(retries: 0)).fetch(DownloadRequest(
                urls: [dead, "\(nginx.base)/missing.iso"], destination: out.file("n.iso").path, expected: Self.digest))
        } catch {
            let e = error
            #expect(e.description.contains(dead) && e.description.contains("missing.iso: HTTP 404"))
        }
    }

    @Test func onlyHTTPAndHTTPSAreAccepted() {
        #expect(throws: DownloadError.self) {
            try Downloader().fetch(DownloadRequest(urls: ["ftp://127.0.0.1/x"], destination: "/tmp/x", expected: nil))
        }
        #expect(throws: DownloadError.self) { try Downloader().fetchSmall("file:///etc/passwd") }
    }

    @Test func httpsWithAPrivateCAAndNeverWithout() throws {
        let nginx = try NginxServer(tls: true)
        nginx.add("disk.iso", bytes: Self.payload)
        let out = TempDir()
        let url = "\(try #require(nginx.tlsBase))/disk.iso"
        // The certificate is not in the system store: refused, not retried, nothing kept.
        do {
            _ = try Downloader(options: testOptions()).fetch(DownloadRequest(urls: [url], destination: out.file("a.iso").path,
                                                                             expected: Self.digest))
            Issue.record("an unverifiable certificate was accepted")
        } catch {
            guard case let .failed(attempts, _) = error else { Issue.record("\(error)"); return }
            #expect(attempts.count == 1, "\(attempts)")
            #expect(attempts[0].outcome.lowercased().contains("certificate"), "\(attempts)")
        }
        #expect(leftovers(out).isEmpty)
        var o = testOptions()
        o.caCertificate = nginx.certificate
        let report = try Downloader(options: o).fetch(DownloadRequest(urls: [url], destination: out.file("b.iso").path,
                                                                      expected: Self.digest))
        #expect(report.digest == Self.digest)
        let cli = try vmprov(["fetch", url, "--checksum", Self.digest.description, "-o", out.file("c.iso").path,
                              "--cacert", nginx.certificate, "--no-cache", "--no-signature"])
        #expect(cli.status == 0, "\(cli.output)")
    }

    @Test func progressLinesWhenNotATerminal() throws {
        let nginx = try NginxServer(slowRate: "2m")
        nginx.add("p.iso", bytes: Self.payload)
        let out = TempDir()
        let r = try vmprov(["fetch", "\(nginx.base)/slow/p.iso", "--checksum", Self.digest.description,
                            "-o", out.file("p.iso").path, "--no-cache", "--no-signature"])
        #expect(r.status == 0)
        let percents = r.stderr.split(separator: "\n").filter { $0.hasPrefix("download: ") }
            .compactMap { Int($0.dropFirst(10).prefix { $0.isNumber }) }
        #expect(percents.count >= 5, "\(r.stderr)")
        // One line per 5 % step at most (a 10 s heartbeat never triggers in this short run).
        #expect(zip(percents, percents.dropFirst()).allSatisfy { $1 - $0 >= 5 }, "\(percents)")
        #expect(!r.stderr.contains("\r"), "no terminal bar in logs")
        let quiet = try vmprov(["fetch", "\(nginx.base)/p.iso", "--checksum", Self.digest.description,
                                "-o", out.file("q.iso").path, "--no-cache", "--no-signature", "--quiet"])
        #expect(quiet.status == 0 && !quiet.stderr.contains("download:"))
    }

    @Test func tlsIsVerified() throws {
        // A TLS handshake with a plain-HTTP server fails: no insecure fallback exists.
        let nginx = try NginxServer()
        do {
            _ = try Downloader(options: testOptions(retries: 0)).fetchSmall("https://127.0.0.1:\(nginx.port)/x")
            Issue.record("no TLS error")
        } catch {
            guard case let .failed(attempts, _) = error else { Issue.record("\(error)"); return }
            #expect(!attempts.isEmpty)
        }
    }
}
