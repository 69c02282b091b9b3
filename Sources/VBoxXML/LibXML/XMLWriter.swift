internal import CLibXML2

/// A small XML element tree written out by libxml2 (`xmlNewDoc`, `xmlNewChild`, `xmlSetProp`,
/// `xmlDocDumpFormatMemoryEnc`), so escaping and encoding are libxml2's, never string templates. For files vmprov
/// generates (Guacamole's `user-mapping.xml`), not for `.vbox` edits, which keep their own bytes.
public struct XMLTree: Sendable, Equatable {
    /// Element name.
    public var name: String
    /// Attributes, in order.
    public var attributes: [XMLAttribute]
    /// Text content (written before the children; empty for none).
    public var text: String
    /// Child elements, in order.
    public var children: [XMLTree]

    /// An element with optional attributes, text and children.
    public init(_ name: String, _ attributes: [XMLAttribute] = [], text: String = "", children: [XMLTree] = []) {
        self.name = name
        self.attributes = attributes
        self.text = text
        self.children = children
    }

    /// The document: an XML declaration (UTF-8), this element as the root, two-space indentation, a final newline.
    /// - Throws: `VBoxXMLError.invalid` when libxml2 cannot build or write it (out of memory, or a name that
    ///   libxml2 refuses).
    public func document() throws(VBoxXMLError) -> [UInt8] {
        guard let doc = xmlNewDoc("1.0") else { throw .invalid(path: name, message: "libxml2 could not create a document") }
        defer { xmlFreeDoc(doc) }
        guard let root = xmlNewDocNode(doc, nil, name, nil) else {
            throw .invalid(path: name, message: "libxml2 refused the element \(name)")
        }
        xmlDocSetRootElement(doc, root)
        try Self.fill(root, with: self)
        var out: UnsafeMutablePointer<xmlChar>?
        var size: Int32 = 0
        let saved = xmlKeepBlanksDefault(0)
        xmlDocDumpFormatMemoryEnc(doc, &out, &size, "UTF-8", 1)
        xmlKeepBlanksDefault(saved)
        guard let out, size > 0 else { throw .invalid(path: name, message: "libxml2 could not write the document") }
        defer { vmp_xml_free_string(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    private static func fill(_ node: xmlNodePtr, with tree: XMLTree) throws(VBoxXMLError) {
        for a in tree.attributes where xmlSetProp(node, a.name, a.value) == nil {
            throw .invalid(path: tree.name, message: "libxml2 refused the attribute \(a.name)")
        }
        if !tree.text.isEmpty {
            // xmlNodeAddContent escapes the text (unlike the content argument of xmlNewChild).
            xmlNodeAddContent(node, tree.text)
        }
        for child in tree.children {
            guard let c = xmlNewChild(node, nil, child.name, nil) else {
                throw .invalid(path: child.name, message: "libxml2 refused the element \(child.name)")
            }
            try fill(c, with: child)
        }
    }
}

/// One attribute of an ``XMLTree`` element.
public struct XMLAttribute: Sendable, Equatable {
    /// Name.
    public var name: String
    /// Value (escaped by libxml2 when written).
    public var value: String
    /// `name="value"`.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
