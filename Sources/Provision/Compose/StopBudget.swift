/// How long a container engine must wait after TERM before it kills a guest's container, from the runner's own
/// escalation (`Runner`, ``StopPolicy``): the ACPI request (one VBoxManage call, at most `callTimeout`), then
/// `stopTimeout` for the guest to shut down, then `savestate` (one call), and if that fails `poweroff` (one call),
/// plus `margin` for VBoxHeadless to exit. Docker's `stop_grace_period` and Kubernetes'
/// `terminationGracePeriodSeconds` must be at least this, or the engine kills the guest while it saves.
public struct StopBudget: Sendable, Equatable {
    /// `STOP_TIMEOUT`: seconds the runner waits for the ACPI shutdown before it saves the state.
    public var stopTimeout: Int
    /// `VMPROV_CALL_TIMEOUT`: the longest one VBoxManage call may take (seconds).
    public var callTimeout: Int
    /// Seconds left over for VBoxHeadless to exit after the last call.
    public var margin: Int

    /// The budget for `stopTimeout` (default 120 s, as `vmprov run`), 30 s calls and a 10 s margin.
    public init(stopTimeout: Int = 120, callTimeout: Int = 30, margin: Int = 10) {
        self.stopTimeout = stopTimeout
        self.callTimeout = callTimeout
        self.margin = margin
    }

    /// The worst case of a stop in seconds: ACPI call + `stopTimeout` + savestate call + poweroff call.
    public var worstCaseSeconds: Int { callTimeout + stopTimeout + callTimeout + callTimeout }

    /// The grace period to give the container engine, in seconds: the worst case plus the margin.
    public var graceSeconds: Int { worstCaseSeconds + margin }
}
