import Foundation

/// Where tensors get their memory: large buffers come from one reserved region of address space, carved best-fit
/// and coalesced on release; small ones from malloc, which is good at small sizes.
///
/// Why a region and not malloc: glibc maps anything over 32 MiB separately and unmaps it on free, so every
/// training step page-faulted through fresh zeroed pages (measured as most of the time of memory-bound layers).
/// Why not a cache of freed buffers keyed by size, which this replaced: each distinct activation size kept
/// buffers of its own, so resident memory was the sum of every size's own peak rather than the peak of what is
/// alive at once (Examples/benchmarks/RESULTS.md has classifier-224's figures). Freed blocks here merge
/// with their free neighbours and serve any later request that fits.
///
/// A step frees what it allocated, so the next one finds the same free blocks and places every tensor where the
/// last step did: a warm step touches no new page. Pages once touched stay resident until `trim()`.
/// Thread-safe: the prefetch thread makes tensors too.
public enum TensorStorage {
    /// Buffers smaller than this go straight to malloc.
    static let minimumRegionFloats = 16_384
    /// Blocks are whole pages, so `trim` can hand free ones back to the kernel.
    static let page = 4096

    private static let lock = NSLock()
    nonisolated(unsafe) private static let region = Region.reserve()
    /// Large buffers that did not fit in the region (or had no region) and came from malloc.
    nonisolated(unsafe) private static var outsideAllocations = 0
    nonisolated(unsafe) private static var liveBytes = 0
    nonisolated(unsafe) private static var peakBytes = 0

    static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        if n >= minimumRegionFloats {
            let bytes = roundedBytes(n)
            lock.lock()
            defer { lock.unlock() }
            liveBytes += bytes
            peakBytes = max(peakBytes, liveBytes)
            if let p = region?.allocate(bytes) { return p.bindMemory(to: Float.self, capacity: n) }
            outsideAllocations += 1
        }
        return UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self, capacity: n)
    }

    static func release(_ p: UnsafeMutablePointer<Float>, count: Int) {
        let n = max(count, 1)
        if n >= minimumRegionFloats {
            let bytes = roundedBytes(n)
            lock.lock()
            liveBytes -= bytes
            if region?.contains(UnsafeRawPointer(p)) ?? false {
                region!.release(UnsafeMutableRawPointer(p), bytes)
                lock.unlock()
                return
            }
            lock.unlock()
        }
        UnsafeMutableRawPointer(p).deallocate()
    }

    static func roundedBytes(_ floats: Int) -> Int { (floats * 4 + page - 1) / page * page }

    /// How many large buffers have needed memory never used before (pages past the region's high-water mark, or a
    /// malloc outside it), ever: a warm training step should add none (tests check this; `unet-bench` counts every
    /// allocation in the process).
    public static var systemAllocationCount: Int {
        lock.lock(); defer { lock.unlock() }
        return (region?.growths ?? 0) + outsideAllocations
    }

    /// Bytes of large tensors alive now, and the most alive at once since `resetPeak()`: what activations and
    /// gradients need at their peak, without the workspaces.
    /// Tensors out of use but not yet retired by `TensorRecycler` are collected first, so they do not count.
    public static var liveByteCount: Int {
        TensorRecycler.collect()
        lock.lock(); defer { lock.unlock() }
        return liveBytes
    }
    public static var peakLiveByteCount: Int {
        lock.lock(); defer { lock.unlock() }
        return peakBytes
    }
    public static func resetPeak() {
        lock.lock(); defer { lock.unlock() }
        peakBytes = liveBytes
    }

    /// Bytes of region pages touched and now free, held for reuse (reported by `engine.status`).
    public static var cachedByteCount: Int {
        lock.lock(); defer { lock.unlock() }
        return region.map { $0.highWater - $0.usedBytes } ?? 0
    }

    /// Bytes of the region ever touched (its high-water mark): what the large tensors cost in resident memory,
    /// their live peak plus the gaps that placement left between them.
    public static var touchedByteCount: Int {
        lock.lock(); defer { lock.unlock() }
        return region?.highWater ?? 0
    }

    /// Hands the free pages back to the kernel (after a large model is replaced by a small one, say).
    public static func trim() {
        TensorRecycler.drain()
        lock.lock(); defer { lock.unlock() }
        region?.trim()
    }
}

/// A reservation of address space (no memory until touched) with an address-ordered list of free blocks.
/// A class, so the free list is mutated in place (a struct in a static optional was copied, array and all, on
/// every call: one heap allocation each, counted by `unet-bench`).
final class Region {
    let base: UnsafeMutableRawPointer
    let size: Int
    /// Free blocks by ascending offset, never adjacent (neighbours merge).
    private var free: [(offset: Int, length: Int)]
    /// The end of the furthest block ever handed out: pages below it have been touched.
    private(set) var highWater = 0
    /// How many allocations moved `highWater`.
    private(set) var growths = 0
    private(set) var usedBytes = 0

    /// Reserves up to twice the machine's memory, halving on refusal (a kernel in strict overcommit mode counts
    /// reservations); nil when not even 1 GiB can be had, and then every buffer comes from malloc.
    static func reserve() -> Region? {
        var size = Int(min(ProcessInfo.processInfo.physicalMemory, 1 << 40)) * 2
        while size >= 1 << 30 {
            let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            if let p, p != MAP_FAILED { return Region(base: p, size: size) }
            size /= 2
        }
        return nil
    }

    init(base: UnsafeMutableRawPointer, size: Int) {
        self.base = base
        self.size = size
        free = [(0, size)]
        free.reserveCapacity(4096)  // so a warm step's bookkeeping never reallocates
    }

    func contains(_ p: UnsafeRawPointer) -> Bool { p >= UnsafeRawPointer(base) && p < UnsafeRawPointer(base + size) }

    /// The smallest free block that holds `bytes`, carved from its start; nil when none does.
    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer? {
        var best = -1
        for i in free.indices where free[i].length >= bytes && (best < 0 || free[i].length < free[best].length) {
            best = i
        }
        guard best >= 0 else { return nil }
        let offset = free[best].offset
        if free[best].length == bytes {
            free.remove(at: best)
        } else {
            free[best] = (offset + bytes, free[best].length - bytes)
        }
        if offset + bytes > highWater { highWater = offset + bytes; growths += 1 }
        usedBytes += bytes
        return base + offset
    }

    func release(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
        var block = (offset: p - base, length: bytes)
        usedBytes -= bytes
        // The first free block after this one, by binary search.
        var (lo, hi) = (0, free.count)
        while lo < hi {
            let mid = (lo + hi) / 2
            if free[mid].offset < block.offset { lo = mid + 1 } else { hi = mid }
        }
        precondition(lo == free.count || block.offset + block.length <= free[lo].offset, "TensorStorage: double free")
        if lo < free.count && block.offset + block.length == free[lo].offset {
            block.length += free[lo].length
            free.remove(at: lo)
        }
        if lo > 0 && free[lo - 1].offset + free[lo - 1].length == block.offset {
            free[lo - 1].length += block.length
        } else {
            free.insert(block, at: lo)
        }
    }

    /// Returns the touched free pages to the kernel; the reservation stays.
    func trim() {
        for b in free where b.offset < highWater {
            _ = madvise(base + b.offset, min(b.length, highWater - b.offset), MADV_DONTNEED)
        }
        // Memory past the last live block is untouched again.
        if let last = free.last, last.offset + last.length == size { highWater = min(highWater, last.offset) }
    }
}
