extension VBoxSettings {
    /// Finds adapter `number` (1-based) and its NAT element, or says why it cannot take a rule.
    func natElement(adapter number: Int) throws(VBoxXMLError) -> (adapter: Int, nat: Int) {
        let (chipset, slots) = networkSlots
        guard number >= 1, number <= slots else {
            throw .conflict(path: path, message: "adapter \(number) does not exist: the \(chipset) chipset has "
                + "adapters 1-\(slots). Use --adapter 1-\(slots).")
        }
        guard let adapter = adapterElement(slot: number - 1) else {
            let listed = adapters.map { "\($0.number) (\($0.mode))" }.joined(separator: ", ")
            throw .conflict(path: path, message: "adapter \(number) is not configured in this machine"
                + (listed.isEmpty ? "" : "; configured: \(listed)")
                + ". Attach it to NAT first (VBoxManage modifyvm NAME --nic\(number) nat) or pick another --adapter.")
        }
        guard let mode = modeElement(ofAdapter: adapter) else {
            throw .conflict(path: path, message: "adapter \(number) is not attached to anything (mode Null), "
                + "so it has no NAT engine. Attach it to NAT first (VBoxManage modifyvm NAME --nic\(number) nat).")
        }
        guard elements[mode].name == "NAT" else {
            throw .conflict(path: path, message: "adapter \(number) is attached to \(elements[mode].name), not NAT; "
                + "port forwarding exists only in NAT mode. Attach it to NAT (VBoxManage modifyvm NAME "
                + "--nic\(number) nat) or pick the NAT adapter with --adapter.")
        }
        return (adapter, mode)
    }

    /// Adds a NAT port-forwarding rule to adapter `number`, refusing what VirtualBox refuses or mangles.
    /// An identical rule already present is not an error: nothing changes.
    public func addingForward(_ requested: PortForward, adapter number: Int) throws(VBoxXMLError) -> EditResult {
        var rule = requested
        if rule.name.isEmpty { rule.name = "\(rule.proto.rawValue)_\(rule.hostPort)_\(rule.guestPort)" }
        guard !rule.name.contains(",") else {
            throw .conflict(path: path, message: "the rule name \"\(rule.name)\" contains a comma, which VirtualBox "
                + "refuses (\"invalid character in NAT rule name\"). Choose a name without commas.")
        }
        guard !rule.name.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw .conflict(path: path, message: "the rule name contains a control character. Choose a plain name.")
        }
        for (value, what) in [(rule.hostPort, "host port"), (rule.guestPort, "guest port")] where !(1...65535).contains(value) {
            throw .conflict(path: path, message: "\(what) \(value) is outside 1-65535 (VirtualBox fails to start a "
                + "machine with a port-0 rule).")
        }
        for (ip, what) in [(rule.hostIP, "host IP"), (rule.guestIP, "guest IP")] where !ip.isEmpty && !ValueCheck.isIPAddress(ip) {
            throw .conflict(path: path, message: "\(what) \"\(ip)\" is not an IP address. Leave it empty for any "
                + "address.")
        }
        let (_, nat) = try natElement(adapter: number)
        let existing = forwards(inNAT: nat)
        if existing.contains(where: { $0.rule == rule }) {
            return EditResult(settings: self, changed: false,
                              warnings: ["adapter \(number) already has the rule \(rule.ruleString); nothing to do."],
                              openedPorts: [(String(rule.hostPort), rule.proto)])
        }
        if let clash = existing.first(where: { $0.rule.name == rule.name }) {
            throw .conflict(path: path, message: "adapter \(number) already has a rule named \"\(rule.name)\" "
                + "(\(clash.rule.ruleString)); VirtualBox keeps one rule per name. Remove it first "
                + "(vmprov remove-forward --name \(rule.name)) or choose another --name.")
        }
        if let clash = existing.first(where: {
            $0.rule.hostIP == rule.hostIP && $0.rule.hostPort == rule.hostPort && $0.rule.proto == rule.proto
        }) {
            throw .conflict(path: path, message: "adapter \(number) already forwards \(rule.proto.rawValue) host port "
                + "\(rule.hostPort)\(rule.hostIP.isEmpty ? "" : " on \(rule.hostIP)") (rule \"\(clash.rule.name)\"); "
                + "VirtualBox refuses a second rule for the same host IP and port. Pick another --host-port.")
        }

        var warnings: [String] = []
        for other in adapters where other.number != number {
            for f in other.forwards where f.hostPort == rule.hostPort && f.proto == rule.proto {
                warnings.append("host port \(rule.hostPort)/\(rule.proto.rawValue) is also forwarded by adapter "
                    + "\(other.number)'s rule \"\(f.name)\"; only one of them can bind it and the machine may "
                    + "fail to start.")
            }
        }
        let rd = remoteDisplay
        if rd.enabled, rule.proto == .tcp, case .success(let ranges) = ValueCheck.vrdePorts(rd.ports),
           ranges.contains(where: { $0.contains(rule.hostPort) }) {
            warnings.append("host port \(rule.hostPort) is in the RDP server's ports (\(rd.ports)); only one of them "
                + "can bind it.")
        }
        if rule.hostPort < 1024 {
            warnings.append("host port \(rule.hostPort) is privileged: VirtualBox can bind it only when it runs as "
                + "root, and the container runs it as an unprivileged user.")
        }
        if let adapterInfo = adapters.first(where: { $0.number == number }), !adapterInfo.enabled {
            warnings.append("adapter \(number) is disabled; the rule takes effect once it is enabled.")
        }

        let markup = XMLMarkup("Forwarding", [
            ("name", rule.name), ("proto", String(rule.proto.number)), ("hostip", rule.hostIP),
            ("hostport", String(rule.hostPort)), ("guestip", rule.guestIP), ("guestport", String(rule.guestPort)),
        ])
        // VirtualBox keeps rules sorted by name; put the new one where it would.
        let after = existing.last(where: { $0.rule.name < rule.name })?.index
        let anchor: Int?
        if let after {
            anchor = after
        } else if let first = existing.first {
            // Before the first rule: insert after its previous sibling, if any.
            let siblings = elements[nat].children
            let position = siblings.firstIndex(of: first.index) ?? 0
            anchor = position > 0 ? siblings[position - 1] : nil
            if anchor == nil {
                return try insertingFirstChild(markup, into: nat, rule: rule, number: number, warnings: warnings)
            }
        } else {
            anchor = nil
        }
        let doc = try insertingChild(markup, into: nat, after: anchor)
        return EditResult(settings: doc, changed: true, warnings: warnings,
                          openedPorts: [(String(rule.hostPort), rule.proto)])
    }

    private func insertingFirstChild(_ markup: XMLMarkup, into parent: Int, rule: PortForward, number: Int,
                                     warnings: [String]) throws(VBoxXMLError) -> EditResult {
        // Goes right after the parent's start tag, on its own line, with the first child's indentation.
        let nl = newline
        let indent = childIndentation(of: parent)
        let at = elements[parent].span.startTag.upperBound
        let text = markup.withPrefix(prefix(of: parent)).render(indent: indent, unit: indentUnit, newline: nl)
        let doc = try replacing(at..<at, with: nl + indent + text)
        return EditResult(settings: doc, changed: true, warnings: warnings,
                          openedPorts: [(String(rule.hostPort), rule.proto)])
    }

    /// Removes the rule `name` from adapter `number`.
    public func removingForward(named name: String, adapter number: Int) throws(VBoxXMLError) -> EditResult {
        let (_, nat) = try natElement(adapter: number)
        let existing = forwards(inNAT: nat)
        guard let match = existing.first(where: { $0.rule.name == name }) else {
            let names = existing.map { "\"\($0.rule.name)\"" }.joined(separator: ", ")
            throw .conflict(path: path, message: "adapter \(number) has no rule named \"\(name)\""
                + (names.isEmpty ? " (it has no rules)." : "; its rules are \(names)."))
        }
        let doc = try removingElement(match.index)
        return EditResult(settings: doc, changed: true, warnings: [], openedPorts: [])
    }
}
