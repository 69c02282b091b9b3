internal import CLibXML2

/// A new XML document described as a value tree, serialised by libxml2 (`xmlDocDumpFormatMemoryEnc`): element and
/// attribute text is escaped by libxml2, never spliced into markup. Used for files vmprov generates from scratch
/// (Windows `autounattend.xml`, Guacamole's `user-mapping.xml`); `.vbox` files are edited through `EditBatch` instead.
public struct XMLTreeElement: Sendable, Equatable {
    /// The element's name without a prefix; it lives in the root's default namespace, if one is declared.
    public var name: String
    /// Attributes in order: `(name, value)`; a name `prefix:local` uses a namespace declared on the root.
    public var attributes: [XMLTreeAttribute]
    /// Child elements, in order (written after `text`, if both are given).
    public var children: [XMLTreeElement]
    /// Character data of the element, or nil.
    public var text: String?

    /// An element `name` with attributes, text and children.
    public init(_ name: String, attributes: [XMLTreeAttribute] = [], text: String? = nil, children: [XMLTreeElement] = []) {
        self.name = name
        self.attributes = attributes
        self.text = text
        self.children = children
    }
}

/// One attribute of an `XMLTreeElement`.
public struct XMLTreeAttribute: Sendable, Equatable {
    /// `local` or `prefix:local`.
    public var name: String
    /// The value as it should read after parsing (libxml2 escapes it).
    public var value: String

    /// An attribute `name="value"`.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Serialises an `XMLTreeElement` tree through libxml2.
public enum XMLTreeWriter {
    /// A namespace declared on the root element: `prefix` nil for the default namespace.
    public struct Namespace: Sendable, Equatable {
        /// The prefix (`wcm`), or nil for the default namespace.
        public var prefix: String?
        /// The namespace URI.
        public var uri: String

        /// A namespace `uri` bound to `prefix` (nil: the default namespace).
        public init(prefix: String?, uri: String) {
            self.prefix = prefix
            self.uri = uri
        }
    }

    /// The UTF-8 bytes of `<?xml version="1.0" encoding="UTF-8"?>` and the indented tree (two spaces, libxml2's
    /// format mode). `context` names the file in errors.
    /// - Throws: `VBoxXMLError.invalid` for a name that is not an XML name, an undeclared prefix, or text with a
    ///   character XML 1.0 cannot hold (control characters other than tab, CR and LF).
    public static func serialize(_ root: XMLTreeElement, namespaces: [Namespace] = [], context: String) throws(VBoxXMLError) -> [UInt8] {
        try check(root, namespaces: namespaces, context: context)
        guard let doc = xmlNewDoc(xml("1.0")) else { throw .io(path: context, operation: "build it", reason: "out of memory") }
        defer { xmlFreeDoc(doc) }
        guard let top = build(root, doc: doc, namespaces: namespaces, declared: nil, defaultNS: nil) else {
            throw .io(path: context, operation: "build it", reason: "libxml2 could not allocate a node")
        }
        xmlDocSetRootElement(doc, top)
        var mem: UnsafeMutablePointer<xmlChar>?
        var size: Int32 = 0
        xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1)
        guard let mem, size > 0 else { throw .io(path: context, operation: "serialise it", reason: "libxml2 wrote nothing") }
        defer { vmp_xml_free_string(mem) }
        return Array(UnsafeBufferPointer(start: mem, count: Int(size)))
    }

    private static func xml(_ s: String) -> [xmlChar] { Array(s.utf8) + [0] }

    /// Builds the node for `element`; on the root (`declared` nil) the namespaces are declared first.
    private static func build(_ element: XMLTreeElement, doc: xmlDocPtr, namespaces: [Namespace],
                              declared: [String: xmlNsPtr]?, defaultNS: xmlNsPtr?) -> xmlNodePtr? {
        guard let node = xmlNewDocNode(doc, nil, xml(element.name), nil) else { return nil }
        var table = declared ?? [:]
        var defaultNS = defaultNS
        if declared == nil {
            for ns in namespaces {
                let created = ns.prefix.map { xmlNewNs(node, xml(ns.uri), xml($0)) } ?? xmlNewNs(node, xml(ns.uri), nil)
                if let created {
                    if let p = ns.prefix { table[p] = created } else { defaultNS = created }
                }
            }
        }
        if let defaultNS { xmlSetNs(node, defaultNS) }
        for attribute in element.attributes {
            let parts = attribute.name.split(separator: ":", maxSplits: 1).map(String.init)
            if parts.count == 2, let ns = table[parts[0]] {
                xmlNewNsProp(node, ns, xml(parts[1]), xml(attribute.value))
            } else {
                xmlNewProp(node, xml(attribute.name), xml(attribute.value))
            }
        }
        if let text = element.text { xmlNodeAddContent(node, xml(text)) }
        for child in element.children {
            guard let c = build(child, doc: doc, namespaces: namespaces, declared: table, defaultNS: defaultNS) else {
                xmlFreeNode(node)
                return nil
            }
            xmlAddChild(node, c)
        }
        return node
    }

    private static func check(_ element: XMLTreeElement, namespaces: [Namespace], context: String) throws(VBoxXMLError) {
        guard isName(element.name) else {
            throw .invalid(path: context, message: "\"\(element.name)\" is not an XML element name")
        }
        for attribute in element.attributes {
            let parts = attribute.name.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 1 || parts.count == 2, parts.allSatisfy(isName) else {
                throw .invalid(path: context, message: "\"\(attribute.name)\" is not an XML attribute name")
            }
            if parts.count == 2, !namespaces.contains(where: { $0.prefix == parts[0] }) {
                throw .invalid(path: context, message: "attribute \(attribute.name) uses the undeclared prefix \(parts[0])")
            }
            try checkText(attribute.value, what: "attribute \(attribute.name) of <\(element.name)>", context: context)
        }
        if let text = element.text { try checkText(text, what: "the text of <\(element.name)>", context: context) }
        for child in element.children { try check(child, namespaces: namespaces, context: context) }
    }

    private static func checkText(_ text: String, what: String, context: String) throws(VBoxXMLError) {
        for scalar in text.unicodeScalars {
            let v = scalar.value
            let ok = v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF) || (v >= 0xE000 && v <= 0xFFFD)
                || v >= 0x10000
            guard ok else {
                throw .invalid(path: context, message: "\(what) holds the character U+\(String(v, radix: 16, uppercase: true)), "
                    + "which XML 1.0 cannot carry; remove it")
            }
        }
    }

    /// An XML name without a colon: a letter or `_`, then letters, digits, `.`, `-`, `_` (ASCII subset).
    static func isName(_ s: String) -> Bool {
        guard let first = s.utf8.first else { return false }
        let letter = { (c: UInt8) in (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        return letter(first) && s.utf8.allSatisfy { letter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D }
    }
}
