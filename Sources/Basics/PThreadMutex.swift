#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `pthread_mutex_t` at a stable address: allocated once, owned by this class, destroyed and freed in `deinit`.
/// A pthread object must never live inside a Swift struct or `var` (its address may move when Swift copies it);
/// model: swift-nio `NIOLock`.
///
/// `@unchecked Sendable`: a mutex exists to be shared between threads; the pthread calls synchronise.
public final class PThreadMutex: @unchecked Sendable {
    /// The mutex, for `pthread_cond_wait` (see `PThreadCondition`).
    public let pointer: UnsafeMutablePointer<pthread_mutex_t>

    /// A default (non-recursive) mutex.
    public init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: pthread_mutex_t())
        pthread_mutex_init(pointer, nil)
    }

    deinit {
        pthread_mutex_destroy(pointer)
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    /// Locks. Pair with `unlock()`; prefer `withLock`.
    public func lock() { pthread_mutex_lock(pointer) }
    /// Unlocks.
    public func unlock() { pthread_mutex_unlock(pointer) }

    /// Runs `body` with the mutex held.
    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A `pthread_cond_t` at a stable, allocated address, used with a `PThreadMutex`.
///
/// `@unchecked Sendable`: a condition variable exists to be shared between threads; the pthread calls synchronise.
public final class PThreadCondition: @unchecked Sendable {
    private let pointer: UnsafeMutablePointer<pthread_cond_t>

    /// A default condition variable.
    public init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: pthread_cond_t())
        pthread_cond_init(pointer, nil)
    }

    deinit {
        pthread_cond_destroy(pointer)
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    /// Waits (the caller holds `mutex`); it is held again on return. Wake-ups may be spurious: wait in a loop.
    public func wait(_ mutex: PThreadMutex) { pthread_cond_wait(pointer, mutex.pointer) }
    /// Wakes every waiter.
    public func broadcast() { pthread_cond_broadcast(pointer) }
}
