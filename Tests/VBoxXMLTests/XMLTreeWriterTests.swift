import Foundation
import Testing
import TestSupport
import VBoxXML

@Suite struct XMLTreeWriterTests {
    static let ns = [XMLTreeWriter.Namespace(prefix: nil, uri: "urn:example"), .init(prefix: "w", uri: "urn:w")]

    @Test func escapesTextAndAttributesAndDeclaresNamespaces() throws {
        let tree = XMLTreeElement("root", children: [
            XMLTreeElement("item", attributes: [.init("w:action", "add"), .init("note", "a\"b<c>&'d")],
                           text: "x < y & z > \"q\" ]]> &amp;"),
            XMLTreeElement("empty"),
        ])
        let bytes = try XMLTreeWriter.serialize(tree, namespaces: Self.ns, context: "t.xml")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<root xmlns=\"urn:example\" xmlns:w=\"urn:w\">"))
        // Parsed back by xmllint: the text and attribute values are what went in.
        let dir = TempDir()
        let f = dir.write("t.xml", bytes: Data(bytes))
        let xmllint = try #require(which("xmllint"))
        let r = try run(xmllint, ["--nonet", "--shell", f.path],
                        stdin: "setns e=urn:example\nsetns w=urn:w\nxpath string(/e:root/e:item)\nxpath string(/e:root/e:item/@note)\nxpath string(/e:root/e:item/@w:action)\n")
        #expect(r.stdout.contains("Object is a string : x < y & z > \"q\" ]]> &amp;"), "\(r.stdout)")
        #expect(r.stdout.contains("Object is a string : a\"b<c>&'d"), "\(r.stdout)")
        #expect(r.stdout.contains("Object is a string : add"), "\(r.stdout)")
    }

    @Test func refusesWhatXMLCannotHold() {
        #expect(throws: VBoxXMLError.self) { try XMLTreeWriter.serialize(XMLTreeElement("a", text: "bell\u{7}"), context: "t") }
        #expect(throws: VBoxXMLError.self) { try XMLTreeWriter.serialize(XMLTreeElement("a b"), context: "t") }
        #expect(throws: VBoxXMLError.self) { try XMLTreeWriter.serialize(XMLTreeElement("1a"), context: "t") }
        #expect(throws: VBoxXMLError.self) {
            try XMLTreeWriter.serialize(XMLTreeElement("a", attributes: [.init("x:y", "1")]), context: "t")
        }
        #expect(throws: VBoxXMLError.self) {
            try XMLTreeWriter.serialize(XMLTreeElement("a", attributes: [.init("k", "\u{1}")]), context: "t")
        }
    }
}
