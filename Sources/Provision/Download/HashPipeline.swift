#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Hashes on a thread of its own while the transfer thread receives and writes, so that verification costs
/// (almost) no extra time: chunks are copied into a small ring of buffers that the hashing thread drains.
final class HashPipeline: @unchecked Sendable {
    /// 6 × 512 KiB: enough slack for the hashing thread (SHA-NI hashes faster than loopback delivers), and 5 MiB
    /// less resident memory than the 8 × 1 MiB ring before (bench/README.md).
    private static let slotSize = 512 << 10
    private static let slotCount = 6

    private var hasher: StreamingHasher
    private var slots: [UnsafeMutableRawBufferPointer]
    /// Bytes in each slot; a slot belongs to one thread at a time (the queue hands it over under the mutex).
    private let filled: UnsafeMutablePointer<Int>
    /// Slots ready for the hasher, in order.
    private var queue: [Int] = []
    private var free: [Int]
    private var current: Int?
    private var closing = false
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
    private var thread: pthread_t?

    init(_ hasher: StreamingHasher) {
        self.hasher = hasher
        slots = (0..<Self.slotCount).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: Self.slotSize, alignment: 64)
        }
        filled = UnsafeMutablePointer<Int>.allocate(capacity: Self.slotCount)
        filled.initialize(repeating: 0, count: Self.slotCount)
        free = Array(0..<Self.slotCount)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
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
        pthread_cond_destroy(&changed)
        pthread_mutex_destroy(&mutex)
    }

    /// Adds bytes (called from the transfer thread).
    func update(_ data: UnsafeRawBufferPointer) {
        guard thread != nil else {
            hasher.update(data)
            return
        }
        var offset = 0
        while offset < data.count {
            pthread_mutex_lock(&mutex)
            if current == nil {
                while free.isEmpty { pthread_cond_wait(&changed, &mutex) }
                current = free.removeFirst()
                filled[current!] = 0
            }
            let slot = current!
            pthread_mutex_unlock(&mutex)
            let room = Self.slotSize - filled[slot]
            let n = min(room, data.count - offset)
            (slots[slot].baseAddress! + filled[slot]).copyMemory(from: data.baseAddress! + offset, byteCount: n)
            filled[slot] += n
            offset += n
            if filled[slot] == Self.slotSize { enqueueCurrent() }
        }
    }

    private func enqueueCurrent() {
        pthread_mutex_lock(&mutex)
        if let c = current {
            queue.append(c)
            current = nil
            pthread_cond_broadcast(&changed)
        }
        pthread_mutex_unlock(&mutex)
    }

    /// The hashing thread.
    private func drain() {
        while true {
            pthread_mutex_lock(&mutex)
            while queue.isEmpty && !closing { pthread_cond_wait(&changed, &mutex) }
            if queue.isEmpty && closing {
                pthread_mutex_unlock(&mutex)
                return
            }
            let slot = queue.removeFirst()
            pthread_mutex_unlock(&mutex)
            hasher.update(UnsafeRawBufferPointer(rebasing: slots[slot][0..<filled[slot]]))
            pthread_mutex_lock(&mutex)
            free.append(slot)
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&mutex)
        }
    }

    /// Waits for every byte to be hashed and returns the digest. The pipeline cannot be used afterwards.
    func finish() -> Digest {
        if let thread {
            enqueueCurrent()
            pthread_mutex_lock(&mutex)
            closing = true
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&mutex)
            pthread_join(thread, nil)
            self.thread = nil
        }
        return hasher.finalize()
    }
}
