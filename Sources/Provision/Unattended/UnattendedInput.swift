import DiskImages

/// The installer families vmprov writes answer files for.
public enum InstallerFamily: String, Sendable, CaseIterable, Codable {
    /// Ubuntu ≥ 20.04 live-server / ≥ 22.10 desktop: subiquity autoinstall through NoCloud.
    case ubuntu
    /// Debian ≥ 9: debian-installer preseeding.
    case debian
    /// Fedora, Rocky, Alma, RHEL: Anaconda kickstart.
    case anaconda
    /// Windows 10/11/Server: Windows Setup `autounattend.xml`.
    case windows
}

/// What the user asked for, checked once: the account, the machine's name and region, extra packages and an
/// optional script run after the install. The password is only held as a `PasswordHash`; Windows, which takes
/// no hashes, gets its password separately (`WindowsAnswerFile`).
public struct UnattendedInput: Sendable, Equatable {
    /// Login name: `[a-z_][a-z0-9_-]{0,31}`, not `root`.
    public var user: String
    /// Display name (`realname`, `passwd/user-fullname`, Windows `DisplayName`); defaults to `user`.
    public var fullName: String
    /// The user's SHA-512-crypt password hash.
    public var passwordHash: PasswordHash
    /// Host name: one DNS label, 1–63 characters `[A-Za-z0-9-]`, not starting or ending with `-`.
    public var hostname: String
    /// IANA time zone (`Etc/UTC`, `Europe/Paris`).
    public var timezone: String
    /// POSIX locale `ll_CC` or `ll_CC.UTF-8` (`en_US.UTF-8`).
    public var locale: String
    /// Keyboard layout (X keymap name, `us`, `de`, `fr`).
    public var keyboard: String
    /// OpenSSH public keys for the user, one per entry (`ssh-ed25519 AAAA… comment`).
    public var sshKeys: [String]
    /// Extra packages to install (distribution package names).
    public var packages: [String]
    /// A script run once in the installed system (bytes of a UTF-8 text file), or nil.
    public var postInstall: [UInt8]?
    /// The file `postInstall` came from, for error messages.
    public var postInstallSource: String

    /// The inputs; `validate()` checks them.
    public init(user: String, fullName: String? = nil, passwordHash: PasswordHash, hostname: String,
                timezone: String = "Etc/UTC", locale: String = "en_US.UTF-8", keyboard: String = "us",
                sshKeys: [String] = [], packages: [String] = [], postInstall: [UInt8]? = nil,
                postInstallSource: String = "--post-install") {
        self.user = user
        self.fullName = fullName ?? user
        self.passwordHash = passwordHash
        self.hostname = hostname
        self.timezone = timezone
        self.locale = locale
        self.keyboard = keyboard
        self.sshKeys = sshKeys
        self.packages = packages
        self.postInstall = postInstall
        self.postInstallSource = postInstallSource
    }

    /// The largest post-install script accepted, in bytes.
    public static let maximumScriptBytes = 1 << 20

    /// Checks every field; the message names the field and the accepted form.
    /// - Throws: `UnattendedError.invalid`.
    public func validate() throws(UnattendedError) {
        let u = Array(user.utf8)
        guard (1...32).contains(u.count), u[0] == 0x5F || isLower(u[0]),
              u.allSatisfy({ isLower($0) || isDigit($0) || $0 == 0x5F || $0 == 0x2D }), user != "root" else {
            throw .invalid(field: "user \"\(user)\"", message: "a login name is 1 to 32 characters from a-z, 0-9, _ "
                + "and -, starting with a letter or _, and not root")
        }
        guard !fullName.isEmpty, fullName.utf8.count <= 256, !fullName.unicodeScalars.contains(where: isControl),
              !fullName.contains(":") else {
            throw .invalid(field: "full name", message: "must be 1 to 256 characters without control characters or :")
        }
        try Self.checkHostname(hostname)
        let tz = Array(timezone.utf8)
        guard (1...64).contains(tz.count), tz.first != 0x2F, tz.last != 0x2F, !timezone.contains("//"),
              !timezone.contains(".."),
              tz.allSatisfy({ isLower($0) || isUpper($0) || isDigit($0) || [0x2F, 0x5F, 0x2D, 0x2B].contains($0) }) else {
            throw .invalid(field: "time zone \"\(timezone)\"", message: "give an IANA zone such as Etc/UTC or Europe/Paris")
        }
        guard Self.isLocale(locale) else {
            throw .invalid(field: "locale \"\(locale)\"", message: "give a locale such as en_US.UTF-8 or de_DE")
        }
        guard (1...32).contains(keyboard.utf8.count), keyboard.utf8.allSatisfy({ isLower($0) || isDigit($0) || $0 == 0x5F }) else {
            throw .invalid(field: "keyboard \"\(keyboard)\"", message: "give an X keymap name such as us, de or fr")
        }
        for key in sshKeys {
            let fields = key.split(separator: " ")
            let types = ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                         "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"]
            guard fields.count >= 2, types.contains(String(fields[0])), key.utf8.count <= 16384,
                  !key.unicodeScalars.contains(where: isControl),
                  fields[1].utf8.allSatisfy({ isLower($0) || isUpper($0) || isDigit($0) || $0 == 0x2B || $0 == 0x2F || $0 == 0x3D }) else {
                throw .invalid(field: "ssh key \"\(key.prefix(40))…\"", message: "is not one OpenSSH public key line "
                    + "(type, base64 key, optional comment), such as the contents of ~/.ssh/id_ed25519.pub")
            }
        }
        for p in packages {
            let b = Array(p.utf8)
            guard (1...128).contains(b.count), isLower(b[0]) || isUpper(b[0]) || isDigit(b[0]),
                  b.allSatisfy({ isLower($0) || isUpper($0) || isDigit($0) || [0x2B, 0x2E, 0x2D, 0x5F].contains($0) }) else {
                throw .invalid(field: "package \"\(p)\"", message: "a package name is letters, digits and + . - _, "
                    + "starting with a letter or digit")
            }
        }
        if let script = postInstall {
            guard !script.isEmpty, script.count <= Self.maximumScriptBytes else {
                throw .invalid(field: postInstallSource, message: "the post-install script must be 1 byte to 1 MiB")
            }
            guard String(validating: script, as: UTF8.self) != nil, !script.contains(0) else {
                throw .invalid(field: postInstallSource, message: "the post-install script must be UTF-8 text without NUL bytes")
            }
        }
    }

    /// Checks a host name (one DNS label).
    /// - Throws: `UnattendedError.invalid` naming it.
    public static func checkHostname(_ name: String) throws(UnattendedError) {
        let h = Array(name.utf8)
        guard (1...63).contains(h.count), h.first != 0x2D, h.last != 0x2D,
              h.allSatisfy({ isLower($0) || isUpper($0) || isDigit($0) || $0 == 0x2D }) else {
            throw .invalid(field: "hostname \"\(name)\"", message: "a host name is 1 to 63 characters from A-Z, a-z, "
                + "0-9 and -, not starting or ending with -")
        }
    }

    /// True for `ll_CC`, `lll_CC`, optionally followed by `.UTF-8`.
    static func isLocale(_ s: String) -> Bool {
        var base = Substring(s)
        if base.hasSuffix(".UTF-8") { base = base.dropLast(6) }
        let parts = base.split(separator: "_", omittingEmptySubsequences: false)
        return parts.count == 2 && (2...3).contains(parts[0].utf8.count) && parts[0].utf8.allSatisfy(isLower)
            && parts[1].utf8.count == 2 && parts[1].utf8.allSatisfy(isUpper)
    }

    /// `en_US.UTF-8` for `en_US` or `en_US.UTF-8`.
    var localeUTF8: String { locale.hasSuffix(".UTF-8") ? locale : locale + ".UTF-8" }
    /// The post-install script as text ("" when none).
    var postInstallText: String { postInstall.map { String(decoding: $0, as: UTF8.self) } ?? "" }
}

/// Answer files for one install, ready to put on media.
public struct AnswerFiles: Sendable, Equatable {
    /// Where the installer expects the files.
    public enum Placement: Sendable, Equatable {
        /// A separate seed ISO with this volume label (`cidata`, `OEMDRV`, or any label for Windows).
        case seed(label: String)
        /// The root of the installer medium, added through the VISO (Debian's `/cdrom/preseed.cfg`).
        case installerMedium
    }

    /// The family these files are for.
    public var family: InstallerFamily
    /// The files, paths relative to the medium's root.
    public var files: [SeedImage.File]
    /// Where the files go.
    public var placement: Placement
    /// Words to append to every kernel command line of the boot menu (empty: the menu stays untouched).
    public var kernelParameters: [String]
    /// Words to remove from kernel command lines (`rd.live.check`: the media test fails on a VISO).
    public var removedKernelParameters: [String]

    /// The seed image for `.seed` placement, nil otherwise.
    public var seedImage: SeedImage? {
        guard case let .seed(label) = placement else { return nil }
        return SeedImage(label: label, files: files)
    }
}

@inline(__always) func isLower(_ c: UInt8) -> Bool { c >= 0x61 && c <= 0x7A }
@inline(__always) func isUpper(_ c: UInt8) -> Bool { c >= 0x41 && c <= 0x5A }
@inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
func isControl(_ s: Unicode.Scalar) -> Bool { s.value < 0x20 || s.value == 0x7F }

/// Quotes one word for a POSIX shell: `'…'` with each `'` written as `'\''`.
func shellQuote(_ s: String) -> String {
    var out = "'"
    for c in s {
        if c == "'" { out += "'\\''" } else { out.append(c) }
    }
    return out + "'"
}
