#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import DiskImages
import Basics

/// What `create --unattended` asks for: the checked inputs, and for Windows (which takes no hashes) the password.
public struct UnattendedRequest: Sendable {
    /// The account, host name, region, packages and script; the password only as its `$6$` hash.
    public var input: UnattendedInput
    /// The plain password, for Windows Setup only (written obfuscated into `autounattend.xml`); nil otherwise.
    public var windowsPassword: String?
    /// A Windows product key, or nil.
    public var productKey: String?
    /// Windows: the time zone by its Windows name (`UTC`, `W. Europe Standard Time`).
    public var windowsTimeZone: String

    /// A request; `MachineUnattended.prepare` checks it against the profile.
    public init(input: UnattendedInput, windowsPassword: String? = nil, productKey: String? = nil,
                windowsTimeZone: String = "UTC") {
        self.input = input
        self.windowsTimeZone = windowsTimeZone
        self.windowsPassword = windowsPassword
        self.productKey = productKey
    }
}

/// The pending install recorded in the `.vbox` (`ExtraData` item `vmprov/PendingInstall`) and read back by the
/// runner: which files to detach and delete once the install has powered the guest off. Value form:
/// `family=F;viso=NAME;seed=NAME;private=NAME` (names relative to the machine folder; empty when absent).
public struct PendingInstall: Sendable, Equatable {
    /// The ExtraData key.
    public static let key = "vmprov/PendingInstall"
    /// The seed ISO's file name in the machine folder (holds password hashes).
    public static let seedName = "vmprov-seed.iso"
    /// The VISO's file name in the machine folder.
    public static let visoName = "vmprov-installer.viso"
    /// The folder holding the edited boot menus and, for Debian, the answer files the VISO adds.
    public static let privateFolder = "vmprov-install"

    /// The installer family.
    public var family: InstallerFamily
    /// The VISO file name, nil when the installer boots unchanged (Windows).
    public var viso: String?
    /// The seed ISO file name, nil when the answer files go through the VISO (Debian).
    public var seed: String?
    /// The private folder name, nil when there is none.
    public var privateFolder: String?

    /// A record; see the properties.
    public init(family: InstallerFamily, viso: String?, seed: String?, privateFolder: String?) {
        self.family = family
        self.viso = viso
        self.seed = seed
        self.privateFolder = privateFolder
    }

    /// The ExtraData value.
    public var value: String {
        "family=\(family.rawValue);viso=\(viso ?? "");seed=\(seed ?? "");private=\(privateFolder ?? "")"
    }

    /// Parses an ExtraData value; nil when it is not one vmprov wrote (an unknown family, a name with a slash).
    public init?(value: String) {
        var fields: [String: String] = [:]
        for part in value.split(separator: ";") {
            guard let eq = part.firstIndex(of: "=") else { return nil }
            fields[String(part[..<eq])] = String(part[part.index(after: eq)...])
        }
        guard let f = fields["family"].flatMap(InstallerFamily.init(rawValue:)) else { return nil }
        func name(_ k: String) -> String?? {
            guard let v = fields[k], !v.isEmpty else { return .some(nil) }
            guard !v.contains("/"), v != ".", v != ".." else { return nil }
            return .some(v)
        }
        guard let viso = name("viso"), let seed = name("seed"), let priv = name("private") else { return nil }
        self.init(family: f, viso: viso, seed: seed, privateFolder: priv)
    }
}

/// Writes the media of an unattended install into a (staging) machine folder and returns the drives for the
/// `.vbox`: the answer files rendered per family, the seed ISO (libarchive), and for the Linux families a VISO that
/// imports the verified installer unchanged and replaces only its edited boot menus. The installer ISO is only read.
enum MachineUnattended {
    /// What `prepare` wrote.
    struct Prepared {
        var media: [MediumAttachment]
        var pending: PendingInstall
        /// Files written, for the summary (names in the machine folder).
        var written: [String]
    }

    /// Renders and writes everything for `profile`'s family into `folder`; `media` is the standard list (disk,
    /// installer ISO, Guest Additions), returned with the installer swapped for the VISO (Linux) and the seed added.
    /// - Throws: `CreateError.invalid` for a profile without a family or a bad input, `.io` for a write.
    static func prepare(_ req: UnattendedRequest, profile p: Profile, folder: String, isoName: String,
                        machineUUID: VBoxUUID, memoryMB: Int, cpus: Int, diskBytes: UInt64,
                        media standard: [MediumAttachment], ids: inout some IdentitySource) throws(CreateError) -> Prepared {
        guard let family = p.installer else {
            throw .invalid("--unattended: the \(p.name) profile names no installer family (installer: "
                + InstallerFamily.allCases.map(\.rawValue).joined(separator: ", ") + "); create it without --unattended.")
        }
        let answers: AnswerFiles
        do {
            switch family {
            case .ubuntu: answers = try UbuntuAutoinstall.answerFiles(req.input, instanceID: machineUUID.description)
            case .debian: answers = try DebianPreseed.answerFiles(req.input)
            case .anaconda: answers = try Kickstart.answerFiles(req.input)
            case .windows:
                guard let password = req.windowsPassword else { throw UnattendedError.invalid(field: "password", message: "Windows needs the password itself") }
                let options = WindowsSetupOptions(
                    password: password, productKey: req.productKey, timeZone: req.windowsTimeZone, firmware: p.firmware == .efi ? .efi : .bios,
                    hasTPM2: p.tpm, hasSecureBoot: false, memoryMB: memoryMB, diskMB: Int(diskBytes >> 20), cpus: cpus)
                answers = try WindowsUnattend.answerFiles(req.input, options)
            }
        } catch { throw .invalid("--unattended: \(error)") }
        if req.productKey != nil && family != .windows {
            throw .invalid("--product-key is for Windows profiles; the \(p.name) profile installs with \(family.rawValue).")
        }

        var media = standard
        var written: [String] = []
        var seedName: String?
        if let seed = answers.seedImage {
            do { try seed.write(to: folder + "/" + PendingInstall.seedName) } catch { throw .invalid("seed image: \(error)") }
            chmod(folder + "/" + PendingInstall.seedName, 0o600)
            seedName = PendingInstall.seedName
            written.append(PendingInstall.seedName + " (seed, label \(seed.label))")
        }
        var visoName: String?
        var privateName: String?
        if family != .windows {
            // The boot menus, read from the verified ISO and edited; written with the Debian answer files into a
            // private folder that the VISO references by relative path.
            let menus: [String: [UInt8]]
            do {
                menus = try BootMenu.editMenus(isoPath: folder + "/" + isoName, append: answers.kernelParameters,
                                               remove: answers.removedKernelParameters)
            } catch { throw .invalid("--unattended: \(error)") }
            let priv = PendingInstall.privateFolder
            var replacements: [VISORecipe.FileSpec] = []
            var additions: [VISORecipe.FileSpec] = []
            for (path, bytes) in menus.sorted(by: { $0.key < $1.key }) {
                let rel = priv + "/menus/" + path
                try writePrivate(bytes, folder: folder, relative: rel)
                replacements.append(.init(isoPath: "/" + path, source: rel))
            }
            if answers.placement == .installerMedium {
                for f in answers.files {
                    let rel = priv + "/answers/" + f.path
                    try writePrivate(f.bytes, folder: folder, relative: rel)
                    additions.append(.init(isoPath: "/" + f.path, source: rel))
                }
            }
            let visoUUID = ids.nextUUID()
            let recipe = VISORecipe(uuid: visoUUID.description, importISO: isoName, replacements: replacements,
                                    additions: additions)
            do { try recipe.write(to: folder + "/" + PendingInstall.visoName) } catch { throw .invalid("VISO: \(error)") }
            visoName = PendingInstall.visoName
            privateName = priv
            written.append(PendingInstall.visoName + " (imports \(isoName), replaces "
                + replacements.map(\.isoPath).joined(separator: ", ")
                + (additions.isEmpty ? "" : ", adds " + additions.map(\.isoPath).joined(separator: ", ")) + ")")
            if let i = media.firstIndex(where: { $0.role == .installer }) {
                media[i].kind = .viso
                media[i].location = PendingInstall.visoName
                media[i].uuid = visoUUID
            }
        }
        if let seedName {
            media.append(MediumAttachment(kind: .dvdImage, role: .seed, location: seedName, uuid: ids.nextUUID()))
        }
        return Prepared(media: media, pending: PendingInstall(family: family, viso: visoName, seed: seedName,
                                                              privateFolder: privateName),
                        written: written)
    }

    /// Writes `bytes` to `folder/relative` (mode 0600, folders 0700, created with `O_EXCL|O_NOFOLLOW`).
    static func writePrivate(_ bytes: [UInt8], folder: String, relative: String) throws(CreateError) {
        let parts = relative.split(separator: "/").map(String.init)
        var dir = folder
        for part in parts.dropLast() {
            dir += "/" + part
            if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw .io(IOError(path: dir, operation: "create", code: errno)) }
        }
        let path = folder + "/" + relative
        let fd: OwnedFD
        do { fd = try OwnedFD.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600, operation: "create") } catch {
            throw .io(error)
        }
        if let e = FileIO.writeAll(fd: fd.raw, bytes) { throw .io(IOError(path: path, operation: "write", code: e)) }
    }
}

/// What `show` and `check` say about an unattended install's media in a machine's settings.
public enum InstallMedia {
    /// The pending install recorded in `settings`, nil when there is none (or the value is not vmprov's).
    public static func pending(_ settings: VBoxSettings) -> PendingInstall? {
        settings.extraDataItems.first { $0.name == PendingInstall.key }.flatMap { item in
            let v = item.value.hasSuffix(";phase=finishing") ? String(item.value.dropLast(16)) : item.value
            return PendingInstall(value: v)
        }
    }

    /// A short label for an attached medium: `VISO` for `.viso` files, `install seed` for the recorded seed.
    public static func label(_ location: String, pending: PendingInstall?) -> String? {
        let name = FileIO.basename(location)
        if name == pending?.seed { return "install seed" }
        if location.lowercased().hasSuffix(".viso") { return "VISO" }
        return nil
    }

    /// Findings for the recorded media: a seed or VISO file that is missing (VirtualBox cannot open an attached
    /// medium without its file, and the machine does not start), and the ISO a VISO imports, when missing.
    public static func findings(_ settings: VBoxSettings) -> [Finding] {
        guard let pending = pending(settings) else { return [] }
        let folder = FileIO.directory(of: settings.path)
        let attached = Set(settings.summary.storage.compactMap { $0.medium.map(FileIO.basename) })
        var out: [Finding] = []
        for name in [pending.seed, pending.viso].compactMap({ $0 }) where attached.contains(name) {
            if access(folder + "/" + name, F_OK) != 0 {
                out.append(Finding(severity: .error, location: PendingInstall.key,
                                   message: "\(name) is attached for the unattended install but \(folder)/\(name) is "
                                       + "missing; create the machine again (vmprov create --unattended --force)"))
            }
        }
        if let viso = pending.viso, let text = String(validating: Self.readSmall(folder + "/" + viso), as: UTF8.self) {
            for line in text.split(separator: "\n") where line.hasPrefix("--import-iso=") {
                var iso = String(line.dropFirst("--import-iso=".count))
                if iso.hasPrefix("'") && iso.hasSuffix("'") && iso.count >= 2 { iso = String(iso.dropFirst().dropLast()) }
                let path = iso.hasPrefix("/") ? iso : folder + "/" + iso
                if access(path, F_OK) != 0 {
                    out.append(Finding(severity: .error, location: viso,
                                       message: "imports \(iso), which is missing: the installer cannot boot"))
                }
            }
        }
        return out
    }

    static func readSmall(_ path: String) -> [UInt8] {
        guard let fd = OwnedFD.openOrNil(path, O_RDONLY | O_NOFOLLOW) else { return [] }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while out.count < 1 << 20 {
            let n = Syscall.retrying { FileIO.read(fd.raw, into: &buffer) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }
}
