/// Local text edits on a parsed settings file. Each returns new settings, parsed again from the new bytes;
/// everything outside the edited range keeps its bytes.
extension VBoxSettings {
    /// Replaces `range` of the bytes with `text` and parses the result.
    func replacing(_ range: Range<Int>, with text: String) throws(VBoxXMLError) -> VBoxSettings {
        var out = bytes
        out.replaceSubrange(range, with: Array(text.utf8))
        return try reparsed(out)
    }

    private func reparsed(_ newBytes: [UInt8]) throws(VBoxXMLError) -> VBoxSettings {
        do {
            return try VBoxSettings(bytes: newBytes, path: path)
        } catch {
            // An edit that breaks the document is a bug in vmprov, never a state to save.
            throw .invalid(path: path, message: "internal error: the edited document does not read back (\(error)); "
                + "nothing was written.")
        }
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
        let element = elements[index]
        let existing = element.span.attributeValues.first(localName: name)
        if let current = element.attribute(name), current == value, existing != nil {
            return self
        }
        let result: VBoxSettings
        if let existing {
            result = try replacing(existing.range, with: XMLText.escapeAttribute(value, quote: existing.quote))
        } else {
            let at = element.span.attributeInsertion
            result = try replacing(at..<at, with: " \(name)=\"\(XMLText.escapeAttribute(value, quote: 0x22))\"")
        }
        // Attribute edits never add or remove elements, so the index still names the same element.
        guard index < result.elements.count, result.elements[index].attribute(name) == value else {
            throw .invalid(path: path, message: "\(location(of: index)) does not read back with \(name)=\"\(value)\" "
                + "after the edit (unusual attributes on it); nothing was written. Edit this file with VirtualBox.")
        }
        return result
    }

    /// Removes one attribute (and the space before it), the one VirtualBox reads (see ``settingAttribute``).
    /// Returns self when it is absent.
    public func removingAttribute(_ name: String, on index: Int) throws(VBoxXMLError) -> VBoxSettings {
        guard let existing = elements[index].span.attributeValues.first(localName: name) else { return self }
        // From the whitespace before the name to the closing quote.
        var start = existing.range.lowerBound - 1
        while start > 0, bytes[start - 1] != 0x20, bytes[start - 1] != 0x09,
              bytes[start - 1] != 0x0A, bytes[start - 1] != 0x0D { start -= 1 }
        while start > 0, SourceScanner.isSpace(bytes[start - 1]) { start -= 1 }
        return try replacing(start..<(existing.range.upperBound + 1), with: "")
    }

    /// Inserts `markup` (one element, lines joined with "\n", nested lines indented with two spaces) as a
    /// child of `parent`, after the child `after` (or after the last child when nil), in the file's style.
    public func insertingChild(_ markup: XMLMarkup, into parent: Int, after: Int? = nil) throws(VBoxXMLError) -> VBoxSettings {
        let nl = newline
        let unit = indentUnit
        let parentElement = elements[parent]
        let childIndent = childIndentation(of: parent)
        let prefixed = markup.withPrefix(prefix(of: parent))
        let text = prefixed.render(indent: childIndent, unit: unit, newline: nl)
        if let endTag = parentElement.span.endTag {
            if let anchor = after ?? parentElement.children.last {
                let end = elements[anchor].span.whole.upperBound
                return try replacing(end..<end, with: nl + childIndent + text)
            }
            // No element children: replace whatever whitespace is inside.
            let inner = parentElement.span.startTag.upperBound..<endTag.lowerBound
            let content = bytes[inner]
            guard content.allSatisfy(SourceScanner.isSpace) else {
                throw .invalid(path: path, message: "\(location(of: parent)) holds text; vmprov will not add "
                    + "elements to it.")
            }
            return try replacing(inner, with: nl + childIndent + text + nl + indentation(of: parent))
        }
        // <Parent .../>: open it up.
        let tag = parentElement.span.startTag
        var slash = tag.upperBound - 2
        while slash > tag.lowerBound, SourceScanner.isSpace(bytes[slash - 1]) { slash -= 1 }
        let replacement = ">" + nl + childIndent + text + nl + indentation(of: parent)
            + "</\(parentElement.span.qualifiedName)>"
        return try replacing(slash..<tag.upperBound, with: replacement)
    }

    /// Removes an element with its line when it stands alone on that line.
    public func removingElement(_ index: Int) throws(VBoxXMLError) -> VBoxSettings {
        var range = elements[index].span.whole
        var start = range.lowerBound
        while start > 0, bytes[start - 1] == 0x20 || bytes[start - 1] == 0x09 { start -= 1 }
        var end = range.upperBound
        while end < bytes.count, bytes[end] == 0x20 || bytes[end] == 0x09 { end += 1 }
        let lineStart = start == 0 || bytes[start - 1] == 0x0A
        let lineEnd = end == bytes.count || bytes[end] == 0x0A || bytes[end] == 0x0D
        if lineStart && lineEnd {
            if end < bytes.count, bytes[end] == 0x0D { end += 1 }
            if end < bytes.count, bytes[end] == 0x0A { end += 1 }
            range = start..<end
        }
        let parent = elements[index].parent
        var result = try replacing(range, with: "")
        // A parent left with only whitespace inside closes up again: <NAT>\n</NAT> stays valid, but keep it tidy.
        if let parent, result.elements[parent].children.isEmpty, let endTag = result.elements[parent].span.endTag {
            let inner = result.elements[parent].span.startTag.upperBound..<endTag.lowerBound
            if result.bytes[inner].allSatisfy(SourceScanner.isSpace) {
                let tag = result.elements[parent].span.startTag
                result = try result.replacing((tag.upperBound - 1)..<endTag.upperBound, with: "/>")
            }
        }
        return result
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
    public var name: String
    public var attributes: [(String, String)]
    public var children: [XMLMarkup]

    public init(_ name: String, _ attributes: [(String, String)] = [], children: [XMLMarkup] = []) {
        self.name = name
        self.attributes = attributes
        self.children = children
    }

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
