import ArgumentParser
import FoundationEssentials
import VBoxXML
import Provision

struct Show: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a machine: name, OS type, memory, CPUs, firmware, RDP, adapters, storage, shared folders, USB, snapshots.",
        discussion: "Example:\n  vmprov show vms/ubuntu/ubuntu.vbox --json")

    @OptionGroup var read: ReadOptions

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let settings = try TargetResolver.load(read.target, context)
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
        let pending = InstallMedia.pending(settings)
        for d in s.storage {
            Output.out("Storage:   \(d.controller) (\(d.bus)) port \(d.port) device \(d.device): \(d.type)"
                + (d.medium.map { m in " \(m)" + (InstallMedia.label(m, pending: pending).map { " (\($0))" } ?? "") } ?? " (empty)"))
        }
        if let pending {
            Output.out("Install:   unattended \(pending.family.rawValue) install pending (VISO \(pending.viso ?? "none"), "
                + "seed \(pending.seed ?? "none")); vmprov run detaches them once the installer powers the guest off")
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
