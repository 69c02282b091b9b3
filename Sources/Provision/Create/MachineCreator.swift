#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML

/// What `vmprov create` asks for.
public struct CreateRequest: Sendable {
    public var profile: Profile
    public var name: String
    public var directory: String
    /// A local installer instead of downloading.
    public var isoPath: String?
    /// A URL replacing the profile's (relative checksum and signature specs resolve against it).
    public var isoURL: String?
    public var checksum: String?
    /// Replaces the profile's key; the user trusts this keyring.
    public var keyring: String?
    public var noSignature = false
    public var memoryMB: Int?
    public var cpus: Int?
    public var diskSize: String?
    public var rdpPort: String?
    public var force = false
    /// The Guest Additions ISO to attach, if any.
    public var guestAdditions: String?
    public var identity: MachineIdentity

    public init(profile: Profile, name: String, directory: String, identity: MachineIdentity) {
        self.profile = profile
        self.name = name
        self.directory = directory
        self.identity = identity
    }
}

/// What was created, for the summary.
public struct CreateReport: Sendable {
    public var folder: String
    public var settingsFile: String
    public var diskFile: String
    public var diskBytes: UInt64
    public var isoFile: String
    public var digest: Digest?
    /// One line each: how the ISO was verified, and the signature's outcome.
    public var checksumOutcome: String
    public var signatureOutcome: String
    public var warnings: [String]
    public var findings: [Finding]
    public var guestAdditions: String?
}

/// Why create failed; nothing is left in the target folder.
public enum CreateError: Error, Sendable, CustomStringConvertible {
    case exists(path: String)
    case invalid(String)
    case download(DownloadError)
    case settings(VBoxXMLError)
    case check(path: String, [Finding])
    case io(IOError)

    public var description: String {
        switch self {
        case let .exists(path):
            return "\(path) exists already; vmprov never overwrites a machine folder. Choose another --name or --dir, "
                + "or pass --force to replace it."
        case let .invalid(text): return text
        case let .download(e): return e.description
        case let .settings(e): return e.description
        case let .check(path, findings):
            return "\(path): the new settings fail VirtualBox's reader rules:\n"
                + findings.filter { $0.severity == .error }.map { "    \($0)" }.joined(separator: "\n")
        case let .io(e): return e.description
        }
    }
}

/// Builds a machine folder from a profile: verified installer, settings file, sparse disk; built beside its final
/// place and renamed in, so a failure leaves nothing.
public struct MachineCreator: Sendable {
    public var downloader: Downloader
    /// The cache folder for keys and downloads (nil: the folder's parent is used for downloads).
    public var cacheDirectory: String?

    public init(downloader: Downloader, cacheDirectory: String?) {
        self.downloader = downloader
        self.cacheDirectory = cacheDirectory
    }

    public func create(_ req: CreateRequest, log: (String) -> Void = { _ in }) throws(CreateError) -> CreateReport {
        let p = req.profile
        guard !req.name.isEmpty, !req.name.contains("/"), req.name != ".", req.name != "..",
              !req.name.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw .invalid("--name \"\(req.name)\": a machine name must be a plain file name (no slash).")
        }
        let memory = req.memoryMB ?? p.memoryMB
        let cpus = req.cpus ?? p.cpus
        guard (4...2_097_152).contains(memory) else { throw .invalid("--memory \(memory): give 4 to 2097152 MB.") }
        guard (1...64).contains(cpus) else { throw .invalid("--cpus \(cpus): give 1 to 64.") }
        let sizeText = req.diskSize ?? p.diskSize
        guard let diskBytes = SizeText.parse(sizeText) else {
            throw .invalid("--disk-size \(sizeText): give a size such as 25G, 512M or 2T (a bare number is MiB).")
        }
        do { _ = try VDIWriter.layout(size: diskBytes) } catch { throw .invalid("--disk-size \(sizeText): \(error)") }
        let rdp = req.rdpPort ?? p.rdpPort
        if case .failure(let e) = ValueCheck.vrdePorts(rdp) { throw .invalid("--rdp-port \(rdp): \(e.message).") }

        let final = req.directory + "/" + req.name
        var st = stat()
        if lstat(final, &st) == 0 && !req.force { throw .exists(path: final) }
        // Folders made here are removed again if create fails (only while empty: rmdir).
        let madeFolders = downloader.makeDirectories(req.directory)
        var created = false
        defer {
            if !created, !madeFolders.isEmpty {
                if cacheDirectory == nil { rmdir(req.directory + "/.vmprov-cache/downloads"); rmdir(req.directory + "/.vmprov-cache") }
                for folder in madeFolders.reversed() { rmdir(folder) }
            }
        }

        // 1. The installer, verified, in the cache (resumable there).
        let (isoSource, digest, checksumOutcome, signatureOutcome, warnings) = try obtainISO(req, log: log)

        // 2. The folder, beside its final place.
        var template = Array((req.directory + "/.\(req.name).vmprov-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw .io(IOError(path: req.directory, operation: "create a folder in", code: errno))
        }
        let staging = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        chmod(staging, 0o755)
        var done = false
        defer { if !done { FileIO.removeTree(staging) } }

        let isoName = isoSource.split(separator: "/").last.map(String.init) ?? "installer.iso"
        do {
            try Self.linkOrCopy(isoSource, to: staging + "/" + isoName)
        } catch { throw .io(error) }
        if req.isoPath == nil, digest != nil {
            // The verified copy stays in the cache under its digest; the by-name entry was only for resuming.
            unlink(isoSource)
        }
        let diskName = req.name + ".vdi"
        let spec = MachineSpec(
            name: req.name, osType: p.osType, cpus: cpus, memoryMB: memory, vramMB: p.vramMB, graphics: p.graphics,
            firmware: p.firmware, tpm2: p.tpm, secureBoot: p.secureBoot, nicType: p.nicType, storageBus: p.storageBus,
            diskFile: diskName, installerISO: isoName, guestAdditionsISO: req.guestAdditions, rdpPorts: rdp,
            forwards: p.forwards.map {
                PortForward(name: $0.name, proto: $0.proto == "udp" ? .udp : .tcp, hostIP: "", hostPort: $0.hostPort,
                            guestIP: "", guestPort: $0.guestPort)
            },
            extraData: [("vmprov/Profile", p.name)] + (p.osTypeFallbacks.isEmpty ? [] : [("vmprov/OSTypeFallbacks", p.osTypeFallbacks.joined(separator: ","))]))
        let xml = MachineBuilder.document(spec, req.identity)
        let settingsPath = staging + "/" + req.name + ".vbox"
        do {
            try VDIWriter.create(path: staging + "/" + diskName, size: diskBytes, uuid: req.identity.disk)
            try AtomicSave().write(Array(xml.utf8), to: settingsPath)
        } catch { throw .settings(error) }
        // 3. Check what was written, as VirtualBox would read it.
        let findings: [Finding]
        do {
            let written = try VBoxSettings.load(path: settingsPath)
            findings = ReaderRules.check(written)
        } catch { throw .settings(error) }
        if findings.contains(where: { $0.severity == .error }) { throw .check(path: final + "/" + req.name + ".vbox", findings) }

        // 4. Into place.
        var old: String?
        if lstat(final, &st) == 0 {
            old = req.directory + "/.\(req.name).replaced-\(getpid())"
            guard rename(final, old!) == 0 else { throw .io(IOError(path: final, operation: "move aside", code: errno)) }
        }
        guard rename(staging, final) == 0 else {
            let e = errno
            if let old { rename(old, final) }
            throw .io(IOError(path: final, operation: "rename the new folder into place", code: e))
        }
        done = true
        created = true
        if let old { FileIO.removeTree(old) }
        return CreateReport(folder: final, settingsFile: final + "/" + req.name + ".vbox", diskFile: final + "/" + diskName,
                            diskBytes: diskBytes, isoFile: final + "/" + isoName, digest: digest,
                            checksumOutcome: checksumOutcome, signatureOutcome: signatureOutcome, warnings: warnings,
                            findings: findings, guestAdditions: req.guestAdditions)
    }

    /// Fetches (or checks) the installer. Returns its path, digest and what was verified.
    func obtainISO(_ req: CreateRequest, log: (String) -> Void) throws(CreateError)
        -> (String, Digest?, String, String, [String]) {
        let p = req.profile
        var warnings: [String] = []
        let urls = req.isoURL.map { [$0] } ?? p.iso.urls
        let specText = req.checksum ?? p.iso.checksum
        // The key: the user's keyring, or the profile's key fetched once and checked against its fingerprint.
        var keyring = req.keyring
        var pin: String?
        // `{iso}` in a signature name stands for the ISO's file name (Arch: `{iso}.sig`).
        let isoFileName = req.isoPath.map { String($0.split(separator: "/").last ?? "") } ?? urls.first.map(URLText.fileName) ?? ""
        var signature = p.iso.signature.map { $0.replacingAll("{iso}", with: isoFileName) }
        if req.noSignature {
            signature = nil
        } else if keyring == nil, let fpr = p.iso.keyFingerprint, let keyURL = p.iso.keyURL {
            keyring = try profileKey(fingerprint: fpr, url: keyURL, log: log)
            pin = fpr
        }
        if req.keyring != nil { pin = nil }
        let signedByPublisher = signature != nil || (p.iso.keyFingerprint != nil && specText != nil)

        if let local = req.isoPath {
            var st = stat()
            guard stat(local, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                throw .download(.io(IOError(path: local, operation: "read", code: ENOENT)))
            }
            guard let specText else {
                warnings.append("\(local) is not verified: the \(p.name) profile has no checksum (the publisher "
                    + "publishes none); pass --checksum sha256:HEX from the download page to check it.")
                return (local, nil, "not verified (no checksum known)", "none (the publisher signs nothing)", warnings)
            }
            let spec: ChecksumSpec
            do { spec = try ChecksumSpec(specText) } catch { throw .download(.verification(error)) }
            let name = local.split(separator: "/").last.map(String.init) ?? local
            let bases = spec.isRelativeFile ? (urls.isEmpty ? [local] : urls) : [local]
            let plan: VerificationPlan
            do {
                plan = try ChecksumResolver(downloader: downloader).plan(
                    fileName: urls.first.map(URLText.fileName) ?? name, bases: bases,
                    request: VerificationRequest(spec: spec, signature: signature, keyring: keyring,
                                                 pinnedFingerprint: pin, noSignature: req.noSignature || !signedByPublisher))
            } catch { throw .download(error) }
            defer { plan.cleanup() }
            warnings += plan.warnings.filter { !$0.hasPrefix("signature check skipped") }
            guard let expected = plan.expected else { return (local, nil, "not verified (--checksum none)", "none", warnings) }
            let actual: Digest
            do { actual = try FileHasher.digest(path: local, algorithm: expected.algorithm) } catch { throw .io(error) }
            guard actual == expected else {
                throw .download(.verification(.mismatch(file: local, expected: expected, actual: actual, keptAt: nil)))
            }
            if let check = plan.verifyDownload {
                do { try check(local) } catch let e as SignatureError { throw .download(.signature(e)) } catch {
                    throw .io(IOError(path: local, operation: "verify", code: EIO))
                }
            }
            return (local, actual, "\(actual) verified" + (plan.checksumSource.map { " (from \($0))" } ?? ""),
                    signatureLine(plan, signed: signedByPublisher, noSignature: req.noSignature), warnings)
        }

        guard !urls.isEmpty else {
            throw .invalid("the \(p.name) profile has no download URL: give --iso PATH"
                + (p.iso.note.map { " (\($0))" } ?? "") + ", or --iso-url URL.")
        }
        let spec: ChecksumSpec
        do { spec = try ChecksumSpec(specText ?? "none") } catch { throw .download(.verification(error)) }
        let fileName: String
        do { fileName = try URLText.safeFileName(urls[0]) } catch { throw .download(error) }
        let plan: VerificationPlan
        do {
            plan = try ChecksumResolver(downloader: downloader).plan(
                fileName: fileName, bases: urls,
                request: VerificationRequest(spec: spec, signature: signature, keyring: keyring, pinnedFingerprint: pin,
                                             noSignature: req.noSignature || !signedByPublisher))
        } catch { throw .download(error) }
        defer { plan.cleanup() }
        warnings += plan.warnings.filter { !$0.hasPrefix("signature check skipped") }
        let downloads = (cacheDirectory ?? req.directory + "/.vmprov-cache") + "/downloads"
        downloader.makeDirectories(downloads)
        let dest = downloads + "/" + fileName
        log("fetching \(urls[0])")
        let report: DownloadReport
        do {
            report = try downloader.fetch(DownloadRequest(urls: urls, destination: dest, expected: plan.expected,
                                                          verifyBeforeCommit: plan.verifyDownload,
                                                          maximumBytes: plan.expectedSize,
                                                          maximumSource: "the size the checksum file states"))
        } catch { throw .download(error) }
        let how = report.fromCache ? "from the cache" : report.alreadyPresent ? "already downloaded" : "downloaded"
        let checksumOutcome = report.digest.map { "\($0) verified, \(how)" + (plan.checksumSource.map { " (checksums from \($0))" } ?? "") }
            ?? "NOT verified (--checksum none)"
        return (dest, report.digest, checksumOutcome, signatureLine(plan, signed: signedByPublisher, noSignature: req.noSignature), warnings)
    }

    func signatureLine(_ plan: VerificationPlan, signed: Bool, noSignature: Bool) -> String {
        if let signer = plan.signer { return "good signature by \(signer)" }
        if plan.verifyDownload != nil { return "good signature on the ISO itself" }
        if noSignature { return "not checked (--no-signature)" }
        return signed ? "not checked" : "none: the publisher signs nothing for this download"
    }

    /// The profile's public key from the cache, downloading it once; its fingerprint is checked before use.
    func profileKey(fingerprint: String, url: String, log: (String) -> Void) throws(CreateError) -> String {
        let dir = (cacheDirectory ?? "/tmp/vmprov-keys") + "/keys"
        downloader.makeDirectories(dir)
        let path = "\(dir)/\(fingerprint).asc"
        if let cached = try? TempFiles.read(path), OpenPGPKeys.primaryFingerprints(cached).contains(fingerprint) {
            return path
        }
        log("fetching the signing key \(fingerprint) from \(url)")
        let bytes: [UInt8]
        do { bytes = try downloader.fetchSmall(url, limit: 4 << 20) } catch { throw .download(error) }
        let found = OpenPGPKeys.primaryFingerprints(bytes)
        guard found.contains(fingerprint) else {
            throw .download(.signature(.keyring(path: url, reason: "it does not hold the pinned key \(fingerprint) "
                + "(it holds \(found.isEmpty ? "no OpenPGP key" : found.joined(separator: ", "))); the key is not trusted")))
        }
        do { try TempFiles.write(bytes, to: path + ".tmp", mode: 0o644) } catch { throw .io(error) }
        rename(path + ".tmp", path)
        return path
    }

    /// A hard link when possible, a copy otherwise.
    static func linkOrCopy(_ source: String, to target: String) throws(IOError) {
        if link(source, target) == 0 { return }
        try FileHasher.copy(from: source, to: target)
    }
}

extension ChecksumSpec {
    /// `file:` with a relative reference (resolved against the download URL's folder).
    var isRelativeFile: Bool {
        if case .file(let ref) = self { return URLText.scheme(ref) == nil && !ref.hasPrefix("/") }
        return false
    }
}

/// Where VirtualBox's Guest Additions ISO lives on common installs.
public enum GuestAdditions {
    public static let candidates = [
        "/usr/lib/virtualbox/additions/VBoxGuestAdditions.iso",
        "/usr/share/virtualbox/VBoxGuestAdditions.iso",
        "/opt/VirtualBox/additions/VBoxGuestAdditions.iso",
    ]

    public static func find(override: String?) -> String? {
        if let override { return override.isEmpty || override == "none" ? nil : override }
        return candidates.first { access($0, R_OK) == 0 }
    }
}
