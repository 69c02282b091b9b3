#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

struct CheckProfiles: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check that profiles still work: checksum file, signature, installer on every mirror.",
        discussion: """
        For each profile (all when none is named): fetch and verify its checksum file and signature (release-form \
        profiles are resolved as `create` would), then ask every mirror for the installer (HEAD), and for a \
        signature over the installer. Prints a table (or JSON) and exits non-zero when any check fails.

        Example:
          vmprov profiles check debian ubuntu
        """)

    @Argument(help: "Profile names (default: every profile).")
    var names: [String] = []

    @Option(help: ArgumentHelp("Check signatures with this keyring instead of each profile's pinned key.", valueName: "file"))
    var keyring: String?

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var transfer: TransferOptions

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let catalog = Catalog.standard(context)
        var profiles: [Profile] = []
        if names.isEmpty {
            for r in catalog.loadAll() { profiles.append(try r.get()) }
        } else {
            for n in names { profiles.append(try catalog.load(n)) }
        }
        let downloader = try transfer.downloader(progress: nil, context: context)
        let creator = MachineCreator(downloader: downloader, cacheDirectory: downloader.options.cacheDirectory)
        let results = profiles.map {
            creator.check($0, keyring: keyring, keyFingerprint: nil, mirrorPrefix: context.testHooks.mirrorPrefix)
        }
        if json {
            try JSONOut.print(results)
        } else {
            func col(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(1, w - s.count)) }
            Output.out(col("PROFILE", 16) + col("RESULT", 9) + col("INSTALLER", 48) + "DETAIL")
            for r in results {
                let detail = r.error ?? ("\(r.probes.count) mirror check(s) ok" + (r.signer.map { ", signed by \($0)" } ?? ", unsigned"))
                Output.out(col(r.profile, 16) + col(r.status, 9) + col(r.fileName ?? "-", 48) + detail)
            }
        }
        let failed = results.filter(\.failed)
        if !failed.isEmpty {
            let text = "\(failed.count) of \(results.count) profile(s) failed the check: "
                + failed.map(\.profile).joined(separator: ", ")
            Output.error(text)
            throw AlreadyReported(CLIError(text, kind: .dataError))
        }
    }
}
