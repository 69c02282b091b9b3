#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// Hashes on a thread of its own while the transfer thread receives and writes, so that verification costs
/// (almost) no extra time: chunks are copied into a small ring of buffers that the hashing thread drains.
///
/// `@unchecked Sendable`: it is handed to its hashing thread. `queue`, `free`, `current` and `closing` are only
/// touched with `mutex` held; a slot's bytes and `filled` entry belong to exactly one thread at a time (the transfer
/// thread while it is `current`, the hashing thread from `queue` until it is back in `free`), handed over under the
/// mutex; `hasher` is used by the hashing thread only while it runs, and by the caller only after `pthread_join`
/// (or when no thread could be started).
final class HashPipeline: @unchecked Sendable {
    /// 4 × 256 KiB: SHA-NI hashes a slot in about 0.2 ms, faster than loopback fills one, so more slack buys no
    /// speed; 2 MiB less resident memory than the 6 × 512 KiB ring before (bench/README.md has the measurements).
    private static let slotSize = 256 << 10
    private static let slotCount = 4

    private var hasher: StreamingHasher
    private var slots: [UnsafeMutableRawBufferPointer]
    /// Bytes in each slot; a slot belongs to one thread at a time (the queue hands it over under the mutex).
    private let filled: UnsafeMutablePointer<Int>
    /// Slots ready for the hasher, in order.
    private var queue: [Int] = []
    private var free: [Int]
    private var current: Int?
    private var closing = false
    /// At stable, allocated addresses (never a Swift stored `pthread_mutex_t`, which `&` may copy).
    private let mutex = PThreadMutex()
    private let changed = PThreadCondition()
    private var thread: pthread_t?

    init(_ hasher: StreamingHasher) {
        self.hasher = hasher
        slots = (0..<Self.slotCount).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: Self.slotSize, alignment: 64)
        }
        filled = UnsafeMutablePointer<Int>.allocate(capacity: Self.slotCount)
        filled.initialize(repeating: 0, count: Self.slotCount)
        free = Array(0..<Self.slotCount)
        let context = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        if pthread_create(&tid, nil, { raw in
            guard let raw else { return nil }
            let me = Unmanaged<HashPipeline>.fromOpaque(raw).takeRetainedValue()
            me.drain()
            return nil
        }, context) == 0 {
            thread = tid
        } else {
            Unmanaged<HashPipeline>.fromOpaque(context).release()
        }
    }

    deinit {
        for s in slots { s.deallocate() }
        filled.deallocate()
    }

    /// Adds bytes (called from the transfer thread).
    func update(_ data: UnsafeRawBufferPointer) {
        guard thread != nil else {
            hasher.update(data)
            return
        }
        guard let source = data.baseAddress else { return }  // no bytes
        var offset = 0
        while offset < data.count {
            mutex.lock()
            let slot: Int
            if let c = current {
                slot = c
            } else {
                while free.isEmpty { changed.wait(mutex) }
                slot = free.removeFirst()
                current = slot
                filled[slot] = 0
            }
            mutex.unlock()
            let room = Self.slotSize - filled[slot]
            let n = min(room, data.count - offset)
            UnsafeMutableRawBufferPointer(rebasing: slots[slot][filled[slot]..<(filled[slot] + n)])
                .copyMemory(from: UnsafeRawBufferPointer(start: source + offset, count: n))
            filled[slot] += n
            offset += n
            if filled[slot] == Self.slotSize { enqueueCurrent() }
        }
    }

    private func enqueueCurrent() {
        mutex.withLock {
            if let c = current {
                queue.append(c)
                current = nil
                changed.broadcast()
            }
        }
    }

    /// The hashing thread.
    private func drain() {
        while true {
            mutex.lock()
            while queue.isEmpty && !closing { changed.wait(mutex) }
            if queue.isEmpty && closing {
                mutex.unlock()
                return
            }
            let slot = queue.removeFirst()
            mutex.unlock()
            hasher.update(UnsafeRawBufferPointer(rebasing: slots[slot][0..<filled[slot]]))
            mutex.withLock {
                free.append(slot)
                changed.broadcast()
            }
        }
    }

    /// Waits for every byte to be hashed and returns the digest. The pipeline cannot be used afterwards.
    func finish() -> Digest {
        if let thread {
            enqueueCurrent()
            mutex.withLock {
                closing = true
                changed.broadcast()
            }
            pthread_join(thread, nil)
            self.thread = nil
        }
        return hasher.finalize()
    }
}
