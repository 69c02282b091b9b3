import ArgumentParser
import VBoxXML

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply VirtualBox's reader rules to a .vbox and report what it would reject or silently ignore.",
        discussion: """
        Errors are what makes VirtualBox refuse the file or the machine fail to start; warnings are values it \
        ignores or changes without saying so. Exits 65 when there is an error.

        Example:
          vmprov check vms/ubuntu
        """)

    @OptionGroup var read: ReadOptions

    func run() throws {
        let settings = try TargetResolver.load(read.target)
        let findings = ReaderRules.check(settings)
        if read.json {
            try JSONOut.print(findings)
        } else {
            for f in findings { Output.out(f.description) }
            let errors = findings.filter { $0.severity == .error }.count
            Output.out("\(settings.path): \(errors) error(s), \(findings.count - errors) warning(s).")
        }
        if findings.contains(where: { $0.severity == .error }) { throw ExitCode(VMProvExit.dataError) }
    }
}
