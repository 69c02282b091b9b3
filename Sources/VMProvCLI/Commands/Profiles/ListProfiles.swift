#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

struct ListProfiles: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the profiles.")

    @Flag(help: "Print JSON.")
    var json = false

    struct Row: Encodable {
        var name, description, osType, source: String
        var signed, downloadable: Bool
        /// The installer family `create --unattended` uses, nil when the profile does not support it.
        var installer: String?
    }

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        var rows: [Row] = []
        var failure: ProfileError?
        for r in Catalog.standard(context).loadAll() {
            switch r {
            case .success(let p):
                rows.append(Row(name: p.name, description: p.description, osType: p.osType, source: p.source,
                                signed: p.isSigned, downloadable: p.isDownloadable,
                                installer: p.installer?.rawValue))
            case .failure(let e):
                Output.error(e.description)
                failure = failure ?? e
            }
        }
        if json { try JSONOut.print(rows) } else {
            for r in rows {
                let name = r.name + String(repeating: " ", count: max(1, 16 - r.name.count))
                Output.out(name + r.description + (r.downloadable ? "" : " (--iso PATH)") + (r.signed ? "" : " [unsigned]")
                    + (r.installer.map { " [--unattended: \($0)]" } ?? ""))
            }
        }
        if let failure { throw AlreadyReported(failure) }
    }
}
