import Basics
/// A machine state as `showvminfo --machinereadable` prints it (`VMState=`).
public enum VMState: String, Sendable, CaseIterable, Codable {
    case unknown, poweroff, saved, teleported, aborted
    case abortedSaved = "aborted-saved"
    case running, paused, gurumeditation, teleporting, livesnapshotting, starting, stopping, saving, restoring
    case teleportingpausedvm, teleportingin, deletingsnapshotlive, deletingsnapshotlivepaused
    case onlinesnapshotting, restoringsnapshot, deletingsnapshot, settingup, snapshotting

    /// No VM process: nothing may be sent to it.
    public var isDown: Bool { [.poweroff, .saved, .aborted, .abortedSaved, .teleported, .unknown].contains(self) }

    /// Accepts ACPI events (`Console::PowerButton`).
    public var acceptsACPI: Bool { [.running, .teleporting, .livesnapshotting].contains(self) }

    /// What the container healthcheck accepts (as the original entrypoint did).
    public var isHealthy: Bool { [.running, .restoring, .saving, .paused, .saved].contains(self) }
}

/// `VBoxManage --version` output: `7.1.4r165100`, `6.1.38_Ubuntur153438`, after any wrapper warnings.
public struct VBoxVersion: Sendable, Equatable, CustomStringConvertible {
    /// The major version (7 in 7.1.4).
    public var major: Int
    /// The minor version.
    public var minor: Int
    /// The build (maintenance) number.
    public var build: Int
    /// `_Ubuntu`, `_OSE`… or empty.
    public var suffix: String
    /// The SVN revision after `r`, when printed.
    public var revision: Int?

    /// A version from its parts.
    public init(major: Int, minor: Int, build: Int, suffix: String, revision: Int?) {
        self.major = major
        self.minor = minor
        self.build = build
        self.suffix = suffix
        self.revision = revision
    }

    /// `MAJOR.MINOR.BUILD`, the number that names download folders and extension packs.
    public var number: String { "\(major).\(minor).\(build)" }
    /// As VBoxManage prints it: `7.1.4r165100`.
    public var description: String { number + suffix + (revision.map { "r\($0)" } ?? "") }

    /// Takes the first line that starts with `N.N.N`, skipping warnings.
    public static func parse(_ output: String) -> VBoxVersion? {
        for raw in output.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters
            let parts = line.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, let major = Int(parts[0]), let minor = Int(parts[1]) else { continue }
            let rest = parts[2]
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard let build = Int(digits) else { continue }
            var tail = rest.dropFirst(digits.count)
            var revision: Int?
            if let r = tail.lastIndex(of: "r"), let rev = Int(tail[tail.index(after: r)...]) {
                revision = rev
                tail = tail[..<r]
            }
            return VBoxVersion(major: major, minor: minor, build: build, suffix: String(tail), revision: revision)
        }
        return nil
    }
}

/// One entry of `VBoxManage list vms`.
public struct VMListEntry: Sendable, Equatable, Codable {
    /// The machine's name (`<inaccessible>` for a machine whose settings cannot be read).
    public var name: String
    /// Its UUID, lowercase without braces.
    public var uuid: String

    /// An entry.
    public init(name: String, uuid: String) {
        self.name = name
        self.uuid = uuid
    }

    /// VirtualBox could not read the machine's settings.
    public var inaccessible: Bool { name == "<inaccessible>" }
}

/// Parses `VBoxManage list vms`: `"NAME" {UUID}` lines.
public enum VMListParser {
    /// Parses `"name" {uuid}` lines, anchoring on the trailing ` {uuid}`; names may hold quotes, braces, spaces
    /// and even newlines; warning lines before and between entries are skipped.
    public static func parse(_ output: String) -> [VMListEntry] {
        var entries: [VMListEntry] = []
        var pending: String?
        for raw in output.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            var line = Substring(raw)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let candidate = pending.map { $0 + "\n" + line } ?? String(line)
            if let entry = entry(candidate) {
                entries.append(entry)
                pending = nil
            } else if candidate.hasPrefix("\"") && pending == nil {
                pending = candidate
            } else if pending != nil {
                pending = candidate
                if pending!.count > 4096 { pending = nil }
            }
        }
        return entries
    }

    static func entry(_ line: String) -> VMListEntry? {
        guard line.hasPrefix("\""), line.hasSuffix("}"), let brace = line.lastIndex(of: "{") else { return nil }
        let uuid = line[line.index(after: brace)..<line.index(before: line.endIndex)]
        guard uuid.count == 36, uuid.allSatisfy({ $0.isHexDigit || $0 == "-" }) else { return nil }
        let head = line[..<brace]
        guard head.hasSuffix("\" "), head.count >= 3 else { return nil }
        let name = head.dropFirst().dropLast(2)
        return VMListEntry(name: String(name), uuid: String(uuid).lowercased())
    }
}

/// `showvminfo --machinereadable` as key/value pairs, in order, with quoted keys and values unescaped and
/// multi-line values joined; lines that are not `key=value` are kept as keys with nil values.
public struct MachineInfo: Sendable {
    /// The pairs in output order.
    public var pairs: [(key: String, value: String?)]

    /// The first value of `key`; nil when absent or valueless.
    public subscript(key: String) -> String? {
        pairs.first { $0.key == key }?.value ?? nil
    }

    /// `VMState`, when it is one vmprov knows.
    public var state: VMState? { self["VMState"].flatMap(VMState.init(rawValue:)) }

    /// Parses the output of `showvminfo --machinereadable`.
    public init(parsing text: String) {
        var pairs: [(String, String?)] = []
        let chars = Array(text.unicodeScalars)
        var i = 0
        func readQuoted() -> String {
            // at opening quote
            i += 1
            var out = String.UnicodeScalarView()
            while i < chars.count {
                let c = chars[i]
                if c == "\\", i + 1 < chars.count, chars[i + 1] == "\"" || chars[i + 1] == "\\" {
                    out.append(chars[i + 1])
                    i += 2
                    continue
                }
                if c == "\"" { i += 1; break }
                out.append(c)
                i += 1
            }
            return String(out)
        }
        func restOfLine() -> String {
            var out = String.UnicodeScalarView()
            while i < chars.count, chars[i] != "\n" {
                if chars[i] != "\r" { out.append(chars[i]) }
                i += 1
            }
            return String(out)
        }
        while i < chars.count {
            if chars[i] == "\n" || chars[i] == "\r" { i += 1; continue }
            var key: String
            if chars[i] == "\"" {
                key = readQuoted()
            } else {
                var k = String.UnicodeScalarView()
                while i < chars.count, chars[i] != "=", chars[i] != "\n" {
                    k.append(chars[i])
                    i += 1
                }
                key = String(k)
            }
            guard i < chars.count, chars[i] == "=" else {
                if !key.trimmingSpacesAndNewlines.isEmpty { pairs.append((key.trimmingSpacesAndNewlines, nil)) }
                continue
            }
            i += 1
            if i < chars.count, chars[i] == "\"" {
                let value = readQuoted()
                let tail = restOfLine()  // e.g. VideoMode="1024,768,32"@0,0 1
                pairs.append((key, tail.isEmpty ? value : value + tail))
            } else {
                pairs.append((key, restOfLine()))
            }
        }
        self.pairs = pairs
    }
}

/// The `VBoxManage: error: …` lines of a failed command, for messages.
public enum VBoxErrorText {
    /// The text after the first `VBoxManage: error:` in `stderr`; nil when there is none.
    public static func firstError(_ stderr: String) -> String? {
        for line in stderr.split(whereSeparator: \.isNewline) {
            if let r = line.range(of: ": error: ") {
                return String(line[r.upperBound...])
            }
        }
        return nil
    }
}
