/// Local text edits on a parsed settings file. Each returns new settings, parsed again from the new bytes;
/// everything outside the edited range keeps its bytes.
extension VBoxSettings {
    /// Replaces `range` of the bytes with `text` and parses the result (a batch of one splice).
    func replacing(_ range: Range<Int>, with text: String) throws(VBoxXMLError) -> VBoxSettings {
        var batch = EditBatch(self)
        try batch.splice(range, with: text)
        return try batch.commit()
    }

    /// The line break the file uses.
    var newline: String {
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x0A { return (i > 0 && bytes[i - 1] == 0x0D) ? "\r\n" : "\n" }
            i += 1
        }
        return "\n"
    }

    /// The whitespace in front of an element on its line ("" when something else precedes it there).
    func indentation(of index: Int) -> String {
        let start = elements[index].span.startTag.lowerBound
        var i = start
        while i > 0, bytes[i - 1] == 0x20 || bytes[i - 1] == 0x09 { i -= 1 }
        guard i == 0 || bytes[i - 1] == 0x0A || bytes[i - 1] == 0x0D else { return "" }
        return String(decoding: bytes[i..<start], as: UTF8.self)
    }

    /// One level of indentation as the file uses it (from the first nested pair found; two spaces otherwise).
    var indentUnit: String {
        for element in elements {
            guard let parent = element.parent else { continue }
            let outer = indentation(ofStart: elements[parent].span.startTag.lowerBound)
            let inner = indentation(ofStart: element.span.startTag.lowerBound)
            if inner.count > outer.count, inner.hasPrefix(outer) {
                return String(inner.dropFirst(outer.count))
            }
        }
        return "  "
    }

    private func indentation(ofStart start: Int) -> String {
        var i = start
        while i > 0, bytes[i - 1] == 0x20 || bytes[i - 1] == 0x09 { i -= 1 }
        return String(decoding: bytes[i..<start], as: UTF8.self)
    }

    /// The indentation a new child of `parent` takes: its siblings', else one level deeper than the parent.
    func childIndentation(of parent: Int) -> String {
        if let first = elements[parent].children.first {
            let own = indentation(of: first)
            if !own.isEmpty { return own }
        }
        return indentation(of: parent) + indentUnit
    }

    /// The prefix (with colon) of an element's qualified name, for new children in the same namespace.
    func prefix(of index: Int) -> String {
        let q = elements[index].span.qualifiedName
        guard let colon = q.firstIndex(of: ":") else { return "" }
        return String(q[...colon])
    }

    /// Sets one attribute, keeping its quotes and place; adds it at the end of the start tag when absent.
    /// Returns self unchanged when the value is already there.
    ///
    /// The attribute is the one VirtualBox reads: the first whose local name is `name`, whatever its prefix
    /// (`x:enabled="false"` is `enabled` to VirtualBox, so a second, unprefixed `enabled` would be ignored).
    /// - Throws: `.invalid` when the edited element does not read back with the value (nothing is saved).
    public func settingAttribute(_ name: String, to value: String, on index: Int) throws(VBoxXMLError) -> VBoxSettings {
        var batch = EditBatch(self)
        try batch.setAttributes([(name, value)], on: index)
        return try batch.commit()
    }

    /// Removes one attribute (and the space before it), the one VirtualBox reads (see ``settingAttribute``).
    /// Returns self when it is absent.
    /// - Throws: `.invalid` when the edited document does not parse (nothing is saved).
    public func removingAttribute(_ name: String, on index: Int) throws(VBoxXMLError) -> VBoxSettings {
        var batch = EditBatch(self)
        try batch.removeAttribute(name, on: index)
        return try batch.commit()
    }

    /// Inserts `markup` (one element, lines joined with "\n", nested lines indented with two spaces) as a
    /// child of `parent`, after the child `after` (or after the last child when nil), in the file's style.
    /// - Throws: `.invalid` when the parent holds text, or the edited document does not parse.
    public func insertingChild(_ markup: XMLMarkup, into parent: Int, after: Int? = nil) throws(VBoxXMLError) -> VBoxSettings {
        var batch = EditBatch(self)
        try batch.insertChildren([markup], into: parent, after: after)
        return try batch.commit()
    }

    /// Removes an element with its line when it stands alone on that line; a parent left empty closes up
    /// (`<NAT/>`). One splice, one parse.
    /// - Throws: `.invalid` when the edited document does not parse.
    public func removingElement(_ index: Int) throws(VBoxXMLError) -> VBoxSettings {
        var batch = EditBatch(self)
        try batch.removeElement(index)
        return try batch.commit()
    }
}

/// Escaping for new text.
public enum XMLText {
    /// Escapes a value for an attribute delimited by `quote` (0x22 or 0x27).
    public static func escapeAttribute(_ value: String, quote: UInt8) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for ch in value.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += quote == 0x22 ? "&quot;" : "\""
            case "'": out += quote == 0x27 ? "&apos;" : "'"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            case "\t": out += "&#9;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}

/// A small element tree to insert: name, ordered attributes, children.
public struct XMLMarkup: Sendable, Equatable {
    /// The element name, without prefix (the file's prefix is added when rendered).
    public var name: String
    /// Attributes in the order written, values unescaped.
    public var attributes: [(String, String)]
    /// Child elements, in order.
    public var children: [XMLMarkup]

    /// An element `name` with `attributes` and `children`.
    public init(_ name: String, _ attributes: [(String, String)] = [], children: [XMLMarkup] = []) {
        self.name = name
        self.attributes = attributes
        self.children = children
    }

    /// Equal names, attributes (in order) and children.
    public static func == (a: XMLMarkup, b: XMLMarkup) -> Bool {
        a.name == b.name && a.children == b.children
            && a.attributes.map(\.0) == b.attributes.map(\.0) && a.attributes.map(\.1) == b.attributes.map(\.1)
    }

    func withPrefix(_ prefix: String) -> XMLMarkup {
        guard !prefix.isEmpty else { return self }
        return XMLMarkup(prefix + name, attributes, children: children.map { $0.withPrefix(prefix) })
    }

    /// Text of the element; the first line has no indentation (the caller places it), nested lines have
    /// `indent` plus one `unit` per level.
    public func render(indent: String, unit: String, newline: String) -> String {
        var out = "<" + name
        for (key, value) in attributes {
            out += " \(key)=\"\(XMLText.escapeAttribute(value, quote: 0x22))\""
        }
        if children.isEmpty { return out + "/>" }
        out += ">"
        for child in children {
            out += newline + indent + unit + child.render(indent: indent + unit, unit: unit, newline: newline)
        }
        return out + newline + indent + "</\(name)>"
    }
}
