#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// Whether RDP (the VRDE server) on this VirtualBox needs the Oracle VirtualBox Extension Pack.
///
/// True before 7.2.6, false from 7.2.6 on. Source: VirtualBox 7.2.6's changelog ("RDP: The VRDP server was moved
/// to the open source base package", quoted in VirtualBox/virtualbox issue #508), and the code: the server is now
/// built from the open tree as the base package's `VBoxVRDP` library (`src/VBox/RDP/server/Makefile.kmk`,
/// `DLLS += VBoxVRDP`), and when no installed pack offers a VRDE module, `SystemProperties::getDefaultVRDEExtPack`
/// (`src/VBox/Main/src-server/SystemPropertiesImpl.cpp`) falls back to `VBOXVRDP_KLUDGE_EXTPACK_NAME`
/// ("Built-in-VBoxVRDP", `src/VBox/Main/include/Global.h`) when `VBoxVRDP.so` sits in VirtualBox's private
/// library folder, which `ConsoleVRDPServer::Launch` then loads. The 7.2.6 pack's `ExtPack.xml` has no
/// `<VRDEModule>` (`VBoxManage list extpacks` shows "VRDE Module:" empty, issue #508). Up to 7.2.5 the only RDP
/// server is the pack's `VBoxVRDP` (its `<VRDEModule>`).
public func vrdeNeedsExtensionPack(virtualBoxVersion v: VBoxVersion) -> Bool {
    if v.major != 7 { return v.major < 7 }
    if v.minor != 2 { return v.minor < 2 }
    return v.build < 6
}

/// The Oracle VirtualBox Extension Pack: its real file name per release, and an installation that accepts the
/// license by the SHA-256 of the license text inside the pack.
public struct ExtensionPack: Sendable {
    /// Where Oracle publishes each release's packs (`BASE/VERSION/FILE`).
    public static let defaultBase = "https://download.virtualbox.org/virtualbox"

    /// `Oracle_VirtualBox_Extension_Pack-V.vbox-extpack` from 7.1 on; `Oracle_VM_VirtualBox_…` before.
    public static func fileName(for version: VBoxVersion) -> String {
        let oracleVM = version.major < 7 || (version.major == 7 && version.minor == 0)
        return (oracleVM ? "Oracle_VM_VirtualBox_Extension_Pack-" : "Oracle_VirtualBox_Extension_Pack-")
            + version.number + ".vbox-extpack"
    }

    /// The lowercase hex SHA-256 of `ExtPack-license.txt` in the pack: what `--accept-license=` takes.
    public static func licenseHash(of pack: String) throws(TarGz.Failure) -> String {
        StreamingHasher.sha256Hex(try TarGz.member("ExtPack-license.txt", in: pack))
    }

    /// VBoxManage, for `extpack install`.
    public var tools: VirtualBoxTools
    /// Fetches the pack and its checksum file.
    public var downloader: Downloader

    /// An installer calling `tools` and downloading with `downloader`.
    public init(tools: VirtualBoxTools, downloader: Downloader) {
        self.tools = tools
        self.downloader = downloader
    }

    /// Downloads the pack for the installed VirtualBox (verified against that release's SHA256SUMS), then installs it.
    public func installMatching(base: String?, into folder: String, log: (String) -> Void) throws(SetupError) {
        let version: VBoxVersion
        do { version = try tools.version() } catch {
            throw SetupError("--extpack auto: cannot read VirtualBox's version: \(error)", kind: .unavailable)
        }
        let name = Self.fileName(for: version)
        let dir = (base ?? Self.defaultBase) + "/" + version.number + "/"
        log("extension pack: VirtualBox \(version) → \(dir)\(name)")
        let plan: VerificationPlan
        do {
            plan = try ChecksumResolver(downloader: downloader).plan(
                fileName: name, bases: [dir + name],
                request: VerificationRequest(spec: .file("SHA256SUMS"), noSignature: true))
        } catch { throw SetupError(error.description) }
        let dest = folder + "/" + name
        do {
            _ = try downloader.fetch(DownloadRequest(urls: [dir + name], destination: dest, expected: plan.expected))
        } catch { throw SetupError(error.description) }
        log("extension pack: \(plan.expected.map(\.description) ?? "") verified (Oracle does not sign SHA256SUMS)")
        try install(dest, log: log)
        Self.describeRDP(version: version, pack: dest, log: log)
    }

    /// The `<VRDEModule>` named in the pack's `ExtPack.xml`, nil when it names none (7.2.6 and later packs).
    /// - Throws: `TarGz.Failure` when the pack cannot be read or has no `ExtPack.xml`.
    public static func vrdeModule(in pack: String) throws(TarGz.Failure) -> String? {
        let xml = String(decoding: try TarGz.member("ExtPack.xml", in: pack, limit: 256 << 10), as: UTF8.self)
        guard let open = xml.range(of: "<VRDEModule>") else { return nil }
        let rest = xml[open.upperBound...]
        guard let close = rest.range(of: "</VRDEModule>") else { return nil }
        let name = rest[..<close.lowerBound].trimmingCharacters
        return name.isEmpty ? nil : String(name)
    }

    /// Says whether this VirtualBox needs the pack for RDP and whether the pack has a VRDE module. Never fails a
    /// setup: from 7.2.6 on a pack without a VRDE module is what Oracle ships.
    public static func describeRDP(version: VBoxVersion, pack: String, log: (String) -> Void) {
        let module = (try? vrdeModule(in: pack)) ?? nil
        if !vrdeNeedsExtensionPack(virtualBoxVersion: version) {
            log("RDP: VirtualBox \(version.number) has the VRDP server in its base package (7.2.6 and later); the "
                + "extension pack is not needed for RDP" + (module == nil ? " (this pack has no VRDE module, as expected)" : ""))
        } else if let module {
            log("RDP: VirtualBox \(version.number) needs the extension pack for RDP; its VRDE module is \(module)")
        } else {
            log("RDP: warning: VirtualBox \(version.number) needs the extension pack's VRDE module for RDP, and this "
                + "pack has none; RDP will not start (install the pack matching this VirtualBox)")
        }
    }

    /// Installs a pack file given by the user, accepting the license it carries by its hash, then says what it
    /// means for RDP on the installed VirtualBox.
    /// - Throws: `SetupError` when the pack is unreadable or VBoxManage refuses it.
    public func installFile(_ pack: String, log: (String) -> Void) throws(SetupError) {
        var st = stat()
        guard stat(pack, &st) == 0 else {
            throw SetupError("--extpack \(pack): no such file; give the path of a .vbox-extpack file, auto (the pack "
                + "for the installed VirtualBox) or none.", kind: .notFound)
        }
        try install(pack, log: log)
        if let version = try? tools.version() { Self.describeRDP(version: version, pack: pack, log: log) }
    }

    /// Installs a pack file, accepting the license it carries by its hash.
    /// - Throws: `SetupError` when the pack is unreadable or VBoxManage refuses it.
    public func install(_ pack: String, log: (String) -> Void) throws(SetupError) {
        let hash: String
        do { hash = try Self.licenseHash(of: pack) } catch { throw SetupError(error.description) }
        log("extension pack: license SHA-256 \(hash)")
        do {
            let out = try tools.manage(VirtualBoxTools.installExtensionPack(pack, licenseSHA256: hash))
            for line in out.stdoutText.split(whereSeparator: \.isNewline) { log("extension pack: \(line)") }
        } catch {
            throw SetupError("installing \(pack) failed: \(error)")
        }
    }
}
