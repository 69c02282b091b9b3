/// Byte ranges of one element in the original text, so that edits can be made locally.
public struct ElementSpan: Sendable, Equatable {
    /// `<` to `>` of the start tag (or of the whole empty-element tag).
    public var startTag: Range<Int>
    /// `</` to `>` of the end tag; nil for `<Name/>`.
    public var endTag: Range<Int>?
    /// Where a new attribute goes: right after the last attribute (or the name) in the start tag.
    public var attributeInsertion: Int
    /// Attribute qualified name → range of its value between the quotes, and the quote character.
    public var attributeValues: AttributeSpans
    /// The qualified name as written (`Machine`, or `vbox:Machine`).
    public var qualifiedName: String

    /// Equal spans and names.
    public static func == (lhs: ElementSpan, rhs: ElementSpan) -> Bool {
        lhs.startTag == rhs.startTag && lhs.endTag == rhs.endTag
    }

    /// Whole element, start tag to end tag.
    public var whole: Range<Int> { startTag.lowerBound..<(endTag?.upperBound ?? startTag.upperBound) }
}

/// Where each attribute value of one start tag is: qualified name → range between the quotes and the quote
/// character. A small array, not a dictionary: a start tag has a handful of attributes, and a settings file can
/// have hundreds of thousands of elements (a dictionary per element cost about 200 bytes more each).
public struct AttributeSpans: Sendable, ExpressibleByDictionaryLiteral {
    private var entries: [(name: String, range: Range<Int>, quote: UInt8)] = []

    /// - Parameter elements: qualified name, value range (byte offsets, half-open) and quote byte.
    public init(dictionaryLiteral elements: (String, (range: Range<Int>, quote: UInt8))...) {
        for (name, value) in elements { self[name] = value }
    }

    /// The value's range and quote for the attribute written with this qualified name; nil when absent.
    /// Setting replaces an existing entry (a later duplicate wins, as the former dictionary did).
    public subscript(name: String) -> (range: Range<Int>, quote: UInt8)? {
        get {
            for e in entries where e.name == name { return (e.range, e.quote) }
            return nil
        }
        set {
            let at = entries.firstIndex { $0.name == name }
            switch (at, newValue) {
            case let (i?, v?): entries[i] = (name, v.range, v.quote)
            case let (i?, nil): entries.remove(at: i)
            case let (nil, v?): entries.append((name, v.range, v.quote))
            case (nil, nil): break
            }
        }
    }

    /// Number of attributes.
    public var count: Int { entries.count }

    /// The first attribute in document order whose local name (the part after a prefix) is `local`, namespace
    /// declarations (`xmlns`, `xmlns:*`) left out: the one libxml2 lists first and VirtualBox reads
    /// (`ElementNode::findAttribute` matches local names in any namespace), so `x:enabled` counts as `enabled`.
    public func first(localName local: String) -> (qualifiedName: String, range: Range<Int>, quote: UInt8)? {
        for e in entries {
            if e.name == "xmlns" || e.name.hasPrefix("xmlns:") { continue }
            let name = e.name.split(separator: ":", maxSplits: 1).last.map(String.init) ?? e.name
            if name == local { return (e.name, e.range, e.quote) }
        }
        return nil
    }
}

/// What the text before the root element says.
public struct PrologFacts: Sendable {
    /// A `<!DOCTYPE` comes before the root (refused: settings files have none).
    public var hasDoctype = false
    /// The XML declaration's `encoding`, when there is one.
    public var declaredEncoding: String?
}

/// A scanner for documents libxml2 has already accepted as well-formed: it finds where each element's
/// tags are in the bytes, in document order, which is the order libxml2's tree lists them in.
enum SourceScanner {
    enum ScanError: Error { case unexpected(Int) }

    /// Looks at the prolog only: a DOCTYPE is refused before libxml2 ever sees it.
    static func prolog(_ b: [UInt8]) -> PrologFacts {
        var facts = PrologFacts()
        var i = 0
        let n = b.count
        if n >= 3, b[0] == 0xEF, b[1] == 0xBB, b[2] == 0xBF { i = 3 }
        while i < n {
            if isSpace(b[i]) { i += 1; continue }
            if b[i] != UInt8(ascii: "<") { return facts }
            if hasPrefix(b, i, "<?") {
                guard let end = find(b, "?>", from: i) else { return facts }
                if hasPrefix(b, i, "<?xml"), let at = find(b, "encoding", from: i), at < end {
                    var k = at + 8
                    while k < end, b[k] == 0x20 || b[k] == 0x09 || b[k] == UInt8(ascii: "=") { k += 1 }
                    if k < end, b[k] == 0x22 || b[k] == 0x27, let close = findByte(b, b[k], from: k + 1), close < end {
                        facts.declaredEncoding = String(decoding: b[(k + 1)..<close], as: UTF8.self)
                    }
                }
                i = end + 2
            } else if hasPrefix(b, i, "<!--") {
                guard let end = find(b, "-->", from: i + 4) else { return facts }
                i = end + 3
            } else if hasPrefix(b, i, "<!") {
                // <!DOCTYPE in any case: libxml2 would reject other spellings anyway.
                facts.hasDoctype = true
                return facts
            } else {
                return facts
            }
        }
        return facts
    }

    /// Every element's span in document order.
    static func scan(_ b: [UInt8]) throws -> [ElementSpan] {
        var spans: [ElementSpan] = []
        var open: [Int] = []
        var i = 0
        let n = b.count
        while i < n {
            guard b[i] == UInt8(ascii: "<") else { i += 1; continue }
            if hasPrefix(b, i, "<!--") {
                guard let end = find(b, "-->", from: i + 4) else { throw ScanError.unexpected(i) }
                i = end + 3
            } else if hasPrefix(b, i, "<![CDATA[") {
                guard let end = find(b, "]]>", from: i + 9) else { throw ScanError.unexpected(i) }
                i = end + 3
            } else if hasPrefix(b, i, "<?") {
                guard let end = find(b, "?>", from: i + 2) else { throw ScanError.unexpected(i) }
                i = end + 2
            } else if hasPrefix(b, i, "<!") {
                throw ScanError.unexpected(i)
            } else if hasPrefix(b, i, "</") {
                guard let close = findByte(b, UInt8(ascii: ">"), from: i), let top = open.popLast() else {
                    throw ScanError.unexpected(i)
                }
                spans[top].endTag = i..<(close + 1)
                i = close + 1
            } else {
                var j = i + 1
                while j < n, !isSpace(b[j]), b[j] != UInt8(ascii: ">"), b[j] != UInt8(ascii: "/") { j += 1 }
                let qname = String(decoding: b[(i + 1)..<j], as: UTF8.self)
                var insertion = j
                var values = AttributeSpans()
                var selfClosing = false
                while j < n {
                    let c = b[j]
                    if isSpace(c) { j += 1; continue }
                    if c == UInt8(ascii: ">") { j += 1; break }
                    if c == UInt8(ascii: "/") { selfClosing = true; j += 1; continue }
                    // attribute name
                    let nameStart = j
                    while j < n, !isSpace(b[j]), b[j] != UInt8(ascii: "=") { j += 1 }
                    let name = String(decoding: b[nameStart..<j], as: UTF8.self)
                    while j < n, b[j] != UInt8(ascii: "\""), b[j] != UInt8(ascii: "'") { j += 1 }
                    guard j < n else { throw ScanError.unexpected(nameStart) }
                    let quote = b[j]
                    guard let endQuote = findByte(b, quote, from: j + 1) else { throw ScanError.unexpected(j) }
                    values[name] = ((j + 1)..<endQuote, quote)
                    j = endQuote + 1
                    insertion = j
                }
                spans.append(ElementSpan(startTag: i..<j, endTag: nil, attributeInsertion: insertion,
                                         attributeValues: values, qualifiedName: qname))
                if !selfClosing { open.append(spans.count - 1) }
                i = j
            }
        }
        guard open.isEmpty else { throw ScanError.unexpected(n) }
        return spans
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    static func hasPrefix(_ b: [UInt8], _ at: Int, _ s: StaticString) -> Bool {
        let count = s.utf8CodeUnitCount
        guard at + count <= b.count else { return false }
        return s.withUTF8Buffer { p in
            for k in 0..<count where b[at + k] != p[k] { return false }
            return true
        }
    }

    static func find(_ b: [UInt8], _ s: StaticString, from: Int) -> Int? {
        var k = from
        while k < b.count {
            if hasPrefix(b, k, s) { return k }
            k += 1
        }
        return nil
    }

    static func findByte(_ b: [UInt8], _ c: UInt8, from: Int) -> Int? {
        var k = from
        while k < b.count {
            if b[k] == c { return k }
            k += 1
        }
        return nil
    }
}
