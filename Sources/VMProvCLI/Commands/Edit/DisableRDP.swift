import ArgumentParser
import Provision
import VBoxXML

struct DisableRDP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable-rdp",
        abstract: "Turn the VirtualBox RDP (VRDE) server off.",
        discussion: "Example:\n  vmprov disable-rdp vms/ubuntu/ubuntu.vbox")

    @OptionGroup var target: TargetOptions

    func run() throws {
        let result = try EditSession.run(target) { try $0.disablingRDP() }
        Output.out("\(result.changed ? "RDP disabled" : "RDP already disabled") in \(result.settings.path).")
    }
}
