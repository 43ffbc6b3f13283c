import Foundation

/// Where tensors get their memory: a cache of freed buffers keyed by exact size.
///
/// A training step allocates the same activation and gradient sizes every time. Returning large buffers to the C
/// heap hands them back to the kernel (glibc maps anything over 32 MiB separately), so the next step page-faults
/// through fresh zeroed pages: measured as most of the time of memory-bound layers. Keeping freed buffers for
/// reuse makes a warm step allocate nothing from the system. The cache is bounded (`limitBytes`); past it,
/// buffers are really freed. Thread-safe: the prefetch thread makes tensors too.
public enum TensorStorage {
    /// Buffers smaller than this go straight to malloc, which is good at small sizes.
    static let minimumCachedFloats = 16_384
    nonisolated(unsafe) public static var limitBytes = 8 << 30

    /// Freed buffers by size. A class per size, so a warm allocate or release reads the dictionary without
    /// mutating it: `Dictionary`'s in-place mutation (its `_modify` accessor) heap-allocated three coroutine frames
    /// per call, measured with `unet-bench --alloc-probe`.
    private final class FreeList { var buffers: [UnsafeMutablePointer<Float>] = [] }
    nonisolated(unsafe) private static var free: [Int: FreeList] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0
    nonisolated(unsafe) private static var misses = 0
    private static let lock = NSLock()

    static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        if n >= minimumCachedFloats {
            lock.lock()
            if let list = free[n], let p = list.buffers.popLast() {
                cachedBytes -= n * 4
                lock.unlock()
                return p
            }
            misses += 1
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
    }

    static func release(_ p: UnsafeMutablePointer<Float>, count: Int) {
        let n = max(count, 1)
        if n >= minimumCachedFloats {
            lock.lock()
            if cachedBytes + n * 4 <= limitBytes {
                if let list = free[n] { list.buffers.append(p) } else {
                    let list = FreeList()
                    list.buffers.append(p)
                    free[n] = list
                }
                cachedBytes += n * 4
                lock.unlock()
                return
            }
            lock.unlock()
        }
        UnsafeMutableRawPointer(p).deallocate()
    }

    /// How many cacheable (large) buffers have come from the system rather than the cache, ever: a warm training
    /// step should add none (tests check this; `unet-bench` counts every allocation in the process).
    public static var systemAllocationCount: Int {
        lock.lock(); defer { lock.unlock() }
        return misses
    }

    /// Bytes held for reuse (reported by `engine.status`).
    public static var cachedByteCount: Int {
        lock.lock(); defer { lock.unlock() }
        return cachedBytes
    }

    /// Frees every cached buffer (after a large model is replaced by a small one, say).
    public static func trim() {
        lock.lock(); defer { lock.unlock() }
        for (_, list) in free { for p in list.buffers { UnsafeMutableRawPointer(p).deallocate() } }
        free = [:]
        cachedBytes = 0
    }
}
