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

    var node: Node {
        switch self {
        case let .str(s): return Node(s, Tag(.str), .any)
        case let .quoted(s): return Node(s, Tag(.str), .singleQuoted)
        case let .int(i): return Node(String(i), Tag(.int), .plain)
        case let .bool(b): return Node(b ? "true" : "false", Tag(.bool), .plain)
        case let .list(items): return Node(items.map(\.node), Tag(.seq), .block)
        case let .mapping(pairs): return Node(pairs.map { (Node($0.0, Tag(.str), .any), $0.1.node) }, Tag(.map), .block)
        }
    }
}
