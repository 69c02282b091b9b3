#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic seconds.
public enum Clock {
    /// Seconds on the monotonic clock (CLOCK_MONOTONIC): only differences mean anything.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Sleeps `seconds` (fractions allowed); a signal that interrupts it does not shorten it.
    public static func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        var ts = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var rest = timespec()
        _ = Syscall.retrying {
            let r = nanosleep(&ts, &rest)
            if r != 0 { ts = rest }  // the time left, for the retry
            return r
        }
    }
}

