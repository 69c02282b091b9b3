import Synchronization

/// One splice of an ``EditBatch``: the bytes in `range` of the batch's snapshot are replaced by `replacement`.
public struct Splice: Sendable, Equatable {
    /// Byte offsets into the snapshot, half-open. An empty range inserts before the byte at `range.lowerBound`.
    public var range: Range<Int>
    /// The new bytes (UTF-8).
    public var replacement: [UInt8]
}

/// A splice an ``EditBatch`` refuses. Both cases are programming errors in the code that builds the batch,
/// never something a user's file can cause.
public enum EditBatchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Two splices touch the same bytes, or insert at the same offset, so their order would be a guess.
    /// Byte ranges, half-open, of the splice already in the batch and of the refused one.
    case overlap(existing: Range<Int>, refused: Range<Int>)
    /// A range that is not inside the snapshot (`count` bytes).
    case outOfBounds(Range<Int>, count: Int)

    /// Which bytes clashed; a bug in vmprov, not in the file.
    public var description: String {
        switch self {
        case let .overlap(existing, refused):
            return "overlapping edits: bytes \(refused.lowerBound)..<\(refused.upperBound) against "
                + "\(existing.lowerBound)..<\(existing.upperBound) already in the batch"
        case let .outOfBounds(range, count):
            return "an edit of bytes \(range.lowerBound)..<\(range.upperBound) outside the \(count) bytes of the file"
        }
    }
}

/// Edits of one settings file, made together: every splice is placed against one snapshot (``base``), so element
/// indices and byte offsets taken from it stay valid however many splices an edit needs. Splices that overlap are
/// refused when added; the rest are applied back to front and the result is parsed once, by ``commit()``.
///
/// Splices that only touch (one ends where the next begins, or an insertion at either end of a replaced range) are
/// fine: ordered by `(lowerBound, upperBound)`, an insertion at offset `n` lands before a replacement starting at `n`.
/// The order in which splices are added does not matter.
public struct EditBatch: Sendable {
    /// The snapshot every splice refers to.
    public let base: VBoxSettings
    /// The splices so far, sorted by `(range.lowerBound, range.upperBound)`; no two overlap.
    public private(set) var splices: [Splice] = []
    /// Attribute values that must read back after the edit: element (by the offset of its start tag in ``base``,
    /// for the message by its index there), attribute local name, value.
    private var readBacks: [(start: Int, index: Int, name: String, value: String)] = []

    /// Starts an empty batch against `base`.
    public init(_ base: VBoxSettings) {
        self.base = base
    }

    /// True when nothing has been added.
    public var isEmpty: Bool { splices.isEmpty }

    /// Replaces `range` (byte offsets into ``base``, half-open) with the UTF-8 of `text`.
    /// - Throws: ``EditBatchError/overlap(existing:refused:)`` when the range overlaps a splice already added (an
    ///   insertion overlaps a range strictly containing its offset, or another insertion at the same offset);
    ///   ``EditBatchError/outOfBounds(_:count:)`` when the range is not inside the snapshot. The batch is unchanged.
    public mutating func replace(_ range: Range<Int>, with text: String) throws(EditBatchError) {
        guard range.lowerBound >= 0, range.upperBound <= base.bytes.count else {
            throw .outOfBounds(range, count: base.bytes.count)
        }
        if let clash = splices.first(where: { Self.overlap($0.range, range) }) {
            throw .overlap(existing: clash.range, refused: range)
        }
        let splice = Splice(range: range, replacement: Array(text.utf8))
        let at = splices.firstIndex { Self.precedes(range, $0.range) } ?? splices.count
        splices.insert(splice, at: at)
    }

    /// Inserts the UTF-8 of `text` before the byte at `offset` of ``base`` (at the end when `offset` is its size).
    /// - Throws: as ``replace(_:with:)``.
    public mutating func insert(_ text: String, at offset: Int) throws(EditBatchError) {
        try replace(offset..<offset, with: text)
    }

    /// The edited bytes: ``base``'s bytes with every splice applied, back to front. Nothing is parsed.
    public var bytes: [UInt8] {
        var out = base.bytes
        for splice in splices.reversed() {
            out.replaceSubrange(splice.range, with: splice.replacement)
        }
        return out
    }

    /// Applies the splices and parses the result, once. An empty batch returns ``base`` without parsing.
    /// - Returns: the edited settings, parsed from ``bytes``.
    /// - Throws: `VBoxXMLError.invalid` when the edited bytes do not parse (a bug in vmprov: nothing may be saved),
    ///   or when an attribute set through the batch does not read back with its value.
    public func commit() throws(VBoxXMLError) -> VBoxSettings {
        guard !splices.isEmpty else { return base }
        let result: VBoxSettings
        do {
            result = try VBoxSettings(bytes: bytes, path: base.path)
        } catch {
            // An edit that breaks the document is a bug in vmprov, never a state to save.
            throw .invalid(path: base.path, message: "internal error: the edited document does not read back "
                + "(\(error)); nothing was written.")
        }
        for check in readBacks {
            let start = newOffset(of: check.start)
            let element = result.elements.firstIndex { $0.span.startTag.lowerBound == start }
            guard let element, result.elements[element].attribute(check.name) == check.value else {
                throw .invalid(path: base.path, message: "\(base.location(of: check.index)) does not read back with "
                    + "\(check.name)=\"\(check.value)\" after the edit (unusual attributes on it); nothing was written. "
                    + "Edit this file with VirtualBox.")
            }
        }
        return result
    }

    /// Where the byte at `offset` of the snapshot is after the splices (those ending at or before it move it;
    /// an insertion at `offset` lands before it).
    private func newOffset(of offset: Int) -> Int {
        var moved = offset
        for splice in splices where splice.range.upperBound <= offset {
            moved += splice.replacement.count - splice.range.count
        }
        return moved
    }

    /// Whether two ranges conflict: shared bytes, an insertion strictly inside a replaced range, or two insertions
    /// at one offset.
    static func overlap(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        switch (a.isEmpty, b.isEmpty) {
        case (true, true): return a.lowerBound == b.lowerBound
        case (true, false): return b.lowerBound < a.lowerBound && a.lowerBound < b.upperBound
        case (false, true): return a.lowerBound < b.lowerBound && b.lowerBound < a.upperBound
        case (false, false): return a.lowerBound < b.upperBound && b.lowerBound < a.upperBound
        }
    }

    private static func precedes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        (a.lowerBound, a.upperBound) < (b.lowerBound, b.upperBound)
    }

    /// Adds a splice made by vmprov's own edit code; an overlap is reported as an internal error.
    mutating func splice(_ range: Range<Int>, with text: String) throws(VBoxXMLError) {
        do {
            try replace(range, with: text)
        } catch {
            throw .invalid(path: base.path, message: "internal error: \(error); nothing was written.")
        }
    }
}

// MARK: - The edits, as splices against the snapshot

extension EditBatch {
    /// Sets attributes of element `index`, in order, each the one VirtualBox reads (the first whose local name
    /// matches, whatever its prefix; see ``VBoxSettings/settingAttribute(_:to:on:)``): an existing value is replaced
    /// in its quotes, absent ones are added together at the end of the start tag (one splice). Values already there
    /// are left alone. Each value is checked to read back by ``commit()``.
    mutating func setAttributes(_ pairs: [(name: String, value: String)], on index: Int) throws(VBoxXMLError) {
        let element = base.elements[index]
        var added = ""
        for (name, value) in pairs {
            let existing = element.span.attributeValues.first(localName: name)
            if let current = element.attribute(name), current == value, existing != nil { continue }
            if let existing {
                try splice(existing.range, with: XMLText.escapeAttribute(value, quote: existing.quote))
            } else {
                added += " \(name)=\"\(XMLText.escapeAttribute(value, quote: 0x22))\""
            }
            readBacks.append((element.span.startTag.lowerBound, index, name, value))
        }
        if !added.isEmpty {
            let at = element.span.attributeInsertion
            try splice(at..<at, with: added)
        }
    }

    /// Removes one attribute (and the space before it), the one VirtualBox reads; nothing when it is absent.
    mutating func removeAttribute(_ name: String, on index: Int) throws(VBoxXMLError) {
        let bytes = base.bytes
        guard let existing = base.elements[index].span.attributeValues.first(localName: name) else { return }
        // From the whitespace before the name to the closing quote.
        var start = existing.range.lowerBound - 1
        while start > 0, bytes[start - 1] != 0x20, bytes[start - 1] != 0x09,
              bytes[start - 1] != 0x0A, bytes[start - 1] != 0x0D { start -= 1 }
        while start > 0, SourceScanner.isSpace(bytes[start - 1]) { start -= 1 }
        try splice(start..<(existing.range.upperBound + 1), with: "")
    }

    /// Inserts `markups` (in order, each on its own line) as children of `parent`, after the child `after` (or after
    /// the last child when nil), in the file's style: its line break, its indentation, the parent's prefix.
    /// - Throws: `VBoxXMLError.invalid` when the parent holds text.
    mutating func insertChildren(_ markups: [XMLMarkup], into parent: Int, after: Int? = nil) throws(VBoxXMLError) {
        guard !markups.isEmpty else { return }
        let bytes = base.bytes
        let nl = base.newline
        let unit = base.indentUnit
        let parentElement = base.elements[parent]
        let childIndent = base.childIndentation(of: parent)
        let prefix = base.prefix(of: parent)
        let lines = markups.map { nl + childIndent + $0.withPrefix(prefix).render(indent: childIndent, unit: unit, newline: nl) }
            .joined()
        if let endTag = parentElement.span.endTag {
            if let anchor = after ?? parentElement.children.last {
                let end = base.elements[anchor].span.whole.upperBound
                try splice(end..<end, with: lines)
                return
            }
            // No element children: replace whatever whitespace is inside.
            let inner = parentElement.span.startTag.upperBound..<endTag.lowerBound
            guard bytes[inner].allSatisfy(SourceScanner.isSpace) else {
                throw .invalid(path: base.path, message: "\(base.location(of: parent)) holds text; vmprov will not add "
                    + "elements to it.")
            }
            try splice(inner, with: lines + nl + base.indentation(of: parent))
            return
        }
        // <Parent .../>: open it up.
        let tag = parentElement.span.startTag
        var slash = tag.upperBound - 2
        while slash > tag.lowerBound, SourceScanner.isSpace(bytes[slash - 1]) { slash -= 1 }
        try splice(slash..<tag.upperBound, with: ">" + lines + nl + base.indentation(of: parent)
            + "</\(parentElement.span.qualifiedName)>")
    }

    /// Removes an element, with its line when it stands alone on that line. A parent left with only whitespace
    /// inside closes up (`<NAT>…</NAT>` becomes `<NAT/>`), in the same splice.
    mutating func removeElement(_ index: Int) throws(VBoxXMLError) {
        let bytes = base.bytes
        var range = base.elements[index].span.whole
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
        if let parent = base.elements[index].parent, base.elements[parent].children == [index],
           let endTag = base.elements[parent].span.endTag,
           base.elements[parent].span.startTag.upperBound <= range.lowerBound, range.upperBound <= endTag.lowerBound {
            let tag = base.elements[parent].span.startTag
            let inner = tag.upperBound..<endTag.lowerBound
            let left = bytes[inner.lowerBound..<range.lowerBound] + bytes[range.upperBound..<inner.upperBound]
            if left.allSatisfy(SourceScanner.isSpace) {
                try splice((tag.upperBound - 1)..<endTag.upperBound, with: "/>")
                return
            }
        }
        try splice(range, with: "")
    }
}

/// Counts parses of settings in the current task, for tests that check an edit parses once.
final class ParseCounter: Sendable {
    /// The counter of the running task, if any.
    @TaskLocal static var current: ParseCounter?
    private let value = Mutex(0)

    /// Parses counted so far.
    var count: Int { value.withLock { $0 } }

    func increment() { value.withLock { $0 += 1 } }
}
