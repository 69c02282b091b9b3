import ArgumentParser
import Provision
import VBoxXML

struct DisableRDP: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable-rdp",
        abstract: "Turn the VirtualBox RDP (VRDE) server off.",
        discussion: "Example:\n  vmprov disable-rdp vms/ubuntu/ubuntu.vbox")

    @OptionGroup var target: TargetOptions

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let result = try EditSession.run(target, context) { try $0.disablingRDP() }
        Output.out("\(result.changed ? "RDP disabled" : "RDP already disabled") in \(result.settings.path).")
    }
}
