import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

struct Profiles: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the OS profiles, show one, or check that they still resolve and download.",
        discussion: """
        Profiles are built into vmprov; files in $VMPROV_PROFILES folders (colon-separated), then \
        /etc/vmprov/profiles, override a built-in profile of the same name.

        Examples:
          vmprov profiles show debian --resolve
          vmprov profiles check --json
        """,
        subcommands: [ListProfiles.self, ShowProfile.self, CheckProfiles.self],
        defaultSubcommand: ListProfiles.self)
}

struct ListProfiles: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the profiles.")

    @Flag(help: "Print JSON.")
    var json = false

    struct Row: Encodable {
        var name, description, osType, source: String
        var signed, downloadable: Bool
    }

    func run() throws {
        var rows: [Row] = []
        var failure: ProfileError?
        for r in Catalog.standard().loadAll() {
            switch r {
            case .success(let p):
                rows.append(Row(name: p.name, description: p.description, osType: p.osType, source: p.source,
                                signed: p.isSigned, downloadable: p.isDownloadable))
            case .failure(let e):
                Output.error(e.description)
                failure = failure ?? e
            }
        }
        if json { try JSONOut.print(rows) } else {
            for r in rows {
                let name = r.name + String(repeating: " ", count: max(1, 16 - r.name.count))
                Output.out(name + r.description + (r.downloadable ? "" : " (--iso PATH)") + (r.signed ? "" : " [unsigned]"))
            }
        }
        if let failure { throw AlreadyReported(failure) }
    }
}

struct ShowProfile: ParsableCommand {
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

    func run() throws {
        let p = try Catalog.standard().load(name)
        let prefix = Catalog.mirrorPrefix
        let resolver = ReleaseResolver(downloader: try transfer.downloader(progress: nil), mirrorPrefix: prefix)
        var resolved: ResolvedRelease?
        if resolve || release != nil {
            guard p.iso.isRelease else {
                throw CLIError("the \(p.name) profile pins its URLs; --resolve and --release apply to release-form "
                    + "profiles (iso.pattern)", kind: .usage)
            }
            let downloader = try transfer.downloader(progress: nil)
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

struct CheckProfiles: ParsableCommand {
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

    func run() throws {
        let catalog = Catalog.standard()
        var profiles: [Profile] = []
        if names.isEmpty {
            for r in catalog.loadAll() { profiles.append(try r.get()) }
        } else {
            for n in names { profiles.append(try catalog.load(n)) }
        }
        let downloader = try transfer.downloader(progress: nil)
        let creator = MachineCreator(downloader: downloader, cacheDirectory: downloader.options.cacheDirectory)
        let results = profiles.map {
            creator.check($0, keyring: keyring, keyFingerprint: nil, mirrorPrefix: Catalog.mirrorPrefix)
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
