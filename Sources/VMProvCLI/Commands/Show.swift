import ArgumentParser
import FoundationEssentials
import VBoxXML

/// JSON for `--json` outputs: sorted keys, pretty, one trailing newline.
enum JSONOut {
    static func print<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        Output.out(String(decoding: data, as: UTF8.self))
    }
}

struct Forwards: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the NAT port forwards of every adapter.",
        discussion: "Example:\n  vmprov forwards vms/ubuntu --json")

    @OptionGroup var read: ReadOptions

    struct Row: Encodable {
        var adapter: Int
        var name: String
        var proto: String
        var hostIP: String
        var hostPort: Int
        var guestIP: String
        var guestPort: Int
    }

    func run() throws {
        let settings = try TargetResolver.load(read.target)
        let rows = settings.adapters.flatMap { a in
            a.forwards.map { Row(adapter: a.number, name: $0.name, proto: $0.proto.rawValue, hostIP: $0.hostIP,
                                 hostPort: $0.hostPort, guestIP: $0.guestIP, guestPort: $0.guestPort) }
        }
        if read.json { return try JSONOut.print(rows) }
        // The RDP server binds host ports in the same process, so it belongs next to the forwards.
        let rd = settings.remoteDisplay
        let rdp = rd.enabled ? "RDP (VRDE) listens on tcp port \(rd.ports) on "
            + (rd.address.isEmpty ? "all addresses" : rd.address) + "." : nil
        if rows.isEmpty {
            Output.out("No port forwards in \(settings.path).")
            if let rdp { Output.out(rdp) }
            return
        }
        defer { if let rdp { Output.out(rdp) } }
        Output.out(pad(["ADAPTER", "NAME", "PROTO", "HOST IP", "HOST PORT", "GUEST IP", "GUEST PORT"]))
        for r in rows {
            Output.out(pad([String(r.adapter), r.name, r.proto, r.hostIP.isEmpty ? "*" : r.hostIP, String(r.hostPort),
                            r.guestIP.isEmpty ? "*" : r.guestIP, String(r.guestPort)]))
        }
    }

    private func pad(_ cells: [String]) -> String {
        let widths = [8, 16, 6, 16, 10, 16, 10]
        return zip(cells, widths).map { c, w in c.count >= w ? c + " " : c + String(repeating: " ", count: w - c.count) }
            .joined().trimmingTrailingSpaces
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a machine: name, OS type, memory, CPUs, firmware, RDP, adapters, storage, shared folders, USB, snapshots.",
        discussion: "Example:\n  vmprov show vms/ubuntu/ubuntu.vbox --json")

    @OptionGroup var read: ReadOptions

    func run() throws {
        let settings = try TargetResolver.load(read.target)
        let s = settings.summary
        if read.json { return try JSONOut.print(s) }
        Output.out("Name:      \(s.name)")
        Output.out("UUID:      \(s.uuid)")
        Output.out("OS type:   \(s.osType)")
        Output.out("Settings:  \(s.settingsVersion) (\(s.path))")
        Output.out("Memory:    \(s.memoryMB.map { "\($0) MB" } ?? "not set")")
        Output.out("CPUs:      \(s.cpus)")
        Output.out("Firmware:  \(s.firmware)")
        let rd = s.remoteDisplay
        Output.out("RDP:       " + (rd.enabled
            ? "on, port \(rd.ports) on \(rd.address.isEmpty ? "all addresses" : rd.address), auth \(rd.authType)"
                + (rd.users.isEmpty ? "" : ", users \(rd.users.joined(separator: ", "))")
            : "off"))
        for a in s.adapters {
            Output.out("NIC \(a.number):     \(a.mode)\(a.enabled ? "" : " (disabled)")"
                + (a.type.map { ", \($0)" } ?? "") + (a.macAddress.map { ", MAC \($0)" } ?? ""))
            for f in a.forwards { Output.out("           forward \(f.ruleString)") }
        }
        for d in s.storage {
            Output.out("Storage:   \(d.controller) (\(d.bus)) port \(d.port) device \(d.device): \(d.type)"
                + (d.medium.map { " \($0)" } ?? " (empty)"))
        }
        for f in s.sharedFolders {
            Output.out("Share:     \(f.name) -> \(f.hostPath) (\(f.writable ? "writable" : "read-only")"
                + (f.autoMount ? ", auto-mount" + (f.autoMountPoint.isEmpty ? "" : " at \(f.autoMountPoint)") : "") + ")")
        }
        if !s.usbControllers.isEmpty { Output.out("USB:       \(s.usbControllers.joined(separator: ", "))") }
        for f in s.usbFilters {
            Output.out("USB filter: \(f.name) \(f.vendorId.isEmpty ? "*" : f.vendorId):\(f.productId.isEmpty ? "*" : f.productId)"
                + (f.active ? "" : " (inactive)"))
        }
        if s.snapshots > 0 { Output.out("Snapshots: \(s.snapshots) (vmprov snapshots shows the tree)") }
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
