import Yams

/// Ubuntu subiquity autoinstall through cloud-init's NoCloud datasource: `user-data` (`#cloud-config` with an
/// `autoinstall:` mapping) and `meta-data` (`instance-id`) on an ISO labelled `cidata`, and `autoinstall` on the
/// kernel command line (subiquity asks "Continue with autoinstall?" without it; subiquity `install.py`).
/// Built as a YAML node tree through Yams; no text templates. Mirrors what VirtualBox's
/// `ubuntu_autoinstall_user_data` template sets (UnattendedInstaller.cpp, UnattendedTemplates), with
/// `shutdown: poweroff` so the install ends powered off.
public enum UbuntuAutoinstall {
    /// Where the post-install script is written in the installed system (run once at first boot by cloud-init).
    public static let postInstallPath = "/var/lib/vmprov/post-install.sh"

    /// The answer files for `input`; `instanceID` goes into `meta-data` (use the machine UUID).
    /// - Throws: `UnattendedError.invalid` for a bad input, or when Yams cannot serialise (it names the file).
    public static func answerFiles(_ input: UnattendedInput, instanceID: String) throws(UnattendedError) -> AnswerFiles {
        try input.validate()
        guard !instanceID.isEmpty, instanceID.utf8.allSatisfy({ isLower($0) || isUpper($0) || isDigit($0) || $0 == 0x2D }) else {
            throw .invalid(field: "instance-id \"\(instanceID)\"", message: "use letters, digits and - (a machine UUID)")
        }
        let userData = "#cloud-config\n" + (try yaml(["autoinstall": autoinstall(input)], file: "user-data"))
        let metaData = try yaml(.mapping([("instance-id", .str(instanceID)), ("local-hostname", .str(input.hostname))]),
                                file: "meta-data")
        return AnswerFiles(family: .ubuntu, files: [.init(path: "user-data", text: userData), .init(path: "meta-data", text: metaData)],
                           placement: .seed(label: "cidata"), kernelParameters: ["autoinstall"], removedKernelParameters: [])
    }

    /// The `autoinstall:` mapping (what subiquity's `autoinstall-schema.json` validates).
    static func autoinstall(_ input: UnattendedInput) -> YAMLValue {
        var target: [(String, YAMLValue)] = [("timezone", .str(input.timezone))]
        if let script = input.postInstall {
            target.append(("write_files", .list([.mapping([
                ("path", .str(postInstallPath)),
                ("permissions", .str("0700")),
                ("owner", .str("root:root")),
                ("encoding", .str("b64")),
                ("content", .str(Base64.encode(script))),
            ])])))
            target.append(("runcmd", .list([.list([.str("/bin/sh"), .str(postInstallPath)])])))
        }
        var a: [(String, YAMLValue)] = [
            ("version", .int(1)),
            ("locale", .str(input.localeUTF8)),
            ("keyboard", .mapping([("layout", .str(input.keyboard))])),
            ("timezone", .str(input.timezone)),
            ("identity", .mapping([
                ("realname", .str(input.fullName)),
                ("username", .str(input.user)),
                ("hostname", .str(input.hostname)),
                ("password", .quoted(input.passwordHash.value)),
            ])),
            ("ssh", .mapping([
                ("install-server", .bool(!input.sshKeys.isEmpty)),
                ("authorized-keys", .list(input.sshKeys.map { .str($0) })),
                ("allow-pw", .bool(input.sshKeys.isEmpty)),
            ])),
            ("storage", .mapping([("layout", .mapping([("name", .str("direct"))]))])),
        ]
        if !input.packages.isEmpty { a.append(("packages", .list(input.packages.map { .str($0) }))) }
        a.append(("user-data", .mapping(target)))
        a.append(("shutdown", .str("poweroff")))
        return .mapping(a)
    }

    static func yaml(_ value: YAMLValue, file: String) throws(UnattendedError) -> String {
        do {
            return try Yams.serialize(node: value.node, width: -1, allowUnicode: true)
        } catch {
            throw .invalid(field: file, message: "could not be written as YAML: \(error)")
        }
    }
}

/// A YAML value built in order (mapping keys keep the order given) and turned into a Yams node.
indirect enum YAMLValue: Sendable, ExpressibleByDictionaryLiteral {
    case str(String)
    /// A string always written in single quotes (crypt hashes start with `$`).
    case quoted(String)
    case int(Int)
    case bool(Bool)
    case list([YAMLValue])
    case mapping([(String, YAMLValue)])

    init(dictionaryLiteral elements: (String, YAMLValue)...) { self = .mapping(elements) }

    /// YAML 1.1 readers (PyYAML, which cloud-init and subiquity use) turn plain `null`, `yes`, `on`, `0700`,
    /// `0x10` into null, booleans and numbers; Yams writes a `!!str` scalar plainly when its own resolver thinks
    /// it is safe. Quote every string that is not obviously a string in both YAML 1.1 and 1.2.
    static func needsQuotes(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first else { return true }
        if Resolver.default.resolveTag(of: Node(s)) != .str { return true }
        let lookalikes: Set<String> = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"]
        if lookalikes.contains(s.lowercased()) { return true }
        return !((first.value >= 0x41 && first.value <= 0x5A) || (first.value >= 0x61 && first.value <= 0x7A)
                 || first == "/" || first == "_")
    }

    var node: Node {
        switch self {
        case let .str(s): return Node(s, Tag(.str), Self.needsQuotes(s) ? .singleQuoted : .any)
        case let .quoted(s): return Node(s, Tag(.str), .singleQuoted)
        case let .int(i): return Node(String(i), Tag(.int), .plain)
        case let .bool(b): return Node(b ? "true" : "false", Tag(.bool), .plain)
        case let .list(items): return Node(items.map(\.node), Tag(.seq), .block)
        case let .mapping(pairs): return Node(pairs.map { (Node($0.0, Tag(.str), .any), $0.1.node) }, Tag(.map), .block)
        }
    }
}
