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

    /// Adds a NAT port-forwarding rule to adapter `number` (1-based; with two elements of one slot, the one
    /// VirtualBox loads), refusing what VirtualBox refuses or mangles. The verdict is ``NATRules`` on the file with
    /// the rule: a new error refuses it, new warnings are returned, so `vmprov check` agrees with it.
    /// An identical rule already present is not an error: nothing changes.
    /// - Throws: `VBoxXMLError.conflict` naming the clash (name, comma, port range, non-IPv4 address, an
    ///   overlapping bind, the RDP port, an adapter that is missing or not NAT); `.invalid` below settings 1.12.
    public func addingForward(_ requested: PortForward, adapter number: Int) throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        var rule = requested
        if rule.name.isEmpty { rule.name = "\(rule.proto.rawValue)_\(rule.hostPort)_\(rule.guestPort)" }
        guard !rule.name.contains(",") else {
            throw .conflict(path: path, message: "the rule name \"\(rule.name)\" contains a comma, which VirtualBox "
                + "refuses (\"invalid character in NAT rule name\"). Choose a name without commas.")
        }
        // The checker (NATRules) reports control characters in names; those XML cannot hold (C0 but tab, LF, CR)
        // would not even reach it, so all are refused here in the checker's words.
        guard !rule.name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .conflict(path: path, message: "the rule name \"\(NATRules.escaped(rule.name))\" contains a control "
                + "character; VBoxManage prints rules one per line, so such a name breaks every reader of them. Choose a "
                + "plain name.")
        }
        for (value, what) in [(rule.hostIP, "host"), (rule.guestIP, "guest")]
        where value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0.value != 0x09 && $0.value != 0x0A
                                                     && $0.value != 0x0D) || $0.value == 0xFFFE || $0.value == 0xFFFF }) {
            throw .conflict(path: path, message: "the \(what) address \"\(NATRules.escaped(value))\" contains a control "
                + "character a settings file cannot hold. Write an IPv4 address such as 127.0.0.1.")
        }
        for (value, what) in [(rule.hostPort, "host port"), (rule.guestPort, "guest port")] where !(1...65535).contains(value) {
            throw .conflict(path: path, message: "\(what) \(value) is outside 1-65535 (VirtualBox fails to start a "
                + "machine with a port-0 rule).")
        }
        let (_, nat) = try natElement(adapter: number)
        let existing = forwards(inNAT: nat)
        if existing.contains(where: { $0.rule == rule }) {
            return EditResult(settings: self, changed: false,
                              warnings: ["adapter \(number) already has the rule \(rule.ruleString); nothing to do."])
        }
        if let clash = existing.first(where: { $0.rule.name == rule.name }) {
            throw .conflict(path: path, message: "adapter \(number) already has a rule named \"\(rule.name)\" "
                + "(\(clash.rule.ruleString)); VirtualBox keeps one rule per name. Remove it first "
                + "(vmprov remove-forward --name \(rule.name)) or choose another --name.")
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
                return try insertingFirstChild(markup, into: nat, rule: rule, number: number)
            }
        } else {
            anchor = nil
        }
        return try checked(try insertingChild(markup, into: nat, after: anchor), rule: rule, number: number)
    }

    /// The edit's verdict: the network checker (the one `vmprov check` runs) on the file before and after.
    /// A new error refuses the rule; new warnings are passed on.
    private func checked(_ candidate: VBoxSettings, rule: PortForward, number: Int) throws(VBoxXMLError) -> EditResult {
        var before: [String: Int] = [:]
        for f in NATRules.check(NetworkModel(self)) { before["\(f.severity.rawValue)|\(f.message)", default: 0] += 1 }
        var errors: [String] = []
        var warnings: [String] = []
        for f in NATRules.check(NetworkModel(candidate)) {
            let key = "\(f.severity.rawValue)|\(f.message)"
            if let n = before[key], n > 0 { before[key] = n - 1; continue }
            if f.severity == .error { errors.append(f.message) } else { warnings.append(f.message + ".") }
        }
        guard errors.isEmpty else {
            throw .conflict(path: path, message: "the rule \(rule.ruleString) cannot go on adapter \(number): "
                + errors.joined(separator: "; ") + ".")
        }
        return EditResult(settings: candidate, changed: true, warnings: warnings)
    }

    private func insertingFirstChild(_ markup: XMLMarkup, into parent: Int, rule: PortForward,
                                     number: Int) throws(VBoxXMLError) -> EditResult {
        // Goes right after the parent's start tag, on its own line, with the first child's indentation.
        let nl = newline
        let indent = childIndentation(of: parent)
        let at = elements[parent].span.startTag.upperBound
        let text = markup.withPrefix(prefix(of: parent)).render(indent: indent, unit: indentUnit, newline: nl)
        return try checked(try replacing(at..<at, with: nl + indent + text), rule: rule, number: number)
    }

    /// Removes the rule `name` from adapter `number`.
    /// - Throws: `VBoxXMLError.conflict` when the adapter or rule does not exist; `.invalid` below settings 1.12.
    public func removingForward(named name: String, adapter number: Int) throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        let (_, nat) = try natElement(adapter: number)
        let existing = forwards(inNAT: nat)
        guard let match = existing.first(where: { $0.rule.name == name }) else {
            let names = existing.map { "\"\($0.rule.name)\"" }.joined(separator: ", ")
            throw .conflict(path: path, message: "adapter \(number) has no rule named \"\(name)\""
                + (names.isEmpty ? " (it has no rules)." : "; its rules are \(names)."))
        }
        let doc = try removingElement(match.index)
        return EditResult(settings: doc, changed: true, warnings: [])
    }
}
