#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import ArgumentParser
import Provision
import VBoxXML

/// `vmprov compose`: one compose project for every guest under a folder.
struct Compose: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one compose project (compose.yml, .env) for every machine folder under DIR.",
        discussion: """
        A service per guest (the image, /dev/vboxdrv, the guest's folder at $VMDIR, its RDP and NAT ports on \
        127.0.0.1, stop_grace_period above STOP_TIMEOUT, a healthcheck, restart: unless-stopped). Two guests \
        publishing one host port are an error naming the fix; --assign moves the later guest's port (a locked, \
        atomic edit of its .vbox). Running it again gives the same files; .env keeps your values and \
        compose.override.yml (created once) your additions. With --console the web login's password is read \
        from standard input and stored as its SHA-256.

        Example:
          vmprov compose vms
          printf '%s\\n' "$PW" | vmprov compose vms --console --console-user admin
        """)

    @Argument(help: ArgumentHelp("The folder holding the machine folders (default: .).", valueName: "dir"))
    var dir: String = "."

    @Option(help: ArgumentHelp("The compose file to write (default: DIR/compose.yml); .env and "
        + "compose.override.yml go beside it.", valueName: "file"))
    var out: String?

    @Flag(help: "Move clashing ports of later guests to free ones (edits their .vbox files).")
    var assign = false

    @Flag(help: "Add the Guacamole browser console (profile `console`); reads the web password from stdin.")
    var console = false

    @Option(help: ArgumentHelp("The console's web login name.", valueName: "name"))
    var consoleUser = "vmprov"

    @Option(help: ArgumentHelp("The console's web port on 127.0.0.1.", valueName: "port"))
    var consolePort = 8080

    @Option(help: ArgumentHelp("STOP_TIMEOUT seconds (default: .env's, else 120).", valueName: "seconds"))
    var stopTimeout: Int?

    @Flag(help: "Edit even while a VBoxSVC process of this user runs (with --assign).")
    var force = false

    func validate() throws {
        if let stopTimeout, !(0...86_400).contains(stopTimeout) {
            throw ValidationError("--stop-timeout \(stopTimeout): give 0 to 86400 seconds.")
        }
        guard (1...65535).contains(consolePort) else { throw ValidationError("--console-port \(consolePort) is outside 1-65535.") }
        guard !consoleUser.isEmpty, !consoleUser.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ValidationError("--console-user: give a non-empty name without control characters.")
        }
    }

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let root = Compose.absolute(dir)
        var project = try ComposeProject.load(root)
        for n in project.notes { Output.warn(n) }
        if !project.clashes.isEmpty {
            guard assign else { throw ComposeError.clashes(project.clashReport) }
            let moves = project.moves
            for (k, g) in project.guests.enumerated() {
                let mine = moves.filter { $0.guest == k }
                guard !mine.isEmpty else { continue }
                let result = try EditSession.run(path: g.settingsPath, force: force, context) { try ComposeProject.applying(mine, to: $0) }
                for m in mine {
                    Output.out("\(g.name): \(m.use.label) moved to \(m.to.count == 1 ? "\(m.to.lowerBound)" : "\(m.to.lowerBound)-\(m.to.upperBound)")"
                        + (result.changed ? " in \(g.settingsPath)" : ""))
                }
            }
            project = try ComposeProject.load(root)
            if !project.clashes.isEmpty { throw ComposeError.clashes(project.clashReport) }
        }
        var consoleSettings: ConsoleSettings?
        if console {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw CLIError("--console: standard input gave no password for the web login (an empty first line or "
                    + "none). Pipe it in: printf '%s\\n' \"$PW\" | vmprov compose --console", kind: .usage)
            }
            consoleSettings = ConsoleSettings(user: consoleUser, passwordSHA256: StreamingHasher.sha256Hex(Array(password.utf8)),
                                              webPort: consolePort)
        }
        let file = out.map(Compose.absolute) ?? root + "/compose.yml"
        let folder = FileIO.directory(of: file)
        let envPath = folder + "/.env"
        let oldEnv = try GeneratedFile.existingText(envPath)
        let env = try ComposeFiles.env(existing: oldEnv, stopTimeout: stopTimeout, console: consoleSettings, path: envPath)
        let yaml = try ComposeFiles.compose(project.guests, composeFolder: folder, budget: env.budget, console: consoleSettings)
        var written: [(String, String)] = []
        written.append((file, try GeneratedFile.write(Array(yaml.utf8), to: file).rawValue))
        written.append((envPath, try GeneratedFile.write(Array(env.text.utf8), to: envPath).rawValue))
        let override = folder + "/compose.override.yml"
        if try GeneratedFile.existingText(override) == nil {
            written.append((override, try GeneratedFile.write(Array(ComposeFiles.override.utf8), to: override).rawValue))
        } else {
            written.append((override, "kept"))
        }
        if let consoleSettings {
            let home = folder + "/" + ConsoleSettings.folder
            try GeneratedFile.folder(home)
            let mapping = home + "/user-mapping.xml"
            written.append((mapping, try GeneratedFile.write(try ConsoleMapping.document(project.guests, consoleSettings),
                                                             to: mapping, mode: 0o444).rawValue))
            let properties = home + "/guacamole.properties"
            written.append((properties, try GeneratedFile.write(Array(ConsoleMapping.properties().utf8), to: properties,
                                                                mode: 0o444).rawValue))
        }
        for g in project.guests {
            Output.out("\(g.serviceName): \(g.settingsPath)  ports "
                + (g.published.isEmpty ? "none" : g.published.map(\.composeEntry).joined(separator: ", ")))
        }
        for (path, what) in written { Output.out("\(what): \(path)") }
        Output.out("stop_grace_period \(env.budget.graceSeconds)s for STOP_TIMEOUT \(env.budget.stopTimeout)s. Start: "
            + "docker compose -f \(file) up -d" + (console ? " (console: --profile console)" : ""))
    }

    /// `path` made absolute against the current folder.
    static func absolute(_ path: String) -> String {
        var p = path.hasPrefix("/") ? path : TempFiles.cwd() + "/" + path
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        if p.hasSuffix("/.") { p.removeLast(2) }
        return p
    }
}
