#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

/// Options for transfers.
struct TransferOptions: ParsableArguments {
    @Option(help: "Retries per URL for transient failures.")
    var retries: Int = 5

    @Option(help: ArgumentHelp("CA bundle for a private mirror (TLS is always verified).", valueName: "file"))
    var cacert: String?

    @Flag(help: "Neither use nor fill the download cache ($VMPROV_CACHE).")
    var noCache = false

    @Flag(name: .shortAndLong, help: "No progress output.")
    var quiet = false

    @Option(help: ArgumentHelp("A transfer slower than this many bytes per second for --stall-time seconds is "
        + "stalled: it stops, and is retried and resumed.", valueName: "bytes"))
    var stallSpeed: Int = 1024

    @Option(help: ArgumentHelp("Seconds below --stall-speed before a transfer counts as stalled.", valueName: "seconds"))
    var stallTime: Int = 30

    @Option(help: ArgumentHelp("Transfers at once for one large file (1 to 16), spread over the mirrors when a "
        + "checksum is known; 1 is one stream.", valueName: "n"))
    var connections: Int = DownloadOptions.defaultConnections

    func validate() throws {
        guard (1...16).contains(connections) else {
            throw ValidationError("--connections \(connections): give 1 to 16 (1 is one stream).")
        }
        guard retries >= 0 else { throw ValidationError("--retries must be 0 or more.") }
        guard stallSpeed >= 1 else { throw ValidationError("--stall-speed \(stallSpeed): give 1 or more bytes per second.") }
        guard (1...86_400).contains(stallTime) else {
            throw ValidationError("--stall-time \(stallTime): give 1 to 86400 seconds.")
        }
    }

    /// A downloader with these options, the cache of `context` (unless `--no-cache`) and its test hooks.
    /// - Throws: `DownloadError.cache` when no cache folder is known.
    func downloader(progress: ProgressPrinter?, context: CommandContext) throws -> Downloader {
        var o = DownloadOptions()
        o.retries = retries
        o.caCertificate = cacert
        o.gpgv = context.gpgvOverride
        o.cacheDirectory = noCache ? nil : try context.cacheRoot()
        o.userAgent = "vmprov/\(VMProv.version)"
        if let p = progress { o.progress = { p.update($0) } }
        o.lowSpeedBytes = stallSpeed
        o.stallSeconds = stallTime
        o.connections = connections
        let quiet = self.quiet
        o.onRetry = { message in if !quiet { Output.warn(message) } }
        o.onNote = { message in if !quiet { Output.note("vmprov: \(message)") } }
        // Tests shorten the waits and refuse libcurl options (TestHooks); users never need these.
        context.testHooks.apply(to: &o)
        return o.asDownloader
    }
}
