#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision

struct State: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the machine's state (VMState: running, poweroff, saved, aborted, …).",
        discussion: "Example:\n  vmprov state --json")

    @OptionGroup var machine: MachineOption

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var global: GlobalOptions

    struct Report: Encodable {
        var vm: String
        var state: String
        var healthy: Bool
    }

    func run(_ context: CommandContext) throws {
        let tools = try context.queryTools()
        let vm = try machine.resolve(tools)
        let state: VMState
        state = try tools.state(vm)
        if json { return try JSONOut.print(Report(vm: vm, state: state.rawValue, healthy: state.isHealthy)) }
        Output.out(state.rawValue)
    }
}
