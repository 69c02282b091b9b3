import Foundation
@testable import Provision
import Testing
import TestSupport
import Basics

/// The one-stream transfer collects libcurl's 16 KiB pieces and writes them in larger chunks: every byte must
/// still reach the part in order, and a failed write must still stop the transfer.
@Suite("Transfer writes")
struct TransferWriteTests {
    /// Feeds `data` to `state` in pieces of the given sizes, as libcurl's write callback would.
    static func feed(_ state: TransferState, _ data: [UInt8], pieces: [Int]) -> Int {
        var at = 0
        var accepted = 0
        var i = 0
        while at < data.count {
            let n = min(pieces[i % pieces.count], data.count - at)
            accepted += data[at..<(at + n)].withUnsafeBytes { state.receive($0) }
            at += n
            i += 1
        }
        return accepted
    }

    @Test(arguments: [[16 << 10], [1, 7, 16 << 10, 300 << 10, 5], [TransferState.writeChunk], [TransferState.writeChunk + 1, 3]])
    func everyByteReachesThePartInOrder(pieces: [Int]) throws {
        let dir = TempDir()
        let path = dir.file("disk.iso.partial").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let data = Array(randomData(3 * TransferState.writeChunk + 12_345))
        let state = TransferState(fd: fd, offset: 0, hasher: StreamingHasher(.sha256))
        state.headers.status = 200
        #expect(Self.feed(state, data, pieces: pieces) == data.count)
        #expect(state.abort == nil)
        #expect(state.flush() == nil)
        #expect(state.size == Int64(data.count))
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: path))) == data)
        #expect(state.finishHash()?.hex == (try sha256sum(Data(data))))
    }

    /// A write that fails once the collected bytes go out is an I/O error of the transfer, not a silent loss.
    @Test func aFailedWriteStopsTheTransfer() throws {
        let dir = TempDir()
        let path = dir.write("disk.iso.partial", "")
        let fd = open(path.path, O_RDONLY)  // every write fails with EBADF
        try #require(fd >= 0)
        defer { close(fd) }
        let state = TransferState(fd: fd, offset: 0, hasher: nil)
        state.headers.status = 200
        let data = Array(randomData(2 * TransferState.writeChunk))
        let accepted = Self.feed(state, data, pieces: [16 << 10])
        // The first full chunk fails as it is written: the callback refuses, which makes libcurl stop.
        #expect(accepted < data.count)
        #expect(state.abort == .io(EBADF))
        let small = TransferState(fd: fd, offset: 0, hasher: nil)
        small.headers.status = 200
        #expect(Self.feed(small, [UInt8](repeating: 1, count: 100), pieces: [100]) == 100)
        #expect(small.flush() == EBADF)
    }
}
