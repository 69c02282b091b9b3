#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

struct ShowProfile: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a profile's resolved values.")

    @Argument(help: "Profile name.")
    var name: String

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let p: Profile
        p = try Catalog.standard(context).load(name)
        if json { return try JSONOut.print(p) }
        Output.out("name:          \(p.name)  (\(p.source))")
        Output.out("description:   \(p.description)")
        Output.out("os type:       \(([p.osType] + p.osTypeFallbacks).joined(separator: " → "))")
        Output.out("firmware:      \(p.firmware.rawValue)" + (p.tpm ? ", TPM 2.0" : "") + (p.secureBoot ? ", secure boot" : ""))
        Output.out("cpus/memory:   \(p.cpus) CPU(s), \(p.memoryMB) MB, \(p.vramMB) MB \(p.graphics)")
        Output.out("disk:          \(p.diskSize) on \(p.storageBus.rawValue.uppercased()), NIC \(p.nicType)")
        Output.out("iso:           " + (p.iso.urls.isEmpty ? "none: --iso PATH" + (p.iso.note.map { " (\($0))" } ?? "") : p.iso.urls.joined(separator: "\n               ")))
        Output.out("checksum:      \(p.iso.checksum ?? "none published")")
        Output.out("signature:     \(p.iso.signature ?? (p.iso.keyFingerprint != nil ? "clearsigned checksum file" : "none published"))")
        if let k = p.iso.keyFingerprint { Output.out("key:           \(k)\n               \(p.iso.keyURL ?? "")") }
        Output.out("rdp port:      \(p.rdpPort)")
        for f in p.forwards { Output.out("forward:       \(f.name) \(f.proto) \(f.hostPort) → \(f.guestPort)") }
    }
}
