/// A settings-file version such as `1.19-linux`: VirtualBox reads the leading digits and ignores the suffix.
public struct SettingsVersion: Sendable, Comparable, CustomStringConvertible {
    /// The number before the dot (1).
    public var major: Int
    /// The number after the dot (19 in `1.19-linux`).
    public var minor: Int
    /// The text as written in the file.
    public var raw: String

    /// Oldest version VirtualBox 7.x reads (`ConfigFileBase::parseVersion`); it converts 1.3-1.11 on its first save.
    public static let oldestReadable = SettingsVersion(major: 1, minor: 3, raw: "1.3")
    /// Oldest version vmprov edits (VirtualBox 4.1); older files are read (`show`, `check`) but not edited.
    public static let oldestSupported = SettingsVersion(major: 1, minor: 12, raw: "1.12")
    /// Newest version vmprov knows the layout of (VirtualBox 7.1).
    public static let newestKnown = SettingsVersion(major: 1, minor: 20, raw: "1.20")

    /// A version with its numbers and the text as written.
    public init(major: Int, minor: Int, raw: String) {
        self.major = major
        self.minor = minor
        self.raw = raw
    }

    /// Parses as `ConfigFileBase::parseVersion` does: at least 4 characters, `major.minor` digits first.
    public init?(_ text: String) {
        guard text.utf8.count >= 4 else { return nil }
        let digits = text.split(separator: "-", maxSplits: 1).first ?? ""
        let parts = digits.split(separator: ".")
        guard parts.count == 2, let ma = Int(parts[0]), let mi = Int(parts[1]),
              parts[0].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isASCII) else { return nil }
        self.init(major: ma, minor: mi, raw: text)
    }

    /// Orders by major, then minor; the suffix is ignored.
    public static func < (a: SettingsVersion, b: SettingsVersion) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }

    /// Equal numbers; the suffix is ignored.
    public static func == (a: SettingsVersion, b: SettingsVersion) -> Bool {
        a.major == b.major && a.minor == b.minor
    }

    /// The text as written.
    public var description: String { raw }
}
