import Basics
/// A USB controller type in `Machine/Hardware/USB/Controllers/Controller@type` (exact case).
public enum USBControllerKind: String, Sendable, Codable, CaseIterable {
    /// USB 1.1, part of every VirtualBox.
    case ohci = "OHCI"
    /// USB 2.0; works only beside OHCI or XHCI; Extension Pack before VirtualBox 7.0.
    case ehci = "EHCI"
    /// USB 3 (all speeds); settings 1.15+; Extension Pack before VirtualBox 7.0.
    case xhci = "XHCI"
}

/// A machine USB device filter (`Machine/Hardware/USB/DeviceFilters/DeviceFilter`).
public struct USBFilterInfo: Sendable, Equatable, Codable {
    /// `name` (required by the reader; a filter without it is dropped).
    public var name: String
    /// `active`.
    public var active: Bool
    /// `vendorId` as written (empty = any).
    public var vendorId: String
    /// `productId` as written (empty = any).
    public var productId: String

    /// A filter with these values.
    public init(name: String, active: Bool, vendorId: String, productId: String) {
        self.name = name
        self.active = active
        self.vendorId = vendorId
        self.productId = productId
    }
}

extension VBoxSettings {
    /// `Machine/Hardware/USB` (read at any version; vbox-storage-devices §4.1).
    var usbElement: Int? { child(of: hardwareIndex, named: "USB") }

    /// The USB controllers of the current state (the first `USB/Controllers` only, as `findChildElement` reads it).
    public var usbControllers: [(index: Int, name: String, type: String)] {
        guard let usb = usbElement, let list = child(of: usb, named: "Controllers") else { return [] }
        return children(of: list, named: "Controller").map { ($0, elements[$0].attribute("name") ?? "",
                                                              elements[$0].attribute("type") ?? "") }
    }

    /// The device filters VirtualBox loads (the first `USB/DeviceFilters`; filters lacking `name` or `active` are
    /// dropped by `readUSBDeviceFilters`, so they are not listed).
    public var usbFilters: [(index: Int, filter: USBFilterInfo)] {
        guard let usb = usbElement, let list = child(of: usb, named: "DeviceFilters") else { return [] }
        return children(of: list, named: "DeviceFilter").compactMap { i in
            let e = elements[i]
            guard let name = e.attribute("name"), let active = e.attribute("active") else { return nil }
            return (i, USBFilterInfo(name: name, active: VBoxValue.bool(active) ?? false,
                                     vendorId: e.attribute("vendorId") ?? "", productId: e.attribute("productId") ?? ""))
        }
    }

    /// A 1-4 digit hex id as VirtualBox writes it (`%04X`), or nil.
    public static func usbID(_ text: String) -> String? {
        var t = Substring(text)
        if t.hasPrefix("0x") || t.hasPrefix("0X") { t = t.dropFirst(2) }
        guard (1...4).contains(t.count), let v = UInt16(t, radix: 16) else { return nil }
        let hex = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: 4 - hex.count) + hex
    }

    /// Adds a USB device filter matching `vendorId`/`productId` (hex), and a USB controller when the machine has none
    /// that works alone: `xhci` adds `XHCI` (settings 1.15+), `ehci` adds `OHCI` and `EHCI` (EHCI works only beside
    /// OHCI or XHCI, `Console::i_configConstructorInner`), `ohci` adds `OHCI`. An existing OHCI or XHCI controller is
    /// kept and nothing is added. The filter is written with `name` and `active` (without either the reader drops
    /// it) and ids as `%04X`. An identical filter already there is not an error.
    /// - Throws: `VBoxXMLError.conflict` for a bad id or name, a filter of that name with other ids;
    ///   `.invalid` for files older than 1.14 (the old `USBController` layout), or xHCI in a file older than 1.15.
    public func addingUSBFilter(name: String, vendorId: String, productId: String,
                                controller kind: USBControllerKind) throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        guard version >= SettingsVersion(major: 1, minor: 14, raw: "1.14") else {
            throw .invalid(path: path, message: "settings \(version.raw) keep USB in the old USBController layout, which "
                + "VirtualBox converts on its next save; vmprov does not edit it. Save the machine once with VirtualBox "
                + "4.3 or later, then try again.")
        }
        guard let vendor = Self.usbID(vendorId), let product = Self.usbID(productId) else {
            throw .conflict(path: path, message: "--vendor-id \(NATRules.escaped(vendorId)) / --product-id "
                + "\(NATRules.escaped(productId)): give 1-4 hex digits each, as lsusb prints them (e.g. 0781:5567).")
        }
        guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .conflict(path: path, message: "the filter name is empty or has a control character; VirtualBox "
                + "refuses an empty filter name. Give a plain name.")
        }
        let filter = USBFilterInfo(name: name, active: true, vendorId: vendor, productId: product)
        let filters = usbFilters
        let controllers = usbControllers
        let working = controllers.contains { $0.type == "OHCI" || $0.type == "XHCI" }
        if filters.contains(where: { $0.filter == filter }) && working {
            return EditResult(settings: self, changed: false,
                              warnings: ["the filter \"\(name)\" (\(vendor):\(product)) is already there; nothing to do."])
        }
        if let clash = filters.first(where: { $0.filter.name == name && $0.filter != filter }) {
            throw .conflict(path: path, message: "a USB filter named \"\(name)\" exists already (\(clash.filter.vendorId):"
                + "\(clash.filter.productId)). Remove it first (vmprov remove-usb --name \(name)) or choose another --name.")
        }
        var newControllers: [XMLMarkup] = []
        if !working {
            let have = Set(controllers.map(\.type))
            let names = Set(controllers.map(\.name))
            var wanted: [USBControllerKind]
            switch kind {
            case .xhci: wanted = [.xhci]
            case .ehci: wanted = [.ohci, .ehci]
            case .ohci: wanted = [.ohci]
            }
            if kind == .xhci, version < SettingsVersion(major: 1, minor: 15, raw: "1.15") {
                throw .invalid(path: path, message: "an xHCI controller needs settings 1.15 (VirtualBox 5.0); this file is "
                    + "\(version.raw) and vmprov does not raise versions. Use --controller ehci (USB 2.0) instead.")
            }
            wanted.removeAll { have.contains($0.rawValue) }
            for k in wanted {
                guard !names.contains(k.rawValue) else {
                    throw .conflict(path: path, message: "a USB controller is named \"\(k.rawValue)\" with another type; "
                        + "fix the USB controllers with VirtualBox first.")
                }
                newControllers.append(XMLMarkup("Controller", [("name", k.rawValue), ("type", k.rawValue)]))
            }
        }
        let filterMarkup = XMLMarkup("DeviceFilter", [("name", name), ("active", "true"), ("vendorId", vendor),
                                                      ("productId", product)])
        let addFilter = !filters.contains { $0.filter == filter }
        var batch = EditBatch(self)
        if let usb = usbElement {
            let controllersList = child(of: usb, named: "Controllers")
            let filtersList = child(of: usb, named: "DeviceFilters")
            if controllersList == nil, filtersList == nil {
                var parts: [XMLMarkup] = []
                if !newControllers.isEmpty { parts.append(XMLMarkup("Controllers", children: newControllers)) }
                if addFilter { parts.append(XMLMarkup("DeviceFilters", children: [filterMarkup])) }
                try batch.insertChildren(parts, into: usb)
            } else {
                if !newControllers.isEmpty {
                    if let list = controllersList {
                        try batch.insertChildren(newControllers, into: list)
                    } else {
                        try batch.insertBefore(XMLMarkup("Controllers", children: newControllers),
                                               sibling: elements[usb].children.first, parent: usb)
                    }
                }
                if addFilter {
                    if let list = filtersList {
                        try batch.insertChildren([filterMarkup], into: list)
                    } else {
                        try batch.insertChildren([XMLMarkup("DeviceFilters", children: [filterMarkup])], into: usb,
                                                 after: controllersList)
                    }
                }
            }
        } else {
            var parts: [XMLMarkup] = []
            if !newControllers.isEmpty { parts.append(XMLMarkup("Controllers", children: newControllers)) }
            parts.append(XMLMarkup("DeviceFilters", children: [filterMarkup]))
            let after = ["BIOS", "Firmware", "RemoteDisplay", "Display", "Boot", "Memory"].lazy
                .compactMap { self.child(of: self.hardwareIndex, named: $0) }.first
            try batch.insertChildren([XMLMarkup("USB", children: parts)], into: hardwareIndex, after: after)
        }
        try batch.noteCurrentStateModified()
        return EditResult(settings: try batch.commit(), changed: true, warnings: [])
    }

    /// Removes the device filter `name`; the controllers stay.
    /// - Throws: `VBoxXMLError.conflict` when there is no such filter (naming those there).
    public func removingUSBFilter(named name: String) throws(VBoxXMLError) -> EditResult {
        try requireEditable()
        let filters = usbFilters
        guard let match = filters.first(where: { $0.filter.name == name }) else {
            let names = filters.map { "\"\($0.filter.name)\"" }.joined(separator: ", ")
            throw .conflict(path: path, message: "there is no USB filter named \"\(NATRules.escaped(name))\""
                + (names.isEmpty ? " (the machine has none)." : "; the machine has \(names)."))
        }
        var batch = EditBatch(self)
        try batch.removeElement(match.index)
        try batch.noteCurrentStateModified()
        return EditResult(settings: try batch.commit(), changed: true, warnings: [])
    }
}
