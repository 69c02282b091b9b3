import ArgumentParser
import Provision
import VBoxXML

enum USBHints {
    /// What the container needs to pass USB devices to VirtualBox: the device nodes and the cgroup rule for
    /// USB character devices (major 189, usb_device).
    static let composeLines = [
        "    devices:",
        "      - /dev/bus/usb:/dev/bus/usb",
        "    device_cgroup_rules:",
        "      - \"c 189:* rmw\"",
    ]

    /// Which controllers need the Oracle Extension Pack (vbox-storage-devices §4.4).
    static func extensionPackNote(_ types: [String]) -> String {
        let needs = types.filter { $0 == "EHCI" || $0 == "XHCI" }
        guard !needs.isEmpty else { return "The OHCI (USB 1.1) controller is part of every VirtualBox; no Extension Pack needed." }
        return "\(needs.joined(separator: " and ")) is built into VirtualBox 7.0 and later; on VirtualBox 6.1 and older "
            + "it needs the Oracle Extension Pack (without it the machine does not start: \"Implementation of the USB "
            + "\(needs.contains("XHCI") ? "3.0" : "2.0") controller not found!\")."
    }
}

struct AddUSB: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-usb",
        abstract: "Pass a host USB device to the guest (a USB device filter, and a USB controller if needed).",
        discussion: """
        The filter matches the vendor and product id (hex, as lsusb prints them). Without a working USB controller \
        one is added: xHCI by default (USB 3), or OHCI+EHCI with --controller ehci, or OHCI alone. The container \
        needs the host's /dev/bus/usb and a device cgroup rule: the compose lines are printed.

        Example:
          vmprov add-usb vms/ubuntu --vendor-id 0781 --product-id 5567 --name stick
        """)

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("Vendor id, 1-4 hex digits.", valueName: "hex"))
    var vendorId: String

    @Option(help: ArgumentHelp("Product id, 1-4 hex digits.", valueName: "hex"))
    var productId: String

    @Option(help: "Filter name (default: VENDOR:PRODUCT).")
    var name: String?

    @Option(help: ArgumentHelp("Controller to add when there is none: xhci, ehci (adds OHCI too) or ohci.",
                               valueName: "type"))
    var controller: String = "xhci"

    @Flag(help: "Print JSON.")
    var json = false

    struct JSON: Encodable {
        var path: String
        var changed: Bool
        var filter: USBFilterInfo?
        var controllers: [String]
        var extensionPack: String
        var composeLines: [String]
    }

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard USBControllerKind(rawValue: controller.uppercased()) != nil else {
            throw ValidationError("--controller \(controller): use xhci, ehci or ohci.")
        }
    }

    func run(_ context: CommandContext) throws {
        guard let kind = USBControllerKind(rawValue: controller.uppercased()) else {
            throw ValidationError("--controller \(controller): use xhci, ehci or ohci.")
        }
        let vendor = VBoxSettings.usbID(vendorId) ?? vendorId
        let product = VBoxSettings.usbID(productId) ?? productId
        let filterName = name ?? "\(vendor):\(product)"
        let result = try EditSession.run(target, context) {
            try $0.addingUSBFilter(name: filterName, vendorId: vendorId, productId: productId, controller: kind)
        }
        let types = result.settings.usbControllers.map(\.type)
        let filter = result.settings.usbFilters.first { $0.filter.name == filterName }?.filter
        let note = USBHints.extensionPackNote(types)
        if json {
            return try JSONOut.print(JSON(path: result.settings.path, changed: result.changed, filter: filter,
                                          controllers: types, extensionPack: note, composeLines: USBHints.composeLines))
        }
        if result.changed {
            Output.out("Added USB filter \"\(filterName)\" (\(vendor):\(product)) in \(result.settings.path); USB "
                + "controllers: \(types.joined(separator: ", ")).")
        }
        Output.out(note)
        Output.out("Give the container the host's USB devices in compose.yml:")
        for line in USBHints.composeLines { Output.out(line) }
    }
}

struct RemoveUSB: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-usb",
        abstract: "Remove a USB device filter (the USB controller stays).",
        discussion: "Example:\n  vmprov remove-usb vms/ubuntu --name stick")

    @OptionGroup var target: TargetOptions

    @Option(help: "Filter name.")
    var name: String

    @Flag(help: "Print JSON.")
    var json = false

    struct JSON: Encodable {
        var path: String
        var removed: String
    }

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let result = try EditSession.run(target, context) { try $0.removingUSBFilter(named: name) }
        if json { return try JSONOut.print(JSON(path: result.settings.path, removed: name)) }
        Output.out("Removed USB filter \"\(name)\" from \(result.settings.path).")
    }
}
