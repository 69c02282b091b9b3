#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision

struct List: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the registered machines (Name= and ID= lines).",
        discussion: "Example:\n  vmprov list")

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let list: [VMListEntry]
        let tools = try context.queryTools()
        list = try tools.listVMs()
        for vm in list {
            Output.out("Name=\(vm.name)")
            Output.out("ID=\(vm.uuid)")
        }
    }
}
