#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import ArgumentParser
import Provision
import DiskImages
import VBoxXML

/// What `add-disk`/`remove-disk --json` print.
struct DiskEditJSON: Encodable {
    var path: String
    var disk: String
    var uuid: String
    var sizeBytes: UInt64?
    var controller: String?
    var port: Int?
    var device: Int?
    var unregistered: Bool?
    var deleted: Bool?
}

enum DiskFiles {
    /// A disk file name the user gave: a plain name in the machine folder, `.vdi` added when missing.
    static func fileName(_ given: String) throws -> String {
        let name = given.hasSuffix(".vdi") ? given : given + ".vdi"
        guard !name.contains("/"), !name.hasPrefix("."), name.count > 4,
              !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw CLIError("--name \"\(URLText.printable(given))\": give a plain file name for the new disk (no slash, "
                + "not starting with a dot); it is created in the machine folder.", kind: .usage)
        }
        return name
    }

    /// `NAME_2.vdi`, `NAME_3.vdi`, … the first that is neither a file nor registered.
    static func defaultName(_ settings: VBoxSettings, folder: String) -> String {
        let machine = settings.elements[settings.machineIndex].attribute("name") ?? "disk"
        let base = String(machine.map { $0 == "/" || $0.isWhitespace ? "_" : $0 })
        let registered = Set(settings.registeredDisks.map { FileIO.basename($0.location) })
        var n = 2
        while true {
            let candidate = "\(base)_\(n).vdi"
            var st = stat()
            if !registered.contains(candidate), lstat(folder + "/" + candidate, &st) != 0 { return candidate }
            n += 1
        }
    }

    static func size(_ text: String, option: String) throws -> UInt64 {
        guard let size = SizeText.parse(text) else {
            throw CLIError("\(option) \"\(URLText.printable(text))\" is not a size; write for example 512M, 64G or 2T "
                + "(a bare number is MiB).", kind: .usage)
        }
        return size
    }

    static func human(_ bytes: UInt64) -> String {
        for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20)] where bytes >= UInt64(1) << UInt64(shift) {
            let v = Double(bytes) / Double(UInt64(1) << UInt64(shift))
            return v == v.rounded() ? "\(Int(v)) \(unit)" : "\((v * 10).rounded() / 10) \(unit)"
        }
        return "\(bytes) bytes"
    }

    /// The file of a registry location: relative locations are inside the machine folder.
    static func path(of location: String, settingsPath: String) -> String {
        location.hasPrefix("/") ? location : FileIO.directory(of: settingsPath) + "/" + location
    }
}

struct AddDisk: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-disk",
        abstract: "Create a new sparse VDI disk and attach it to the machine.",
        discussion: """
        The disk is created in the machine folder (a few MiB whatever its size), registered in the machine's media \
        registry and attached to the first free port (SATA PortCount is raised up to 30). A full controller is \
        refused with the ports in use. Partition and format the disk inside the guest.

        Example:
          vmprov add-disk vms/ubuntu --size 64G --name data
        """)

    @OptionGroup var target: TargetOptions

    @Option(help: ArgumentHelp("Virtual size: 512M, 64G, 2T (a bare number is MiB).", valueName: "size"))
    var size: String

    @Option(help: ArgumentHelp("File name in the machine folder (.vdi is added).", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("Storage controller name (default: the first SATA/SCSI/SAS/NVMe/IDE one with a free port).",
                               valueName: "name"))
    var controller: String?

    @Option(help: ArgumentHelp("Port on the controller, 0-based.", valueName: "n"))
    var port: Int?

    func validate() throws {
        if let port, port < 0 { throw ValidationError("--port \(port): ports are numbered from 0.") }
    }

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let bytes = try DiskFiles.size(size, option: "--size")
        _ = try VDIWriter.layout(size: bytes)
        let fileName = try name.map(DiskFiles.fileName)
        var created: String?
        var uuid = VBoxUUID.random()
        var slot: DiskSlot?
        var location = ""
        let result: EditResult
        do {
            result = try EditSession.run(target, context) { settings in
                let chosen = try settings.freeDiskSlot(controller: controller, port: port)
                let folder = FileIO.directory(of: settings.path)
                location = fileName ?? DiskFiles.defaultName(settings, folder: folder)
                if let clash = settings.registeredDisks.first(where: { FileIO.basename($0.location) == location }) {
                    throw CLIError("\(settings.path): a disk \(clash.location) is registered already. Choose another "
                        + "--name.", kind: .cannotCreate)
                }
                let full = folder + "/" + location
                var st = stat()
                if lstat(full, &st) == 0 {
                    throw CLIError("\(full) exists already; vmprov never overwrites a disk. Choose another --name.",
                                   kind: .cannotCreate)
                }
                while uuid.isZero { uuid = .random() }
                try VDIWriter.create(path: full, size: bytes, uuid: uuid)
                created = full
                slot = chosen
                return try settings.addingDisk(uuid: uuid, location: location, at: chosen)
            }
        } catch {
            // The settings were not saved: the new file is not referenced, remove it (unless a save that reported
            // an error did land, which the file itself tells).
            if let created {
                let saved = (try? VBoxSettings.load(path: try target.resolve(context)))?.registeredDisks
                    .contains { $0.uuid == uuid.description } ?? false
                if !saved { unlink(created) }
            }
            throw error
        }
        guard let slot else { return }
        if json {
            return try JSONOut.print(DiskEditJSON(path: result.settings.path, disk: location, uuid: uuid.braced,
                                                  sizeBytes: bytes, controller: slot.controller, port: slot.port,
                                                  device: slot.device, unregistered: nil, deleted: nil))
        }
        Output.out("Created \(location) (\(DiskFiles.human(bytes)), dynamic, \(uuid.braced)) and attached it to "
            + "\"\(slot.controller)\" port \(slot.port)" + (slot.device > 0 ? " device \(slot.device)" : "")
            + " in \(result.settings.path).")
        Output.out("Partition and format it inside the guest, for example: sudo parted /dev/sdX mklabel gpt mkpart data "
            + "0% 100% && sudo mkfs.ext4 /dev/sdX1.")
    }
}

struct RemoveDisk: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-disk",
        abstract: "Detach a disk (its data stays unless --delete).",
        discussion: """
        DISK is the file name, the location as registered, or the UUID. The disk is detached from the current \
        state; its media registry entry goes too when no snapshot uses it and it has no differencing images. The \
        file is deleted only with --delete (and only when it was unregistered).

        Example:
          vmprov remove-disk data.vdi vms/ubuntu
        """)

    @Argument(help: "The disk: file name, registered location or UUID.")
    var disk: String

    @OptionGroup var target: TargetOptions

    @Flag(help: "Also delete the disk file (its data is lost).")
    var delete = false

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        var removal: VBoxSettings.DiskRemoval?
        let result = try EditSession.run(target, context) { settings in
            let r = try settings.removingDisk(disk, requireUnregister: delete)
            removal = r
            return r.result
        }
        guard let removal else { return }
        let file = DiskFiles.path(of: removal.disk.location, settingsPath: result.settings.path)
        var deleted = false
        if delete, removal.unregistered {
            var st = stat()
            if lstat(file, &st) == 0 {
                guard unlink(file) == 0 else {
                    throw CLIError("\(file): the disk was removed from the machine but the file could not be deleted "
                        + "(\(FileIO.describe(errno))). Delete it by hand.", kind: .ioError)
                }
                deleted = true
            }
        }
        if json {
            return try JSONOut.print(DiskEditJSON(path: result.settings.path, disk: removal.disk.location,
                                                  uuid: "{\(removal.disk.uuid)}", sizeBytes: nil, controller: nil,
                                                  port: nil, device: nil, unregistered: removal.unregistered,
                                                  deleted: deleted))
        }
        Output.out("Removed \(removal.disk.location) from \(result.settings.path)"
            + (removal.unregistered ? "" : " (still registered: a snapshot uses it or it has differencing images)") + ".")
        Output.out(deleted ? "Deleted \(file)." : "The file \(file) is kept; delete it with --delete or by hand.")
    }
}
