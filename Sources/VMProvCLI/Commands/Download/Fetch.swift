#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML
import Basics

extension DownloadOptions {
    var asDownloader: Downloader { Downloader(options: self) }
}


struct Fetch: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a file, resumably, and verify it before it appears at its destination.",
        discussion: """
        Extra URLs are mirrors, tried in order. The file is hashed while it arrives and renamed to its \
        destination only if it matches; a mismatch is kept as DEST.corrupt. A rerun after an interruption \
        continues from DEST.partial.

        Example:
          vmprov fetch https://releases.ubuntu.com/24.04/ubuntu-24.04.3-live-server-amd64.iso \\
            --checksum file:SHA256SUMS --signature SHA256SUMS.gpg --keyring ubuntu-cd.asc
        """)

    @Argument(help: ArgumentHelp("The URL, then mirrors.", valueName: "url"))
    var urls: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to put it (default: the URL's file name here).",
                                                    valueName: "path"))
    var output: String?

    @Option(help: ArgumentHelp("Refuse a file larger than this (512M, 8G; a bare number is MiB); it is cut off "
        + "there and nothing is kept.", valueName: "size"))
    var maxSize: String?

    @OptionGroup var verification: VerifyOptions
    @OptionGroup var transfer: TransferOptions

    @Flag(help: "Print a JSON report at the end.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard !urls.isEmpty else { throw ValidationError("give at least one URL.") }
        for u in urls {
            guard let s = URLText.scheme(u), s == "http" || s == "https" else {
                throw ValidationError("\(URLText.printable(u)): only http and https URLs can be fetched.")
            }
        }
        if let maxSize, SizeText.parse(maxSize) == nil || SizeText.parse(maxSize) == 0 {
            throw ValidationError("--max-size \(URLText.printable(maxSize)): give a size such as 512M, 8G or 700K.")
        }
    }

    func run(_ context: CommandContext) throws {
        // The name on disk: -o, else the URL's last path segment, only if it is one plain file name.
        let dest: String
        if let output {
            dest = output
        } else {
            do { dest = try URLText.safeFileName(urls[0]) } catch {
                throw CLIError(error.description + " Pass -o PATH.", kind: .usage)
            }
        }
        // The name a checksum file lists: the URL's, else the destination's.
        var fileName = URLText.fileName(urls[0])
        if fileName.isEmpty { fileName = dest.split(separator: "/").last.map(String.init) ?? dest }
        let progress = ProgressPrinter(quiet: transfer.quiet || json, bars: context.terminalDrawsBars)
        let downloader = try transfer.downloader(progress: progress, context: context)
        do {
            let plan = try ChecksumResolver(downloader: downloader).plan(
                fileName: fileName, bases: urls, request: try verification.request())
            for w in plan.warnings { Output.warn(w) }
            for n in plan.notes { Output.note(n) }
            // The smaller of --max-size and the size the checksum file states.
            var limit = maxSize.flatMap(SizeText.parse).map { Int64(clamping: $0) }
            var source = "--max-size \(maxSize ?? "")"
            if let stated = plan.expectedSize, limit.map({ stated < $0 }) ?? true {
                limit = stated
                source = "the size \(URLText.printable(plan.checksumSource ?? "the checksum file")) states"
            }
            let report = try downloader.fetch(DownloadRequest(urls: urls, destination: dest, expected: plan.expected,
                                                              verifyBeforeCommit: plan.verifyDownload,
                                                              maximumBytes: limit, maximumSource: source))
            progress.finish()
            if json { return try JSONOut.print(report) }
            if let note = report.cacheNote, !report.fromCache { Output.warn(note) }
            let how = report.alreadyPresent ? "already present and verified"
                : report.fromCache ? "from the cache, " + (report.cacheNote ?? "re-hashed before use") : "downloaded"
            Output.out("\(dest): \(how), \(report.bytes) bytes"
                + (report.digest.map { ", \($0)" } ?? " (not verified)")
                + (report.resumedFrom > 0 ? ", resumed at \(report.resumedFrom)" : "") + ".")
        } catch let e as DownloadError {
            progress.finish()
            throw e
        }
    }
}
