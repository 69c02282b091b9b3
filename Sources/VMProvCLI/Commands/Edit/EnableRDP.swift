import ArgumentParser
import Provision
import VBoxXML
import Basics

struct EnableRDP: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable-rdp",
        abstract: "Turn the VirtualBox RDP (VRDE) server on and set it up.",
        discussion: """
        Writes Machine/Hardware/RemoteDisplay with enabled="true" and the TCP/Ports and TCP/Address properties. \
        With --user, RDP logins are checked by VBoxAuthSimple against a SHA-256 of the password, which is read \
        from standard input and never printed or stored in clear.

        Example:
          printf '%s\\n' "$PASSWORD" | vmprov enable-rdp vms/ubuntu --port 3389 --user alice --password-stdin
        """)

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("Ports to listen on: N, N-M or a comma list (default: keep, else 3389).",
                               valueName: "spec"))
    var port: String?

    @Option(help: ArgumentHelp("Address to listen on; empty for all (inside a container compose publishes it).",
                               valueName: "ip"))
    var address: String?

    @Option(help: ArgumentHelp("Authentication: null, external or guest.", valueName: "type"))
    var auth: AuthChoice?

    @Flag(help: "Allow several RDP clients at once.")
    var multiConnection = false

    @Option(help: ArgumentHelp("Create a VBoxAuthSimple user (needs --password-stdin).", valueName: "name"))
    var user: String?

    @Flag(help: "Read the --user password from the first line of standard input.")
    var passwordStdin = false

    enum AuthChoice: String, ExpressibleByArgument, CaseIterable {
        case null, external, guest
        var value: RDPAuth {
            switch self {
            case .null: return .null
            case .external: return .external
            case .guest: return .guest
            }
        }
    }

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if user != nil && !passwordStdin {
            throw ValidationError("--user needs --password-stdin: the password is read from standard input, never "
                + "from the command line.")
        }
        if passwordStdin && user == nil {
            throw ValidationError("--password-stdin needs --user NAME.")
        }
        if let port, case .failure(let e) = ValueCheck.vrdePorts(port) {
            throw ValidationError("--port \(URLText.printable(port)): \(e.message). Use N, N-M or a comma list such as 3389,5000-5010.")
        }
        if let address, !address.isEmpty, !ValueCheck.isIPAddress(address) {
            throw ValidationError("--address \(URLText.printable(address)) is not an IP address.")
        }
        if user != nil, let auth, auth != .external {
            throw ValidationError("--user needs --auth external (or no --auth), not --auth \(auth.rawValue).")
        }
    }

    func run(_ context: CommandContext) throws {
        var credentials: (name: String, passwordSHA256: String)?
        if let user {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw CLIError("--password-stdin: standard input gave no password (an empty first line or none). "
                    + "Pipe the password in, for example: printf '%s\\n' \"$PW\" | vmprov enable-rdp --user \(user) "
                    + "--password-stdin", kind: .usage)
            }
            // VBoxAuthSimple hashes the password the RDP client sent as a C string: a NUL ends it there, so a
            // digest over bytes after a NUL could never match any login.
            guard !password.utf8.contains(0) else {
                throw CLIError("--password-stdin: the password contains a NUL byte, which no RDP client can send "
                    + "(VBoxAuthSimple would never accept it). Give a password without one.", kind: .usage)
            }
            // VBoxAuthSimple compares lowercase hex SHA-256 of the raw password bytes.
            credentials = (user, StreamingHasher.sha256Hex(Array(password.utf8)))
        }
        let request = RDPRequest(ports: port, address: address, auth: auth?.value, multiConnection: multiConnection,
                                 user: credentials)
        let result = try EditSession.run(target, context) { try $0.enablingRDP(request) }
        let rd = result.settings.remoteDisplay
        let listen = rd.address.isEmpty ? "all addresses" : rd.address
        Output.out("\(result.changed ? "RDP enabled" : "RDP already set up") in \(result.settings.path): "
            + "port \(rd.ports) on \(listen), auth \(rd.authType)"
            + (credentials.map { ", user \($0.name)" } ?? "") + ".")
        EditSession.composeHint(ComposeGuest(result.settings).rdpPorts)
    }
}
