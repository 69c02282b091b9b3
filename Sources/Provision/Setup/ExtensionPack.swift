/// The Oracle VirtualBox Extension Pack: its real file name per release, and an installation that accepts the
/// license by the SHA-256 of the license text inside the pack.
public struct ExtensionPack: Sendable {
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

    public var tools: VirtualBoxTools
    public var downloader: Downloader

    public init(tools: VirtualBoxTools, downloader: Downloader) {
        self.tools = tools
        self.downloader = downloader
    }

    /// Downloads the pack for the installed VirtualBox (verified against that release's SHA256SUMS), then installs it.
    public func installMatching(base: String?, into folder: String, log: (String) -> Void) throws(SetupError) {
        let version: VBoxVersion
        do { version = try tools.version() } catch { throw SetupError("cannot read VirtualBox's version: \(error)") }
        let name = Self.fileName(for: version)
        let dir = (base ?? Self.defaultBase) + "/" + version.number + "/"
        log("extension pack: VirtualBox \(version) → \(dir)\(name)")
        let plan: VerificationPlan
        do {
            plan = try ChecksumResolver(downloader: downloader).plan(
                fileName: name, bases: [dir + name],
                request: VerificationRequest(spec: .file("SHA256SUMS"), noSignature: true))
        } catch { throw SetupError(error.description) }
        defer { plan.cleanup() }
        let dest = folder + "/" + name
        do {
            _ = try downloader.fetch(DownloadRequest(urls: [dir + name], destination: dest, expected: plan.expected))
        } catch { throw SetupError(error.description) }
        log("extension pack: \(plan.expected.map(\.description) ?? "") verified (Oracle does not sign SHA256SUMS)")
        try install(dest, log: log)
    }

    /// Installs a pack file, accepting the license it carries by its hash.
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
