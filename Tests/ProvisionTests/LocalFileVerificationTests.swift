import Basics
import Foundation
import Provision
import Testing
import TestSupport

/// The one local-file check that `vmprov verify FILE` and `create --iso PATH` share.
@Suite("Local-file verification")
struct LocalFileVerificationTests {
    static func plan(_ spec: String, file: String) throws -> VerificationPlan {
        try ChecksumResolver(downloader: Downloader()).plan(
            fileName: URLText.fileName(file), bases: [file], request: VerificationRequest(spec: try ChecksumSpec(spec)))
    }

    @Test func aMatchingFileReturnsItsDigestAndAWrongOneIsALocalMismatch() throws {
        let dir = TempDir()
        let file = dir.file("disk.iso").path
        try Data("installer".utf8).write(to: URL(fileURLWithPath: file))
        let good = StreamingHasher.sha256Hex(Array("installer".utf8))
        let digest = try LocalFileVerification.verify(file, plan: try Self.plan("sha256:\(good)", file: file))
        #expect(digest?.hex == good)

        let wrong = String(repeating: "0", count: 64)
        let wrongPlan = try Self.plan("sha256:\(wrong)", file: file)
        do throws(DownloadError) {
            _ = try LocalFileVerification.verify(file, plan: wrongPlan)
            Issue.record("a wrong digest was accepted")
        } catch {
            guard case .verification(.localMismatch(let f, let expected, let actual)) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(f == file && expected.hex == wrong && actual.hex == good)
        }
        #expect(try LocalFileVerification.verify(file, plan: try Self.plan("none", file: file)) == nil)
    }

    @Test func anUnreadableFileIsAnIOErrorNamingIt() throws {
        let missing = "/nonexistent/vmprov/disk.iso"
        let plan = try Self.plan("sha256:" + String(repeating: "a", count: 64), file: missing)
        do throws(DownloadError) {
            _ = try LocalFileVerification.verify(missing, plan: plan)
            Issue.record("a missing file was verified")
        } catch {
            guard case .io(let e) = error else { Issue.record("\(error)"); return }
            #expect(e.path == missing && e.code == ENOENT)
        }
    }
}
