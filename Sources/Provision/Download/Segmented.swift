#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CCurlLoader
import Basics

/// One byte range of the file, `start..<end`, of which `done` bytes from `start` are on disk. Every byte of a
/// segment came from one mirror (`source`): a segment continued from another mirror is split first.
final class Segment {
    var start: Int64
    var end: Int64
    var done: Int64 = 0
    var active = false
    /// The mirror whose bytes are on disk (nil: none yet, or from an earlier run).
    var source: Int?
    /// While refetching after a digest mismatch: the mirror whose bytes are on disk, compared with the new ones.
    var compareWith: Int?

    init(start: Int64, end: Int64, done: Int64 = 0) {
        self.start = start
        self.end = end
        self.done = done
    }

    var complete: Bool { done >= end - start }
    var next: Int64 { start + done }
}

/// The ranges still missing from a part, `start..<end` each, sorted and merged (the sidecar's `missing=`).
enum MissingRanges {
    /// The holes of `segments`, merged.
    static func of(_ segments: [Segment]) -> [(Int64, Int64)] {
        var out: [(Int64, Int64)] = []
        for s in segments.sorted(by: { $0.start < $1.start }) where !s.complete {
            if let last = out.last, last.1 == s.next { out[out.count - 1].1 = s.end } else { out.append((s.next, s.end)) }
        }
        return out
    }

    /// `a-b,c-d` (inclusive ends, as in HTTP); empty when nothing is missing.
    static func text(_ ranges: [(Int64, Int64)]) -> String {
        ranges.map { "\($0.0)-\($0.1 - 1)" }.joined(separator: ",")
    }

    /// Parses `text` for a file of `size` bytes: sorted, disjoint, inside the file, at most 4096 ranges; nil otherwise.
    static func parse(_ text: String, size: Int64) -> [(Int64, Int64)]? {
        if text.isEmpty { return [] }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= 4096 else { return nil }
        var out: [(Int64, Int64)] = []
        for p in parts {
            let ab = p.split(separator: "-", omittingEmptySubsequences: false)
            guard ab.count == 2, ab.allSatisfy({ !$0.isEmpty && $0.count <= 19 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
                  let a = Int64(ab[0]), let b = Int64(ab[1]), a <= b, b < size, a >= (out.last?.1 ?? 0) else { return nil }
            out.append((a, b + 1))
        }
        return out
    }
}

/// One server of a segmented download.
struct Mirror {
    var url: String
    var validator: String?
    var failures = 0
    var dropped: String?
    var notBefore = 0.0
    var active = 0
    /// Byte ranges where this mirror's bytes differed from another's (found while refetching).
    var differed: [(Int64, Int64)] = []
}

/// Why vmprov stopped a segment's transfer from its callbacks.
enum SegmentAbort {
    /// 200 instead of 206: the server ignores Range, or the If-Range validator no longer matches.
    case notPartial(validatorChanged: Bool)
    case httpStatus(Int)
    case badRange(String)
    case io(Int32)
    /// The segment is complete (it was shortened by a split); not an error.
    case reachedEnd
}

/// One transfer of one segment from one mirror.
final class SegmentConnection: CurlResponseSink {
    let easy: CurlEasy
    let mirror: Int
    let segment: Segment
    let requestedFrom: Int64
    var headers = ResponseHeaders()
    var decided = false
    var abort: SegmentAbort?
    unowned let engine: SegmentedTransfer

    init(easy: CurlEasy, mirror: Int, segment: Segment, from: Int64, engine: SegmentedTransfer) {
        self.easy = easy
        self.mirror = mirror
        self.segment = segment
        self.requestedFrom = from
        self.engine = engine
    }

    func receive(_ data: UnsafeRawBufferPointer) -> Int {
        engine.receive(self, data)
    }
}

/// How a segmented run ended.
enum SegmentedOutcome {
    case complete
    /// The only usable server ignores Range or changed its file: continue as one stream (the reason is noted).
    case fallback(String)
    /// Every mirror failed; the part and sidecar are kept for a resume.
    case failed
}

/// Fetches the segments of one file over libcurl's multi interface, from one server or several mirrors, writing
/// each at its offset (`pwrite`) and hashing the contiguous prefix as it grows, so the digest is ready when the
/// last byte is.
final class SegmentedTransfer {
    let fd: Int32
    let size: Int64
    var segments: [Segment]
    var mirrors: [Mirror]
    let connections: Int
    let minimumSplit: Int64
    let downloader: Downloader
    let partialPath: String
    var pipeline: HashPipeline?
    let algorithm: HashAlgorithm?
    /// Bytes hashed so far (the hash covers `0..<frontier`).
    var frontier: Int64 = 0
    var attempts: [AttemptRecord] = []
    var transferred: Int64 = 0
    var fatal: DownloadError?
    var onCheckpoint: (() -> Void)?
    private var live: [UnsafeMutableRawPointer: Unmanaged<SegmentConnection>] = [:]
    /// Reads ranges back for the hash and the comparison of a refetch (256 KiB: a read-back is one of a few).
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 64)
    private let multi: CurlMulti
    private var lastProgress = 0.0
    private let started = Clock.now()

    init(fd: Int32, size: Int64, segments: [Segment], mirrors: [Mirror], connections: Int, minimumSplit: Int64,
         algorithm: HashAlgorithm?, downloader: Downloader, partialPath: String) throws(DownloadError) {
        guard let m = CurlMulti() else { throw .curlUnavailable }
        multi = m
        self.fd = fd
        self.size = size
        self.segments = segments
        self.mirrors = mirrors
        self.connections = connections
        self.minimumSplit = minimumSplit
        self.algorithm = algorithm
        self.downloader = downloader
        self.partialPath = partialPath
        restartHash()
    }

    deinit {
        for (_, c) in live {
            multi.remove(c.takeUnretainedValue().easy)
            c.release()
        }
        _ = pipeline?.finish()
        scratch.deallocate()
    }

    /// Starts hashing again from byte 0 (the bytes on disk are read back as the contiguous prefix allows).
    func restartHash() {
        _ = pipeline?.finish()
        pipeline = algorithm.flatMap { StreamingHasher($0) }.map { HashPipeline($0) }
        frontier = 0
    }

    /// The digest of the whole file, once every segment is complete.
    func finishHash() throws(DownloadError) -> Digest? {
        try advanceHash()
        defer { pipeline = nil }
        return pipeline?.finish()
    }

    /// The end of the contiguous prefix on disk.
    var contiguous: Int64 {
        for s in segments where !s.complete { return s.next }
        return size
    }

    /// Feeds the bytes between the hash frontier and the end of the contiguous prefix, read back from the part.
    func advanceHash() throws(DownloadError) {
        let end = contiguous
        while frontier < end {
            let want = Int(min(Int64(scratch.count), end - frontier))
            let n = Syscall.retrying { pread(fd, scratch.baseAddress, want, off_t(frontier)) }
            guard n > 0 else { throw .io(IOError(path: partialPath, operation: "read back", code: n < 0 ? errno : EIO)) }
            pipeline?.update(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            frontier += Int64(n)
        }
    }

    // MARK: Callbacks

    func receive(_ c: SegmentConnection, _ data: UnsafeRawBufferPointer) -> Int {
        let seg = c.segment
        guard let base = data.baseAddress else { return 0 }
        if !c.decided {
            c.decided = true
            let h = c.headers
            if h.status == 200 {
                let known = mirrors[c.mirror].validator
                c.abort = .notPartial(validatorChanged: known != nil && h.validator != known)
                return 0
            }
            guard h.status == 206 else {
                c.abort = .httpStatus(h.status)
                return 0
            }
            guard let range = h.contentRange, range.start == c.requestedFrom, range.total == size else {
                c.abort = .badRange("asked for bytes from \(c.requestedFrom) of \(size), the server sent "
                    + (h.contentRange.map { "from \($0.start) of \($0.total.map(String.init) ?? "?")" } ?? "no Content-Range"))
                return 0
            }
            if let known = mirrors[c.mirror].validator, let now = h.validator, now != known {
                c.abort = .notPartial(validatorChanged: true)
                return 0
            }
        }
        let pos = seg.next
        var count = data.count
        var reachedEnd = false
        if pos + Int64(count) > seg.end {
            count = Int(seg.end - pos)
            reachedEnd = true
        }
        guard count > 0 else {
            c.abort = .reachedEnd
            return 0
        }
        if let other = seg.compareWith, let disk = scratch.baseAddress {
            // A refetch after a digest mismatch: do the bytes on disk (from `other`) differ from these?
            var off = 0
            while off < count {
                let want = min(scratch.count, count - off)
                let n = Syscall.retrying { pread(fd, disk, want, off_t(pos + Int64(off))) }
                guard n > 0 else { break }
                if memcmp(disk, base + off, n) != 0 {
                    let a = pos + Int64(off)
                    let b = a + Int64(n)
                    if let last = mirrors[other].differed.last, last.1 >= a {
                        mirrors[other].differed[mirrors[other].differed.count - 1].1 = b
                    } else {
                        mirrors[other].differed.append((a, b))
                    }
                }
                off += n
            }
        }
        if let e = FileIO.writeAll(fd: fd, UnsafeRawBufferPointer(start: base, count: count), at: pos) {
            c.abort = .io(e)
            return 0
        }
        if pos == frontier {
            pipeline?.update(UnsafeRawBufferPointer(rebasing: data[0..<count]))
            frontier += Int64(count)
        }
        seg.done += Int64(count)
        seg.source = c.mirror
        transferred += Int64(count)
        if let progress = downloader.options.progress {
            let now = Clock.now()
            if now - lastProgress >= 0.1 {
                lastProgress = now
                let have = segments.reduce(Int64(0)) { $0 + $1.done }
                progress(DownloadProgress(url: mirrors[c.mirror].url, bytes: have, total: size, resumedFrom: 0,
                                          elapsed: now - started))
            }
        }
        if reachedEnd {
            c.abort = .reachedEnd
            return 0
        }
        return data.count
    }

    // MARK: Scheduling

    private func usable(_ now: Double) -> [Int] {
        mirrors.indices.filter { mirrors[$0].dropped == nil && mirrors[$0].notBefore <= now }
    }

    /// A mirror that is not dropped nor set aside (a refetch pass sets the others aside).
    private var anyMirrorLeft: Bool { mirrors.contains { $0.dropped == nil && $0.notBefore.isFinite } }

    /// The next segment to start: the lowest pending one, else the second half of the largest running one.
    private func nextSegment() -> Segment? {
        if let s = segments.first(where: { !$0.active && !$0.complete }) { return s }
        guard let b = segments.filter(\.active).max(by: { $0.end - $0.next < $1.end - $1.next }) else { return nil }
        let left = b.end - b.next
        guard left >= 2 * minimumSplit else { return nil }
        let cut = b.next + left / 2
        let tail = Segment(start: cut, end: b.end)
        tail.compareWith = b.compareWith
        b.end = cut
        insert(tail)
        return tail
    }

    private func insert(_ s: Segment) {
        let i = segments.firstIndex { $0.start > s.start } ?? segments.endIndex
        segments.insert(s, at: i)
    }

    private func start(segment s0: Segment, mirror m: Int) throws(DownloadError) {
        var s = s0
        // Bytes on disk from another mirror stay theirs: the rest becomes a segment of its own.
        if s.done > 0, let src = s.source, src != m {
            let rest = Segment(start: s.next, end: s.end)
            rest.compareWith = s.compareWith
            s.end = s.next
            insert(rest)
            s = rest
        }
        let from = s.next
        let easy = try downloader.makeHandle(url: mirrors[m].url)
        try easy.set(CURLOPT_HTTP_CONTENT_DECODING, 0)
        // Each connection has a receive buffer of its own: 128 KiB keeps 16 of them at 2 MiB (one stream uses 256).
        try easy.set(CURLOPT_BUFFERSIZE, 128 << 10)
        try easy.set(CURLOPT_RANGE, "\(from)-\(s.end - 1)")
        if let v = mirrors[m].validator.flatMap(HTTPValidator.wellFormed) { try easy.addHeader("If-Range: \(v)") }
        try easy.applyHeaders()
        let c = SegmentConnection(easy: easy, mirror: m, segment: s, from: from, engine: self)
        let u = Unmanaged.passRetained(c)
        do throws(DownloadError) {
            try easy.setSink(u)
            try multi.add(easy)
        } catch {
            u.release()
            throw error
        }
        live[easy.handle] = u
        s.active = true
        mirrors[m].active += 1
    }

    /// Runs until every segment is complete, every mirror failed, or the only server cannot do ranges.
    func run() throws(DownloadError) -> SegmentedOutcome {
        var lastCheckpoint = Clock.now()
        while true {
            if let fatal { throw fatal }
            try advanceHash()
            if live.isEmpty && segments.allSatisfy(\.complete) { return .complete }
            if live.isEmpty && !anyMirrorLeft { return .failed }
            let now = Clock.now()
            while live.count < connections {
                let ready = usable(now)
                guard !ready.isEmpty else { break }
                // The mirror with the fewest running transfers (its share of the connections).
                let perMirror = max(1, connections / max(1, mirrors.filter { $0.dropped == nil }.count))
                guard let m = ready.filter({ mirrors[$0].active < perMirror || ready.count == 1 })
                        .min(by: { mirrors[$0].active < mirrors[$1].active }) ?? ready.min(by: { mirrors[$0].active < mirrors[$1].active }),
                      let seg = nextSegment() else { break }
                try start(segment: seg, mirror: m)
            }
            if live.isEmpty {
                // Every usable mirror is waiting out a backoff.
                Clock.sleep(0.05)
                continue
            }
            try multi.step(timeoutMs: 100)
            for (h, code) in multi.finished() {
                guard let u = live.removeValue(forKey: h) else { continue }
                let c = u.takeUnretainedValue()
                multi.remove(c.easy)
                defer { u.release() }
                c.segment.active = false
                mirrors[c.mirror].active -= 1
                if let outcome = try finish(c, code: code) { return outcome }
            }
            if Clock.now() - lastCheckpoint >= 0.25 {
                lastCheckpoint = Clock.now()
                onCheckpoint?()
            }
        }
    }

    /// Books one finished transfer; returns an outcome when the whole run must stop.
    private func finish(_ c: SegmentConnection, code: CURLcode) throws(DownloadError) -> SegmentedOutcome? {
        let url = mirrors[c.mirror].url
        let seg = c.segment
        switch c.abort {
        case .reachedEnd?:
            return nil
        case .io(let e)?:
            throw .io(IOError(path: partialPath, operation: "write", code: e))
        case .notPartial(let changed)?:
            let why = changed ? "its file changed (the validator is not \(mirrors[c.mirror].validator ?? "?") any more)"
                : "it ignores Range (sent the whole file for a range)"
            attempts.append(AttemptRecord(url: url, outcome: why, kind: .temporary))
            if mirrors.indices.contains(where: { $0 != c.mirror && mirrors[$0].dropped == nil }) {
                drop(c.mirror, because: why)
                return nil
            }
            return .fallback("\(URLText.printable(url)): \(why)")
        case .badRange(let why)?:
            attempts.append(AttemptRecord(url: url, outcome: why, kind: .temporary))
            fail(c.mirror, retry: true, reason: why, retryAfter: nil)
            return nil
        case .httpStatus, nil:
            break
        }
        let status: Int
        if case .httpStatus(let s)? = c.abort { status = s } else { status = c.headers.status == 0 ? c.easy.responseCode : c.headers.status }
        let result = AttemptResult(code: code, message: CurlEasy.describe(code), status: status, abort: nil,
                                   retryAfter: c.headers.retryAfter)
        if let outcome = downloader.classify(result) {
            attempts.append(AttemptRecord(url: url, outcome: outcome.reason + " (bytes \(seg.start)-\(seg.end - 1))",
                                          kind: outcome.kind))
            fail(c.mirror, retry: outcome.retry, reason: outcome.reason, retryAfter: c.headers.retryAfter)
            return nil
        }
        if !seg.complete {
            // The server closed early without an error (a short body): retried like a reset.
            fail(c.mirror, retry: true, reason: "the range ended early", retryAfter: nil)
        }
        return nil
    }

    private func fail(_ m: Int, retry: Bool, reason: String, retryAfter: Int?) {
        mirrors[m].failures += 1
        let retries = downloader.options.retries
        guard retry, mirrors[m].failures <= retries else {
            drop(m, because: reason)
            return
        }
        mirrors[m].notBefore = Clock.now() + downloader.backoff(retry: mirrors[m].failures, retryAfter: retryAfter)
        downloader.options.onRetry?("\(URLText.printable(mirrors[m].url)): \(URLText.printable(reason)); retry "
            + "\(mirrors[m].failures) of \(retries) (its ranges continue)")
    }

    func drop(_ m: Int, because reason: String) {
        guard mirrors[m].dropped == nil else { return }
        mirrors[m].dropped = reason
        if mirrors.count > 1 {
            downloader.options.onNote?("\(URLText.printable(mirrors[m].url)): \(URLText.printable(reason)); this "
                + "mirror is dropped and its ranges move to the others")
        }
    }
}

/// Header-only state of a HEAD probe: a body (there should be none) aborts the request.
private final class ProbeBox: CurlResponseSink {
    var headers = ResponseHeaders()
    func receive(_ data: UnsafeRawBufferPointer) -> Int { 0 }
}

extension Downloader {
    /// What a HEAD request says about each URL (at once, over one multi handle): nil for a URL that failed.
    func probe(_ urls: [String]) throws(DownloadError) -> [ResponseHeaders?] {
        guard let multi = CurlMulti() else { return urls.map { _ in nil } }
        var boxes: [Unmanaged<ProbeBox>] = []
        var handles: [CurlEasy] = []
        defer {
            for h in handles { multi.remove(h) }
            for b in boxes { b.release() }
        }
        for url in urls {
            let easy = try makeHandle(url: url)
            try easy.set(CURLOPT_NOBODY, 1)
            let box = Unmanaged.passRetained(ProbeBox())
            boxes.append(box)
            try easy.setSink(box)
            try multi.add(easy)
            handles.append(easy)
        }
        var results: [ResponseHeaders?] = urls.map { _ in nil }
        var pending = handles.count
        while pending > 0 {
            try multi.step(timeoutMs: 100)
            for (h, code) in multi.finished() {
                guard let i = handles.firstIndex(where: { $0.handle == h }) else { continue }
                pending -= 1
                let headers = boxes[i].takeUnretainedValue().headers
                if code == CURLE_OK, headers.status == 200 { results[i] = headers }
            }
        }
        return results
    }

    /// A segmented download (see `SegmentedTransfer`), or nil when it does not apply and one stream should run:
    /// `connections` is 1, a part written as one stream is there, the first server does not answer HEAD with a
    /// size and `Accept-Ranges: bytes`, the file is smaller than two segments, or there is neither a checksum nor
    /// a validator. Without a checksum only the first URL is used (bytes from different servers could not be
    /// told apart).
    /// - Throws: `.oversize` when the announced size exceeds the bound, `.failed` when every mirror failed (the
    ///   part is kept for a resume), `.verification` when no mirror's bytes match, `.io`, `.signature`.
    func segmentedFetch(_ request: DownloadRequest, partial: String, info: String, started: Double,
                        cacheNote: String?) throws(DownloadError) -> DownloadReport? {
        guard options.connections > 1, CurlGlobal.load(library: options.libcurlLibrary), CurlMulti() != nil else { return nil }
        let existing = SafeFiles.resumableSize(partial)
        var previous: PartialInfo?
        switch PartialInfo.read(info) {
        case .valid(let p): previous = p
        case .invalid(let why):
            options.onNote?("\(URLText.printable(info)): \(why); starting the download again from zero")
            unlink(info)
        case .absent: break
        }
        if let p = previous, p.missing == nil, existing > 0 { return nil }
        let candidates = request.expected == nil ? [request.urls[0]] : request.urls
        let probes = try probe(candidates)
        guard let first = probes[0], let size = first.contentLength else { return nil }
        if let limit = request.maximumBytes, size > limit {
            unlink(partial); unlink(info)
            throw .oversize(url: request.urls[0], limit: limit, source: request.maximumSource, got: size)
        }
        guard size >= 2 * options.segmentBytes, first.acceptsRanges, first.validator != nil || request.expected != nil else {
            return nil
        }
        var mirrors: [Mirror] = []
        for (i, url) in candidates.enumerated() {
            guard let p = probes[i] else {
                if i > 0 { options.onNote?("\(URLText.printable(url)): no answer to HEAD; not used as a mirror") }
                continue
            }
            guard p.contentLength == size, p.acceptsRanges else {
                options.onNote?("\(URLText.printable(url)): \(p.contentLength.map { "\($0) bytes" } ?? "no size") "
                    + (p.acceptsRanges ? "" : "and no Range support ") + "instead of \(size) bytes; not used as a mirror")
                continue
            }
            mirrors.append(Mirror(url: url, validator: p.validator))
        }
        let expectedText = request.expected?.description
        // Resume a segmented part: the same file (checksum, or URL and validator) and size.
        var segments: [Segment] = []
        var resumedFrom: Int64 = 0
        if let p = previous, let missing = p.missing, p.size == size, existing == size,
           (request.expected != nil && p.digest == expectedText)
            || (p.url == request.urls[0] && p.validator != nil && p.validator == first.validator) {
            var at: Int64 = 0
            for (a, b) in missing {
                if a > at { segments.append(Segment(start: at, end: a, done: a - at)) }
                segments.append(contentsOf: Self.split(a, b, options.segmentBytes))
                at = b
            }
            if at < size { segments.append(Segment(start: at, end: size, done: size - at)) }
            resumedFrom = size - missing.reduce(0) { $0 + $1.1 - $1.0 }
        } else {
            segments = Self.split(0, size, options.segmentBytes)
        }
        let partialFD = try SafeFiles.openPartial(partial, resumeFrom: resumedFrom > 0 ? size : 0, readable: true)
        defer { withExtendedLifetime(partialFD) {} }  // the engine writes through the raw descriptor
        let fd = partialFD.raw
        if resumedFrom == 0, ftruncate(fd, off_t(size)) != 0 {
            throw .io(IOError(path: partial, operation: "size", code: errno))
        }
        let engine = try SegmentedTransfer(fd: fd, size: size, segments: segments, mirrors: mirrors,
                                           connections: options.connections, minimumSplit: max(options.segmentBytes / 8, 64 << 10),
                                           algorithm: request.expected?.algorithm, downloader: self, partialPath: partial)
        let checkpoint = { [engine] in
            PartialInfo(url: request.urls[0], validator: first.validator, digest: expectedText, size: size,
                        missing: MissingRanges.of(engine.segments)).write(info)
        }
        checkpoint()
        engine.onCheckpoint = checkpoint
        var digest: Digest?
        var passMirror: Int?
        while true {
            let outcome = try engine.run()
            switch outcome {
            case .fallback(let why):
                _ = partialFD.close()
                unlink(partial); unlink(info)
                options.onNote?("\(why); continuing as one stream from the start")
                return nil
            case .failed:
                _ = fsync(fd)
                checkpoint()
                throw .failed(attempts: engine.attempts,
                              allNotFound: !engine.attempts.isEmpty && engine.attempts.allSatisfy { $0.kind == .notFound })
            case .complete:
                break
            }
            guard fsync(fd) == 0 || errno == EINVAL else { throw .io(IOError(path: partial, operation: "sync", code: errno)) }
            checkpoint()
            digest = try engine.finishHash()
            guard let expected = request.expected, let actual = digest, actual != expected else { break }
            // A mismatch. Per-range digests are not published, so the culprit is found by refetching from one
            // mirror at a time: the ranges another mirror (or an earlier run) wrote are fetched again from it and
            // compared with the bytes on disk; a mirror whose bytes differ is dropped, and one whose own complete
            // file does not match is dropped too.
            if let m = passMirror {
                engine.drop(m, because: "its file does not match the \(expected.algorithm.rawValue) checksum")
                // The comparisons were against a mirror that is wrong itself.
                for i in engine.mirrors.indices { engine.mirrors[i].differed = [] }
            }
            let sources = Set(engine.segments.map { $0.source ?? -1 })
            guard let next = engine.mirrors.indices.first(where: { i in
                engine.mirrors[i].dropped == nil && i != passMirror && sources != [i] }) else {
                let corrupt = request.destination + ".corrupt"
                _ = partialFD.close()
                unlink(corrupt)
                rename(partial, corrupt)
                unlink(info)
                throw .verification(.mismatch(file: request.destination, expected: expected, actual: actual, keptAt: corrupt))
            }
            options.onNote?("\(URLText.printable(partial)): does not match its \(expected.algorithm.rawValue); "
                + "fetching the ranges other servers sent again from \(URLText.printable(engine.mirrors[next].url)) "
                + "to find the one that differs")
            for i in engine.mirrors.indices where engine.mirrors[i].dropped == nil {
                engine.mirrors[i].notBefore = i == next ? 0 : .infinity
                engine.mirrors[i].failures = 0
            }
            for s in engine.segments where s.source != next {
                s.compareWith = s.source
                s.done = 0
                s.source = nil
            }
            passMirror = next
            engine.restartHash()
        }
        for m in engine.mirrors where !m.differed.isEmpty {
            options.onNote?("\(URLText.printable(m.url)): sent different bytes for "
                + MissingRanges.text(Array(m.differed.prefix(4))) + (m.differed.count > 4 ? ",…" : "")
                + " than the mirror whose file matches the checksum; it was dropped")
        }
        try request.verify(partial)
        let dest = request.destination
        guard rename(partial, dest) == 0 else { throw .io(IOError(path: dest, operation: "rename into place", code: errno)) }
        unlink(info)
        _ = FileIO.syncDirectory(FileIO.directory(of: dest))
        if let digest, let root = options.cacheDirectory { DownloadCache(root: root).store(dest, digest: digest) }
        var attempts = engine.attempts
        let used = engine.mirrors.filter { $0.dropped == nil && $0.differed.isEmpty }.map(\.url)
        for url in used { attempts.append(AttemptRecord(url: url, outcome: "ok (ranges of a segmented download)", kind: .ok)) }
        return DownloadReport(destination: dest, url: used.first ?? request.urls[0], bytes: size, digest: digest,
                              fromCache: false, alreadyPresent: false, resumedFrom: resumedFrom,
                              bytesTransferred: engine.transferred, seconds: Clock.now() - started, attempts: attempts,
                              cacheNote: cacheNote)
    }

    /// `a..<b` cut into segments of `bytes` (the last one shorter).
    static func split(_ a: Int64, _ b: Int64, _ bytes: Int64) -> [Segment] {
        var out: [Segment] = []
        var at = a
        while at < b {
            let end = min(b, at + bytes)
            out.append(Segment(start: at, end: end))
            at = end
        }
        return out
    }
}
