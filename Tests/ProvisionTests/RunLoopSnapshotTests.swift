import Basics
import Foundation
import Testing
@testable import Provision

/// Snapshot requests in the decision loop (fake clock, fake guest): what is run, refused or deferred, and that a
/// stop signal during a snapshot call is still carried out.
@Suite("Runner decision loop: snapshot requests")
struct RunLoopSnapshotTests {
    static func request(_ id: Int, _ op: SnapshotOperation, _ name: String, powerOff: Bool = false) -> PendingRequest {
        // The names are valid; a failure here is a broken test.
        PendingRequest(id: id, request: try! ControlRequest(op, name: name, powerOff: powerOff))
    }

    func run(_ guest: FakeGuest, policy: StopPolicy = StopPolicy(termAction: .acpi, stopTimeout: .seconds(30)))
        -> (Provision.RunLoop, [String]) {
        var lines: [String] = []
        var loop = Provision.RunLoop(policy: policy, pollInterval: .milliseconds(250), startupTimeout: .seconds(120),
                           vmName: "demo", tools: guest, clock: guest.clock, log: { lines.append($1) })
        loop.run()
        return (loop, lines)
    }

    @Test func takeAndDeleteWhileRunning() {
        let clock = FakeClock()
        let guest = FakeGuest(clock: clock, signals: [(.seconds(20), SIGTERM)], runningAt: .seconds(2),
                              reactions: [.acpi: .exitAfter(.seconds(2))])
        guest.requests = [(.seconds(5), Self.request(1, .take, "first")), (.seconds(10), Self.request(2, .delete, "first"))]
        let (_, lines) = run(guest)
        #expect(guest.snapshots.map(\.0.operation) == [.take, .delete])
        #expect(guest.snapshots.map(\.1) == [.seconds(5), .seconds(10)])
        #expect(guest.answers.map(\.0) == [1, 2])
        #expect(guest.answers.map(\.1.outcome) == [.done, .done])
        #expect(guest.answers.first?.1.uuid == "0b6c3d2e-1f1a-4c4e-9a0e-7d1c2b3a4f50")
        #expect(guest.answers.first?.1.message.contains("Snapshot taken. UUID:") == true)
        #expect(guest.sent.map(\.0) == [.acpi], "the TERM afterwards still stops the guest: \(lines)")
    }

    @Test func restoreOfARunningGuestIsRefusedWithTheSteps() {
        let clock = FakeClock()
        let guest = FakeGuest(clock: clock, signals: [(.seconds(20), SIGQUIT)], runningAt: .seconds(2))
        guest.requests = [(.seconds(5), Self.request(1, .restore, "first"))]
        let (loop, _) = run(guest)
        #expect(guest.snapshots.isEmpty, "VBoxManage is not asked")
        #expect(guest.answers.map(\.1.outcome) == [.refused])
        let message = guest.answers.first?.1.message ?? ""
        #expect(message.contains("powered off or saved") && message.contains("--power-off"), "\(message)")
        #expect(loop.restoreAfterExit == nil)
        #expect(guest.sent.map(\.0) == [.poweroff])
    }

    @Test func restoreWithPowerOffPowersOffAndLeavesTheRestoreToTheRunner() {
        let clock = FakeClock()
        let guest = FakeGuest(clock: clock, signals: [], runningAt: .seconds(2))
        guest.requests = [(.seconds(5), Self.request(7, .restore, "first", powerOff: true))]
        let (loop, _) = run(guest)
        #expect(guest.sent.map(\.0) == [.poweroff])
        #expect(guest.sent.map(\.1) == [.seconds(5)])
        #expect(loop.poweroffRequested)
        #expect(loop.restoreAfterExit?.id == 7)
        #expect(guest.answers.isEmpty, "answered by the runner after the restore")
        #expect(guest.snapshots.isEmpty)
    }

    @Test func requestsBeforeTheStartOrDuringAStopAreBusy() {
        let clock = FakeClock()
        let guest = FakeGuest(clock: clock, signals: [(.seconds(10), SIGTERM)], runningAt: .seconds(4),
                              reactions: [.acpi: .exitAfter(.seconds(10))])
        guest.requests = [(.seconds(1), Self.request(1, .take, "early")), (.seconds(12), Self.request(2, .take, "late"))]
        let (_, _) = run(guest)
        #expect(guest.snapshots.isEmpty)
        #expect(guest.answers.map(\.1.outcome) == [.busy, .busy])
        #expect(guest.answers[0].1.message.contains("has not started yet"))
        #expect(guest.answers[1].1.message.contains("is stopping (acpipowerbutton sent)"))
    }

    @Test func aStopArrivingWithARequestWins() {
        let clock = FakeClock()
        let guest = FakeGuest(clock: clock, signals: [(.seconds(10), SIGINT)], runningAt: .seconds(2))
        guest.requests = [(.seconds(10), Self.request(1, .take, "same-time"))]
        let (_, _) = run(guest)
        #expect(guest.sent.map(\.0) == [.savestate])
        #expect(guest.answers.map(\.1.outcome) == [.busy])
        #expect(guest.snapshots.isEmpty)
    }

    /// TERM while VBoxManage takes the snapshot: the call finishes (it is not abandoned), then the TERM is acted
    /// on at once: ACPI goes out when the snapshot call returns, and the guest stops cleanly.
    @Test(arguments: [SIGTERM, SIGQUIT])
    func aStopSignalDuringASnapshotCallIsCarriedOutAfterIt(_ sig: Int32) {
        let clock = FakeClock()
        let guest = FakeGuest(clock: clock, signals: [], runningAt: .seconds(2))
        guest.requests = [(.seconds(5), Self.request(1, .take, "first"))]
        guest.duringSnapshot = [0: sig]
        guest.snapshotTakes = .seconds(3)
        let (loop, lines) = run(guest)
        #expect(guest.answers.map(\.1.outcome) == [.done], "\(lines)")
        #expect(guest.sent.map(\.0) == [sig == SIGTERM ? .acpi : .poweroff], "\(lines)")
        #expect(guest.sent.map(\.1) == [.seconds(8)], "right after the 3 s call")
        #expect(guest.headlessExited)
        #expect(loop.poweroffRequested == (sig == SIGQUIT))
    }

    @Test func aFailedSnapshotCallIsReportedWithVBoxManagesError() {
        let clock = FakeClock()
        let guest = FakeGuest(clock: clock, signals: [(.seconds(20), SIGQUIT)], runningAt: .seconds(2))
        guest.snapshotError = "VBoxManage: error: Could not find a snapshot named 'nope'\n"
            + "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component SessionMachine\n"
        guest.requests = [(.seconds(5), Self.request(1, .delete, "nope"))]
        let (_, lines) = run(guest)
        #expect(guest.answers.map(\.1.outcome) == [.failed])
        #expect(guest.answers.first?.1.message.hasPrefix(
            "snapshot delete \"nope\" of \"demo\" failed: Could not find a snapshot named 'nope'") == true)
        #expect(lines.contains { $0.contains("failed: Could not find a snapshot named 'nope'") })
        #expect(guest.sent.map(\.0) == [.poweroff])
    }

    @Test func snapshotUUIDsFromVBoxManagesLines() {
        #expect(Provision.RunLoop.snapshotUUID("Snapshot taken. UUID: 0B6C3D2E-1F1A-4C4E-9A0E-7D1C2B3A4F50")
            == "0b6c3d2e-1f1a-4c4e-9a0e-7d1c2b3a4f50")
        #expect(Provision.RunLoop.snapshotUUID("Deleting snapshot 'a (b)' (0b6c3d2e-1f1a-4c4e-9a0e-7d1c2b3a4f50)")
            == "0b6c3d2e-1f1a-4c4e-9a0e-7d1c2b3a4f50")
        #expect(Provision.RunLoop.snapshotUUID("Restoring snapshot 'x' (not-a-uuid)") == nil)
        #expect(Provision.RunLoop.snapshotUUID("0%...100%") == nil)
    }
}
