#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import VBoxXML

/// The vmprov command line.
public struct VMProv: ParsableCommand {
    /// The version `--version` prints and the downloads send in their User-Agent (`vmprov/VERSION`).
    public static let version = "0.1.0"

    /// The root command: no options of its own, the subcommands in groups by area (one file each under
    /// `Commands/<Area>/`).

    /// The root command's name, abstract, exit-code summary, version and grouped subcommands (`vmprov --help`).
    public static let configuration = CommandConfiguration(
        commandName: "vmprov",
        abstract: "Create, edit and run VirtualBox guests headless, in a container or on any Linux host.",
        discussion: """
        Exit codes: 0 ok, 1 guest or VirtualBox failure, 64 usage, 65 bad data, 66 input not found, \
        69 missing tool, 70 run could not set up its signal handling, 73 output exists, 74 I/O error, \
        75 busy or temporary failure.
        """,
        version: version,
        groupedSubcommands: [
            CommandGroup(name: "Machines", subcommands: [Create.self, Profiles.self]),
            CommandGroup(name: "Edit a .vbox", subcommands: [
                EnableRDP.self, DisableRDP.self, AddForward.self, RemoveForward.self,
            ]),
            CommandGroup(name: "Storage and devices", subcommands: [
                AddShare.self, RemoveShare.self, AddDisk.self, RemoveDisk.self, GrowDisk.self, AddUSB.self, RemoveUSB.self,
                Snapshots.self, Snapshot.self,
            ]),
            CommandGroup(name: "Inspect a .vbox", subcommands: [Forwards.self, Show.self, Check.self]),
            CommandGroup(name: "Downloads", subcommands: [Fetch.self, Verify.self]),
            CommandGroup(name: "Image build", subcommands: [Setup.self]),
            CommandGroup(name: "Many guests", subcommands: [Compose.self, Kube.self]),
            CommandGroup(name: "Run in a container", subcommands: [Run.self, List.self, State.self, Healthcheck.self]),
        ]
    )

    /// argument-parser's required initializer.
    public init() {}

    /// Parses the command line, runs the command and exits with a documented code: the one place errors become
    /// exit codes (`HasExitCode`, see ExitCodes.swift); argument-parser's own errors exit through `exit(withError:)`.
    public static func runMain() -> Never {
        do {
            var command = try parseAsRoot()
            try command.run()
            Glibc.exit(VMProvExit.ok)
        } catch let error as any HasExitCode {
            if !(error is AlreadyReported) { Output.error(error.description) }
            Glibc.exit(error.exitCode)
        } catch {
            exit(withError: error)
        }
    }
}
