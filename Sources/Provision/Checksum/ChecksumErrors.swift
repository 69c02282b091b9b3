/// Errors about checksums and signatures. Each names the file or URL and says what to do.
public enum ChecksumError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The spec given with --checksum cannot be read.
    case badSpec(spec: String, reason: String)
    /// A checksum file has no entry for the file, or contradictory ones.
    case noEntry(checksumFile: String, name: String, available: [String])
    case contradictory(checksumFile: String, name: String, digests: [String])
    /// The checksum file has lines vmprov cannot read and no usable entries.
    case unreadable(checksumFile: String, reason: String)
    /// The data does not match.
    case mismatch(file: String, expected: Digest, actual: Digest, keptAt: String?)
    /// A local file (`verify`, `create --iso`) does not match: no mirror is involved.
    case localMismatch(file: String, expected: Digest, actual: Digest)
    /// An algorithm vmprov cannot compute.
    case unsupported(algorithm: HashAlgorithm, source: String)

    /// What is wrong with the checksum, for which file, and what to do.
    public var description: String {
        switch self {
        case let .badSpec(spec, reason):
            return "--checksum \(spec): \(reason). Use sha256:HEX, sha512:HEX, sha1:HEX, md5:HEX, a bare HEX, "
                + "file:URL (a checksum file) or none."
        case let .noEntry(file, name, available):
            let list = available.isEmpty ? "it lists no files" : "it lists: " + available.prefix(20).joined(separator: ", ")
                + (available.count > 20 ? ", … (\(available.count) in all)" : "")
            return "\(file): no checksum for \(name); \(list). Check the URL or the file name, or give --checksum "
                + "sha256:HEX."
        case let .contradictory(file, name, digests):
            return "\(file): contradictory checksums for \(name) (\(digests.joined(separator: ", "))). The checksum "
                + "file is damaged or was edited; get it again from the publisher."
        case let .unreadable(file, reason):
            return "\(file): not a checksum file vmprov can read: \(reason)."
        case let .mismatch(file, expected, actual, keptAt):
            return "\(file): checksum mismatch.\n    expected \(expected)\n    actual   \(actual)\n"
                + (keptAt.map { "The bad data was moved to \($0); nothing was left at the destination. " } ?? "")
                + "A mirror may serve a damaged or different file; try again or another mirror."
        case let .localMismatch(file, expected, actual):
            return "\(file): checksum mismatch.\n    expected \(expected)\n    actual   \(actual)\n"
                + "The file differs from the digest: it is another file than the one the digest is for, or it is "
                + "damaged (an incomplete copy or download). Check that the digest belongs to this file, or get the "
                + "file again."
        case let .unsupported(algorithm, source):
            return "\(source): uses \(algorithm.rawValue), which vmprov cannot compute; use the publisher's SHA-256 "
                + "or SHA-512 checksum file instead."
        }
    }
}

/// Errors about OpenPGP signatures checked with gpgv.
public enum SignatureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// gpgv is not at any of the places looked at (VMPROV_GPGV, /usr/bin/gpgv, /bin/gpgv).
    case gpgvMissing(looked: [String])
    case noKeyring(what: String)
    case bad(file: String, signature: String, detail: String)
    /// A signature that is intact but not acceptable (revoked key, expired signature).
    case rejected(file: String, signature: String, detail: String)
    case unknownKey(file: String, signature: String, keyID: String, keyring: String)
    case wrongSigner(file: String, signer: String, pinned: String)
    case missing(signature: String, reason: String)
    case notSigned(file: String)
    case keyring(path: String, reason: String)
    /// A key is in play (pinned or given) but no signature was verified: an unsigned or stripped checksum file, or
    /// no signature at all. `expected` says what should have been signed and by what.
    case required(what: String, expected: String)

    /// What the signature check found, for which file, and what to do.
    public var description: String {
        switch self {
        case let .gpgvMissing(looked):
            return "gpgv was not found (looked at \(looked.joined(separator: ", ")); the caller's PATH is not searched). "
                + "Install the gpgv package (Debian/Ubuntu: apt-get install gpgv; Arch: pacman -S gnupg), or set "
                + "VMPROV_GPGV to the absolute path of gpgv."
        case let .noKeyring(what):
            return "\(what) is signed, but no key was given to check it; pass --keyring FILE with the publisher's "
                + "public key (or --no-signature to skip the check, not recommended)."
        case let .bad(file, signature, detail):
            return "\(file): BAD signature (\(signature)): \(detail). The file was changed after it was signed; "
                + "do not use it."
        case let .rejected(file, signature, detail):
            return "\(file): signature not accepted (\(signature)): \(detail)."
        case let .unknownKey(file, signature, keyID, keyring):
            return "\(file): signed (\(signature)) by key \(keyID), which is not in \(keyring). This is not the key "
                + "you trust for this file: check --keyring."
        case let .wrongSigner(file, signer, pinned):
            return "\(file): the signature is good but made by \(signer), not the pinned key \(pinned)."
        case let .missing(signature, reason):
            return "\(signature): cannot get the signature: \(reason). Check --signature, or pass --no-signature to "
                + "skip the check (not recommended)."
        case let .notSigned(file):
            return "\(file): there is no signature in it."
        case let .keyring(path, reason):
            return "\(path): cannot use this keyring: \(reason)."
        case let .required(what, expected):
            return "\(what): no signature was verified, but \(expected). The signature may have been stripped on the "
                + "way (a mirror or proxy can serve an unsigned copy); nothing was trusted. Check the URLs, or pass "
                + "--no-signature only if you know this publisher signs nothing here."
        }
    }
}
