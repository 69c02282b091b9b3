#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Provision
import DiskImages
import VBoxXML

struct GrowDisk: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "grow-disk",
        abstract: "Grow a dynamic VDI disk in place (offline; qemu-img cannot resize VDI).",
        discussion: """
        DISK is a .vdi file, or a disk of the machine (file name, registered location or UUID; default: the first \
        attached hard disk). Only the header and the block map change; allocated data stays where it is, so the \
        cost does not depend on how much of the disk is used. A kill at any point leaves the old image, or the \
        new one, or a journal (IMAGE.vmprov-grow) that the next grow-disk run completes first. Fixed-size and \
        differencing (snapshot) images are refused; the machine must not run. The partition and filesystem in the \
        guest are not touched: grow them inside the guest afterwards.

        Examples:
          vmprov grow-disk --to 64G --vm vms/ubuntu
          vmprov grow-disk vms/ubuntu/data.vdi --to 2T
        """)

    @Argument(help: "A .vdi file, or a disk of the machine (file name, location or UUID).")
    var disk: String?

    @Option(help: ArgumentHelp("New virtual size: 64G, 2T (a bare number is MiB).", valueName: "size"))
    var to: String

    @Option(help: ArgumentHelp("The machine: a .vbox file or its folder (default: $VMDIR, then .).", valueName: "target"))
    var vm: String?

    @Flag(help: "Grow even while a VBoxSVC process of this user runs.")
    var force = false

    @Flag(help: "Print JSON.")
    var json = false

    struct JSON: Encodable {
        var disk: String
        var oldSizeBytes: UInt64
        var newSizeBytes: UInt64
        var movedBlocks: Int
        var recoveredInterruptedGrow: Bool
    }

    /// The image to grow and the file whose folder is locked.
    func resolveImage(_ context: CommandContext) throws -> String {
        if let disk, disk.hasSuffix(".vdi") || disk.contains("/") {
            var st = stat()
            if stat(disk, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG { return disk }
        }
        let settings = try TargetResolver.load(vm, context)
        let registered: RegisteredDisk
        if let disk {
            registered = try settings.registeredDisk(disk)
        } else {
            guard let first = settings.diskAttachments.first,
                  let found = settings.registeredDisks.first(where: { $0.uuid == first.uuid }) else {
                throw CLIError("\(settings.path): no hard disk is attached to the machine; name the disk to grow.",
                               kind: .noInput)
            }
            registered = found
        }
        if registered.parent != nil || settings.registeredDisks.contains(where: { $0.parent == registered.uuid }) {
            throw CLIError("\(settings.path): \(registered.location) is part of a snapshot chain (differencing images); "
                + "the guest sees the last image of the chain, which vmprov does not grow. Delete the snapshots first "
                + "(VBoxManage snapshot NAME delete), then grow the disk.", kind: .dataError)
        }
        guard registered.format.lowercased() == "vdi" else {
            throw CLIError("\(settings.path): \(registered.location) is a \(registered.format) image; grow-disk grows "
                + "VDI images only.", kind: .dataError)
        }
        return DiskFiles.path(of: registered.location, settingsPath: settings.path)
    }

    /// `VMPROV_TEST_GROW_FAULT=N` (`TestHooks.growFault`) ends the process (exit 99) right after durable step N.
    static func testFault(_ hooks: TestHooks) -> ((VDIGrower.Step) -> Void)? {
        guard let n = hooks.growFault else { return nil }
        return { step in if step.rawValue == n { _exit(99) } }
    }

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let size = try DiskFiles.size(to, option: "--to")
        let image = try resolveImage(context)
        let lock = try SettingsLock(for: image, timeout: try context.lockTimeout())
        defer { withExtendedLifetime(lock) {} }
        try EditSession.checkNotBusy(force: force, path: image)
        let outcome = try VDIGrower.grow(path: image, to: size, fault: Self.testFault(context.testHooks))
        if outcome.recovered {
            Output.warn("\(image): an interrupted grow-disk was completed first (from \(VDIGrower.journalPath(image))).")
        }
        if json {
            return try JSONOut.print(JSON(disk: image, oldSizeBytes: outcome.oldSize, newSizeBytes: outcome.newSize,
                                          movedBlocks: outcome.movedBlocks, recoveredInterruptedGrow: outcome.recovered))
        }
        if outcome.oldSize == outcome.newSize {
            Output.out("\(image) is \(DiskFiles.human(size)) already; nothing to do.")
            return
        }
        Output.out("Grew \(image) from \(DiskFiles.human(outcome.oldSize)) to \(DiskFiles.human(outcome.newSize))"
            + (outcome.movedBlocks > 0 ? " (\(outcome.movedBlocks) data block(s) moved to make room for the block map)" : "")
            + ".")
        Output.out("""
            The partition and filesystem inside the guest still have the old size. Grow them in the guest:
              Linux (ext4):  sudo growpart /dev/sda 1 && sudo resize2fs /dev/sda1
              Linux (xfs):   sudo growpart /dev/sda 1 && sudo xfs_growfs /
              LVM:           sudo growpart /dev/sda 3 && sudo pvresize /dev/sda3 && sudo lvextend -r -l +100%FREE VG/LV
              Windows:       Disk Management, right-click the volume, Extend Volume
            """)
    }
}
