import Yams

/// Builds YAML nodes for the generated files: mappings keep insertion order, strings that a YAML 1.1 or 1.2
/// reader could take for something else (numbers, booleans, `22:22` sexagesimals, `${…}`) are double-quoted.
enum YAMLNodes {
    /// A string scalar, quoted unless it is a plain word.
    static func str(_ text: String) -> Node {
        let plainWord = !text.isEmpty && text.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || "_./-".unicodeScalars.contains($0)
        } && (text.unicodeScalars.first.map { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || $0 == "/" } ?? false)
        let ambiguous: Set<String> = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"]
        if plainWord && !ambiguous.contains(text.lowercased()) { return Node(text, Tag(.str), .plain) }
        return Node(text, Tag(.str), .doubleQuoted)
    }

    /// An integer scalar.
    static func int(_ value: Int) -> Node { Node(String(value), Tag(.int), .plain) }

    /// A boolean scalar.
    static func bool(_ value: Bool) -> Node { Node(value ? "true" : "false", Tag(.bool), .plain) }

    /// A mapping in the given key order.
    static func map(_ pairs: [(String, Node)]) -> Node {
        Node(pairs.map { (Node($0.0, Tag(.str), .plain), $0.1) })
    }

    /// A sequence.
    static func seq(_ items: [Node]) -> Node { Node(items) }

    /// A sequence of strings.
    static func strings(_ items: [String]) -> Node { Node(items.map(str)) }

    /// One document, or several separated by `---`.
    static func text(_ nodes: [Node]) throws -> String {
        try Yams.serialize(nodes: nodes, indent: 2, width: -1, explicitStart: nodes.count > 1, sortKeys: false)
    }
}
