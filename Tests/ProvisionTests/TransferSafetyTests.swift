import Foundation
import Provision
import Testing
import TestSupport
import Basics

/// Names from URLs, planted links, size bounds, stalls, hostile sidecars and headers, protocol restrictions.
@Suite("Transfer safety", .serialized)
struct TransferSafetyTests {
    static let payload = randomData(1 << 20)
    static let digest = Digest(algorithm: .sha256, hex: (try? sha256sum(payload)) ?? "")

    @Test func namesFromURLsAreOnePlainSegment() throws {
        for (url, name) in [
            ("http://h/a/b/disk.iso", "disk.iso"),
            ("http://h/a/disk.iso?x=/../y#/z", "disk.iso"),
            ("https://h/ubuntu%2024.04.iso", "ubuntu 24.04.iso"),
            ("http://h/%C3%A9t%C3%A9.iso", "été.iso"),
        ] {
            #expect(try URLText.safeFileName(url) == name)
        }
        for (url, why) in [
            ("http://h/dl/..%2F..%2Fetc%2Fpasswd", "slash"),
            ("http://h/dl/%2Fetc%2Fpasswd", "slash"),
            ("http://h/dl/%2e%2e", "\"..\""),
            ("http://h/dl/.", "\".\""),
            ("http://h/dl/", "empty"),
            ("http://h", "no path"),
            ("http://h?x=a.iso", "no path"),
            ("http://h/a%00b.iso", "NUL"),
            ("http://h/a%0D%0Ab.iso", "control"),
            ("http://h/a%1B%5B2Jb.iso", "control"),
            ("http://h/a%FFb.iso", "UTF-8"),
            ("http://h/" + String(repeating: "a", count: 256), "255"),
        ] {
            do {
                let n = try URLText.safeFileName(url)
                Issue.record("\(url) gave the name \(n)")
            } catch {
                guard case .badFileName = error else { Issue.record("\(error)"); continue }
                #expect(error.description.contains(why), "\(error.description)")
                #expect(!error.description.unicodeScalars.contains { $0.value < 0x20 }, "escaped: \(error.description)")
            }
        }
    }

    /// A small local file the user names may be a link; a device or a file over the limit is refused.
    @Test func smallLocalFilesAreBounded() throws {
        let dir = TempDir()
        let real = dir.write("SUMS", "abc\n")
        try FileManager.default.createSymbolicLink(atPath: dir.file("link").path, withDestinationPath: real.path)
        #expect(try Downloader().fetchSmall(dir.file("link").path) == Array("abc\n".utf8))
        #expect(throws: DownloadError.self) { try Downloader().fetchSmall("/dev/zero", limit: 1 << 20) }
        #expect(throws: DownloadError.self) { try Downloader().fetchSmall(real.path, limit: 2) }
        do { _ = try Downloader().fetchSmall(dir.file("nope").path) } catch { #expect(error.isNotFound) }
    }

    @Test func sizeLinesOfChecksumFiles() {
        let text = "# a.iso: 1234 bytes\nSHA256 (a.iso) = 00\n# b.iso: 7 bytes\n# b.iso: 8 bytes\n# c.iso: 12x bytes\n"
        #expect(ChecksumSizeLine.size(in: text, for: "a.iso") == 1234)
        #expect(ChecksumSizeLine.size(in: text, for: "b.iso") == nil, "contradictory")
        #expect(ChecksumSizeLine.size(in: text, for: "c.iso") == nil)
        #expect(ChecksumSizeLine.size(in: text, for: "d.iso") == nil)
        #expect(ChecksumSizeLine.size(in: "- # a.iso: 5 bytes\r\n", for: "a.iso") == 5)
    }

    @Test func controlCharactersAreEscapedInMessages() {
        #expect(URLText.printable("a\r\nb\u{1B}[2J\u{7F}\t") == "a\\r\\nb\\u{1B}[2J\\u{7F}\\t")
        let e = DownloadError.failed(attempts: [AttemptRecord(url: "http://h/a\r\nX-Evil: 1", outcome: "bad\u{1B}[31m",
                                                              kind: .refused)], allNotFound: false)
        #expect(!e.description.contains("\r") && !e.description.contains("\u{1B}"))
        #expect(e.description.contains("http://h/a\\r\\nX-Evil: 1: bad\\u{1B}[31m"))
        // Each URL once, with every try.
        let tries = DownloadError.failed(attempts: [
            AttemptRecord(url: "http://a/x", outcome: "HTTP 500", kind: .temporary),
            AttemptRecord(url: "http://b/x", outcome: "HTTP 404", kind: .notFound),
            AttemptRecord(url: "http://a/x", outcome: "HTTP 500", kind: .temporary),
            AttemptRecord(url: "http://a/x", outcome: "reset", kind: .temporary),
        ], allNotFound: false)
        #expect(tries.description.components(separatedBy: "http://a/x").count == 2, "\(tries.description)")
        #expect(tries.description.contains("http://a/x: 3 tries: HTTP 500 (2 tries); then reset"))
        #expect(tries.description.contains("http://b/x: HTTP 404"))
        #expect(tries.isTemporary && !tries.isNotFound)
    }

    /// A symlink planted at DEST.partial or DEST.partial.info is refused; its target keeps its bytes.
    @Test(arguments: [".partial", ".partial.info"])
    func plantedLinksAreRefused(suffix: String) throws {
        let nginx = try NginxServer()
        nginx.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let elsewhere = TempDir()
        let victim = elsewhere.write("victim", "precious\n")
        let dest = out.file("f.iso").path
        try FileManager.default.createSymbolicLink(atPath: dest + suffix, withDestinationPath: victim.path)
        do {
            _ = try Downloader(options: testOptions()).fetch(DownloadRequest(
                urls: ["\(nginx.base)/f.iso"], destination: dest, expected: Self.digest))
            Issue.record("wrote through a link")
        } catch {
            guard case let .unsafeFile(path, reason) = error else { Issue.record("\(error)"); return }
            #expect(path == dest + suffix && reason.contains("symbolic link"))
        }
        #expect(bytes(victim) == Data("precious\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: dest))
    }

    /// The sidecar's temporary file and a copy's target are made with O_EXCL | O_NOFOLLOW as well.
    @Test func temporaryFilesAreNotOpenedThroughLinks() throws {
        let nginx = try NginxServer()
        nginx.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let elsewhere = TempDir()
        let victim = elsewhere.write("victim", "precious\n")
        let dest = out.file("f.iso").path
        // PartialInfo writes DEST.partial.info.tmpPID; this test process is the writer.
        try FileManager.default.createSymbolicLink(atPath: dest + ".partial.info.tmp\(getpid())",
                                                   withDestinationPath: victim.path)
        let report = try Downloader(options: testOptions()).fetch(DownloadRequest(
            urls: ["\(nginx.base)/f.iso"], destination: dest, expected: Self.digest))
        #expect(report.digest == Self.digest)
        #expect(bytes(victim) == Data("precious\n".utf8))
        let link = out.file("copy").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: victim.path)
        #expect(throws: IOError.self) { try FileHasher.copy(from: dest, to: link) }
        #expect(bytes(victim) == Data("precious\n".utf8))
    }

    @Test(arguments: ["ok", "endless", "biglength"])
    func aBodyLargerThanTheLimitIsCutOffAndRemoved(kind: String) throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        let limit: Int64 = kind == "endless" ? Int64(Self.payload.count) + 4096 : 512 << 10
        do {
            _ = try Downloader(options: testOptions()).fetch(DownloadRequest(
                urls: ["\(fault.base)/\(kind)/f.iso"], destination: dest, expected: kind == "endless" ? nil : Self.digest,
                maximumBytes: limit, maximumSource: "test limit"))
            Issue.record("accepted more than \(limit) bytes")
        } catch {
            guard case let .oversize(_, l, source, got) = error else { Issue.record("\(error)"); return }
            #expect(l == limit && source == "test limit")
            // With a Content-Length the refusal comes before the body; without one, at the limit.
            #expect(got == (kind == "ok" ? Int64(Self.payload.count) : kind == "biglength" ? 1_000_000_000_000 : nil))
        }
        #expect(leftovers(out).isEmpty, "the part of a refused transfer is removed")
        #expect(try fault.control("/_log").split(separator: "\n").count == 2, "not retried (one request, then /_log)")
    }

    /// A body with a Content-Encoding vmprov did not ask for is stored as sent, never inflated: a 64 KiB gzip
    /// stream that would inflate to 64 MiB stays within its Content-Length (and fails its checksum), while a small
    /// file (a checksum file, capped in memory) served gzip-encoded is still read as its publisher wrote it.
    @Test func aGzipBombIsNeverInflatedToDisk() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        do {
            _ = try Downloader(options: testOptions(retries: 0)).fetch(DownloadRequest(
                urls: ["\(fault.base)/gzip-bomb/f.iso"], destination: dest, expected: Self.digest))
            Issue.record("accepted a gzip bomb")
        } catch {
            guard case .verification(.mismatch) = error else { Issue.record("\(error)"); return }
        }
        #expect(FileHasher.size(dest + ".corrupt") < 1 << 20, "stored as sent, not inflated")
        #expect(!FileManager.default.fileExists(atPath: dest))
        let sums = "\(Self.digest.hex)  f.iso\n"
        fault.add("SHA256SUMS", bytes: Data(sums.utf8))
        #expect(try Downloader(options: testOptions()).fetchSmall("\(fault.base)/gzip/SHA256SUMS") == Array(sums.utf8))
    }

    /// A folder or a named pipe at the destination is refused as "exists, not a regular file" (73) before anything
    /// reads it: hashing a pipe would block vmprov for ever.
    @Test(arguments: ["folder", "pipe"])
    func aDestinationThatIsNoRegularFileIsRefusedUnread(kind: String) throws {
        let out = TempDir()
        let dest = out.file("f.iso").path
        if kind == "folder" { try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: false) }
        else { #expect(mkfifo(dest, 0o600) == 0) }
        do {
            _ = try Downloader(options: testOptions(retries: 0)).fetch(DownloadRequest(
                urls: ["http://127.0.0.1:9/f.iso"], destination: dest, expected: Self.digest))
            Issue.record("accepted a \(kind) as the destination")
        } catch {
            guard case let .exists(path, reason) = error else { Issue.record("\(error)"); return }
            #expect(path == dest && reason.contains("not a regular file"), "\(reason)")
        }
    }

    @Test func aTrickleIsAStallAndItsPartIsKeptForResume() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Data(Self.payload.prefix(8192)))
        let out = TempDir()
        let dest = out.file("f.iso").path
        var o = testOptions(retries: 0)
        o.stallSeconds = 2
        o.lowSpeedBytes = 1024
        do {
            _ = try Downloader(options: o).fetch(DownloadRequest(urls: ["\(fault.base)/trickle/f.iso"], destination: dest,
                                                                 expected: nil))
            Issue.record("a trickle was accepted")
        } catch {
            guard case let .failed(attempts, _) = error else { Issue.record("\(error)"); return }
            #expect(attempts.count == 1 && attempts[0].outcome.contains("stalled"), "\(attempts)")
            #expect(error.isTemporary && !error.isNotFound)
        }
        #expect(FileHasher.size(dest + ".partial") > 0, "a stalled part is kept for resume")
        #expect(FileManager.default.fileExists(atPath: dest + ".partial.info"))
    }

    /// A server's ETag with a bare CR is neither stored nor sent back as a header.
    @Test func aValidatorWithControlCharactersIsNeverStoredOrSent() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        #expect(throws: DownloadError.self) {
            try Downloader(options: testOptions(retries: 0)).fetch(DownloadRequest(
                urls: ["\(fault.base)/crlf-etag/f.iso"], destination: dest, expected: nil))
        }
        let sidecar = try String(contentsOfFile: dest + ".partial.info", encoding: .utf8)
        #expect(!sidecar.contains("\r") && sidecar.contains("validator=\n"), "\(sidecar.debugDescription)")
        let report = try Downloader(options: testOptions()).fetch(DownloadRequest(
            urls: ["\(fault.base)/crlf-etag/f.iso"], destination: dest, expected: Self.digest))
        #expect(report.digest == Self.digest)
        let log = try fault.control("/_log")
        #expect(!log.contains("INJECTED"), "\(log)")
    }

    /// A damaged or hostile `.partial.info` means starting again from zero, with a note; never a crash or a header.
    @Test(arguments: [
        "vmprov-partial 1\nurl=URL\nvalidator=\"v1\"\rX-Injected: yes\ndigest=DIGEST\n",
        "vmprov-partial 1\nurl=URL\nvalidator=\"v1\"\ndigest=DIGEST\nsize=10\n",
        "vmprov-partial 1\nurl=file:///etc/passwd\nvalidator=\"v1\"\ndigest=DIGEST\n",
        "vmprov-partial 1\nurl=URL\nurl=URL\nvalidator=\"v1\"\ndigest=DIGEST\n",
        "vmprov-partial 1\nurl=URL\nvalidator=\"v1\"\ndigest=sha256:zz\n",
        "garbage\u{0}\u{1}",
        String(repeating: "vmprov-partial 1\n", count: 4096),
    ])
    func aBadSidecarRestartsFromZero(text: String) throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        let url = "\(fault.base)/ok/f.iso"
        out.write("f.iso.partial", bytes: Self.payload.prefix(1000))
        out.write("f.iso.partial.info", text.replacingOccurrences(of: "URL", with: url)
            .replacingOccurrences(of: "DIGEST", with: Self.digest.description))
        let notes = Notes()
        var o = testOptions()
        o.onNote = { notes.add($0) }
        let report = try Downloader(options: o).fetch(DownloadRequest(urls: [url], destination: dest, expected: Self.digest))
        #expect(report.digest == Self.digest && report.resumedFrom == 0)
        #expect(bytes(URL(fileURLWithPath: dest)) == Self.payload)
        let log = try fault.control("/_log")
        #expect(log.hasPrefix("/ok/f.iso - -"), "started from zero without If-Range: \(log)")
        #expect(!log.contains("INJECTED"))
        #expect(notes.all.count == 1 && notes.all[0].contains("f.iso.partial") && notes.all[0].contains("from zero"),
                "\(notes.all)")
        #expect(!notes.all.joined().contains("\r"))
    }

    @Test func aGoodSidecarStillResumes() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        let dest = out.file("f.iso").path
        let url = "\(fault.base)/ok/f.iso"
        out.write("f.iso.partial", bytes: Self.payload.prefix(1000))
        out.write("f.iso.partial.info", "vmprov-partial 1\nurl=\(url)\nvalidator=\"v1\"\ndigest=\(Self.digest)\nsize=\(Self.payload.count)\n")
        let report = try Downloader(options: testOptions()).fetch(DownloadRequest(urls: [url], destination: dest,
                                                                                  expected: Self.digest))
        #expect(report.resumedFrom == 1000)
        #expect(try fault.control("/_log").hasPrefix("/ok/f.iso bytes=1000- \"v1\""))
    }

    /// Without CURLOPT_PROTOCOLS_STR (libcurl < 7.85) the bitmask options restrict protocols; without either,
    /// nothing is downloaded at all.
    @Test func protocolRestrictionFallsBackAndIsRequired() throws {
        let fault = try FaultServer()
        fault.add("f.iso", bytes: Self.payload)
        let out = TempDir()
        var old = testOptions(retries: 0)
        old.failingCurlOptions = ["CURLOPT_PROTOCOLS_STR", "CURLOPT_REDIR_PROTOCOLS_STR"]
        let report = try Downloader(options: old).fetch(DownloadRequest(urls: ["\(fault.base)/ok/f.iso"],
                                                                        destination: out.file("a.iso").path,
                                                                        expected: Self.digest))
        #expect(report.digest == Self.digest)
        // The fallback still refuses a redirect to another scheme.
        do {
            _ = try Downloader(options: old).fetchSmall("\(fault.base)/redirect-ftp")
            Issue.record("followed a redirect to ftp without CURLOPT_REDIR_PROTOCOLS_STR")
        } catch {
            guard case let .failed(attempts, _) = error else { Issue.record("\(error)"); return }
            #expect(attempts[0].outcome.contains("only http and https"), "\(attempts)")
        }
        _ = try fault.control("/_reset")
        for failing in [["CURLOPT_PROTOCOLS_STR", "CURLOPT_PROTOCOLS"],
                        ["CURLOPT_REDIR_PROTOCOLS_STR", "CURLOPT_REDIR_PROTOCOLS"]] {
            var none = testOptions(retries: 0)
            none.failingCurlOptions = Set(failing)
            do {
                _ = try Downloader(options: none).fetch(DownloadRequest(urls: ["\(fault.base)/ok/f.iso"],
                                                                        destination: out.file("b.iso").path,
                                                                        expected: Self.digest))
                Issue.record("downloaded without a protocol restriction")
            } catch {
                guard case let .curlOption(option, _) = error else { Issue.record("\(error)"); continue }
                #expect(option == failing.joined(separator: " and "))
            }
        }
        #expect(try fault.control("/_log").split(separator: "\n").count == 1, "no request was sent (only /_reset)")
        #expect(!FileManager.default.fileExists(atPath: out.file("b.iso").path + ".partial"))
        // Any other refused option is an error naming it, too.
        var stall = testOptions(retries: 0)
        stall.failingCurlOptions = ["CURLOPT_LOW_SPEED_TIME"]
        #expect {
            try Downloader(options: stall).fetchSmall("\(fault.base)/ok/f.iso")
        } throws: { e in
            guard let e = e as? DownloadError, case .curlOption("CURLOPT_LOW_SPEED_TIME", _) = e else { return false }
            return true
        }
    }

    /// RFC 6761: `.invalid` never resolves. One attempt, no retries, a temporary failure (exit 75).
    @Test func aNameThatDoesNotResolveIsNotRetried() throws {
        let out = TempDir()
        let retries = Notes()
        var o = testOptions(retries: 5)
        o.onRetry = { retries.add($0) }
        do {
            _ = try Downloader(options: o).fetch(DownloadRequest(urls: ["http://vmprov-test.invalid/x.iso"],
                                                                 destination: out.file("x.iso").path, expected: nil))
            Issue.record("resolved .invalid")
        } catch {
            guard case let .failed(attempts, _) = error else { Issue.record("\(error)"); return }
            #expect(attempts.count == 1 && attempts[0].kind == .temporary, "\(attempts)")
            #expect(error.isTemporary && !error.isNotFound)
        }
        #expect(retries.all.isEmpty)
        #expect(leftovers(out).isEmpty)
    }

    @Test(arguments: ["redirect-ftp", "redirect-file", "loop"])
    func refusalsAreNeitherTemporaryNorNotFound(path: String) throws {
        let fault = try FaultServer()
        do {
            _ = try Downloader(options: testOptions()).fetchSmall("\(fault.base)/\(path)")
            Issue.record("followed \(path)")
        } catch {
            #expect(!error.isTemporary && !error.isNotFound && error.attemptKind == .refused, "\(error)")
        }
    }
}

/// Collects callback messages from the transfer thread.
final class Notes: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
