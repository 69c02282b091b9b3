import ArgumentParser
import Provision
import VBoxXML

struct Check: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply VirtualBox's reader rules to a .vbox and report what it would reject or silently ignore.",
        discussion: """
        Errors are what makes VirtualBox refuse the file or the machine fail to start; warnings are values it \
        ignores or changes without saying so. Exits 65 when there is an error. With RDP on, it also says whether \
        the installed VirtualBox (VBoxManage --version, if any) needs the Extension Pack for it (before 7.2.6).

        Example:
          vmprov check vms/ubuntu
        """)

    @OptionGroup var read: ReadOptions

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let settings = try TargetResolver.load(read.target, context)
        // The RDP server depends on the VirtualBox that will run the machine: ask the installed one, if any.
        var tools = context.virtualBoxTools
        tools.timeout = 10
        let version = settings.remoteDisplay.enabled ? try? tools.version() : nil
        let rdp = RDPModule.assess(settings, virtualBox: version)
        let findings = ReaderRules.check(settings) + rdp.findings + InstallMedia.findings(settings)
        if read.json {
            try JSONOut.print(findings)
        } else {
            for f in findings { Output.out(f.description) }
            if let note = rdp.note { Output.out(note) }
            if let p = InstallMedia.pending(settings) {
                Output.out("unattended \(p.family.rawValue) install pending: VISO \(p.viso ?? "none"), seed \(p.seed ?? "none")")
            }
            let errors = findings.filter { $0.severity == .error }.count
            Output.out("\(settings.path): \(errors) error(s), \(findings.count - errors) warning(s).")
        }
        if findings.contains(where: { $0.severity == .error }) {
            throw AlreadyReported(CLIError("\(settings.path): the settings fail VirtualBox's reader rules", kind: .dataError))
        }
    }
}
