#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// A stop in progress: which action was sent and when.
public struct StopState: Sendable, Equatable {
    /// The action sent.
    public var action: GuestAction
    /// Monotonic time of sending (``RunLoopClock``'s origin).
    public var since: Duration

    /// A stop that sent `action` at `since`.
    public init(action: GuestAction, since: Duration) {
        self.action = action
        self.since = since
    }
}

/// Signals become guest actions. Pure: tested as a table.
///
/// TERM → STOP_ACTION (ACPI by default), INT → savestate, QUIT → poweroff, HUP → nothing. A second TERM escalates
/// at once; an ACPI request still unanswered after STOP_TIMEOUT escalates to savestate; a failed action escalates
/// to the next (savestate, then poweroff). Nothing ever weakens a stop already under way.
public struct StopPolicy: Sendable, Equatable {
    /// What TERM (and INT, HUP) sends first (STOP_ACTION): `acpipowerbutton`, `savestate` or `poweroff`.
    public var termAction: GuestAction
    /// How long an ACPI request may go unanswered before the state is saved instead (STOP_TIMEOUT).
    public var stopTimeout: Duration

    /// A policy sending `termAction`, escalating after `stopTimeout`.
    public init(termAction: GuestAction = .acpi, stopTimeout: Duration = .seconds(120)) {
        self.termAction = termAction
        self.stopTimeout = stopTimeout
    }

    static func rank(_ a: GuestAction) -> Int {
        switch a {
        case .acpi: return 0
        case .savestate: return 1
        case .poweroff: return 2
        }
    }

    /// The action for a signal, or nil for none.
    public func action(for signal: Int32, current: StopState?) -> GuestAction? {
        let wanted: GuestAction
        switch signal {
        case SIGTERM:
            if let current { return current.action.escalation }
            wanted = termAction
        case SIGINT: wanted = .savestate
        case SIGQUIT: wanted = .poweroff
        default: return nil
        }
        if let current, Self.rank(wanted) <= Self.rank(current.action) { return nil }
        return wanted
    }

    /// What to do as time passes during a stop.
    public func actionOnTick(current: StopState, now: Duration) -> GuestAction? {
        guard current.action == .acpi, now - current.since >= stopTimeout else { return nil }
        return .savestate
    }

    /// What to do when sending `action` failed.
    public func actionAfterFailure(of action: GuestAction) -> GuestAction? { action.escalation }
}
