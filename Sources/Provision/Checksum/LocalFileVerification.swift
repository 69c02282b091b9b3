#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// Verifying a file that is already on disk (`vmprov verify FILE`, `create --iso PATH`): the one implementation.
public enum LocalFileVerification {
    /// Checks `path` against `plan`: its digest first, then, when the plan has one, the signature over the file
    /// itself (`plan.verifyDownload`).
    /// - Returns: the digest that matched, or nil when the plan expects none (`--checksum none`).
    /// - Throws: `DownloadError.verification(.localMismatch)` when the digest differs (wrong file or damaged),
    ///   `.io` when the file cannot be read, `.signature` when the signature over it does not verify.
    public static func verify(_ path: String, plan: VerificationPlan) throws(DownloadError) -> Digest? {
        guard let expected = plan.expected else { return nil }
        let actual: Digest
        do { actual = try FileHasher.digest(path: path, algorithm: expected.algorithm) } catch { throw .io(error) }
        guard actual == expected else {
            throw .verification(.localMismatch(file: path, expected: expected, actual: actual))
        }
        if let check = plan.verifyDownload {
            do { try check(path) } catch let e as SignatureError { throw .signature(e) } catch {
                throw .io(IOError(path: path, operation: "verify", code: EIO))
            }
        }
        return actual
    }
}
