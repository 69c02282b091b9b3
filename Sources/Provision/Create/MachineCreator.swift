#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import DiskImages
import Basics

/// What `vmprov create` asks for.
public struct CreateRequest: Sendable {
    /// The profile the machine is built from.
    public var profile: Profile
    /// The machine's name (and its folder's).
    public var name: String
    /// The parent folder of the new machine folder.
    public var directory: String
    /// A local installer instead of downloading.
    public var isoPath: String?
    /// A URL replacing the profile's (relative checksum and signature specs resolve against it).
    public var isoURL: String?
    /// `--checksum`, replacing the profile's.
    public var checksum: String?
    /// Replaces the profile's key; the user trusts this keyring.
    public var keyring: String?
    /// Accept only signatures by this key (replaces the profile's pin).
    public var keyFingerprint: String?
    /// Check no signature even where the publisher signs (the summary says so).
    public var noSignature = false
    /// A release-form profile: the version to pin (`--release`); the archive folders are searched after the
    /// current one. Nil takes the highest version in the current folder.
    public var release: String?
    /// Test-only mirror rewrite for release-form profiles (`ReleaseResolver.mirrorPrefix`).
    public var mirrorPrefix: String?
    /// `--memory`, MiB; nil: the profile's.
    public var memoryMB: Int?
    /// `--cpus`; nil: the profile's.
    public var cpus: Int?
    /// `--disk-size` (`64G`, `512M`); nil: the profile's.
    public var diskSize: String?
    /// `--rdp-port`: a port, list or range for the VRDE server; nil: the profile's.
    public var rdpPort: String?
    /// Replace an existing machine folder (`--force`).
    public var force = false
    /// The Guest Additions ISO to attach, if any.
    public var guestAdditions: String?
    /// Where the machine's UUIDs, MAC address and time come from (``RandomIdentity``; ``FixedIdentity`` in tests).
    public var identity: any IdentitySource
    /// `--unattended`: answer files, seed and VISO are written and the pending install recorded; nil: a plain machine.
    public var unattended: UnattendedRequest?

    /// A request for profile `profile` named `name` under `directory`; every other field is the profile's default.
    public init(profile: Profile, name: String, directory: String, identity: any IdentitySource = RandomIdentity()) {
        self.profile = profile
        self.name = name
        self.directory = directory
        self.identity = identity
    }
}

/// What was created, for the summary.
public struct CreateReport: Sendable {
    /// The new machine folder.
    public var folder: String
    /// The `.vbox` file in it.
    public var settingsFile: String
    /// The sparse VDI disk in it.
    public var diskFile: String
    /// The disk's virtual size in bytes.
    public var diskBytes: UInt64
    /// The installer ISO the machine boots from (local path or the verified download).
    public var isoFile: String
    /// The ISO's verified digest; nil when no checksum was asked for (`--checksum none`).
    public var digest: Digest?
    /// One line each: how the ISO was verified, and the signature's outcome.
    public var checksumOutcome: String
    /// How the signature check went, one line.
    public var signatureOutcome: String
    /// Things the user should know (fallbacks, unsigned checksum files accepted).
    public var warnings: [String]
    /// What `check` found in the new settings (no errors, or `create` would have failed).
    public var findings: [Finding]
    /// The Guest Additions ISO attached, if one was found.
    public var guestAdditions: String?
    /// How a release-form profile was resolved (which file, which folder served it).
    public var release: ResolvedRelease?
    /// The new machine as a container project sees it (its ports for compose), at its final path.
    public var guest: ComposeGuest
    /// `--unattended`: the pending install recorded in the `.vbox`, and one line per file written for it.
    public var unattended: (pending: PendingInstall, written: [String])?
}

/// Why create failed; nothing is left in the target folder.
public enum CreateError: Error, Sendable, CustomStringConvertible {
    case exists(path: String)
    case invalid(String)
    case download(DownloadError)
    case settings(VBoxXMLError)
    case check(path: String, [Finding])
    case io(IOError)
    /// A release-form profile could not be resolved through its checksum file.
    case release(ReleaseError)

    /// What failed, for which file or option, and what to do.
    public var description: String {
        switch self {
        case let .release(e): return e.description
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

/// The installer `create` puts into the machine folder, and how it was obtained.
public struct ObtainedISO: Sendable, Equatable {
    /// Where the ISO came from.
    public enum Origin: String, Sendable, Equatable {
        /// The user's own file (`--iso PATH`): copied into the folder, never moved.
        case local
        /// Served from the download cache (re-hashed before use).
        case cache
        /// A finished download found in the downloads folder.
        case alreadyDownloaded
        /// Downloaded now.
        case downloaded
    }

    /// The file now: the user's file, or the verified download (moved into the machine folder next).
    public var path: String
    /// The verified digest; nil when nothing was verified (`--checksum none`, or no checksum known).
    public var digest: Digest?
    /// One summary line: how the checksum was verified, and against what.
    public var checksumOutcome: String
    /// One summary line: the signature's outcome.
    public var signatureOutcome: String
    /// Warnings for the user (an unverified file, a cache note …).
    public var warnings: [String]
    /// Where the bytes came from.
    public var origin: Origin
    /// The URL the bytes came from (nil for a local file, or when not reported).
    public var url: String?
    /// The release a release-form profile resolved to (its file, version and the folder that served it), nil for
    /// pinned URLs and local files.
    public var release: ResolvedRelease?

    /// An obtained installer; see the properties.
    public init(path: String, digest: Digest?, checksumOutcome: String, signatureOutcome: String, warnings: [String],
                origin: Origin, url: String? = nil, release: ResolvedRelease? = nil) {
        self.release = release
        self.path = path
        self.digest = digest
        self.checksumOutcome = checksumOutcome
        self.signatureOutcome = signatureOutcome
        self.warnings = warnings
        self.origin = origin
        self.url = url
    }

    /// Whether no bytes came over the network this time.
    public var cacheHit: Bool { origin == .cache || origin == .alreadyDownloaded }
}

/// Builds a machine folder from a profile: verified installer, settings file, sparse disk; built beside its final
/// place and renamed in, so a failure leaves nothing.
public struct MachineCreator: Sendable {
    /// Fetches and verifies the installer.
    public var downloader: Downloader
    /// The cache folder for keys and downloads (nil: the folder's parent is used for downloads).
    public var cacheDirectory: String?

    /// A creator that downloads with `downloader` and caches in `cacheDirectory`.
    public init(downloader: Downloader, cacheDirectory: String?) {
        self.downloader = downloader
        self.cacheDirectory = cacheDirectory
    }

    /// Creates the machine folder `req` describes: installer verified (or taken from `isoPath`), settings built
    /// and checked, sparse disk written, all beside the final folder and renamed in at the end.
    /// - Parameter log: progress lines for the user.
    /// - Throws: `CreateError`: the folder exists (`.exists`), a bad option (`.invalid`), a failed download or
    ///   release lookup, refused settings (`.check`), or an I/O error; nothing is left behind.
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
        let iso = try obtainISO(req, log: log)
        let isoSource = iso.path

        // 2. The folder, beside its final place.
        // Removed with everything in it unless it was renamed into place (`keep()`).
        let stagingFolder: TempFolder
        do { stagingFolder = try TempFolder(in: req.directory, prefix: ".\(req.name).vmprov") } catch {
            throw .io(IOError(path: req.directory, operation: "create a folder in", code: error.code))
        }
        defer { withExtendedLifetime(stagingFolder) {} }
        let staging = stagingFolder.path
        chmod(staging, 0o755)

        let isoName = isoSource.split(separator: "/").last.map(String.init) ?? "installer.iso"
        // The download (private, by name only for resuming) moves in; the verified copy stays in the cache under its
        // digest (a copy, never this file). A user's own ISO is copied, never hard-linked.
        try Self.placeISO(isoSource, to: staging + "/" + isoName, move: iso.origin != .local, digest: iso.digest)
        if req.isoPath == nil, cacheDirectory == nil { rmdir(req.directory + "/.vmprov-downloads") }
        let diskName = req.name + ".vdi"
        var ids = req.identity
        let machineID = MachineIdentity(drawingFrom: &ids)
        var media = p.storageBus.standardMedia(disk: diskName, installer: isoName, guestAdditions: req.guestAdditions,
                                               ids: &ids)
        var extra: [(String, String)] = []
        var unattended: MachineUnattended.Prepared?
        if let u = req.unattended {
            let prepared = try MachineUnattended.prepare(u, profile: p, folder: staging, isoName: isoName,
                                                         machineUUID: machineID.machine, memoryMB: memory, cpus: cpus,
                                                         diskBytes: diskBytes, media: media, ids: &ids)
            media = prepared.media
            extra.append((PendingInstall.key, prepared.pending.value))
            unattended = prepared
        }
        let spec = MachineSpec(
            name: req.name, osType: p.osType, cpus: cpus, memoryMB: memory, vramMB: p.vramMB, graphics: p.graphics,
            firmware: p.firmware, tpm2: p.tpm, secureBoot: p.secureBoot, nicType: p.nicType,
            controller: p.storageBus.controller, media: media, rdpPorts: rdp,
            forwards: p.forwards.map {
                PortForward(name: $0.name, proto: $0.proto == "udp" ? .udp : .tcp, hostIP: "", hostPort: $0.hostPort,
                            guestIP: "", guestPort: $0.guestPort)
            },
            extraData: [("vmprov/Profile", p.name)] + (p.osTypeFallbacks.isEmpty ? [] : [("vmprov/OSTypeFallbacks", p.osTypeFallbacks.joined(separator: ","))])
                + extra)
        let xml: String
        do { xml = try MachineBuilder.document(spec, machineID) } catch { throw .invalid(error.description) }
        guard let diskUUID = spec.medium(.systemDisk)?.uuid else { throw .invalid("the machine has no system disk") }
        let settingsPath = staging + "/" + req.name + ".vbox"
        do {
            try VDIWriter.create(path: staging + "/" + diskName, size: diskBytes, uuid: diskUUID)
            try AtomicSave().write(Array(xml.utf8), to: settingsPath)
        } catch { throw .settings(error) }
        // 3. Check what was written, as VirtualBox would read it.
        let findings: [Finding]
        var guest: ComposeGuest
        do {
            let written = try VBoxSettings.load(path: settingsPath)
            findings = ReaderRules.check(written)
            guest = ComposeGuest(written)
        } catch { throw .settings(error) }
        guest.settingsPath = final + "/" + req.name + ".vbox"
        guest.folder = final
        if findings.contains(where: { $0.severity == .error }) { throw .check(path: final + "/" + req.name + ".vbox", findings) }

        // 4. Into place.
        // Without --force a folder that appeared meanwhile (another create of the same name) is never replaced:
        // renaming a folder onto a non-empty one fails, and that is the answer.
        var old: String?
        if lstat(final, &st) == 0 {
            guard req.force else { throw .exists(path: final) }
            let aside = req.directory + "/.\(req.name).replaced-\(getpid())"
            guard rename(final, aside) == 0 else { throw .io(IOError(path: final, operation: "move aside", code: errno)) }
            old = aside
        }
        guard rename(staging, final) == 0 else {
            let e = errno
            if let old { rename(old, final) }
            if old == nil, e == ENOTEMPTY || e == EEXIST || e == ENOTDIR { throw .exists(path: final) }
            throw .io(IOError(path: final, operation: "rename the new folder into place", code: e))
        }
        stagingFolder.keep()
        created = true
        if let old { FileIO.removeTree(old) }
        return CreateReport(folder: final, settingsFile: final + "/" + req.name + ".vbox", diskFile: final + "/" + diskName,
                            diskBytes: diskBytes, isoFile: final + "/" + isoName, digest: iso.digest,
                            checksumOutcome: iso.checksumOutcome, signatureOutcome: iso.signatureOutcome,
                            warnings: iso.warnings,
                            findings: findings, guestAdditions: req.guestAdditions, release: iso.release, guest: guest,
                            unattended: unattended.map { ($0.pending, $0.written) })
    }

    /// Fetches (or checks) the installer. Returns where it is, its digest, how it was verified and where it came from.
    ///
    /// A digest the user gives (`--checksum sha256:HEX`) is their own trust anchor: the profile's checksum file,
    /// signature and key are then not used, and nothing is fetched for them. Otherwise, when a key is in play (the
    /// profile's pinned key, `--keyring` or `--key-fingerprint`) a signature must verify unless `noSignature`.
    func obtainISO(_ req: CreateRequest, log: (String) -> Void) throws(CreateError) -> ObtainedISO {
        let p = req.profile
        var warnings: [String] = []
        let mirrors = ReleaseResolver(downloader: downloader, mirrorPrefix: req.mirrorPrefix)
        var urls = req.isoURL.map { [$0] } ?? p.iso.urls.map(mirrors.rewrite)
        let specText = req.checksum ?? p.iso.checksum
        var userSpec: ChecksumSpec?
        if let text = req.checksum {
            do { userSpec = try ChecksumSpec(text) } catch { throw .download(.verification(error)) }
        }
        // The user's own digest or `none` replaces the publisher's checksum file, and with it the signature over it.
        let userOverride: Bool
        switch userSpec {
        case .digest?, .none?: userOverride = true
        default: userOverride = false
        }
        if req.release != nil && (!p.iso.isRelease || req.isoURL != nil) {
            throw .invalid("--release needs a profile in the release form (iso.pattern) and no --iso-url: the \(p.name) "
                + "profile " + (p.iso.isRelease ? "was given --iso-url" : "pins its URLs") + ".")
        }
        var keyring = req.keyring
        var pin = req.keyFingerprint
        var keyFolder: TempFolder?  // a key fetched without a cache lives here until obtainISO returns
        defer { withExtendedLifetime(keyFolder) {} }
        let signedByPublisher = !userOverride && p.isSigned
        // A fingerprint of your own replaces the profile's pin, and with it the profile's key: the key must come
        // from you.
        let normalize = { (f: String) in f.uppercased().filter { $0 != " " } }
        if let own = req.keyFingerprint, req.keyring == nil, !req.noSignature, !userOverride,
           p.iso.keyFingerprint.map(normalize) != normalize(own) {
            throw .invalid("--key-fingerprint \(own) needs --keyring FILE holding that key: the profile's key "
                + "(\(p.iso.keyFingerprint ?? "none")) is not used for a fingerprint you name.")
        }
        if req.noSignature || userOverride {
        } else if signedByPublisher, keyring == nil, let fpr = p.iso.keyFingerprint {
            // The profile's key: fetched once into the cache and checked against its fingerprint, each time.
            pin = pin ?? fpr
            if let keyURL = p.iso.keyURL {
                let (path, folder) = try profileKey(fingerprint: fpr, url: keyURL, log: log)
                keyring = path
                keyFolder = folder
            }
        }
        let userKey = req.keyring != nil || req.keyFingerprint != nil
        let noSignature = req.noSignature || (!signedByPublisher && !userKey)

        // A release folder and pattern: the installer's name from the publisher's signed checksum file.
        var resolved: ResolvedRelease?
        if p.iso.isRelease, req.isoURL == nil, !(req.isoPath != nil && userOverride) {
            do {
                let r = try mirrors.resolve(
                    p, release: req.release, keyring: keyring, pin: pin, noSignature: req.noSignature)
                for note in r.notes { log(note) }
                warnings += r.warnings
                urls = r.urls
                resolved = r
            } catch { throw .release(error) }
        }
        // `{iso}` in a signature name stands for the ISO's file name (Arch: `{iso}.sig`).
        let isoFileName = req.isoPath.map { String($0.split(separator: "/").last ?? "") } ?? urls.first.map(URLText.fileName) ?? ""
        let signature = req.noSignature || userOverride ? nil : p.iso.signature.map { $0.replacingAll("{iso}", with: isoFileName) }

        if let local = req.isoPath {
            var st = stat()
            guard stat(local, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                throw .download(.io(IOError(path: local, operation: "read", code: ENOENT)))
            }
            guard let specText else {
                warnings.append("\(local) is not verified: the \(p.name) profile has no checksum (the publisher "
                    + "publishes none); pass --checksum sha256:HEX from the download page to check it.")
                return ObtainedISO(path: local, digest: nil, checksumOutcome: "not verified (no checksum known)",
                                   signatureOutcome: "none (the publisher signs nothing)", warnings: warnings,
                                   origin: .local, release: resolved)
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
                                                 pinnedFingerprint: pin, noSignature: noSignature))
            } catch { throw .download(error) }
            warnings += plan.warnings.filter { !$0.hasPrefix("signature check skipped") }
            let verified: Digest?
            do { verified = try LocalFileVerification.verify(local, plan: plan) } catch {
                if case .io(let e) = error { throw .io(e) }
                throw .download(error)
            }
            guard let actual = verified else {
                return ObtainedISO(path: local, digest: nil, checksumOutcome: "not verified (--checksum none)",
                                   signatureOutcome: "none", warnings: warnings, origin: .local, release: resolved)
            }
            return ObtainedISO(path: local, digest: actual, checksumOutcome: "\(actual) verified" + source(plan),
                               signatureOutcome: signatureLine(plan, signed: signedByPublisher, noSignature: req.noSignature),
                               warnings: warnings, origin: .local, release: resolved)
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
                                             noSignature: noSignature))
        } catch { throw .download(error) }
        warnings += plan.warnings.filter { !$0.hasPrefix("signature check skipped") }
        let downloads: String
        if let cacheDirectory {
            do { downloads = try DownloadCache(root: cacheDirectory).folder("downloads") } catch {
                throw .download(.cache(error))
            }
        } else {
            downloads = req.directory + "/.vmprov-downloads"
            // The download is verified there and then moved into the machine folder by name: the folder must be a
            // real one of ours that nobody else can change (not a planted link, not writable by others).
            if mkdir(downloads, 0o700) != 0 && errno != EEXIST {
                throw .io(IOError(path: downloads, operation: "create", code: errno))
            }
            var ds = stat()
            guard lstat(downloads, &ds) == 0, (ds.st_mode & S_IFMT) == S_IFDIR, ds.st_uid == geteuid(),
                  ds.st_mode & 0o022 == 0 else {
                throw .download(.unsafeFile(path: downloads, reason: "is not a private folder of yours (a symbolic "
                    + "link, someone else's, or writable by group or others), and unverified downloads are kept only "
                    + "where nobody else can change them"))
            }
        }
        let dest = downloads + "/" + fileName
        // Said only when bytes will come over the network, not when a cache entry or a finished download serves.
        let cached = plan.expected.flatMap { downloader.cachePath(for: $0) }.map { access($0, F_OK) == 0 } ?? false
        if !cached && access(dest, F_OK) != 0 { log("fetching \(urls[0])") }
        let report: DownloadReport
        do {
            report = try downloader.fetch(DownloadRequest(urls: urls, destination: dest, expected: plan.expected,
                                                          verifyBeforeCommit: plan.verifyDownload,
                                                          maximumBytes: plan.expectedSize,
                                                          maximumSource: "the size the checksum file states"))
        } catch {
            throw .download(Self.discardFailedDownload(error, destination: dest,
                                                       privateFolder: cacheDirectory == nil ? downloads : nil))
        }
        if let note = report.cacheNote, !report.fromCache { warnings.append(note) }
        let how = report.fromCache ? "from the cache, " + (report.cacheNote ?? "re-hashed before use")
            : report.alreadyPresent ? "already downloaded" : "downloaded"
        let checksumOutcome = report.digest.map { "\($0) verified, \(how)" + source(plan) }
            ?? "NOT verified (--checksum none)"
        return ObtainedISO(path: dest, digest: report.digest, checksumOutcome: checksumOutcome,
                           signatureOutcome: signatureLine(plan, signed: signedByPublisher, noSignature: req.noSignature),
                           warnings: warnings,
                           origin: report.fromCache ? .cache : report.alreadyPresent ? .alreadyDownloaded : .downloaded,
                           url: report.url, release: resolved)
    }

    /// Removes what a failed download of `create` left: the `.corrupt` copy of a checksum mismatch (in the cache's
    /// `downloads/` folder too; create keeps nothing it refused) and, in the private `DIR/.vmprov-downloads`
    /// folder, the part of a download that failed for good and the folder once empty. The part of a network failure
    /// (`isTemporary`) stays there so that the next run resumes it. Returns the error to report (a mismatch no
    /// longer names a kept copy).
    static func discardFailedDownload(_ error: DownloadError, destination dest: String,
                                      privateFolder: String?) -> DownloadError {
        var reported = error
        if case let .verification(.mismatch(file, expected, actual, kept?)) = error {
            unlink(kept)
            reported = .verification(.mismatch(file: file, expected: expected, actual: actual, keptAt: nil))
        }
        if let privateFolder {
            if !error.isTemporary {
                unlink(dest + ".partial")
                unlink(dest + ".partial.info")
            }
            rmdir(privateFolder)  // only when empty
        }
        return reported
    }

    /// Where the digest came from, for the summary.
    func source(_ plan: VerificationPlan) -> String {
        if plan.digestFromUser { return " (the digest you gave with --checksum)" }
        return plan.checksumSource.map { " (checksums from \($0)" + (plan.effectiveName.map { ", listed as \($0)" } ?? "") + ")" } ?? ""
    }

    func signatureLine(_ plan: VerificationPlan, signed: Bool, noSignature: Bool) -> String {
        if let signer = plan.signer { return "good signature by \(signer)" }
        if plan.verifyDownload != nil { return "good signature on the ISO itself" }
        if noSignature { return "not checked (--no-signature)" }
        if plan.digestFromUser { return "not needed: the digest came from you, your own trust anchor" }
        return signed ? "not checked" : "none: the publisher signs nothing for this download"
    }

    /// The profile's public key from the cache (re-checked against its fingerprint on every use; a wrong entry is
    /// removed), downloading it once (capped at 4 MiB). Without a cache the key goes to a private temporary folder.
    /// Returns the key file and, without a cache, the private folder that holds it (removed when released).
    /// - Throws: `.download(.signature(.keyring))` when the URL does not hold the pinned key, `.download(.cache)`
    ///   for an unsafe cache, `.download` for the transfer.
    func profileKey(fingerprint: String, url: String, log: (String) -> Void) throws(CreateError) -> (String, TempFolder?) {
        let name = "\(fingerprint).asc"
        let cache = cacheDirectory.map { DownloadCache(root: $0) }
        if let cache {
            let cached: [UInt8]?
            do { cached = try cache.readSmall("keys", name, limit: Downloader.smallFileLimit) } catch {
                throw .download(.cache(error))
            }
            if let cached {
                if OpenPGPKeys.primaryFingerprints(cached).contains(fingerprint) {
                    return (cache.root + "/keys/" + name, nil)
                }
                log("the cached key \(cache.root)/keys/\(name) does not hold \(fingerprint); removed, fetching it again")
                cache.remove("keys", name)
            }
        }
        log("fetching the signing key \(fingerprint) from \(url)")
        let bytes: [UInt8]
        do { bytes = try downloader.fetchSmall(url) } catch { throw .download(error) }
        let found = OpenPGPKeys.primaryFingerprints(bytes)
        guard found.contains(fingerprint) else {
            throw .download(.signature(.keyring(path: url, reason: "it does not hold the pinned key \(fingerprint) "
                + "(it holds \(found.isEmpty ? "no OpenPGP key" : found.joined(separator: ", "))); the key is not trusted")))
        }
        if let cache {
            do { return (try cache.storeSmall("keys", name, bytes: bytes), nil) } catch { throw .download(.cache(error)) }
        }
        let folder: TempFolder
        do { folder = try TempFolder(prefix: "vmprov-key") } catch { throw .io(error) }
        let path = folder.file(name)
        do { try TempFiles.write(bytes, to: path) } catch { throw .io(error) }
        return (path, folder)
    }

    /// Puts the installer into the new machine folder. A private download is renamed in (copied across file
    /// systems); a user's own file is copied, or reflinked where the file system can, never hard-linked: the machine
    /// folder is handed to the container user (set-perm-vmsrc chowns it), and a shared inode would hand over, and
    /// let them change, the user's original or the cache's bytes. A copy is hashed as it is written and must equal
    /// `digest`, so the folder gets the verified bytes even if the source changed meanwhile.
    /// - Throws: `.io` when the copy fails, `.download(.verification(.mismatch))` when the copied bytes differ.
    static func placeISO(_ source: String, to target: String, move: Bool, digest: Digest?) throws(CreateError) {
        if move, rename(source, target) == 0 { return }
        let src: OwnedFD, dst: OwnedFD
        do {
            src = try OwnedFD.open(source, O_RDONLY)
            dst = try OwnedFD.open(target, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644, operation: "create")
        } catch { throw .io(error) }
        let actual: Digest?
        do {
            actual = try DownloadCache.cloneOrCopy(from: src.raw, sourcePath: source, to: dst.raw, targetPath: target,
                                                   hashing: digest?.algorithm)
        } catch { throw .io(error) }
        if let digest, let actual, actual != digest {
            throw .download(.verification(.mismatch(file: source, expected: digest, actual: actual, keptAt: nil)))
        }
        guard Syscall.retrying({ fsync(dst.raw) }) == 0 || errno == EINVAL else {
            throw .io(IOError(path: target, operation: "sync", code: errno))
        }
        if move { unlink(source) }
    }
}

extension ChecksumSpec {
    /// `file:` with a relative reference (resolved against the download URL's folder).
    var isRelativeFile: Bool {
        if case .file(let ref) = self { return URLText.scheme(ref) == nil && !ref.hasPrefix("/") }
        return false
    }
}
