import Basics
import VBoxXML

/// One guest as a container project sees it: its name, folder and the host ports it publishes. The one compose
/// model that `create`'s and the edits' hints and `vmprov compose`/`kube` share.
public struct ComposeGuest: Sendable, Equatable {
    /// The machine's name (`Machine@name`).
    public var name: String
    /// The `.vbox` file.
    public var settingsPath: String
    /// The folder that holds it (mounted at `$VMDIR` in the guest's container).
    public var folder: String
    /// What the machine binds on its host when it starts (``NATRules/hostPorts(_:)``).
    public var uses: [HostPortUse]
    /// The VBoxAuthSimple users of the VRDE server (`VBoxAuthSimple/users/NAME` extra data), when it uses them.
    public var rdpUsers: [String]

    /// Reads a parsed settings file.
    public init(_ settings: VBoxSettings) {
        name = settings.elements[settings.machineIndex].attribute("name") ?? ""
        settingsPath = settings.path
        folder = FileIO.directory(of: settings.path)
        let model = NetworkModel(settings)
        uses = NATRules.hostPorts(model)
        let rd = model.remoteDisplay
        rdpUsers = rd.authLibrary == "VBoxAuthSimple" ? rd.users : []
    }

    /// The VRDE server's ports (one per list item), empty when it is off.
    public var rdpPorts: [PublishedPort] {
        uses.filter { if case .remoteDisplay = $0.owner { return true } else { return false } }.map(Self.published)
    }

    /// The first port the VRDE server tries (the one a console connects to), if it is on.
    public var rdpPort: Int? { rdpPorts.first?.first }

    /// The port of NAT rule `name` on adapter `adapter` (1-based), if the adapter binds it.
    public func forward(named name: String, adapter: Int) -> PublishedPort? {
        uses.first { $0.owner.isRule(name, adapter) }.map(Self.published)
    }

    /// The port of the NAT rule on adapter `adapter` (1-based) that binds `proto` `hostPort`, if the adapter binds.
    public func forward(hostPort: Int, proto: PortForward.Proto, adapter: Int) -> PublishedPort? {
        uses.first {
            if case .rule(_, let a, _) = $0.owner { return a == adapter && $0.proto == proto && $0.ports.lowerBound == hostPort }
            return false
        }.map(Self.published)
    }

    /// Every port to publish, in binding order, duplicates removed.
    public var published: [PublishedPort] {
        var seen = Set<String>()
        return uses.map(Self.published).filter { seen.insert($0.composeEntry).inserted }
    }

    /// A ``HostPortUse`` as a published port.
    public static func published(_ use: HostPortUse) -> PublishedPort {
        PublishedPort(first: use.ports.lowerBound, last: use.ports.upperBound, proto: use.proto)
    }

    /// A name compose and Kubernetes both accept (DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63
    /// characters), made from the machine name: lowercase, every other character a `-`, runs collapsed; `guest`
    /// when nothing is left.
    public var serviceName: String { Self.serviceName(name) }

    /// See ``serviceName``.
    public static func serviceName(_ text: String) -> String {
        var out = ""
        for ch in text.lowercased().unicodeScalars {
            let ok = (ch >= "a" && ch <= "z") || (ch >= "0" && ch <= "9")
            if ok { out.unicodeScalars.append(ch) } else if !out.hasSuffix("-") { out += "-" }
        }
        var trimmed = Substring(out)
        while trimmed.hasPrefix("-") { trimmed = trimmed.dropFirst() }
        trimmed = trimmed.prefix(63)
        while trimmed.hasSuffix("-") { trimmed = trimmed.dropLast() }
        return trimmed.isEmpty ? "guest" : String(trimmed)
    }
}

extension HostPortUse.Owner {
    func isRule(_ name: String, _ adapter: Int) -> Bool {
        if case .rule(let n, let a, _) = self { return n == name && a == adapter }
        return false
    }
}
