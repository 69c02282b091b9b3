#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

struct Verify: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a local file against a checksum (and signature).",
        discussion: """
        Example:
          vmprov verify ubuntu.iso --checksum file:SHA256SUMS --signature SHA256SUMS.gpg --keyring ubuntu-cd.asc
        """)

    @Argument(help: ArgumentHelp("The file.", valueName: "file"))
    var file: String

    @OptionGroup var verification: VerifyOptions

    @Flag(name: .shortAndLong, help: "Print nothing on success.")
    var quiet = false

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        guard FileHasher.size(file) > 0 || access(file, R_OK) == 0 else {
            throw CLIError("\(file): no such file.", kind: .noInput)
        }
        var options = DownloadOptions()
        options.gpgv = context.gpgvOverride
        let downloader = Downloader(options: options)
        let name = file.split(separator: "/").last.map(String.init) ?? file
        do {
            let plan = try ChecksumResolver(downloader: downloader).plan(
                fileName: name, bases: [file], request: try verification.request())
            for w in plan.warnings { Output.warn(w) }
            if !quiet { for n in plan.notes { Output.note(n) } }
            guard let actual = try LocalFileVerification.verify(file, plan: plan) else {
                if !quiet { Output.out("\(file): not verified (--checksum none).") }
                return
            }
            if !quiet { Output.out("\(file): OK (\(actual))") }
        }
    }
}
