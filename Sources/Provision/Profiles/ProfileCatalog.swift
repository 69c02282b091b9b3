#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import Basics

/// Where profiles are found: `$VMPROV_PROFILES` folders (colon-separated) first, then the installed ones
/// (`<prefix>/share/vmprov/profiles` next to the binary, /usr/local/share, /usr/share), then `./profiles`.
public struct ProfileCatalog: Sendable {
    public var folders: [String]

    public init(folders: [String]) {
        self.folders = folders
    }

    /// The default search path.
    public static func standard(extra: String?, executable: String) -> ProfileCatalog {
        var folders = (extra ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        let binDir = executable.split(separator: "/").dropLast().joined(separator: "/")
        folders.append("/" + binDir + "/../share/vmprov/profiles")
        folders += ["/usr/local/share/vmprov/profiles", "/usr/share/vmprov/profiles"]
        // A binary built in a source tree (.build/…/vmprov) finds the tree's profiles.
        var parts = binDir.split(separator: "/").map(String.init)
        while !parts.isEmpty {
            let dir = "/" + parts.joined(separator: "/")
            if access(dir + "/Package.swift", F_OK) == 0 {
                folders.append(dir + "/profiles")
                break
            }
            parts.removeLast()
        }
        folders.append("profiles")
        return ProfileCatalog(folders: folders)
    }

    /// Every profile file, first folder wins for a name.
    public func files() -> [(name: String, path: String)] {
        var seen = Set<String>()
        var out: [(String, String)] = []
        for folder in folders {
            let names = (FileIO.names(in: folder) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            for n in names.sorted() {
                let name = String(n.prefix { $0 != "." })
                if seen.insert(name).inserted { out.append((name, folder + "/" + n)) }
            }
        }
        return out
    }

    /// Loads one profile by name.
    public func load(_ name: String) throws(ProfileError) -> Profile {
        guard let file = files().first(where: { $0.name == name }) else {
            let known = files().map(\.name).joined(separator: ", ")
            throw ProfileError(file: name, key: nil, message: "no such profile; known: \(known.isEmpty ? "none" : known) "
                + "(searched \(folders.joined(separator: ", ")))", kind: .notFound)
        }
        return try Self.load(path: file.path)
    }

    public static func load(path: String) throws(ProfileError) -> Profile {
        let bytes: [UInt8]
        do { bytes = try TempFiles.read(path) } catch { throw ProfileError(file: path, key: nil, message: error.description) }
        let profile = try ProfileLoader.parse(String(decoding: bytes, as: UTF8.self), source: path)
        let base = String(path.split(separator: "/").last?.prefix { $0 != "." } ?? "")
        guard profile.name == base else {
            throw ProfileError(file: path, key: "name", message: "\"\(profile.name)\" differs from the file name \"\(base)\"")
        }
        return profile
    }

    /// Every profile, with the errors of those that do not load.
    public func loadAll() -> [Result<Profile, ProfileError>] {
        files().map { f in
            do throws(ProfileError) { return .success(try Self.load(path: f.path)) } catch { return .failure(error) }
        }
    }
}
