/// VRDE authentication as `RemoteDisplay@authType` spells it.
public enum RDPAuth: String, Sendable, CaseIterable {
    case null = "Null"
    case external = "External"
    case guest = "Guest"
}

/// What `enable-rdp` asks for. Nil fields keep what the file has.
public struct RDPRequest: Sendable {
    public var ports: String?
    public var address: String?
    public var auth: RDPAuth?
    public var multiConnection: Bool
    /// A VBoxAuthSimple user and the lowercase hex SHA-256 of the password.
    public var user: (name: String, passwordSHA256: String)?

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
    public var settings: VBoxSettings
    public var changed: Bool
    public var warnings: [String]
    /// Host ports the edit opened, for the compose `ports:` hint (one per port or range).
    public var openedPorts: [PublishedPort]
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
        var doc = self
        var rd: Int
        if let existing = doc.remoteDisplayElement {
            rd = existing
            doc = try doc.settingAttribute("enabled", to: "true", on: rd)
        } else {
            let anchor = doc.child(of: doc.hardwareIndex, named: "Display")
            doc = try doc.insertingChild(XMLMarkup("RemoteDisplay", [("enabled", "true")]),
                                         into: doc.hardwareIndex, after: anchor)
        }
        rd = try doc.required(doc.remoteDisplayElement)
        if let auth {
            doc = try doc.settingAttribute("authType", to: auth.rawValue, on: rd)
            rd = try doc.required(doc.remoteDisplayElement)
        }
        if request.user != nil {
            doc = try doc.settingAttribute("authLibrary", to: "VBoxAuthSimple", on: rd)
            rd = try doc.required(doc.remoteDisplayElement)
        }
        if request.multiConnection {
            doc = try doc.settingAttribute("allowMultiConnection", to: "true", on: rd)
        }
        let ports = request.ports ?? effective.ports
        doc = try doc.settingVRDEProperty("TCP/Ports", to: ports)
        if let address = request.address ?? (effective.address.isEmpty ? nil : effective.address) {
            doc = try doc.settingVRDEProperty("TCP/Address", to: address)
        }
        if let user = request.user {
            doc = try doc.settingExtraData(Self.authSimplePrefix + user.name, to: user.passwordSHA256)
        }

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
        return EditResult(settings: doc, changed: doc.bytes != bytes, warnings: warnings,
                          openedPorts: ComposePorts.vrde(info.ports))
    }

    /// Sets `enabled="false"` (written explicitly: before 1.16 an absent element means on).
    /// - Throws: `VBoxXMLError.invalid` below settings 1.12, or when the edited text does not parse.
    public func disablingRDP() throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        var doc = self
        if let rd = doc.remoteDisplayElement {
            doc = try doc.settingAttribute("enabled", to: "false", on: rd)
        } else {
            let anchor = doc.child(of: doc.hardwareIndex, named: "Display")
            doc = try doc.insertingChild(XMLMarkup("RemoteDisplay", [("enabled", "false")]),
                                         into: doc.hardwareIndex, after: anchor)
        }
        return EditResult(settings: doc, changed: doc.bytes != bytes, warnings: [], openedPorts: [])
    }

    static func checkUserName(_ name: String, path: String) throws(VBoxXMLError) {
        guard !name.isEmpty, !name.contains("\\"), !name.unicodeScalars.contains(where: { $0.value < 0x20 }),
              name.trimmingSpaces == name else {
            throw .conflict(path: path, message: "--user \"\(name)\": a VBoxAuthSimple user name must be non-empty, "
                + "without a backslash (VirtualBox strips DOMAIN\\ prefixes), control characters or surrounding spaces.")
        }
    }

    func required(_ index: Int?) throws(VBoxXMLError) -> Int {
        guard let index else {
            throw .invalid(path: path, message: "internal error: an element vmprov just wrote is missing.")
        }
        return index
    }

    /// Sets `RemoteDisplay/VRDEProperties/Property[@name]`, creating what is missing.
    func settingVRDEProperty(_ name: String, to value: String) throws(VBoxXMLError) -> VBoxSettings {
        let rd = try required(remoteDisplayElement)
        if let property = vrdeProperty(name) {
            return try settingAttribute("value", to: value, on: property)
        }
        let markup = XMLMarkup("Property", [("name", name), ("value", value)])
        if let props = child(of: rd, named: "VRDEProperties") {
            return try insertingChild(markup, into: props)
        }
        return try insertingChild(XMLMarkup("VRDEProperties", children: [markup]), into: rd)
    }

    /// Sets `Machine/ExtraData/ExtraDataItem[@name]`, creating what is missing.
    func settingExtraData(_ name: String, to value: String) throws(VBoxXMLError) -> VBoxSettings {
        if let item = extraDataItems.first(where: { $0.name == name }) {
            return try settingAttribute("value", to: value, on: item.index)
        }
        let markup = XMLMarkup("ExtraDataItem", [("name", name), ("value", value)])
        if let extra = child(of: machineIndex, named: "ExtraData") {
            return try insertingChild(markup, into: extra)
        }
        let anchor = child(of: machineIndex, named: "MediaRegistry")
        return try insertingChild(XMLMarkup("ExtraData", children: [markup]), into: machineIndex, after: anchor)
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
