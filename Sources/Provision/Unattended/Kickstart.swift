/// One kickstart command: a name and its arguments, each quoted when needed (pykickstart splits lines with
/// `shlex`, POSIX rules: double quotes, `\"` and `\\` escapes).
public struct KickstartCommand: Sendable, Equatable {
    /// The command (`user`, `rootpw`, `timezone`).
    public var name: String
    /// Its arguments (`--name=alice`, `--iscrypted`).
    public var arguments: [String]

    /// The command `name arguments…`.
    public init(_ name: String, _ arguments: [String] = []) {
        self.name = name
        self.arguments = arguments
    }

    /// The line: arguments with only `A-Za-z0-9` and `-_=./:,@+^%$` stay bare; others are double-quoted.
    /// - Throws: `UnattendedError.invalid` for a line break or control character in an argument.
    public func line() throws(UnattendedError) -> String {
        var words = [name]
        for a in arguments {
            guard !a.unicodeScalars.contains(where: isControl) else {
                throw .invalid(field: "kickstart \(name)", message: "an argument holds a line break or control character")
            }
            words.append(Self.quote(a))
        }
        return words.joined(separator: " ")
    }

    static func quote(_ s: String) -> String {
        let bare = !s.isEmpty && s.utf8.allSatisfy {
            isLower($0) || isUpper($0) || isDigit($0) || Array("-_=./:,@+^%$".utf8).contains($0)
        }
        if bare { return s }
        var out = "\""
        for c in s {
            if c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "\""
    }
}

/// Anaconda kickstart for Fedora, Rocky, Alma and RHEL: `ks.cfg` on an ISO labelled `OEMDRV` (Anaconda's dracut
/// rule reads `/ks.cfg` from it, anaconda `dracut/kickstart-genrules.sh`) and, because OEMDRV detection of a CD
/// is not proven, `inst.ks=hd:LABEL=OEMDRV:/ks.cfg` on the kernel command line; `rd.live.check` is removed (the
/// media test fails on a VISO, UnattendedInstaller.h). Typed commands, no text template; the install ends with
/// `poweroff`.
public enum Kickstart {
    /// The answer files for `input`. `repositoryURL` (`url --url=`) is for boot/netinst ISOs that carry no
    /// packages; nil installs from the DVD (`cdrom`).
    /// - Throws: `UnattendedError.invalid` for a bad input, or a post-install script with a line `%end`.
    public static func answerFiles(_ input: UnattendedInput, repositoryURL: String? = nil) throws(UnattendedError) -> AnswerFiles {
        try input.validate()
        let text = try render(input, repositoryURL: repositoryURL)
        return AnswerFiles(family: .anaconda, files: [.init(path: "ks.cfg", text: text)], placement: .seed(label: "OEMDRV"),
                           kernelParameters: ["inst.ks=hd:LABEL=OEMDRV:/ks.cfg"], removedKernelParameters: ["rd.live.check"])
    }

    /// The commands before the `%packages` section.
    public static func commands(_ input: UnattendedInput, repositoryURL: String?) throws(UnattendedError) -> [KickstartCommand] {
        var c: [KickstartCommand] = [.init("text")]
        if let url = repositoryURL {
            guard url.hasPrefix("https://") || url.hasPrefix("http://"), !url.contains(" ") else {
                throw .invalid(field: "repository URL \"\(url)\"", message: "give an http(s) URL of the installation tree")
            }
            c.append(.init("url", ["--url=\(url)"]))
        } else {
            c.append(.init("cdrom"))
        }
        c += [
            .init("lang", [input.localeUTF8]),
            .init("keyboard", ["--xlayouts=\(input.keyboard)"]),
            .init("timezone", [input.timezone, "--utc"]),
            .init("network", ["--bootproto=dhcp", "--device=link", "--activate", "--hostname=\(input.hostname)"]),
            .init("rootpw", ["--lock"]),
            .init("user", ["--name=\(input.user)", "--gecos=\(input.fullName)", "--groups=wheel",
                           "--password=\(input.passwordHash.value)", "--iscrypted"]),
        ]
        for key in input.sshKeys { c.append(.init("sshkey", ["--username=\(input.user)", key])) }
        c += [
            .init("zerombr"),
            .init("clearpart", ["--all", "--initlabel"]),
            .init("autopart"),
            .init("bootloader"),
            .init("firstboot", ["--disable"]),
            .init("selinux", ["--enforcing"]),
            .init("poweroff"),
        ]
        return c
    }

    /// The whole file.
    /// - Throws: `UnattendedError.invalid`.
    public static func render(_ input: UnattendedInput, repositoryURL: String? = nil) throws(UnattendedError) -> String {
        var out = "# Anaconda kickstart written by vmprov\n"
        for command in try commands(input, repositoryURL: repositoryURL) { out += try command.line() + "\n" }
        out += "\n%packages\n@^minimal-environment\n"
        if !input.sshKeys.isEmpty { out += "openssh-server\n" }
        for p in input.packages { out += p + "\n" }
        out += "%end\n"
        if input.postInstall != nil {
            let script = input.postInstallText
            for line in script.split(separator: "\n", omittingEmptySubsequences: false)
            where line.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("%") {
                throw .invalid(field: input.postInstallSource, message: "a line of the post-install script starts with %, "
                    + "which would end kickstart's %post section early; change that line")
            }
            out += "\n%post --interpreter=/bin/sh --log=/root/vmprov-post-install.log\n" + script
            if !script.hasSuffix("\n") { out += "\n" }
            out += "%end\n"
        }
        return out
    }
}
