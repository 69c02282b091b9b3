#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import Provision

/// Shows download progress on stderr: a live bar on a terminal, plain lines every 5 % or 10 s otherwise
/// (for `docker logs`), nothing with --quiet.
///
/// `@unchecked Sendable`: the downloader calls `update` from its transfer thread; `lastPercent`, `lastLine` and
/// `drewBar` are only read and written with `lock` held (`tty` and `quiet` are immutable).
final class ProgressPrinter: @unchecked Sendable {
    private let tty: Bool
    private let quiet: Bool
    private var lastPercent = -5
    private var lastLine = 0.0
    private var drewBar = false
    private let lock = PThreadMutex()

    /// A printer; `bars` is false when the terminal cannot draw a live bar (`CommandContext.terminalDrawsBars`).
    init(quiet: Bool, bars: Bool) {
        self.quiet = quiet
        tty = isatty(2) == 1 && bars
    }

    func update(_ p: DownloadProgress) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        let fresh = p.bytes - p.resumedFrom
        let rate = p.elapsed > 0 ? Double(fresh) / p.elapsed : 0
        let percent = p.total.map { $0 > 0 ? Int(p.bytes * 100 / $0) : 0 }
        var eta = ""
        if let total = p.total, rate > 0 { eta = " ETA " + Self.duration(Double(total - p.bytes) / rate) }
        if tty {
            let width = 30
            let filled = percent.map { min(width, $0 * width / 100) } ?? 0
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let line = "\r[\(bar)] \(percent.map { "\($0)%" } ?? "") \(SizeText.format(p.bytes))"
                + (p.total.map { "/\(SizeText.format($0))" } ?? "") + " \(SizeText.format(Int64(rate)))/s\(eta)   "
            Output.write(2, line)
            drewBar = true
        } else {
            let now = p.elapsed
            let step = percent.map { $0 >= lastPercent + 5 } ?? false
            guard step || now - lastLine >= 10 else { return }
            lastPercent = percent.map { $0 - $0 % 5 } ?? lastPercent
            lastLine = now
            Output.note("download: \(percent.map { "\($0)% " } ?? "")\(SizeText.format(p.bytes))"
                + (p.total.map { " of \(SizeText.format($0))" } ?? "") + ", \(SizeText.format(Int64(rate)))/s\(eta)")
        }
    }

    /// Ends a live bar with a newline.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drewBar { Output.write(2, "\n"); drewBar = false }
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "?" }
        let t = Int(s)
        return t >= 3600 ? "\(t / 3600)h\((t % 3600) / 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
    }
}
