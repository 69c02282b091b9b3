internal import CLibXML2

/// One element of a parsed document: what libxml2 read, plus where its tags are in the bytes.
public struct XMLElementInfo: Sendable {
    /// Local name (`Machine`).
    public var name: String
    /// Namespace URI, if any.
    public var namespaceURI: String?
    /// Attributes in document order, values as libxml2 decoded them.
    public var attributes: [(name: String, value: String)]
    /// Indices of element children, in order.
    public var children: [Int]
    /// Index of the parent element; nil for the root.
    public var parent: Int?
    /// Line of the start tag (1-based).
    public var line: Int
    /// Byte ranges in the source.
    public var span: ElementSpan

    /// The value of the attribute with this (unprefixed) name.
    public func attribute(_ key: String) -> String? {
        attributes.first { $0.name == key }?.value
    }
}

/// Owns one `xmlDocPtr` and frees it in `deinit`. Nothing outside this folder sees libxml2.
final class LibXMLDocument {
    private let doc: xmlDocPtr

    /// Parses bytes that are already known to have no DOCTYPE.
    init(bytes: [UInt8], path: String) throws(VBoxXMLError) {
        let parsed: vmp_xml_parse_result? = bytes.withUnsafeBufferPointer { buf in
            // nil only for no bytes at all (VBoxSettings refuses an empty file before it gets here).
            buf.baseAddress?.withMemoryRebound(to: CChar.self, capacity: buf.count) { p in
                vmp_xml_parse(p, Int32(buf.count), path)
            }
        }
        guard let result = parsed else {
            throw .malformed(path: path, line: 0, column: 0, message: "the file is empty")
        }
        guard let doc = result.doc else {
            var r = result
            let message = withUnsafeBytes(of: &r.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw .malformed(path: path, line: Int(result.line), column: Int(result.column),
                             message: message.isEmpty ? "libxml2 refused it" : message)
        }
        self.doc = doc
    }

    deinit { xmlFreeDoc(doc) }

    /// Has an internal or external DTD subset (libxml2's own view; the prolog check runs first).
    var hasDTD: Bool { doc.pointee.intSubset != nil || doc.pointee.extSubset != nil }

    /// Number of element children of the document node (libxml2 refuses more than one, but be sure).
    var rootElementCount: Int {
        var count = 0
        var node = doc.pointee.children
        while let n = node {
            if n.pointee.type == XML_ELEMENT_NODE { count += 1 }
            node = n.pointee.next
        }
        return count
    }

    /// Every element in document order (pre-order), with parent and child links as indices.
    ///
    /// Names and namespace URIs come from libxml2's dictionary, so one pointer means one text: each is converted
    /// once and the Swift strings share storage (a large file repeats a few dozen names hundreds of thousands of
    /// times).
    func elements() -> [XMLElementInfo] {
        var out: [XMLElementInfo] = []
        guard let root = xmlDocGetRootElement(doc) else { return out }
        var interned: [UnsafePointer<xmlChar>: String] = [:]
        func name(_ p: UnsafePointer<xmlChar>?) -> String {
            guard let p else { return "" }
            if let known = interned[p] { return known }
            let s = Self.string(p)
            interned[p] = s
            return s
        }
        var stack: [(node: xmlNodePtr, parent: Int?)] = [(root, nil)]
        while let (node, parent) = stack.popLast() {
            let index = out.count
            var attributes: [(name: String, value: String)] = []
            var attr = node.pointee.properties
            while let a = attr {
                let attributeName = name(a.pointee.name)
                var value = ""
                if let raw = xmlNodeListGetString(doc, a.pointee.children, 1) {
                    value = String(cString: raw)
                    vmp_xml_free_string(raw)
                }
                attributes.append((attributeName, value))
                attr = a.pointee.next
            }
            let namespace = node.pointee.ns.map { name($0.pointee.href) }
            out.append(XMLElementInfo(
                name: name(node.pointee.name), namespaceURI: namespace, attributes: attributes,
                children: [], parent: parent, line: Int(vmp_xml_line(node)),
                span: ElementSpan(startTag: 0..<0, endTag: nil, attributeInsertion: 0, attributeValues: AttributeSpans(),
                                  qualifiedName: "")))
            if let parent { out[parent].children.append(index) }
            var kids: [xmlNodePtr] = []
            var child = node.pointee.children
            while let c = child {
                if c.pointee.type == XML_ELEMENT_NODE { kids.append(c) }
                child = c.pointee.next
            }
            for k in kids.reversed() { stack.append((k, index)) }
        }
        return out
    }

    private static func string(_ p: UnsafePointer<xmlChar>?) -> String {
        guard let p else { return "" }
        return String(cString: p)
    }
}
