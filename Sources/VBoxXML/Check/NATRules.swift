#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Basics

/// Where a NAT rule's host socket is bound, as the NAT driver binds it.
///
/// Mirrors `DrvNAT.cpp` `drvNATConstructRedir` (and `DrvNATlibslirp.cpp`, the same code): the rule's
/// `BindIP` is read into a 32-byte buffer (`GET_STRING`, so 32 characters or more fail the start) and
/// parsed with `inet_aton` (`GETIP_DEF`); when `inet_aton` fails, the address silently becomes
/// `INADDR_ANY`. So a host name or an IPv6 address is bound on every IPv4 address.
public enum NATBind: Sendable, Equatable {
    /// Every IPv4 address (`""`, `0.0.0.0`, or anything `inet_aton` cannot read).
    case any
    /// One IPv4 address, in host byte order.
    case address(UInt32)

    /// What the NAT driver does with `text` (the `hostip` attribute).
    public enum Reading: Sendable, Equatable {
        /// Empty, or a dotted quad (`inet_pton`): bound as written.
        case exact(NATBind)
        /// Accepted by `inet_aton` only (`127.1`, `0x7f.0.0.1`, trailing text after a space): bound on `bind`.
        case lenient(NATBind)
        /// Not IPv4 (`localhost`, `::1`): bound on every IPv4 address instead.
        case notIPv4
        /// 32 characters or more: the driver's buffer is too small and the machine fails to start.
        case tooLong
    }

    /// Reads a `hostip`/`guestip` value as `drvNATConstructRedir` does.
    public static func read(_ text: String) -> Reading {
        if text.isEmpty { return .exact(.any) }
        if text.utf8.count >= 32 { return .tooLong }
        var strict = in_addr()
        if inet_pton(AF_INET, text, &strict) == 1 { return .exact(fromAddress(strict)) }
        var loose = in_addr()
        if inet_aton(text, &loose) != 0 { return .lenient(fromAddress(loose)) }
        return .notIPv4
    }

    static func fromAddress(_ a: in_addr) -> NATBind {
        let host = UInt32(bigEndian: a.s_addr)
        return host == 0 ? .any : .address(host)
    }

    /// The address the driver ends up binding (a failed parse binds everything).
    public static func effective(_ text: String) -> NATBind {
        switch read(text) {
        case .exact(let b), .lenient(let b): return b
        case .notIPv4, .tooLong: return .any
        }
    }

    /// Two binds on one port collide: either is every address, or both are the same address.
    public func overlaps(_ other: NATBind) -> Bool {
        switch (self, other) {
        case (.any, _), (_, .any): return true
        case (.address(let a), .address(let b)): return a == b
        }
    }

    /// Dotted-quad text, `*` for every address.
    public var text: String {
        switch self {
        case .any: return "*"
        case .address(let a): return "\(a >> 24).\((a >> 16) & 0xFF).\((a >> 8) & 0xFF).\(a & 0xFF)"
        }
    }
}

/// The network part of a machine as VirtualBox 7.x loads it: adapters in document order, which of them
/// VirtualBox keeps, their NAT rules, and the VRDE server that binds ports in the same process.
public struct NetworkModel: Sendable {
    /// One `Forwarding` element.
    public struct Rule: Sendable {
        /// Element index in the document.
        public var element: Int
        /// The rule as VirtualBox reads it (ports cut to 16 bits, missing guest port = host port).
        public var forward: PortForward
        /// Whether the element has a `name` attribute (a missing one is stored as `""`).
        public var hasName: Bool
        /// The `proto` attribute as written, if any.
        public var protoText: String?
        /// Whether the element has a `guestport` attribute (a missing one takes the host port).
        public var hasGuestPort: Bool
    }

    /// One `Adapter` element.
    public struct Adapter: Sendable {
        /// Element index in the document.
        public var element: Int
        /// Nil when `slot` is missing or not a number.
        public var slot: Int?
        /// `enabled` as VirtualBox reads it (default false).
        public var enabled: Bool
        /// Active mode element name, `Null` when none.
        public var mode: String
        /// Number of active mode children (more than one is refused).
        public var modeCount: Int
        /// Number of element children, `DisabledModes` included (more than two is refused).
        public var childCount: Int
        /// The active `NAT` element, when the mode is NAT.
        public var nat: Int?
        /// The rules of the active NAT element, in document order.
        public var rules: [Rule]
        /// False when VirtualBox never loads it: a later element has the same slot, or an earlier one's slot
        /// was beyond the chipset's limit (`Machine::i_loadHardware` stops there).
        public var loaded: Bool
        /// Whether its NAT engine binds host ports when the machine starts.
        public var binds: Bool { loaded && enabled && mode == "NAT" }
    }

    /// Every `Adapter` element under `Machine/Hardware/Network`, in document order.
    public var adapters: [Adapter]
    /// The chipset type (`PIIX3` when not given).
    public var chipset: String
    /// Number of network slots the chipset has (`Global::getMaxNetworkAdapters`).
    public var slotLimit: Int
    /// The RDP server as VirtualBox reads it (legacy `port`/`netAddress` included).
    public var remoteDisplay: RemoteDisplayInfo
    /// The element that carries the effective `TCP/Ports` (a property or `RemoteDisplay` itself).
    public var remoteDisplayElement: Int?

    /// Reads the model from a parsed file (`Settings.cpp` `readNetworkAdapters`, `readNATForwardRulesMap`).
    public init(_ doc: VBoxSettings) {
        let (chipset, limit) = doc.networkSlots
        self.chipset = chipset
        self.slotLimit = limit
        self.remoteDisplay = doc.remoteDisplay
        self.remoteDisplayElement = doc.vrdeProperty("TCP/Ports") ?? doc.remoteDisplayElement
        var list: [Adapter] = []
        if let network = doc.child(of: doc.hardwareIndex, named: "Network") {
            for i in doc.children(of: network, named: "Adapter") {
                let e = doc.elements[i]
                let modes = e.children.filter { doc.elements[$0].name != "DisabledModes" }
                let mode = modes.first.map { doc.elements[$0].name } ?? "Null"
                let nat = mode == "NAT" ? modes.first : nil
                let rules: [Rule] = nat.map { n in
                    doc.forwards(inNAT: n).map { found -> Rule in
                        let f = doc.elements[found.index]
                        return Rule(element: found.index, forward: found.rule, hasName: f.attribute("name") != nil,
                                    protoText: f.attribute("proto"), hasGuestPort: f.attribute("guestport") != nil)
                    }
                } ?? []
                list.append(Adapter(element: i, slot: VBoxValue.uint(e.attribute("slot")),
                                    enabled: VBoxValue.bool(e.attribute("enabled")) ?? false, mode: mode,
                                    modeCount: modes.count, childCount: e.children.count, nat: nat, rules: rules,
                                    loaded: true))
            }
        }
        // Machine::i_loadHardware: an out-of-range slot ends the loop (AssertBreak); a later element with the
        // same slot loads over an earlier one (NATEngine::i_loadSettings assigns the whole NAT data).
        var stopped = false
        for k in list.indices {
            guard let slot = list[k].slot, !stopped else { list[k].loaded = false; continue }
            if slot >= limit { stopped = true; list[k].loaded = false; continue }
        }
        for k in list.indices where list[k].loaded {
            if list[(k + 1)...].contains(where: { $0.loaded && $0.slot == list[k].slot }) { list[k].loaded = false }
        }
        self.adapters = list
    }

    /// The adapter element VirtualBox uses for slot `slot` (the last loaded one), if any.
    public func keptAdapter(slot: Int) -> Adapter? {
        adapters.last { $0.loaded && $0.slot == slot }
    }
}

/// One thing the network checker found, tied to an element.
public struct NetworkFinding: Sendable, Equatable {
    /// Error (the machine fails, or binds other than written) or warning (VirtualBox changes it silently).
    public var severity: Finding.Severity
    /// Index of the element the finding is about.
    public var element: Int
    /// What is wrong and what to do; no line numbers, so findings of two versions of a file compare.
    public var message: String
}

/// The NAT port-forward and adapter rules, as one pure function over ``NetworkModel``.
///
/// `vmprov check` reports these findings and `add-forward` refuses a rule exactly when adding it brings a new
/// error, so both commands give the same verdict. Errors are what makes VirtualBox refuse the file, the machine
/// fail to start, or a rule bind somewhere other than written; warnings are what VirtualBox changes silently.
public enum NATRules {
    /// A name for a message: control characters as `\u{N}`, so they cannot move the terminal's cursor.
    static func escaped(_ text: String) -> String {
        var out = ""
        for ch in text.unicodeScalars {
            if ch.value < 0x20 || ch.value == 0x7F { out += "\\u{\(String(ch.value, radix: 16))}" } else { out.unicodeScalars.append(ch) }
        }
        return out
    }

    /// Checks the adapters, their rules and their host binds (against each other and the VRDE server).
    public static func check(_ model: NetworkModel) -> [NetworkFinding] {
        var out: [NetworkFinding] = []
        func add(_ s: Finding.Severity, _ e: Int, _ m: String) { out.append(NetworkFinding(severity: s, element: e, message: m)) }

        var sawBeyond = false
        for (k, a) in model.adapters.enumerated() {
            guard let slot = a.slot else { continue }
            if slot >= model.slotLimit, !sawBeyond {
                sawBeyond = true
                add(.error, a.element, "slot \(slot) is beyond the \(model.chipset) chipset's \(model.slotLimit) "
                    + "adapters; VirtualBox stops reading adapters here, silently (this one and every later one)")
            } else if !a.loaded, !sawBeyond,
                      model.adapters[(k + 1)...].contains(where: { $0.loaded && $0.slot == slot }) {
                add(.warning, a.element, "slot \(slot) appears again further down; VirtualBox loads the later Adapter "
                    + "over this one, so this one and its NAT rules are ignored (vmprov edits the later one)")
            }
            if a.childCount > 2 || a.modeCount > 1 {
                add(.error, a.element, "more than one attachment mode under one adapter; VirtualBox refuses it "
                    + "(\"Invalid number of modes\")")
            }
        }

        struct Bind { var rule: NetworkModel.Rule; var adapter: Int; var element: Int; var bind: NATBind; var active: Bool }
        var binds: [Bind] = []
        // An adapter VirtualBox does not load (see NetworkModel.Adapter.loaded) has no rules in its eyes.
        for a in model.adapters where a.nat != nil && a.loaded {
            let number = (a.slot ?? 0) + 1
            var names = Set<String>()
            for r in a.rules {
                let f = r.forward
                if !r.hasName {
                    add(.warning, r.element, "a rule without a name; VirtualBox stores it under the name \"\", so only "
                        + "one unnamed rule per adapter survives")
                }
                if !names.insert(f.name).inserted {
                    add(.error, r.element, "a second rule named \"\(f.name)\" on adapter \(number); VirtualBox keeps the "
                        + "first and drops this one silently (and refuses to add it: \"A NAT rule of this name already "
                        + "exists\"); rename it")
                    continue
                }
                if f.name.contains(",") {
                    add(.error, r.element, "the rule name \"\(f.name)\" contains a comma, which breaks the rule sent to "
                        + "the NAT engine (\"invalid character in NAT rule name\")")
                }
                if f.name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                    add(.error, r.element, "the rule name \"\(Self.escaped(f.name))\" contains a control character; "
                        + "VBoxManage prints rules one per line (showvminfo --machinereadable, the runner's view), so "
                        + "such a name breaks every reader of them. Choose a plain name")
                }
                if let p = r.protoText, VBoxValue.uint(p) != 0, VBoxValue.uint(p) != 1 {
                    if VBoxValue.uint(p) == nil {
                        add(.warning, r.element, "proto=\"\(p)\" is not a number; VirtualBox reads TCP (write 0 for UDP, "
                            + "1 for TCP)")
                    } else {
                        add(.error, r.element, "proto=\"\(p)\" is neither 0 (UDP) nor 1 (TCP); the rule is skipped at start")
                        continue
                    }
                }
                if !r.hasGuestPort {
                    add(.warning, r.element, "no guestport: VirtualBox silently uses the host port \(f.hostPort)")
                }
                if f.hostPort == 0 || f.guestPort == 0 {
                    add(.error, r.element, "a port is 0 (or missing, or above 65535); the machine fails to start "
                        + "(\"configuration query for HostPort failed\")")
                    continue
                }
                switch NATBind.read(f.hostIP) {
                case .notIPv4:
                    add(.error, r.element, "hostip \"\(f.hostIP)\" is not an IPv4 address: the NAT engine reads it with "
                        + "inet_aton, fails, and binds host port \(f.hostPort) on every IPv4 address instead. Write an "
                        + "IPv4 address such as 127.0.0.1 (or leave it empty for all)")
                case .tooLong:
                    add(.error, r.element, "hostip \"\(f.hostIP)\" is 32 characters or longer; the NAT engine cannot "
                        + "read it and the machine fails to start. Write an IPv4 address such as 127.0.0.1")
                case .lenient(let b):
                    add(.warning, r.element, "hostip \"\(f.hostIP)\" is read by the NAT engine as \(b.text); write the "
                        + "address in full")
                case .exact: break
                }
                if !f.guestIP.isEmpty {
                    switch NATBind.read(f.guestIP) {
                    case .notIPv4, .tooLong:
                        add(.error, r.element, "guestip \"\(f.guestIP)\" is not an IPv4 address: the NAT engine ignores "
                            + "it (or fails to start) and forwards to the guest's own address. Write the guest's IPv4 "
                            + "address, or leave it empty")
                    case .lenient(let b):
                        add(.warning, r.element, "guestip \"\(f.guestIP)\" is read by the NAT engine as \(b.text); write "
                            + "the address in full")
                    case .exact: break
                    }
                }
                if f.hostPort < 1024 {
                    add(.warning, r.element, "host port \(f.hostPort) is privileged: VirtualBox can bind it only when it "
                        + "runs as root, and the container runs it as an unprivileged user")
                }
                if !a.enabled {
                    add(.warning, r.element, "adapter \(number) is disabled; the rule \"\(f.name)\" takes effect once it "
                        + "is enabled")
                }
                binds.append(Bind(rule: r, adapter: number, element: a.element, bind: NATBind.effective(f.hostIP), active: a.binds))
            }
        }

        // Overlapping host binds: "" / 0.0.0.0 / an address on one port and protocol; the second listen fails.
        for (k, b) in binds.enumerated() {
            for earlier in binds[..<k] where earlier.rule.forward.proto == b.rule.forward.proto
                && earlier.rule.forward.hostPort == b.rule.forward.hostPort && earlier.bind.overlaps(b.bind) {
                let sameAdapter = earlier.element == b.element
                guard sameAdapter || (earlier.active && b.active) else { continue }
                // Rules of one disabled adapter clash only once it is enabled.
                let severity: Finding.Severity = (b.active && earlier.active) ? .error : .warning
                let f = b.rule.forward
                add(severity, b.rule.element, "rule \"\(f.name)\" binds \(f.proto.rawValue) \(b.bind.text):\(f.hostPort), "
                    + "which overlaps rule \"\(earlier.rule.forward.name)\" (\(earlier.bind.text):\(f.hostPort))"
                    + (sameAdapter ? " on this adapter" : " on adapter \(earlier.adapter)")
                    + "; the second listen fails and "
                    + (severity == .error ? "the machine does not start" : "the machine will not start once the adapter is enabled")
                    + " (VERR_NAT_REDIR_SETUP). Use another host port, or distinct addresses")
                break
            }
        }

        // The VRDE server is launched in Console::i_powerUpThread before the VM (and so the NAT driver) is created,
        // and takes the first free port of its list; a later port of the list is used only if earlier ones are busy.
        let rd = model.remoteDisplay
        if rd.enabled, case .success(let ranges) = ValueCheck.vrdePorts(rd.ports), let first = ranges.first {
            let vrdeBind: NATBind = {
                if rd.address.isEmpty { return .any }
                var a = in_addr()
                return inet_pton(AF_INET, rd.address, &a) == 1 ? NATBind.fromAddress(a) : .any
            }()
            for b in binds where b.active && b.rule.forward.proto == .tcp && b.bind.overlaps(vrdeBind) {
                let port = b.rule.forward.hostPort
                if port == first.lowerBound {
                    add(.error, b.rule.element, "rule \"\(b.rule.forward.name)\" binds tcp port \(port), the RDP "
                        + "server's port (\(rd.ports)); the RDP server is launched before the VM and binds it, so the "
                        + "NAT rule fails and the machine does not start (VERR_NAT_REDIR_SETUP), or RDP is unreachable. "
                        + "Use another host port or move RDP (enable-rdp --port)")
                } else if ranges.contains(where: { $0.contains(port) }) {
                    add(.warning, b.rule.element, "rule \"\(b.rule.forward.name)\" binds tcp port \(port), which is in "
                        + "the RDP server's port list (\(rd.ports)); only one of them can have it")
                }
            }
        }
        return out
    }
}

/// One host port or range a machine binds when it starts: an item of the VRDE server's port list, or a NAT rule.
public struct HostPortUse: Sendable, Equatable {
    /// What binds it.
    public enum Owner: Sendable, Equatable {
        /// The VRDE (RDP) server; `item` is the position in its `TCP/Ports` list (0-based).
        case remoteDisplay(item: Int)
        /// NAT rule `name` on adapter `adapter` (1-based), whose `Forwarding` element is `element`.
        case rule(name: String, adapter: Int, element: Int)
    }
    /// What binds it.
    public var owner: Owner
    /// First and last port (equal for one port).
    public var ports: ClosedRange<Int>
    /// TCP or UDP (the VRDE server is TCP).
    public var proto: PortForward.Proto

    /// `N` or `N-M`.
    public var spec: String { ports.count == 1 ? "\(ports.lowerBound)" : "\(ports.lowerBound)-\(ports.upperBound)" }

    /// How a message names it: `RDP port 3389` or `NAT rule "ssh" (adapter 1, tcp 2222)`.
    public var label: String {
        switch owner {
        case .remoteDisplay: return "RDP port \(spec)"
        case .rule(let name, let adapter, _):
            return "NAT rule \"\(NATRules.escaped(name))\" (adapter \(adapter), \(proto.rawValue) \(spec))"
        }
    }
}

/// Two machines that publish one host port: on one host (one compose project, one node) only one can have it.
public struct HostPortClash: Sendable, Equatable {
    /// Index of the machine that keeps the port (the earlier one).
    public var keeper: Int
    /// What the keeper binds.
    public var kept: HostPortUse
    /// Index of the machine that must move.
    public var mover: Int
    /// What the mover binds.
    public var moved: HostPortUse
}

extension NATRules {
    /// What a machine binds on its host when it starts, in the order VirtualBox binds it: every item of the
    /// enabled VRDE server's port list (`0` means 3389, `ConsoleVRDPServer::VRDPCallbackQueryProperty`; inside a
    /// container each item must be published, as any may be the one the server takes), then the NAT rules of the
    /// adapters that bind (``NetworkModel/Adapter/binds``) with ports 1-65535 and a protocol the engine reads.
    public static func hostPorts(_ model: NetworkModel) -> [HostPortUse] {
        var out: [HostPortUse] = []
        let rd = model.remoteDisplay
        if rd.enabled, case .success(let ranges) = ValueCheck.vrdePorts(rd.ports == "0" ? "3389" : rd.ports) {
            for (k, r) in ranges.enumerated() { out.append(HostPortUse(owner: .remoteDisplay(item: k), ports: r, proto: .tcp)) }
        }
        for a in model.adapters where a.binds {
            var names = Set<String>()
            for r in a.rules {
                let f = r.forward
                guard names.insert(f.name).inserted, (1...65535).contains(f.hostPort), (1...65535).contains(f.guestPort)
                else { continue }
                if let p = r.protoText, let n = VBoxValue.uint(p), n > 1 { continue }
                out.append(HostPortUse(owner: .rule(name: f.name, adapter: (a.slot ?? 0) + 1, element: r.element),
                                       ports: f.hostPort...f.hostPort, proto: f.proto))
            }
        }
        return out
    }

    /// Host ports two of `machines` both publish (same protocol, overlapping ports), each mover once per use:
    /// a compose project publishes every guest's ports on one host address, so they clash whatever address the
    /// NAT rule binds inside its container. Within one machine ``check(_:)`` is the judge.
    public static func clashes(_ machines: [NetworkModel]) -> [HostPortClash] {
        let uses = machines.map(hostPorts)
        var out: [HostPortClash] = []
        for (m, list) in uses.enumerated() {
            for use in list {
                search: for earlier in 0..<m {
                    for other in uses[earlier] where other.proto == use.proto && other.ports.overlaps(use.ports) {
                        out.append(HostPortClash(keeper: earlier, kept: other, mover: m, moved: use))
                        break search
                    }
                }
            }
        }
        return out
    }
}
