import VBoxXML

/// Guacamole's `user-mapping.xml` for the browser console: one web login (password stored as its SHA-256,
/// `encoding="sha256"`), and one RDP connection per guest with RDP on, to the guest's service on the compose
/// network at its VRDE port. A VBoxAuthSimple user of the guest is filled in as the RDP user name (its password
/// is stored only hashed in the `.vbox`, so Guacamole asks for it).
public enum ConsoleMapping {
    /// The XML tree of the mapping.
    public static func tree(_ guests: [ComposeGuest], _ console: ConsoleSettings) -> XMLTreeElement {
        var connections: [XMLTreeElement] = []
        for g in guests {
            guard let port = g.rdpPort else { continue }
            var params = [("hostname", g.serviceName), ("port", String(port)), ("ignore-cert", "true")]
            if let user = g.rdpUsers.first { params.append(("username", user)) }
            connections.append(XMLTreeElement("connection", attributes: [XMLTreeAttribute("name", g.name)],
                                              children: [XMLTreeElement("protocol", text: "rdp")]
                                                + params.map { XMLTreeElement("param", attributes: [XMLTreeAttribute("name", $0.0)], text: $0.1) }))
        }
        return XMLTreeElement("user-mapping", children: [
            XMLTreeElement("authorize", attributes: [XMLTreeAttribute("username", console.user),
                                                     XMLTreeAttribute("password", console.passwordSHA256),
                                                     XMLTreeAttribute("encoding", "sha256")], children: connections),
        ])
    }

    /// The document's bytes, written by libxml2 (``XMLTreeWriter``).
    /// - Throws: ``ComposeError/data(path:reason:)`` when libxml2 cannot write it, or a guest name or user holds a
    ///   character XML 1.0 cannot carry.
    public static func document(_ guests: [ComposeGuest], _ console: ConsoleSettings) throws(ComposeError) -> [UInt8] {
        do { return try XMLTreeWriter.serialize(tree(guests, console), context: "user-mapping.xml") } catch {
            throw .data(path: "user-mapping.xml", reason: error.description)
        }
    }

    /// `guacamole.properties` beside the mapping: the guacd host and the mapping file (Guacamole's property
    /// `user-mapping`).
    public static func properties(home: String = "/etc/guacamole-home") -> String {
        "guacd-hostname: guacd\nguacd-port: 4822\nuser-mapping: \(home)/user-mapping.xml\n"
    }
}
