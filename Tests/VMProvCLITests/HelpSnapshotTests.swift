import ArgumentParser
import Foundation
import Testing
@testable import VMProvCLI

/// `--help` of every command, compared exactly with `HelpSnapshots/<command>.txt` (80 columns).
///
/// After an intended change of a command's options or texts, regenerate the files and review the diff:
///
///     VMPROV_UPDATE_SNAPSHOTS=1 swift test --filter HelpSnapshotTests
///
/// The test then writes every snapshot and fails, so a regenerated run never passes unnoticed.
@Suite("Help snapshots")
struct HelpSnapshotTests {
    static let commands: [(file: String, command: any ParsableCommand.Type)] = [
        ("vmprov", VMProv.self),
        ("create", Create.self),
        ("profiles", Profiles.self), ("profiles-list", ListProfiles.self), ("profiles-show", ShowProfile.self),
        ("profiles-check", CheckProfiles.self),
        ("enable-rdp", EnableRDP.self), ("disable-rdp", DisableRDP.self),
        ("add-forward", AddForward.self), ("remove-forward", RemoveForward.self),
        ("add-share", AddShare.self), ("remove-share", RemoveShare.self),
        ("add-disk", AddDisk.self), ("remove-disk", RemoveDisk.self), ("grow-disk", GrowDisk.self),
        ("add-usb", AddUSB.self), ("remove-usb", RemoveUSB.self), ("snapshots", Snapshots.self),
        ("snapshot", Snapshot.self),
        ("forwards", Forwards.self), ("show", Show.self), ("check", Check.self),
        ("compose", Compose.self), ("kube", Kube.self),
        ("fetch", Fetch.self), ("verify", Verify.self),
        ("setup", Setup.self),
        ("run", Run.self), ("list", List.self), ("state", State.self), ("healthcheck", Healthcheck.self),
    ]

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("HelpSnapshots")

    static var updating: Bool { ProcessInfo.processInfo.environment["VMPROV_UPDATE_SNAPSHOTS"] == "1" }

    static func help(_ command: any ParsableCommand.Type) -> String {
        command == VMProv.self ? VMProv.helpMessage(columns: 80) : VMProv.helpMessage(for: command, columns: 80)
    }

    @Test(arguments: commands.map(\.file))
    func helpMatchesSnapshot(_ file: String) throws {
        let command = try #require(Self.commands.first { $0.file == file }?.command)
        let actual = Self.help(command) + "\n"
        let path = Self.folder.appendingPathComponent(file + ".txt")
        if Self.updating {
            try actual.write(to: path, atomically: true, encoding: .utf8)
            Issue.record("wrote \(path.path); unset VMPROV_UPDATE_SNAPSHOTS and review the diff")
            return
        }
        let expected = try String(contentsOf: path, encoding: .utf8)
        #expect(actual == expected, "vmprov \(file) --help differs from \(path.path)")
    }

    /// `--help` through the real parser prints the same text (the snapshots are what users see).
    @Test func parserPrintsTheSnapshotText() throws {
        do {
            // argument-parser answers --help with its own help command, which ends by throwing CleanExit.
            var command = try VMProv.parseAsRoot(["show", "--help"])
            try command.run()
            Issue.record("--help ran as a command")
        } catch {
            #expect(VMProv.fullMessage(for: error, columns: 80) == Self.help(Show.self))
            #expect(VMProv.exitCode(for: error) == .success)
        }
    }

    /// Every command has a snapshot, and every snapshot file belongs to a command.
    @Test func everyCommandHasOneSnapshot() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix(".txt") }
        #expect(Set(files) == Set(Self.commands.map { $0.file + ".txt" }))
        let all = VMProv.configuration.subcommands.flatMap { [$0] + $0.configuration.subcommands }
        #expect(Set(all.map { ObjectIdentifier($0) }) == Set(Self.commands.dropFirst().map { ObjectIdentifier($0.command) }))
    }
}
