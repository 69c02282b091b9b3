#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import Basics

/// Where profiles are found: `$VMPROV_PROFILES` folders (colon-separated) first, then `/etc/vmprov/profiles`, then
/// the profiles built into the binary (`BuiltinProfiles`, generated from `profiles/*.yaml`). The first source that
/// has a name wins, so a file overrides the built-in profile of the same name.
public struct ProfileCatalog: Sendable {
    /// Folders searched in order, before the built-in profiles.
    public var folders: [String]
    /// Whether the built-in profiles are searched after the folders.
    public var includeBuiltins: Bool

    /// A catalogue of `folders` (in order), then the built-in profiles when `includeBuiltins`.
    public init(folders: [String], includeBuiltins: Bool = false) {
        self.folders = folders
        self.includeBuiltins = includeBuiltins
    }

    /// The system-wide override folder.
    public static let systemFolder = "/etc/vmprov/profiles"

    /// The default search path: `extra` (`$VMPROV_PROFILES`, colon-separated), `/etc/vmprov/profiles`, built-ins.
    public static func standard(extra: String?) -> ProfileCatalog {
        var folders = (extra ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        folders.append(systemFolder)
        return ProfileCatalog(folders: folders, includeBuiltins: true)
    }

    /// One profile source: a file, or a built-in text (`path` is then `built-in:NAME`).
    public struct Entry: Sendable {
        /// The profile's name (the file name without `.yaml`).
        public var name: String
        /// The file, or `built-in:NAME`.
        public var path: String
        /// The YAML of a built-in profile; nil for a file.
        public var text: String?
    }

    /// Every profile source, first one wins for a name.
    public func entries() -> [Entry] {
        var seen = Set<String>()
        var out: [Entry] = []
        for folder in folders {
            let names = (FileIO.names(in: folder) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            for n in names.sorted() {
                let name = String(n.prefix { $0 != "." })
                if seen.insert(name).inserted { out.append(Entry(name: name, path: folder + "/" + n, text: nil)) }
            }
        }
        if includeBuiltins {
            for (name, text) in BuiltinProfiles.all where seen.insert(name).inserted {
                out.append(Entry(name: name, path: "built-in:\(name)", text: text))
            }
        }
        return out
    }

    /// Every profile file, first folder wins for a name (built-ins have the path `built-in:NAME`).
    public func files() -> [(name: String, path: String)] {
        entries().map { ($0.name, $0.path) }
    }

    /// Loads one profile by name.
    /// - Throws: `ProfileError` (`.notFound` when no source has the name).
    public func load(_ name: String) throws(ProfileError) -> Profile {
        guard let entry = entries().first(where: { $0.name == name }) else {
            let known = files().map(\.name).joined(separator: ", ")
            let searched = folders + (includeBuiltins ? ["the built-in profiles"] : [])
            throw ProfileError(file: name, key: nil, message: "no such profile; known: \(known.isEmpty ? "none" : known) "
                + "(searched \(searched.joined(separator: ", ")))", kind: .notFound)
        }
        return try Self.load(entry)
    }

    /// Loads one source.
    static func load(_ entry: Entry) throws(ProfileError) -> Profile {
        if let text = entry.text {
            let profile = try ProfileLoader.parse(text, source: entry.path)
            guard profile.name == entry.name else {
                throw ProfileError(file: entry.path, key: "name", message: "\"\(profile.name)\" differs from \(entry.name)")
            }
            return profile
        }
        return try load(path: entry.path)
    }

    /// Loads a profile file; its `name` must equal the file name.
    /// - Throws: `ProfileError` naming the file.
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
        entries().map { e in
            do throws(ProfileError) { return .success(try Self.load(e)) } catch { return .failure(error) }
        }
    }
}
