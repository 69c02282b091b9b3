#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Provision
import VBoxXML

/// TARGET and the editing options every `.vbox` command shares.
struct TargetOptions: ParsableArguments {
    @Argument(help: ArgumentHelp(
        "A .vbox file, or a folder holding exactly one. Default: $VMDIR, then the current folder.",
        valueName: "target"))
    var target: String?

    @Flag(help: "Edit even while a VBoxSVC process of this user runs (VirtualBox may overwrite the change).")
    var force = false

    /// Resolves TARGET to one `.vbox` path.
    func resolve(_ context: CommandContext) throws -> String {
        try TargetResolver.resolve(target, vmDir: context.vmDir)
    }
}

/// TARGET and --json for the commands that only read a `.vbox`.
struct ReadOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("A .vbox file or its folder (default: $VMDIR, then .).", valueName: "target"))
    var target: String?

    @Flag(help: "Print JSON.")
    var json = false
}
