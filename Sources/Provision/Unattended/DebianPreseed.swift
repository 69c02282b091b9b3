import DiskImages

/// One debconf answer of a preseed file: `<owner> <question> <type> <value>` (Debian Installation Guide,
/// appendix B.4). Typed, and checked so that a value cannot start a new line or continue onto the next one.
public struct PreseedEntry: Sendable, Equatable {
    /// debconf question types used in preseeding.
    public enum Kind: String, Sendable, CaseIterable {
        /// `string`, `boolean` (`true`/`false`), `select`, `multiselect` (comma-separated), `note`, `password`
        /// (a `…-crypted` hash here), `text`.
        case string, boolean, select, multiselect, note, password, text
    }

    /// Owner: `d-i` for installer questions, a package name otherwise (`tasksel`).
    public var owner: String
    /// The question (`passwd/username`).
    public var question: String
    /// Its type.
    public var kind: Kind
    /// The value (may be empty; no line breaks, no trailing `\`).
    public var value: String

    /// An entry `owner question kind value`.
    public init(_ owner: String, _ question: String, _ kind: Kind, _ value: String) {
        self.owner = owner
        self.question = question
        self.kind = kind
        self.value = value
    }

    /// Checks the entry.
    /// - Throws: `UnattendedError.invalid` naming the question.
    public func validate() throws(UnattendedError) {
        let field = "preseed \(owner) \(question)"
        let word = { (s: String) in
            !s.isEmpty && s.utf8.allSatisfy { isLower($0) || isUpper($0) || isDigit($0) || [0x2D, 0x2E, 0x2F, 0x5F, 0x2B].contains($0) }
        }
        guard word(owner), word(question) else {
            throw .invalid(field: field, message: "owner and question are single words of letters, digits and - . / _ +")
        }
        guard !value.unicodeScalars.contains(where: isControl) else {
            throw .invalid(field: field, message: "the value holds a line break or control character; a preseed "
                + "answer is one line")
        }
        guard !value.hasSuffix("\\") else {
            throw .invalid(field: field, message: "the value ends with \\, which would join the next line to it")
        }
        if kind == .boolean, value != "true", value != "false" {
            throw .invalid(field: field, message: "a boolean answer is true or false, not \"\(value)\"")
        }
    }

    /// The line, without its newline.
    public var line: String {
        value.isEmpty ? "\(owner) \(question) \(kind.rawValue)" : "\(owner) \(question) \(kind.rawValue) \(value)"
    }
}

/// Debian installer (d-i) preseeding: `preseed.cfg` at the root of the installer medium (added through the VISO)
/// and `auto=true priority=critical preseed/file=/cdrom/preseed.cfg` on the kernel command line, the parameters
/// VirtualBox's Debian installer class appends (UnattendedInstaller.h). The install ends powered off
/// (`debian-installer/exit/poweroff`).
public enum DebianPreseed {
    /// Folder on the medium for vmprov's helper files (`/cdrom/vmprov/…` in the installer).
    public static let mediaFolder = "vmprov"

    /// The answer files for `input`.
    /// - Throws: `UnattendedError.invalid` for a bad input.
    public static func answerFiles(_ input: UnattendedInput) throws(UnattendedError) -> AnswerFiles {
        try input.validate()
        let preseed = try render(entries(input))
        var files: [DiskImagesFile] = [.init(path: "preseed.cfg", text: preseed)]
        if !input.sshKeys.isEmpty {
            files.append(.init(path: "\(mediaFolder)/authorized_keys", text: input.sshKeys.joined(separator: "\n") + "\n"))
        }
        if let script = input.postInstall {
            files.append(.init(path: "\(mediaFolder)/post-install.sh", bytes: script))
        }
        files.append(.init(path: "\(mediaFolder)/late.sh", text: lateScript(input)))
        return AnswerFiles(family: .debian, files: files, placement: .installerMedium,
                           kernelParameters: ["auto=true", "priority=critical", "preseed/file=/cdrom/preseed.cfg"],
                           removedKernelParameters: [])
    }

    /// The typed answers, in file order.
    public static func entries(_ input: UnattendedInput) -> [PreseedEntry] {
        let tasks = input.sshKeys.isEmpty ? "standard" : "standard, ssh-server"
        var e: [PreseedEntry] = [
            .init("d-i", "debian-installer/locale", .string, input.localeUTF8),
            .init("d-i", "keyboard-configuration/xkb-keymap", .select, input.keyboard),
            .init("d-i", "netcfg/choose_interface", .select, "auto"),
            .init("d-i", "netcfg/get_hostname", .string, input.hostname),
            .init("d-i", "netcfg/get_domain", .string, ""),
            .init("d-i", "netcfg/hostname", .string, input.hostname),
            .init("d-i", "mirror/country", .string, "manual"),
            .init("d-i", "mirror/http/hostname", .string, "deb.debian.org"),
            .init("d-i", "mirror/http/directory", .string, "/debian"),
            .init("d-i", "mirror/http/proxy", .string, ""),
            .init("d-i", "clock-setup/utc", .boolean, "true"),
            .init("d-i", "time/zone", .string, input.timezone),
            .init("d-i", "clock-setup/ntp", .boolean, "true"),
            .init("d-i", "partman-auto/method", .string, "regular"),
            .init("d-i", "partman-auto/choose_recipe", .select, "atomic"),
            .init("d-i", "partman-partitioning/confirm_write_new_label", .boolean, "true"),
            .init("d-i", "partman/choose_partition", .select, "finish"),
            .init("d-i", "partman/confirm", .boolean, "true"),
            .init("d-i", "partman/confirm_nooverwrite", .boolean, "true"),
            .init("d-i", "passwd/root-login", .boolean, "false"),
            .init("d-i", "passwd/user-fullname", .string, input.fullName),
            .init("d-i", "passwd/username", .string, input.user),
            .init("d-i", "passwd/user-password-crypted", .password, input.passwordHash.value),
            .init("d-i", "passwd/user-default-groups", .string, "sudo"),
            .init("tasksel", "tasksel/first", .multiselect, tasks),
            .init("d-i", "pkgsel/upgrade", .select, "none"),
        ]
        if !input.packages.isEmpty {
            e.append(.init("d-i", "pkgsel/include", .string, input.packages.joined(separator: " ")))
        }
        e += [
            .init("popularity-contest", "popularity-contest/participate", .boolean, "false"),
            .init("d-i", "grub-installer/only_debian", .boolean, "true"),
            .init("d-i", "grub-installer/bootdev", .string, "default"),
            .init("d-i", "preseed/late_command", .string, "sh /cdrom/\(mediaFolder)/late.sh"),
            .init("d-i", "finish-install/reboot_in_progress", .note, ""),
            .init("d-i", "cdrom-detect/eject", .boolean, "false"),
            .init("d-i", "debian-installer/exit/poweroff", .boolean, "true"),
        ]
        return e
    }

    /// The file text: a header comment, then one line per entry.
    /// - Throws: `UnattendedError.invalid` for an entry that fails `PreseedEntry.validate()`.
    public static func render(_ entries: [PreseedEntry]) throws(UnattendedError) -> String {
        var out = "# Debian installer preseed written by vmprov\n"
        for entry in entries {
            try entry.validate()
            out += entry.line + "\n"
        }
        return out
    }

    /// The late command run by d-i before it finishes (`preseed/late_command`): installs the SSH keys for the
    /// user and runs the post-install script inside the new system. Values are shell-quoted.
    static func lateScript(_ input: UnattendedInput) -> String {
        let media = "/cdrom/\(mediaFolder)"
        let user = shellQuote(input.user)
        return """
        #!/bin/sh
        # vmprov: run by debian-installer as preseed/late_command, before the power-off.
        set -e
        if [ -f \(media)/authorized_keys ]; then
          mkdir -p /target/home/\(input.user)/.ssh
          cp \(media)/authorized_keys /target/home/\(input.user)/.ssh/authorized_keys
          in-target chmod 0700 /home/\(input.user)/.ssh
          in-target chmod 0600 /home/\(input.user)/.ssh/authorized_keys
          in-target chown -R \(user):\(user) /home/\(input.user)/.ssh
        fi
        if [ -f \(media)/post-install.sh ]; then
          cp \(media)/post-install.sh /target/root/vmprov-post-install.sh
          in-target sh /root/vmprov-post-install.sh
          rm -f /target/root/vmprov-post-install.sh
        fi

        """
    }
}

typealias DiskImagesFile = DiskImages.SeedImage.File
