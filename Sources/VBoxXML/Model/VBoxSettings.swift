/// The two namespaces real settings files use.
public enum VBoxNamespace {
    /// `http://www.virtualbox.org/`: every file VirtualBox 2.0 and later writes.
    public static let current = "http://www.virtualbox.org/"
    /// innotek's namespace, in files of VirtualBox 1.x.
    public static let innotek = "http://www.innotek.de/VirtualBox-settings"
}

/// A parsed `.vbox` file: its exact bytes, libxml2's reading of them, and where each element is.
///
/// Values are immutable; an edit produces new bytes, which are parsed again, so every state that is ever
/// saved has passed the same checks as a file read from disk.
public struct VBoxSettings: Sendable {
    /// Largest settings file vmprov reads, in bytes (16 MiB). VirtualBox writes a few KiB per machine (the largest
    /// of the 38 real files in the test corpus is 122 KiB) and each snapshot adds a copy of the hardware section
    /// (5-15 KiB), so even a machine with a thousand snapshots stays below it. Larger files are refused before
    /// they are read: an edit of a file of tiny elements peaks at about 25 times its size in memory (libxml2's
    /// tree, the element table, and the edited copy parsed again).
    public static let maximumSize = 16 << 20

    /// The file's path, for messages and saving.
    public let path: String
    /// The file's bytes as read; edits splice into them.
    public let bytes: [UInt8]
    /// Every element in document order, with its byte spans.
    public let elements: [XMLElementInfo]
    /// `VirtualBox@version`.
    public let version: SettingsVersion
    /// Things worth telling the user that do not stop the work.
    public let warnings: [String]

    /// The root element (`VirtualBox`).
    public var root: XMLElementInfo { elements[0] }

    /// Index of `VirtualBox/Machine`.
    public let machineIndex: Int
    /// Index of `Machine/Hardware` (never a snapshot's).
    public let hardwareIndex: Int

    /// Reads and checks a file from disk.
    public static func load(path: String) throws(VBoxXMLError) -> VBoxSettings {
        let bytes = try SettingsFile.readAll(path: path, limit: maximumSize)
        return try VBoxSettings(bytes: bytes, path: path)
    }

    /// Parses bytes. `path` is used in messages.
    public init(bytes: [UInt8], path: String) throws(VBoxXMLError) {
        ParseCounter.current?.increment()
        self.path = path
        self.bytes = bytes
        guard !bytes.isEmpty else {
            throw .invalid(path: path, message: "the file is empty. A VirtualBox settings file starts with "
                + "<?xml and has a <VirtualBox> root element; restore it from NAME.vbox-prev or a backup.")
        }
        guard bytes.count <= Self.maximumSize else {
            throw .invalid(path: path, message: "the file is \(bytes.count) bytes, more than any VirtualBox "
                + "settings file (limit \(Self.maximumSize >> 20) MiB). Check that TARGET names the right file.")
        }
        if bytes.count >= 2, (bytes[0] == 0xFE && bytes[1] == 0xFF) || (bytes[0] == 0xFF && bytes[1] == 0xFE) {
            throw .invalid(path: path, message: "the file is UTF-16; VirtualBox writes settings as UTF-8. "
                + "Convert it to UTF-8 first.")
        }
        let prolog = SourceScanner.prolog(bytes)
        if prolog.hasDoctype {
            throw .invalid(path: path, message: "the document has a DOCTYPE declaration, which VirtualBox never "
                + "writes; vmprov refuses it so that no entity is expanded and no external file is read.")
        }
        if let encoding = prolog.declaredEncoding,
           !["utf-8", "utf8"].contains(encoding.lowercased()) {
            throw .invalid(path: path, message: "the XML declaration says encoding=\"\(encoding)\"; VirtualBox "
                + "writes UTF-8 only. Convert the file to UTF-8.")
        }
        var elements: [XMLElementInfo]
        do {
            // The libxml2 tree lives only in this scope: it is freed before the text is scanned.
            let doc = try LibXMLDocument(bytes: bytes, path: path)
            guard !doc.hasDTD else {
                throw .invalid(path: path, message: "the document has a DTD, which VirtualBox never writes.")
            }
            guard doc.rootElementCount == 1 else {
                throw .malformed(path: path, line: 0, column: 0, message: "expected exactly one root element")
            }
            elements = doc.elements()
        }
        let spans: [ElementSpan]
        do {
            spans = try SourceScanner.scan(bytes)
        } catch {
            throw .invalid(path: path, message: "vmprov could not locate the elements in the text "
                + "(unusual markup); edit this file with VirtualBox instead.")
        }
        guard spans.count == elements.count else {
            throw .invalid(path: path, message: "vmprov found \(spans.count) tags where libxml2 read "
                + "\(elements.count) elements; edit this file with VirtualBox instead.")
        }
        for i in elements.indices { elements[i].span = spans[i] }
        self.elements = elements

        var warnings: [String] = []
        let root = elements[0]
        guard root.name == "VirtualBox" else {
            throw .invalid(path: path, message: "the root element is <\(root.name)>, not <VirtualBox>: "
                + "this is not a VirtualBox machine settings file.")
        }
        if let ns = root.namespaceURI {
            if ns != VBoxNamespace.current && ns != VBoxNamespace.innotek {
                warnings.append("\(path): the root element's namespace is \(ns), not \(VBoxNamespace.current); "
                    + "VirtualBox ignores namespaces, so vmprov goes on.")
            }
        } else {
            warnings.append("\(path): the root element has no namespace; VirtualBox writes "
                + "xmlns=\"\(VBoxNamespace.current)\".")
        }
        guard let versionText = root.attribute("version") else {
            throw .invalid(path: path, message: "<VirtualBox> has no version attribute; VirtualBox refuses such "
                + "a file (\"Cannot handle settings version\").")
        }
        guard let version = SettingsVersion(versionText) else {
            throw .invalid(path: path, message: "cannot read settings version \"\(versionText)\" "
                + "(expected MAJOR.MINOR-PLATFORM, for example 1.19-linux).")
        }
        if version < SettingsVersion.oldestReadable {
            throw .invalid(path: path, message: "settings version \(versionText) is older than 1.3, which no VirtualBox "
                + "7.x reads (\"Cannot handle settings version\"). Recreate the machine, attaching its disks.")
        }
        if version > SettingsVersion.newestKnown {
            warnings.append("\(path): settings version \(versionText) is newer than the newest vmprov knows "
                + "(\(SettingsVersion.newestKnown)); going on with the \(SettingsVersion.newestKnown) layout.")
        }
        self.version = version
        guard let machine = Self.child(of: 0, named: "Machine", in: elements) else {
            throw .invalid(path: path, message: "there is no <Machine> element under <VirtualBox>; this looks "
                + "like a global VirtualBox.xml or a damaged file, not a machine's settings.")
        }
        guard let hardware = Self.child(of: machine, named: "Hardware", in: elements) else {
            throw .invalid(path: path, message: "<Machine> has no <Hardware> element, which VirtualBox requires "
                + "(line \(elements[machine].line)).")
        }
        self.machineIndex = machine
        self.hardwareIndex = hardware
        self.warnings = warnings
    }

    /// The first element child of `parent` with this local name.
    public func child(of parent: Int, named name: String) -> Int? {
        Self.child(of: parent, named: name, in: elements)
    }

    /// All element children of `parent` with this local name.
    public func children(of parent: Int, named name: String) -> [Int] {
        elements[parent].children.filter { elements[$0].name == name }
    }

    /// Follows a path of local names from `start`, taking the first match at each step.
    public func descend(from start: Int, _ names: String...) -> Int? {
        var current = start
        for name in names {
            guard let next = child(of: current, named: name) else { return nil }
            current = next
        }
        return current
    }

    static func child(of parent: Int, named name: String, in elements: [XMLElementInfo]) -> Int? {
        elements[parent].children.first { elements[$0].name == name }
    }

    /// `Machine/Hardware/...` written as a readable element path with line number, for messages.
    public func location(of index: Int) -> String {
        var names: [String] = []
        var cursor: Int? = index
        while let c = cursor {
            names.append(elements[c].name)
            cursor = elements[c].parent
        }
        return names.reversed().joined(separator: "/") + " (line \(elements[index].line))"
    }
}
