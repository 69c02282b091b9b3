#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision

/// The first registered machine (or the one named), for the queries.
struct MachineOption: ParsableArguments {
    @Option(help: ArgumentHelp("Machine name or UUID (default: the first registered one).", valueName: "vm"))
    var vm: String?

    func resolve(_ tools: VirtualBoxTools) throws -> String {
        if let vm { return vm }
        let list: [VMListEntry]
        list = try tools.listVMs()
        guard let first = list.first(where: { !$0.inaccessible }) else {
            throw CLIError("no machine is registered with VirtualBox for this user.", kind: .noInput)
        }
        return first.uuid
    }
}
