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

    @Flag(help: ArgumentHelp("Hands-free install: write answer files, a seed ISO and (Linux) a VISO with edited boot "
                             + "menus; needs --user and --password-stdin."))
    var unattended = false

    @Option(help: ArgumentHelp("--unattended: the login name of the account to create.", valueName: "name"))
    var user: String?

    @Flag(help: "--unattended: read the account password from the first line of standard input (never an argument).")
    var passwordStdin = false

    @Option(help: ArgumentHelp("--unattended: the guest's host name (default: the machine name).", valueName: "h"))
    var hostname: String?

    @Option(help: ArgumentHelp("--unattended: IANA time zone (default Etc/UTC; Windows: a Windows zone name, default UTC).",
                               valueName: "zone"))
    var timezone: String?

    @Option(help: ArgumentHelp("--unattended: locale such as en_US.UTF-8 (default).", valueName: "locale"))
    var locale: String?

    @Option(help: ArgumentHelp("--unattended: an OpenSSH public key file for the account.", valueName: "file"))
    var sshKey: String?

    @Option(help: ArgumentHelp("--unattended: extra packages, comma-separated.", valueName: "p,q"))
    var packages: String?

    @Option(help: ArgumentHelp("--unattended: a script run once in the installed system.", valueName: "file"))
    var postInstall: String?

    @Option(help: ArgumentHelp("--unattended, Windows: the product key XXXXX-XXXXX-XXXXX-XXXXX-XXXXX.", valueName: "key"))
    var productKey: String?

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
        let unattendedOnly: [(String, Bool)] = [
            ("--user", user != nil), ("--password-stdin", passwordStdin), ("--hostname", hostname != nil),
            ("--timezone", timezone != nil), ("--locale", locale != nil), ("--ssh-key", sshKey != nil),
            ("--packages", packages != nil), ("--post-install", postInstall != nil), ("--product-key", productKey != nil),
        ]
        if !unattended, let given = unattendedOnly.first(where: \.1) {
            throw ValidationError("\(given.0) is an option of --unattended; add --unattended or leave it out.")
        }
        if unattended && (user == nil || !passwordStdin) {
            throw ValidationError("--unattended needs --user NAME and --password-stdin (the password is read from "
                + "standard input only, never from an argument).")
        }
    }

    func run(_ context: CommandContext) throws {
        let p: Profile
        p = try Catalog.standard(context).load(profile)
        // The documented contract: --dir, then $VMDIR, then ./vms (for create, $VMDIR is the parent folder).
        let directory = dir ?? context.vmDir ?? "vms"
        var req = CreateRequest(profile: p, name: name ?? p.name, directory: directory, identity: try context.testHooks.identity())
        if unattended {
            // Checked before the password is read or anything is downloaded.
            guard let family = p.installer else {
                throw CreateError.invalid("--unattended: the \(p.name) profile (\(p.source)) names no installer family; "
                    + "unattended installs exist for profiles with installer: "
                    + InstallerFamily.allCases.map(\.rawValue).joined(separator: ", ") + " (see vmprov profiles list).")
            }
            req.unattended = try unattendedRequest(family: family, machineName: req.name)
        }
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
        if let u = r.unattended {
            Output.out("Unattended install (\(u.pending.family.rawValue)), recorded as \(PendingInstall.key):")
            for line in u.written { Output.out("  \(line)") }
            Output.out("  The installer powers the guest off when done; vmprov run then detaches and deletes these, "
                + "and boots the disk.")
        }
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

    /// Reads the password (stdin only), hashes it, reads the key and script files, and checks every field.
    func unattendedRequest(family: InstallerFamily, machineName: String) throws -> UnattendedRequest {
        let password = try SecretInput.readLine()
        let hash = try PasswordHash.sha512(password: password)
        var keys: [String] = []
        if let sshKey {
            let text = String(decoding: try Self.readSmallFile(sshKey, what: "--ssh-key"), as: UTF8.self)
            keys = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") }
            if keys.isEmpty { throw CreateError.invalid("--ssh-key \(sshKey): the file holds no public key line.") }
        }
        let script = try postInstall.map { try Self.readSmallFile($0, what: "--post-install") }
        let pkgs = packages.map { $0.split(separator: ",").map { String($0.filter { $0 != " " }) }.filter { !$0.isEmpty } } ?? []
        let host = hostname ?? String(machineName.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" }.prefix(family == .windows ? 15 : 63))
        let input = UnattendedInput(user: user ?? "", passwordHash: hash, hostname: host,
                                    timezone: family == .windows ? "Etc/UTC" : timezone ?? "Etc/UTC",
                                    locale: locale ?? "en_US.UTF-8", sshKeys: keys, packages: pkgs, postInstall: script,
                                    postInstallSource: postInstall ?? "--post-install")
        do { try input.validate() } catch { throw CreateError.invalid("--unattended: \(error)") }
        return UnattendedRequest(input: input, windowsPassword: family == .windows ? password : nil, productKey: productKey,
                                 windowsTimeZone: family == .windows ? timezone ?? "UTC" : "UTC")
    }

    /// A user file of at most 1 MiB (an SSH key, a script); errors name the option and the file.
    static func readSmallFile(_ path: String, what: String) throws -> [UInt8] {
        let limit = UnattendedInput.maximumScriptBytes
        let fd: OwnedFD
        do { fd = try OwnedFD.open(path, O_RDONLY) } catch { throw CreateError.invalid("\(what): \(error)") }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Syscall.retrying { FileIO.read(fd.raw, into: &buffer) }
            if n < 0 { throw CreateError.io(IOError(path: path, operation: "read", code: errno)) }
            if n == 0 { return out }
            out += buffer[0..<n]
            if out.count > limit {
                throw CreateError.invalid("\(what) \(path): the file is larger than \(limit) bytes.")
            }
        }
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : TempFiles.cwd() + "/" + path
    }
}
