import ArgumentParser
import Provision
import VBoxXML
import Basics

struct AddForward: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-forward",
        abstract: "Add a NAT port forward to a network adapter.",
        discussion: """
        The rule is checked by the same rules as `vmprov check` (unique name per adapter, no comma in the name, \
        ports 1-65535, IPv4 host and guest addresses, no overlapping bind of the host port on any enabled NAT \
        adapter or the RDP port, the adapter attached to NAT) and written with a numeric proto.

        Examples:
          vmprov add-forward vms/ubuntu --name ssh --host-port 2222 --guest-port 22
          vmprov add-forward --rule "web,tcp,,8080,,80" --adapter 1
        """)

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("The whole rule, as VBoxManage --natpf takes it.",
                               valueName: "name,proto,hostip,hostport,guestip,guestport"))
    var rule: String?

    @Option(help: "Rule name (default: PROTO_HOSTPORT_GUESTPORT).")
    var name: String?

    @Option(help: ArgumentHelp("Host port, 1-65535.", valueName: "port"))
    var hostPort: String?

    @Option(help: ArgumentHelp("Guest port, 1-65535.", valueName: "port"))
    var guestPort: String?

    @Option(help: ArgumentHelp("tcp or udp.", valueName: "proto"))
    var proto: String = "tcp"

    @Option(help: ArgumentHelp("Host IPv4 address to bind, e.g. 127.0.0.1 (empty: every address).", valueName: "ip"))
    var hostIp: String = ""

    @Option(help: ArgumentHelp("Guest IPv4 address (empty: the guest's DHCP address).", valueName: "ip"))
    var guestIp: String = ""

    @Option(help: ArgumentHelp("Network adapter, 1-based like VBoxManage --natpf1.", valueName: "n"))
    var adapter: Int = 1

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        _ = try parsedRule()
        guard adapter >= 1 else { throw ValidationError("--adapter \(adapter): adapters are numbered from 1.") }
    }

    /// The rule from either form.
    func parsedRule() throws -> PortForward {
        if let rule {
            guard name == nil, hostPort == nil, guestPort == nil else {
                throw ValidationError("give either --rule or --name/--host-port/--guest-port, not both.")
            }
            let fields = rule.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 6 else {
                throw ValidationError("--rule \"\(URLText.printable(rule))\" has \(fields.count) fields; it needs 6: "
                    + "name,proto,hostip,hostport,guestip,guestport (for example ssh,tcp,,2222,,22). "
                    + "A name cannot contain a comma.")
            }
            return try make(name: fields[0], proto: fields[1], hostIP: fields[2], hostPort: fields[3],
                            guestIP: fields[4], guestPort: fields[5])
        }
        guard let hostPort, let guestPort else {
            throw ValidationError("give --rule \"name,proto,hostip,hostport,guestip,guestport\" or --host-port and "
                + "--guest-port.")
        }
        if let name, name.contains(",") {
            throw ValidationError("--name \"\(URLText.printable(name))\" contains a comma, which VirtualBox refuses in NAT rule names.")
        }
        return try make(name: name ?? "", proto: proto, hostIP: hostIp, hostPort: hostPort, guestIP: guestIp,
                        guestPort: guestPort)
    }

    private func make(name: String, proto: String, hostIP: String, hostPort: String, guestIP: String,
                      guestPort: String) throws -> PortForward {
        guard let p = PortForward.Proto(rawValue: proto.lowercased()) else {
            throw ValidationError("protocol \"\(URLText.printable(proto))\" is not tcp or udp.")
        }
        let host: Int
        switch ValueCheck.port(hostPort, what: "host port") {
        case .success(let v): host = v
        case .failure(let e): throw ValidationError(e.message + ".")
        }
        let guest: Int
        switch ValueCheck.port(guestPort, what: "guest port") {
        case .success(let v): guest = v
        case .failure(let e): throw ValidationError(e.message + ".")
        }
        // Addresses are judged by the rule checker (the NAT engine takes IPv4 literals only), as `check` judges them.
        return PortForward(name: name, proto: p, hostIP: hostIP, hostPort: host, guestIP: guestIP, guestPort: guest)
    }

    func run(_ context: CommandContext) throws {
        let forward = try parsedRule()
        let result = try EditSession.run(target, context) { try $0.addingForward(forward, adapter: adapter) }
        if result.changed {
            let added = result.settings.adapters.first { $0.number == adapter }?.forwards
                .first { $0.hostPort == forward.hostPort && $0.proto == forward.proto && $0.hostIP == forward.hostIP }
            Output.out("Added \(added?.ruleString ?? forward.ruleString) to adapter \(adapter) in \(result.settings.path).")
        }
        EditSession.composeHint(ComposeGuest(result.settings)
            .forward(hostPort: forward.hostPort, proto: forward.proto, adapter: adapter).map { [$0] } ?? [])
    }
}
