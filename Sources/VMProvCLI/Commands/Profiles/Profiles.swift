#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

struct Profiles: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the OS profiles, show one, or check that they still resolve and download.",
        discussion: """
        Profiles are built into vmprov; files in $VMPROV_PROFILES folders (colon-separated), then \
        /etc/vmprov/profiles, override a built-in profile of the same name.

        Examples:
          vmprov profiles show debian --resolve
          vmprov profiles check --json
        """,
        subcommands: [ListProfiles.self, ShowProfile.self, CheckProfiles.self],
        defaultSubcommand: ListProfiles.self)
}
