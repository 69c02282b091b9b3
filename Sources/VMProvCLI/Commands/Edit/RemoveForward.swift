import ArgumentParser
import Provision
import VBoxXML

struct RemoveForward: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-forward",
        abstract: "Remove a NAT port forward.",
        discussion: "Example:\n  vmprov remove-forward vms/ubuntu --name ssh")

    @OptionGroup var target: TargetOptions

    @Option(help: "Name of the rule.")
    var name: String

    @Option(help: ArgumentHelp("Network adapter, 1-based.", valueName: "n"))
    var adapter: Int = 1

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let result = try EditSession.run(target, context) { try $0.removingForward(named: name, adapter: adapter) }
        Output.out("Removed \"\(name)\" from adapter \(adapter) in \(result.settings.path).")
    }
}
