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

/// The profile catalogue as the CLI sees it: `$VMPROV_PROFILES`, `/etc/vmprov/profiles`, then the built-in ones.
enum Catalog {
    static func standard(_ context: CommandContext) -> ProfileCatalog {
        ProfileCatalog.standard(extra: context.extraProfileFolders)
    }
}

struct Create: GlobalOptionsCommand {
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

    @Option(help: ArgumentHelp("Release-form profiles: this version (the {version} in the file name, e.g. 13.6.0), "
                               + "searched in the current folder, then the archive folders.", valueName: "version"))
    var release: String?

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

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if iso != nil && isoUrl != nil { throw ValidationError("give --iso or --iso-url, not both.") }
        if let release, !ReleaseResolver.isVersion(release) {
            throw ValidationError("--release \(URLText.printable(release)): give a version such as 24.04.5 (digits and dots).")
        }
        if let u = isoUrl, !(u.hasPrefix("http://") || u.hasPrefix("https://")) {
            throw ValidationError("--iso-url \(URLText.printable(u)): only http and https URLs can be fetched.")
        }
    }

    func run(_ context: CommandContext) throws {
        let p: Profile
        p = try Catalog.standard(context).load(profile)
        // The documented contract: --dir, then $VMDIR, then ./vms (for create, $VMDIR is the parent folder).
        let directory = dir ?? context.vmDir ?? "vms"
        var req = CreateRequest(profile: p, name: name ?? p.name, directory: directory, identity: try context.testHooks.identity())
        req.isoPath = iso
        req.isoURL = isoUrl
        req.checksum = checksum
        req.keyring = keyring
        req.keyFingerprint = keyFingerprint
        req.noSignature = noSignature
        req.release = release
        req.mirrorPrefix = context.testHooks.mirrorPrefix
        req.memoryMB = memory
        req.cpus = cpus
        req.diskSize = diskSize
        req.rdpPort = rdpPort
        req.force = force
        req.guestAdditions = GuestAdditions.find(override: context.guestAdditionsOverride)
        let progress = ProgressPrinter(quiet: transfer.quiet, bars: context.terminalDrawsBars)
        let downloader = try transfer.downloader(progress: progress, context: context)
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

    func print(_ r: CreateReport, profile p: Profile) {
        let rd = r.settingsFile
        Output.out("Created \(r.folder):")
        Output.out("  \(FileIO.basename(rd))  settings \(MachineBuilder.settingsVersion), \(p.osType), "
            + "\(cpus ?? p.cpus) CPU(s), \(memory ?? p.memoryMB) MB, \(p.firmware == .efi ? "EFI" : "BIOS")"
            + (p.tpm ? ", TPM 2.0" : "") + (p.secureBoot ? ", secure boot on first start" : ""))
        Output.out("  \(FileIO.basename(r.diskFile))  \(SizeText.format(Int64(r.diskBytes))) dynamic, "
            + "\(SizeText.format(FileHasher.allocated(r.diskFile))) on disk")
        if let rel = r.release {
            Output.out("  release: \(rel.fileName) (version \(rel.version)) from \(rel.folder)"
                + (rel.fromArchive ? " (an archive folder)" : " (the current folder)"))
        }
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
