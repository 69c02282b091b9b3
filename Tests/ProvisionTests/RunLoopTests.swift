import Basics
import Foundation
import Testing
@testable import Provision

/// Fake time: moves only when the loop waits.
final class FakeClock: RunLoopClock {
    var t: Duration = .zero
    func now() -> Duration { t }
}

/// A scripted guest: signals at given times, a state that becomes `running` at `runningAt`, and reactions to
/// the actions sent. Every call is instantaneous; only waiting advances the clock.
final class FakeGuest: RunLoopTools {
    enum Reaction {
        case ignore
        case exitAfter(Duration)
        case fail
    }

    let clock: FakeClock
    /// (time, signal), in time order.
    var signals: [(Duration, Int32)]
    /// When VBoxHeadless exits by itself (the guest shuts down, crashes …).
    var exitAt: Duration?
    var runningAt: Duration?
    var stateOverride: VMState?
    var reactions: [GuestAction: Reaction]
    /// Signals that arrive while the n-th `send` runs (queued, abortable).
    var duringSend: [Int: Int32] = [:]
    private(set) var sent: [(GuestAction, Duration)] = []
    private(set) var waits = 0
    private var queued: [Int32] = []

    init(clock: FakeClock, signals: [(Duration, Int32)], runningAt: Duration?, exitAt: Duration? = nil,
         reactions: [GuestAction: Reaction] = [:]) {
        self.clock = clock
        self.signals = signals
        self.runningAt = runningAt
        self.exitAt = exitAt
        self.reactions = reactions
    }

    var headlessExited: Bool { exitAt.map { clock.t >= $0 } ?? false }

    func takeQueuedSignals() -> [Int32] {
        defer { queued.removeAll() }
        return queued
    }

    func waitForSignals(upTo timeout: Duration) -> [Int32] {
        waits += 1
        precondition(waits < 100_000, "the loop does not end")
        var until = clock.t + timeout
        if let next = signals.first?.0, next < until { until = max(next, clock.t) }
        if let exitAt, exitAt < until { until = max(exitAt, clock.t) }
        clock.t = until
        let due = signals.prefix { $0.0 <= clock.t }.map(\.1)
        signals.removeFirst(due.count)
        return due
    }

    func state(abortIf: (Int32) -> Bool) throws(VirtualBoxError) -> VMState {
        if headlessExited { return .poweroff }
        if let stateOverride { return stateOverride }
        guard let runningAt, clock.t >= runningAt else { return .starting }
        return .running
    }

    func send(_ action: GuestAction, abortIf: (Int32) -> Bool) throws(VirtualBoxError) {
        if let sig = duringSend.removeValue(forKey: sent.count) {
            queued.append(sig)
            if abortIf(sig) {
                sent.append((action, clock.t))
                throw .interrupted(argv: ["VBoxManage", "controlvm"], by: Runner.name(of: sig))
            }
        }
        sent.append((action, clock.t))
        switch reactions[action] ?? .exitAfter(.seconds(1)) {
        case .ignore: break
        case let .exitAfter(d): exitAt = min(exitAt ?? clock.t + d, clock.t + d)
        case .fail:
            throw .failed(ProcessOutput(argv: ["VBoxManage", "controlvm"], status: 1, signal: nil, stdout: [],
                                        stderr: Array("VBoxManage: error: refused\n".utf8)))
        }
    }
}

@Suite("Runner decision loop (fake clock, fake tools)")
struct RunLoopTests {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var policy = StopPolicy(termAction: .acpi, stopTimeout: .seconds(30))
        var signals: [(Duration, Int32)]
        var runningAt: Duration? = .seconds(2)
        var exitAt: Duration? = nil
        var reactions: [GuestAction: FakeGuest.Reaction] = [:]
        var duringSend: [Int: Int32] = [:]
        var state: VMState? = nil
        /// (action, when it was sent)
        var expected: [(GuestAction, Duration)]
        var started = true
        var poweroff = false
        var logs: [String] = []
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "TERM: ACPI, the guest shuts down", signals: [(.seconds(10), SIGTERM)],
             reactions: [.acpi: .exitAfter(.seconds(5))], expected: [(.acpi, .seconds(10))]),
        Case(name: "TERM: ACPI unanswered, savestate after STOP_TIMEOUT", signals: [(.seconds(10), SIGTERM)],
             reactions: [.acpi: .ignore], expected: [(.acpi, .seconds(10)), (.savestate, .seconds(40))],
             logs: ["still running 30 s after the ACPI request"]),
        Case(name: "TERM before start: carried out once running", signals: [(.milliseconds(100), SIGTERM)],
             expected: [(.acpi, .milliseconds(2100))], logs: ["has not started yet"]),
        Case(name: "INT: savestate", signals: [(.seconds(3), SIGINT)], expected: [(.savestate, .seconds(3))]),
        Case(name: "QUIT: poweroff", signals: [(.seconds(3), SIGQUIT)], expected: [(.poweroff, .seconds(3))],
             poweroff: true),
        Case(name: "STOP_ACTION=poweroff", policy: StopPolicy(termAction: .poweroff), signals: [(.seconds(3), SIGTERM)],
             expected: [(.poweroff, .seconds(3))], poweroff: true),
        Case(name: "HUP ignored; guest exits by itself", signals: [(.seconds(3), SIGHUP)], exitAt: .seconds(9),
             expected: [], logs: ["SIGHUP ignored"]),
        Case(name: "second TERM escalates at once", signals: [(.seconds(10), SIGTERM), (.seconds(12), SIGTERM)],
             reactions: [.acpi: .ignore], expected: [(.acpi, .seconds(10)), (.savestate, .seconds(12))]),
        Case(name: "INT after QUIT does not weaken", signals: [(.seconds(3), SIGQUIT), (.seconds(3), SIGINT)],
             reactions: [.poweroff: .exitAfter(.seconds(2))], expected: [(.poweroff, .seconds(3))], poweroff: true,
             logs: ["a stop (poweroff) is already under way"]),
        Case(name: "paused guest: savestate instead of ACPI", signals: [(.seconds(3), SIGTERM)], state: .paused,
             expected: [(.savestate, .seconds(3))], logs: ["cannot take an ACPI request"]),
        Case(name: "failed savestate escalates to poweroff", signals: [(.seconds(3), SIGINT)],
             reactions: [.savestate: .fail], expected: [(.savestate, .seconds(3)), (.poweroff, .seconds(3))],
             poweroff: true, logs: ["savestate failed: refused"]),
        Case(name: "QUIT during the ACPI call abandons it", signals: [(.seconds(3), SIGTERM)],
             reactions: [.acpi: .ignore], duringSend: [0: SIGQUIT],
             expected: [(.acpi, .seconds(3)), (.poweroff, .seconds(3))], poweroff: true,
             logs: ["abandoned for a stronger request"]),
        Case(name: "VBoxHeadless exits during start-up", signals: [], runningAt: nil, exitAt: .seconds(1),
             expected: [], started: false),
        Case(name: "slow start: warned after the start-up timeout, still waiting", signals: [(.seconds(200), SIGTERM)],
             runningAt: .seconds(150), expected: [(.acpi, .seconds(200))],
             logs: ["is not running after 120 s; still waiting"]),
    ]

    @Test(arguments: cases)
    func decisions(_ c: Case) {
        let clock = FakeClock()
        let guest = FakeGuest(clock: clock, signals: c.signals, runningAt: c.runningAt, exitAt: c.exitAt,
                              reactions: c.reactions)
        guest.duringSend = c.duringSend
        guest.stateOverride = c.state
        var lines: [String] = []
        var loop = RunLoop(policy: c.policy, pollInterval: .milliseconds(250), startupTimeout: .seconds(120),
                           vmName: "demo", tools: guest, clock: clock, log: { lines.append($1) })
        loop.run()
        #expect(guest.sent.map(\.0) == c.expected.map(\.0), "\(lines)")
        #expect(guest.sent.map(\.1) == c.expected.map(\.1), "\(lines)")
        #expect(loop.started == c.started)
        #expect(loop.poweroffRequested == c.poweroff)
        for text in c.logs { #expect(lines.contains { $0.contains(text) }, "\(text) not in \(lines)") }
        #expect(guest.headlessExited)
    }

    @Test func slowStartIsWarnedOnceAndPollingBacksOff() {
        let clock = FakeClock()
        let guest = FakeGuest(clock: clock, signals: [], runningAt: nil, exitAt: .seconds(200))
        var lines: [String] = []
        var loop = RunLoop(policy: StopPolicy(), pollInterval: .milliseconds(250), startupTimeout: .seconds(120),
                           vmName: "demo", tools: guest, clock: clock, log: { lines.append($1) })
        loop.run()
        // 120 s … 150.25 s: one warning; the next after the 30 s back-off.
        #expect(lines.filter { $0.contains("is not running after") }.count == 3, "\(lines)")
        #expect(!loop.started)
    }

    @Test func monotonicClockMovesForward() {
        let c = MonotonicClock()
        let a = c.now()
        #expect(c.now() >= a)
        #expect(Duration.milliseconds(1500).inSeconds == 1.5)
    }
}
