#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

/// The profile catalogue as the CLI sees it.
enum Catalog {
    static func standard() -> ProfileCatalog {
        var exe = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &exe, 4095)
        let path = n > 0 ? String(decoding: exe[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        return ProfileCatalog.standard(extra: Output.env("VMPROV_PROFILES"), executable: path)
    }
}

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a machine folder from an OS profile: verified installer, NAME.vbox and a sparse NAME.vdi.",
        discussion: """
        Downloads the installer the publisher released (checksum and, where the publisher signs, signature checked \
        with gpgv), then writes DIR/NAME/NAME.vbox (settings 1.19, read by VirtualBox 7.0 to 7.2) and NAME.vdi. \
        Needs no VirtualBox. The folder is built beside its final place and renamed in, so a failure leaves nothing.

        Example:
          vmprov create --profile ubuntu --dir vms
        """)

    @Option(help: ArgumentHelp("Profile name (see vmprov profiles).", valueName: "name"))
    var profile: String

    @Option(help: ArgumentHelp("Machine name (default: the profile's).", valueName: "vm"))
    var name: String?

    @Option(help: ArgumentHelp("Parent folder of the new machine folder (default: $VMDIR, then ./vms).", valueName: "dir"))
    var dir: String?

    @Option(help: ArgumentHelp("Use a local installer ISO instead of downloading.", valueName: "path"))
    var iso: String?

    @Option(help: ArgumentHelp("Download from this URL instead of the profile's (a local mirror).", valueName: "url"))
    var isoUrl: String?

    @Option(help: ArgumentHelp("Checksum spec replacing the profile's.", valueName: "spec"))
    var checksum: String?

    @Option(help: ArgumentHelp("Check signatures with this keyring instead of the profile's pinned key.", valueName: "file"))
    var keyring: String?

    @Option(help: ArgumentHelp("Accept only signatures by this key (fingerprint; replaces the profile's pin).",
                               valueName: "fpr"))
    var keyFingerprint: String?

    @Flag(help: "Do not check signatures, even where the publisher signs (a warning is printed).")
    var noSignature = false

    @Option(help: ArgumentHelp("Memory in MB.", valueName: "mb"))
    var memory: Int?

    @Option(help: "Virtual CPUs.")
    var cpus: Int?

    @Option(help: ArgumentHelp("Disk size: 512M, 64G, 2T (a bare number is MiB).", valueName: "size"))
    var diskSize: String?

    @Option(help: ArgumentHelp("RDP ports: N, N-M or a comma list.", valueName: "spec"))
    var rdpPort: String?

    @Flag(help: "Replace an existing machine folder of the same name.")
    var force = false

    @OptionGroup var transfer: TransferOptions

    func validate() throws {
        if iso != nil && isoUrl != nil { throw ValidationError("give --iso or --iso-url, not both.") }
        if let u = isoUrl, !(u.hasPrefix("http://") || u.hasPrefix("https://")) {
            throw ValidationError("--iso-url \(URLText.printable(u)): only http and https URLs can be fetched.")
        }
    }

    func run() throws {
        let p: Profile
        p = try Catalog.standard().load(profile)
        // The documented contract: --dir, then $VMDIR, then ./vms (for create, $VMDIR is the parent folder).
        let directory = dir ?? Output.env("VMDIR") ?? "vms"
        var req = CreateRequest(profile: p, name: name ?? p.name, directory: directory, identity: try identity())
        req.isoPath = iso
        req.isoURL = isoUrl
        req.checksum = checksum
        req.keyring = keyring
        req.keyFingerprint = keyFingerprint
        req.noSignature = noSignature
        req.memoryMB = memory
        req.cpus = cpus
        req.diskSize = diskSize
        req.rdpPort = rdpPort
        req.force = force
        req.guestAdditions = GuestAdditions.find(override: Output.env("VMPROV_GUEST_ADDITIONS"))
        let progress = ProgressPrinter(quiet: transfer.quiet)
        let downloader = try transfer.downloader(progress: progress)
        let creator = MachineCreator(downloader: downloader, cacheDirectory: downloader.options.cacheDirectory)
        let quiet = transfer.quiet
        let report: CreateReport
        do {
            report = try creator.create(req) { if !quiet { Output.note("vmprov: \($0)") } }
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        for w in report.warnings { Output.warn(w) }
        print(report, profile: p)
    }

    /// Random identifiers, or fixed ones from VMPROV_TEST_UUIDS / VMPROV_TEST_MAC / VMPROV_TEST_TIME (golden tests).
    func identity() throws -> MachineIdentity {
        var id = MachineIdentity.random()
        if let list = Output.env("VMPROV_TEST_UUIDS") {
            let uuids = list.split(separator: ",").compactMap { VBoxUUID(String($0)) }
            guard uuids.count == 4 else { throw CLIError("VMPROV_TEST_UUIDS needs 4 UUIDs", kind: .usage) }
            id.machine = uuids[0]; id.disk = uuids[1]; id.installer = uuids[2]; id.guestAdditions = uuids[3]
        }
        if let mac = Output.env("VMPROV_TEST_MAC") { id.macAddress = mac }
        if let t = Output.env("VMPROV_TEST_TIME").flatMap(Int.init) { id.time = t }
        return id
    }

    func print(_ r: CreateReport, profile p: Profile) {
        let rd = r.settingsFile
        Output.out("Created \(r.folder):")
        Output.out("  \(FileIO.basename(rd))  settings \(MachineBuilder.settingsVersion), \(p.osType), "
            + "\(cpus ?? p.cpus) CPU(s), \(memory ?? p.memoryMB) MB, \(p.firmware == .efi ? "EFI" : "BIOS")"
            + (p.tpm ? ", TPM 2.0" : "") + (p.secureBoot ? ", secure boot on first start" : ""))
        Output.out("  \(FileIO.basename(r.diskFile))  \(ProgressPrinter.bytes(Int64(r.diskBytes))) dynamic, "
            + "\(ProgressPrinter.bytes(FileHasher.allocated(r.diskFile))) on disk")
        Output.out("  \(FileIO.basename(r.isoFile))  checksum: \(r.checksumOutcome)")
        Output.out("      signature: \(r.signatureOutcome)")
        Output.out("  Guest Additions: \(r.guestAdditions ?? "not found (install virtualbox-guest-iso to attach them)")")
        let ports = rdpPort ?? p.rdpPort
        Output.out("  RDP on port \(ports)" + (p.forwards.isEmpty ? "" : "; forwards: "
            + p.forwards.map { "\($0.name) \($0.hostPort)→\($0.guestPort)" }.joined(separator: ", ")))
        let warnings = r.findings.filter { $0.severity == .warning }
        if !warnings.isEmpty { Output.out("  check: \(warnings.count) warning(s): " + warnings.map(\.message).joined(separator: "; ")) }
        Output.out("Next steps:")
        let vrdp = ComposePorts.vrdpVariable(ports)
        Output.out("  1. In docker/.env set VMSRC=\(absolute(r.folder)) and VRDP=\(vrdp.value)"
            + (vrdp.others.isEmpty ? "" : " (VRDP holds one item of \(ports); "
                + vrdp.others.map(\.spec).joined(separator: ", ") + " need the entries below)"))
        Output.out("  2. ./set-perm-vmsrc        (gives the container user the folder)")
        Output.out("  3. docker compose -f docker/compose.yml --env-file docker/.env up -d")
        Output.out("  Publish these in compose.yml (the container exposes only what compose maps):")
        for line in ComposePorts.lines(r.guest.published, indent: "      ") { Output.out(line) }
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : TempFiles.cwd() + "/" + path
    }
}

struct Profiles: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the OS profiles, or show one with `profiles show NAME`.",
        discussion: "Extra profile folders come from $VMPROV_PROFILES (colon-separated).\n\nExample:\n  vmprov profiles show ubuntu",
        subcommands: [ListProfiles.self, ShowProfile.self],
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
                                signed: p.isSigned, downloadable: !p.iso.urls.isEmpty))
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
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a profile's resolved values.")

    @Argument(help: "Profile name.")
    var name: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let p: Profile
        p = try Catalog.standard().load(name)
        if json { return try JSONOut.print(p) }
        Output.out("name:          \(p.name)  (\(p.source))")
        Output.out("description:   \(p.description)")
        Output.out("os type:       \(([p.osType] + p.osTypeFallbacks).joined(separator: " → "))")
        Output.out("firmware:      \(p.firmware.rawValue)" + (p.tpm ? ", TPM 2.0" : "") + (p.secureBoot ? ", secure boot" : ""))
        Output.out("cpus/memory:   \(p.cpus) CPU(s), \(p.memoryMB) MB, \(p.vramMB) MB \(p.graphics)")
        Output.out("disk:          \(p.diskSize) on \(p.storageBus.rawValue.uppercased()), NIC \(p.nicType)")
        Output.out("iso:           " + (p.iso.urls.isEmpty ? "none: --iso PATH" + (p.iso.note.map { " (\($0))" } ?? "") : p.iso.urls.joined(separator: "\n               ")))
        Output.out("checksum:      \(p.iso.checksum ?? "none published")")
        Output.out("signature:     \(p.iso.signature ?? (p.iso.keyFingerprint != nil ? "clearsigned checksum file" : "none published"))")
        if let k = p.iso.keyFingerprint { Output.out("key:           \(k)\n               \(p.iso.keyURL ?? "")") }
        Output.out("rdp port:      \(p.rdpPort)")
        for f in p.forwards { Output.out("forward:       \(f.name) \(f.proto) \(f.hostPort) → \(f.guestPort)") }
    }
}
