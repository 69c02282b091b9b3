import Basics
/// What `vmprov profiles check` found for one profile.
public struct ProfileCheckResult: Sendable, Codable, Equatable {
    /// One HEAD request: the installer (or its signature) on one mirror.
    public struct Probe: Sendable, Codable, Equatable {
        /// The URL asked for (HEAD).
        public var url: String
        /// Whether it answered below HTTP 400.
        public var ok: Bool
        /// `HTTP 200`-style outcome or the error.
        public var detail: String
    }
    /// The profile's name.
    public var profile: String
    /// `ok`, `failed`, or `skipped` (no download: the user supplies the ISO).
    public var status: String
    /// The installer's file name (resolved or pinned).
    public var fileName: String?
    /// The resolved `{version}` (release form).
    public var version: String?
    /// The folder that served the checksum file (release form).
    public var folder: String?
    /// The checksum file that was read and verified.
    public var checksumFile: String?
    /// Who signed the checksum file, when it was signed.
    public var signer: String?
    /// Every HEAD request, in order.
    public var probes: [Probe]
    /// Why the check failed (or was skipped).
    public var error: String?

    /// Whether the check failed (skipped is not a failure).
    public var failed: Bool { status == "failed" }
}

extension MachineCreator {
    /// The key a profile's downloads are checked with: `keyring` (the user's, with `keyFingerprint` as pin), else the
    /// profile's pinned key fetched into the cache and checked against its fingerprint. Returns (keyring, pin,
    /// folder): both nil when no key is in play; the folder (a key fetched without a cache) must outlive the keyring's
    /// use and is removed when released.
    /// - Throws: `CreateError.download` when the profile's key cannot be fetched or is not the pinned one.
    public func key(for p: Profile, keyring: String?, keyFingerprint: String?,
                    log: (String) -> Void) throws(CreateError) -> (String?, String?, TempFolder?) {
        if keyring != nil || keyFingerprint != nil { return (keyring, keyFingerprint, nil) }
        guard let fpr = p.iso.keyFingerprint, let url = p.iso.keyURL else { return (nil, nil, nil) }
        let (path, folder) = try profileKey(fingerprint: fpr, url: url, log: log)
        return (path, fpr, folder)
    }

    /// Resolves a release-form profile with its key (see `key(for:)`): `vmprov profiles show --resolve`.
    /// - Throws: `CreateError.release` (or `.download` for the key).
    public func resolveRelease(_ p: Profile, release: String?, keyring: String?, keyFingerprint: String?,
                               noSignature: Bool, mirrorPrefix: String?,
                               log: (String) -> Void) throws(CreateError) -> ResolvedRelease {
        let (ring, pin, keyFolder) = noSignature ? (nil, nil, nil)
            : try key(for: p, keyring: keyring, keyFingerprint: keyFingerprint, log: log)
        defer { withExtendedLifetime(keyFolder) {} }
        do {
            return try ReleaseResolver(downloader: downloader, mirrorPrefix: mirrorPrefix).resolve(
                p, release: release, keyring: ring, pin: pin, noSignature: noSignature)
        } catch { throw .release(error) }
    }

    /// Checks that a profile still works: its checksum file and signature are fetched and verified (release form:
    /// resolved), and the installer is asked for (HEAD) on every mirror, as is a signature over the installer.
    /// `keyring`/`keyFingerprint` replace the pinned key of profiles whose publisher signs; unsigned profiles are
    /// checked without a key (their result has no signer).
    /// Never throws: failures are in the result.
    public func check(_ p: Profile, keyring: String?, keyFingerprint: String?, mirrorPrefix: String?) -> ProfileCheckResult {
        var result = ProfileCheckResult(profile: p.name, status: "ok", probes: [])
        guard p.isDownloadable else {
            result.status = "skipped"
            result.error = "no download (--iso PATH)"
            return result
        }
        func fail(_ text: String) -> ProfileCheckResult {
            result.status = "failed"
            result.error = text
            return result
        }
        let urls: [String]
        var fileName: String
        do throws(CreateError) {
            // A keyring replaces the pinned keys; a profile whose publisher signs nothing has nothing to check with it.
            let (ring, pin, keyFolder) = p.isSigned
                ? try key(for: p, keyring: keyring, keyFingerprint: keyFingerprint, log: { _ in }) : (nil, nil, nil)
            defer { withExtendedLifetime(keyFolder) {} }
            if p.iso.isRelease {
                let r: ResolvedRelease
                do { r = try ReleaseResolver(downloader: downloader, mirrorPrefix: mirrorPrefix).resolve(
                    p, release: nil, keyring: ring, pin: pin, noSignature: false) } catch { throw .release(error) }
                urls = r.urls
                fileName = r.fileName
                result.version = r.version
                result.folder = r.folder
                result.checksumFile = r.checksumURL
                result.signer = r.signer
            } else {
                let resolver = ReleaseResolver(downloader: downloader, mirrorPrefix: mirrorPrefix)
                urls = p.iso.urls.map(resolver.rewrite)
                do { fileName = try URLText.safeFileName(urls[0]) } catch { throw .download(error) }
                if let text = p.iso.checksum {
                    let spec: ChecksumSpec
                    do { spec = try ChecksumSpec(text) } catch { throw .download(.verification(error)) }
                    let signature = p.iso.signature.map { $0.replacingAll("{iso}", with: fileName) }
                    let plan: VerificationPlan
                    do {
                        plan = try ChecksumResolver(downloader: downloader).plan(
                            fileName: fileName, bases: urls,
                            request: VerificationRequest(spec: spec, signature: signature, keyring: ring,
                                                         pinnedFingerprint: pin, noSignature: ring == nil && pin == nil))
                    } catch { throw .download(error) }
                    result.checksumFile = plan.checksumSource
                    result.signer = plan.signer
                }
            }
        } catch {
            return fail(error.description)
        }
        result.fileName = fileName
        var probes = urls
        if let sig = p.iso.signature, sig.contains("{iso}") {
            probes += urls.map { URLText.resolve(sig.replacingAll("{iso}", with: fileName), against: $0) }
        }
        for url in probes {
            do {
                _ = try downloader.effectiveURL(of: url)
                result.probes.append(.init(url: url, ok: true, detail: "reachable"))
            } catch {
                result.probes.append(.init(url: url, ok: false, detail: error.description))
            }
        }
        if let bad = result.probes.first(where: { !$0.ok }) {
            return fail("\(bad.url): \(bad.detail)")
        }
        return result
    }
}
