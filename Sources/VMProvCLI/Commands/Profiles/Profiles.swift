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
        abstract: "List the OS profiles, or show one with `profiles show NAME`.",
        discussion: "Extra profile folders come from $VMPROV_PROFILES (colon-separated).\n\nExample:\n  vmprov profiles show ubuntu",
        subcommands: [ListProfiles.self, ShowProfile.self],
        defaultSubcommand: ListProfiles.self)
}
