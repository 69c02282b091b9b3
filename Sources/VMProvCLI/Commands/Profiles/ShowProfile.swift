#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Basics
import FoundationEssentials
import Provision
import VBoxXML

struct ShowProfile: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print a profile's values and what its installer resolves to.",
        discussion: "With --resolve, a release-form profile's checksum file and signature are fetched and verified and "
            + "the installer it names is printed (as `create` would pick it).")

    @Argument(help: "Profile name.")
    var name: String

    @Flag(help: "Fetch and verify the checksum file and print the installer it resolves to (network).")
    var resolve = false

    @Option(help: ArgumentHelp("With --resolve: this version instead of the newest.", valueName: "version"))
    var release: String?

    @Option(help: ArgumentHelp("Check signatures with this keyring instead of the profile's pinned key.", valueName: "file"))
    var keyring: String?

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var transfer: TransferOptions

    struct Shown: Encodable {
        var profile: Profile
        var resolved: ResolvedRelease?
    }

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let release, !ReleaseResolver.isVersion(release) {
            throw ValidationError("--release \(URLText.printable(release)): give a version such as 24.04.5 (digits and dots).")
        }
    }

    func run(_ context: CommandContext) throws {
        let p = try Catalog.standard(context).load(name)
        let prefix = context.testHooks.mirrorPrefix
        let resolver = ReleaseResolver(downloader: try transfer.downloader(progress: nil, context: context), mirrorPrefix: prefix)
        var resolved: ResolvedRelease?
        if resolve || release != nil {
            guard p.iso.isRelease else {
                throw CLIError("the \(p.name) profile pins its URLs; --resolve and --release apply to release-form "
                    + "profiles (iso.pattern)", kind: .usage)
            }
            let downloader = try transfer.downloader(progress: nil, context: context)
            let creator = MachineCreator(downloader: downloader, cacheDirectory: downloader.options.cacheDirectory)
            resolved = try creator.resolveRelease(p, release: release, keyring: keyring, keyFingerprint: nil,
                                                  noSignature: false, mirrorPrefix: prefix) { Output.note("vmprov: \($0)") }
        }
        if json { return try JSONOut.print(Shown(profile: p, resolved: resolved)) }
        Output.out("name:          \(p.name)  (\(p.source))")
        Output.out("description:   \(p.description)")
        Output.out("os type:       \(([p.osType] + p.osTypeFallbacks).joined(separator: " → "))")
        Output.out("firmware:      \(p.firmware.rawValue)" + (p.tpm ? ", TPM 2.0" : "") + (p.secureBoot ? ", secure boot" : ""))
        Output.out("cpus/memory:   \(p.cpus) CPU(s), \(p.memoryMB) MB, \(p.vramMB) MB \(p.graphics)")
        Output.out("disk:          \(p.diskSize) on \(p.storageBus.rawValue.uppercased()), NIC \(p.nicType)")
        let pad = "\n               "
        if let pattern = p.iso.pattern {
            let locations = resolver.locations(p.iso, release: release ?? "{release}")
            var sums = p.iso.checksum ?? ""
            if sums.hasPrefix("file:") { sums = String(sums.dropFirst(5)) }
            let signedPart = p.iso.keyFingerprint != nil && !(p.iso.signature ?? "").contains("{iso}")
            Output.out("iso:           newest \(pattern) listed in \(sums) "
                + (signedPart ? "(signed part only)" : "(unsigned)") + " of"
                + pad + (locations.first?.folders ?? []).joined(separator: pad))
            let archive = locations.dropFirst().flatMap(\.folders)
            if !archive.isEmpty { Output.out("archive:       " + archive.joined(separator: pad)) }
            if let r = resolved {
                Output.out("resolves to:   \(r.fileName) (version \(r.version)) from \(r.folder)"
                    + (r.fromArchive ? " (archive)" : "") + pad + r.urls.joined(separator: pad))
                if let signer = r.signer { Output.out("signed by:     \(signer)") }
            } else {
                Output.out("resolves to:   (run with --resolve to fetch and verify the checksum file)")
            }
        } else {
            Output.out("iso:           " + (p.iso.urls.isEmpty ? "none: --iso PATH" + (p.iso.note.map { " (\($0))" } ?? "")
                : p.iso.urls.joined(separator: pad)))
        }
        Output.out("checksum:      \(p.iso.checksum ?? "none published")")
        Output.out("signature:     \(p.iso.signature ?? (p.iso.keyFingerprint != nil ? "clearsigned checksum file" : "none published"))")
        if let k = p.iso.keyFingerprint { Output.out("key:           \(k)\n               \(p.iso.keyURL ?? "")") }
        Output.out("rdp port:      \(p.rdpPort)")
        for f in p.forwards { Output.out("forward:       \(f.name) \(f.proto) \(f.hostPort) → \(f.guestPort)") }
    }
}
