import Basics
/// VRDE authentication as `RemoteDisplay@authType` spells it.
public enum RDPAuth: String, Sendable, CaseIterable {
    case null = "Null"
    case external = "External"
    case guest = "Guest"
}

/// What `enable-rdp` asks for. Nil fields keep what the file has.
public struct RDPRequest: Sendable {
    /// `VRDEProperties` `TCP/Ports`: a port, list or range.
    public var ports: String?
    /// `TCP/Address` to listen on (empty: every address).
    public var address: String?
    /// `RemoteDisplay@authType`.
    public var auth: RDPAuth?
    /// `RemoteDisplay@allowMultiConnection`.
    public var multiConnection: Bool
    /// A VBoxAuthSimple user and the lowercase hex SHA-256 of the password.
    public var user: (name: String, passwordSHA256: String)?

    /// A request; nil fields keep the file's values.
    public init(ports: String? = nil, address: String? = nil, auth: RDPAuth? = nil, multiConnection: Bool = false,
                user: (name: String, passwordSHA256: String)? = nil) {
        self.ports = ports
        self.address = address
        self.auth = auth
        self.multiConnection = multiConnection
        self.user = user
    }
}

/// The outcome of an edit.
public struct EditResult: Sendable {
    /// The document after the edit.
    public var settings: VBoxSettings
    /// Whether its bytes differ from the document the edit started from.
    public var changed: Bool
    /// What VirtualBox would change silently, one sentence each.
    public var warnings: [String]

    /// An edit's outcome (for edits composed outside this module, such as `vmprov compose --assign`).
    public init(settings: VBoxSettings, changed: Bool, warnings: [String]) {
        self.settings = settings
        self.changed = changed
        self.warnings = warnings
    }
}

extension VBoxSettings {
    /// Turns the VRDE server on and sets it up, under `Machine/Hardware` only. Without `ports`/`address` the
    /// effective values are kept (a `TCP/Ports`/`TCP/Address` property, else the legacy `port`/`netAddress`
    /// attributes `readHardware` reads at every version, else 3389 and all addresses) and written as properties.
    /// - Throws: `VBoxXMLError.conflict` for a bad port list, address or user, a legacy port VirtualBox cannot
    ///   listen on, or a NAT rule the new RDP port would clash with (``NATRules``); `.invalid` below settings 1.12.
    public func enablingRDP(_ request: RDPRequest) throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        if let ports = request.ports, case .failure(let e) = ValueCheck.vrdePorts(ports) {
            throw .conflict(path: path, message: "--port \(ports): \(e.message). Use N, N-M or a comma list "
                + "such as 3389 or 5000-5010,5020.")
        }
        if let address = request.address, !address.isEmpty, !ValueCheck.isIPAddress(address) {
            throw .conflict(path: path, message: "--address \(address) is not an IP address (for example "
                + "127.0.0.1 or 0.0.0.0).")
        }
        var auth = request.auth
        if let user = request.user {
            if let a = auth, a != .external {
                throw .conflict(path: path, message: "--user needs --auth external (VBoxAuthSimple), not "
                    + "--auth \(a.rawValue.lowercased()).")
            }
            auth = .external
            try Self.checkUserName(user.name, path: path)
        }

        // What VirtualBox uses today (a TCP/Ports property, else the legacy port/netAddress attributes, which
        // readHardware still reads at every version) is carried into the properties, never replaced by 3389.
        let effective = remoteDisplay
        if request.ports == nil, effective.ports != "0", case .failure(let e) = ValueCheck.vrdePorts(effective.ports) {
            throw .conflict(path: path, message: "the RDP port in the file (\"\(effective.ports)\") is not one VirtualBox "
                + "can listen on: \(e.message). Give --port, for example --port 3389.")
        }
        let beforeFindings = NATRules.check(NetworkModel(self)).filter { $0.severity == .error }.map(\.message)
        // Every change is a splice against this one snapshot, applied and parsed together.
        var rdAttributes: [(name: String, value: String)] = [("enabled", "true")]
        if let auth { rdAttributes.append(("authType", auth.rawValue)) }
        if request.user != nil { rdAttributes.append(("authLibrary", "VBoxAuthSimple")) }
        if request.multiConnection { rdAttributes.append(("allowMultiConnection", "true")) }
        var properties: [(name: String, value: String)] = [("TCP/Ports", request.ports ?? effective.ports)]
        if let address = request.address ?? (effective.address.isEmpty ? nil : effective.address) {
            properties.append(("TCP/Address", address))
        }
        var batch = EditBatch(self)
        if let rd = remoteDisplayElement {
            try batch.setAttributes(rdAttributes, on: rd)
            try batch.setVRDEProperties(properties, in: rd)
        } else {
            let props = properties.map { XMLMarkup("Property", [("name", $0.name), ("value", $0.value)]) }
            let markup = XMLMarkup("RemoteDisplay", rdAttributes.map { ($0.name, $0.value) },
                                   children: [XMLMarkup("VRDEProperties", children: props)])
            try batch.insertChildren([markup], into: hardwareIndex, after: child(of: hardwareIndex, named: "Display"))
        }
        if let user = request.user {
            try batch.setExtraData(Self.authSimplePrefix + user.name, to: user.passwordSHA256)
        }
        let doc = try batch.commit()

        var warnings: [String] = []
        let info = doc.remoteDisplay
        if info.authType.lowercased() == "null" && !ValueCheck.isLoopback(info.address) {
            warnings.append("RDP has no authentication (authType Null) and listens on "
                + (info.address.isEmpty ? "every address" : info.address)
                + ": anyone who reaches the port sees the guest's screen. Publish it on 127.0.0.1 only "
                + "(compose does by default) or use --user NAME --password-stdin.")
        }
        if info.authType == "External", info.authLibrary == nil, info.users.isEmpty {
            warnings.append("authType External with no per-machine users: VirtualBox uses the global auth library "
                + "(VBoxAuth, the host's PAM). Use --user NAME --password-stdin for VBoxAuthSimple.")
        }
        // The same checker as `vmprov check`: a NAT rule on the RDP server's port stops the machine.
        var known = beforeFindings
        for f in NATRules.check(NetworkModel(doc)) {
            if let k = known.firstIndex(of: f.message), f.severity == .error { known.remove(at: k); continue }
            if f.severity == .error {
                throw .conflict(path: path, message: "RDP on port \(info.ports) clashes with a NAT rule: \(f.message).")
            }
            if f.message.contains("RDP server") { warnings.append(f.message + ".") }
        }
        return EditResult(settings: doc, changed: doc.bytes != bytes, warnings: warnings)
    }

    /// Sets `enabled="false"` (written explicitly: before 1.16 an absent element means on).
    /// - Throws: `VBoxXMLError.invalid` below settings 1.12, or when the edited text does not parse.
    public func disablingRDP() throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        var batch = EditBatch(self)
        if let rd = remoteDisplayElement {
            try batch.setAttributes([("enabled", "false")], on: rd)
        } else {
            try batch.insertChildren([XMLMarkup("RemoteDisplay", [("enabled", "false")])],
                                     into: hardwareIndex, after: child(of: hardwareIndex, named: "Display"))
        }
        let doc = try batch.commit()
        return EditResult(settings: doc, changed: doc.bytes != bytes, warnings: [])
    }

    static func checkUserName(_ name: String, path: String) throws(VBoxXMLError) {
        guard !name.isEmpty, !name.contains("\\"), !name.unicodeScalars.contains(where: { $0.value < 0x20 }),
              name.trimmingSpaces == name else {
            throw .conflict(path: path, message: "--user \"\(name)\": a VBoxAuthSimple user name must be non-empty, "
                + "without a backslash (VirtualBox strips DOMAIN\\ prefixes), control characters or surrounding spaces.")
        }
    }
}

extension EditBatch {
    /// Sets `RemoteDisplay/VRDEProperties/Property[@name]` values under the RemoteDisplay element `rd`: existing
    /// properties get their value replaced, missing ones are added together after the last property (creating
    /// `VRDEProperties` when absent), in the order given.
    mutating func setVRDEProperties(_ pairs: [(name: String, value: String)], in rd: Int) throws(VBoxXMLError) {
        var missing: [XMLMarkup] = []
        for (name, value) in pairs {
            if let property = base.vrdeProperty(name) {
                try setAttributes([("value", value)], on: property)
            } else {
                missing.append(XMLMarkup("Property", [("name", name), ("value", value)]))
            }
        }
        guard !missing.isEmpty else { return }
        if let props = base.child(of: rd, named: "VRDEProperties") {
            try insertChildren(missing, into: props)
        } else {
            try insertChildren([XMLMarkup("VRDEProperties", children: missing)], into: rd)
        }
    }

    /// Sets `Machine/ExtraData/ExtraDataItem[@name]`, creating what is missing (`ExtraData` goes after
    /// `MediaRegistry`, else last).
    mutating func setExtraData(_ name: String, to value: String) throws(VBoxXMLError) {
        if let item = base.extraDataItems.first(where: { $0.name == name }) {
            try setAttributes([("value", value)], on: item.index)
            return
        }
        let markup = XMLMarkup("ExtraDataItem", [("name", name), ("value", value)])
        if let extra = base.child(of: base.machineIndex, named: "ExtraData") {
            try insertChildren([markup], into: extra)
            return
        }
        let anchor = base.child(of: base.machineIndex, named: "MediaRegistry")
        try insertChildren([XMLMarkup("ExtraData", children: [markup])], into: base.machineIndex, after: anchor)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
