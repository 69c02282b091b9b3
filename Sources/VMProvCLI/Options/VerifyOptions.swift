#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import FoundationEssentials
import Provision
import VBoxXML

/// Options shared by `fetch`, `verify` and `create` for checksums and signatures.
struct VerifyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("sha256:HEX, sha512:HEX, sha1:HEX, md5:HEX, a bare HEX, file:URL (a checksum file; "
        + "relative to the download's folder) or none.", valueName: "spec"))
    var checksum: String

    @Option(help: ArgumentHelp("Detached signature (URL or path; relative to the download's folder) of the checksum "
        + "file or of the download.", valueName: "url|path"))
    var signature: String?

    @Option(help: ArgumentHelp("Public key(s) to check signatures with (armoured or binary).", valueName: "file"))
    var keyring: String?

    @Option(help: ArgumentHelp("Accept only signatures by this key (fingerprint); a signature must then verify.",
                               valueName: "fpr"))
    var keyFingerprint: String?

    @Flag(help: "Do not check signatures, even with a key given (a warning is printed).")
    var noSignature = false

    /// Checked while the options are parsed, so a bad value prints the subcommand's own usage (exit 64).
    func validate() throws {
        if signature != nil && noSignature {
            throw ValidationError("--signature and --no-signature contradict each other: drop one of them (keep "
                + "--signature to check it, or drop it and keep --no-signature to check none).")
        }
        do { _ = try ChecksumSpec(checksum) } catch { throw ValidationError(error.description) }
    }

    func request() throws -> VerificationRequest {
        let spec: ChecksumSpec
        do { spec = try ChecksumSpec(checksum) } catch { throw ValidationError(error.description) }
        return VerificationRequest(spec: spec, signature: signature, keyring: keyring,
                                   pinnedFingerprint: keyFingerprint, noSignature: noSignature)
    }
}
