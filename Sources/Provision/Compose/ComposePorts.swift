import Basics
import VBoxXML

/// One host port or port range the container must publish for the guest to be reachable.
public struct PublishedPort: Sendable, Equatable, Codable {
    /// First port, 1–65535.
    public var first: Int
    /// Last port (equal to `first` for a single port).
    public var last: Int
    /// TCP or UDP.
    public var proto: PortForward.Proto

    /// A port (`last` nil) or an inclusive range `first...last`.
    public init(first: Int, last: Int? = nil, proto: PortForward.Proto) {
        self.first = first
        self.last = last ?? first
        self.proto = proto
    }

    /// `N` or `N-M`.
    public var spec: String { first == last ? "\(first)" : "\(first)-\(last)" }

    /// The compose short-syntax entry that publishes it on the host's loopback only, same port inside and out:
    /// `127.0.0.1:5000-5050:5000-5050` or `127.0.0.1:5353:5353/udp`.
    public var composeEntry: String {
        "127.0.0.1:\(spec):\(spec)" + (proto == .udp ? "/udp" : "")
    }
}

/// The compose `ports:` entries of a guest: the one place they are made, for the hints after `create` and the
/// edits and for `vmprov compose` (see ``ComposeGuest``).
public enum ComposePorts {
    /// One entry per item of a VRDE `TCP/Ports` list (`5000-5050,5100` gives two); `0` means 3389, as in
    /// `ConsoleVRDPServer::VRDPCallbackQueryProperty`. A list that does not parse gives no entry.
    public static func vrde(_ ports: String) -> [PublishedPort] {
        let spec = ports == "0" ? "3389" : ports
        guard case .success(let ranges) = ValueCheck.vrdePorts(spec) else { return [] }
        return ranges.map { PublishedPort(first: $0.lowerBound, last: $0.upperBound, proto: .tcp) }
    }

    /// The value for `VRDP` in docker/.env, whose compose.yml publishes one item (a port or a range), and the
    /// list's other items, which need `ports:` entries of their own (`5000-5050,5100` gives `5000-5050` and `5100`).
    /// A list that does not parse gives the default 3389 and nothing else.
    public static func vrdpVariable(_ ports: String) -> (value: String, others: [PublishedPort]) {
        let all = vrde(ports)
        guard let first = all.first else { return ("3389", []) }
        return (first.spec, Array(all.dropFirst()))
    }

    /// The entry for a NAT rule's host port.
    public static func forward(_ rule: PortForward) -> PublishedPort {
        PublishedPort(first: rule.hostPort, proto: rule.proto)
    }

    /// The YAML list lines (`- "…"`), each indented by `indent`, duplicates removed, in order.
    public static func lines(_ ports: [PublishedPort], indent: String) -> [String] {
        var seen = Set<String>()
        return ports.map(\.composeEntry).filter { seen.insert($0).inserted }.map { "\(indent)- \"\($0)\"" }
    }
}
