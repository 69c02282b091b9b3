#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Provision
import VBoxXML
import Basics

struct Setup: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "The image build step: timezone, user and group with a fixed id, VM folder, extension pack.",
        discussion: """
        Runs as root while the image builds; every step can run again and changes nothing the second time. \
        --root applies everything under another folder (groupadd/useradd --prefix); --vmdir stays inside it. \
        User names follow useradd's portable rule: ASCII [a-z_][a-z0-9_-]*, at most 32 characters. \
        RDP: up to VirtualBox 7.2.5 the VRDP server comes from the extension pack; from 7.2.6 on it is in the \
        base package and the pack (which then has no VRDE module) is not needed for RDP. --extpack auto says which.

        Example (the Dockerfile's step):
          vmprov setup --timezone Europe/Berlin --user vbox --uid 1000 --vmdir /vms --extpack auto
        """)

    @Option(help: ArgumentHelp("Apply under this root folder instead of /.", valueName: "dir"))
    var root = "/"

    @Option(help: ArgumentHelp("Zone in the zoneinfo tree, e.g. Europe/Berlin.", valueName: "zone"))
    var timezone: String?

    @Option(help: ArgumentHelp("The unprivileged user VirtualBox runs as (needs --uid).", valueName: "name"))
    var user: String?

    @Option(help: ArgumentHelp("Its uid, also its group's gid.", valueName: "n"))
    var uid: UInt32?

    @Option(help: ArgumentHelp("The VM folder, owned by the user, mode u=rwX,g=rX,o= (needs --user).", valueName: "dir"))
    var vmdir: String?

    @Option(help: ArgumentHelp("auto (the installed VirtualBox's version), none, or a .vbox-extpack file.", valueName: "auto|none|file"))
    var extpack = "none"

    @Option(help: ArgumentHelp("Mirror for download.virtualbox.org/virtualbox.", valueName: "url"))
    var extpackUrl: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if (user == nil) != (uid == nil) { throw ValidationError("--user and --uid go together.") }
        if vmdir != nil && uid == nil { throw ValidationError("--vmdir needs --user and --uid (its owner).") }
        if let u = extpackUrl, !(u.hasPrefix("https://") || u.hasPrefix("http://")) {
            throw ValidationError("--extpack-url \(URLText.printable(u)): only http and https.")
        }
        // Checked before any step runs, so a bad name or folder changes nothing.
        do {
            if let user { try ImageSetup.validateUserName(user) }
            if let vmdir { try ImageSetup(root: root) { _ in }.checkInside(vmdir, what: "--vmdir") }
        } catch { throw ValidationError(error.message) }
    }

    func run(_ context: CommandContext) throws {
        let setup = ImageSetup(root: root) { Output.out("setup: \($0)") }
        if root != "/" { try setup.checkRoot(forUser: user != nil) }
        if let timezone { try setup.timezone(timezone) }
        if let user, let uid { try setup.user(user, uid: uid) }
        if let vmdir, let uid { try setup.directory(vmdir, uid: uid, mode: 0o750) }
        switch extpack {
        case "none":
            break
        case "auto":
            let dir: TempFolder
            do { dir = try TempFolder(prefix: "vmprov-extpack") } catch {
                throw SetupError("cannot create a temporary folder in \(TempFiles.base)")
            }
            var o = DownloadOptions()
            o.userAgent = "vmprov/\(VMProv.version)"
            try ExtensionPack(tools: context.virtualBoxTools, downloader: Downloader(options: o))
                .installMatching(base: extpackUrl, into: dir.path) { Output.out("setup: \($0)") }
        default:
            try ExtensionPack(tools: context.virtualBoxTools, downloader: Downloader()).installFile(extpack) { Output.out("setup: \($0)") }
        }
    }
}
