/// Scratch memory shared by the layers of whatever model is running (im2col columns and their gradients).
///
/// One buffer per slot, grown to the largest request and then reused, so a warm training step allocates no
/// column memory. One shared workspace is safe because one thread at a time computes (`ComputeThread`, which
/// `buffer` checks).
public final class Workspace {
    nonisolated(unsafe) public static let shared = Workspace()

    /// `columns`: im2col matrices and their gradients (a backward needs the one, then the other).
    /// `winogradInput`/`winogradProduct`: one chunk of transformed tiles and of their products; `winogradWeights`:
    /// transformed kernels (36, O, C), or their gradient (the backward is done with it before it transforms the
    /// flipped kernels), so the largest layer's 36·O·C floats are held once, not twice.
    /// `scratch`: a few KiB per thread for kernels' temporaries (`forEachChunk(_:cost:scratch:capacity:_:)`).
    /// `augmentedWeights`: a small convolution's weights with its bias as one more column. `directWeights`: the
    /// direct small-channel convolution's packed kernels; `directPartials`: its weight gradient's per-thread sums.
    public enum Slot: Int, CaseIterable {
        case columns = 0, winogradInput, winogradProduct, winogradWeights, scratch, augmentedWeights, directWeights,
            directPartials
    }

    private var buffers: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)?] =
        Array(repeating: nil, count: Slot.allCases.count)
    /// How many times a slot has grown (each growth is an allocation): constant once the shapes are warm.
    public private(set) var growthCount = 0

    /// A buffer of at least `count` floats for `slot`; its contents are unspecified.
    public func buffer(_ slot: Slot, count: Int) -> UnsafeMutablePointer<Float> {
        ComputeThread.check("Workspace.buffer")
        if let b = buffers[slot.rawValue], b.capacity >= count { return b.pointer }
        if let b = buffers[slot.rawValue] { UnsafeMutableRawPointer(b.pointer).deallocate() }
        growthCount += 1
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        let p = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        buffers[slot.rawValue] = (p, count)
        return p
    }

    /// `Parallel.forEachChunkIndexed` with `capacity` elements of `T` of scratch for each chunk, 64-byte aligned,
    /// from the `scratch` slot. Swift's `withUnsafeTemporaryAllocation` goes to the heap above a small size, which
    /// in the Winograd transforms meant one malloc per channel. `body(state, scratch, range)` captures nothing
    /// (see `Parallel`).
    public func forEachChunk<T, State>(
        _ count: Int, cost: Int, scratch type: T.Type, capacity: Int, with state: State,
        _ body: @escaping (State, UnsafeMutablePointer<T>, Range<Int>) -> Void
    ) {
        let floats = (capacity * MemoryLayout<T>.stride + 3) / 4
        let stride = (floats + 15) / 16 * 16
        let base = UnsafeMutableRawPointer(buffer(.scratch, count: stride * max(Parallel.threads, 1)))
        let chunks = Parallel.chunkCount(count, cost: cost)
        Parallel.run(
            chunks,
            ScratchJob(
                state: state, body: body, base: base, stride: stride * 4, count: count,
                chunks: chunks))
    }

    /// Bytes held by one slot.
    public func bytes(_ slot: Slot) -> Int { (buffers[slot.rawValue]?.capacity ?? 0) * 4 }

    /// Bytes held, for `engine.status`.
    public var bytes: Int { buffers.reduce(0) { $0 + ($1?.capacity ?? 0) * 4 } }

    /// Frees the buffers (they are regrown on demand).
    public func release() {
        for i in buffers.indices {
            if let b = buffers[i] { UnsafeMutableRawPointer(b.pointer).deallocate() }
            buffers[i] = nil
        }
    }
}

/// Room for one call's scratch: large buffers come from `TensorStorage`'s region and go back to it when the call
/// ends, so what the deep layers need (Ronneberger's transformed kernels, 75 MB; the bottleneck's im2col columns)
/// is not kept resident beside the top layers' activations, where a step's memory peaks, and serves activations
/// at other times. Small ones (which the region would leave to malloc) use the workspace slot. A warm step asks
/// for the same sizes in the same order, so the region places them where it did before: no new page, no malloc.
struct TemporaryBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    let fromRegion: Bool

    init(_ slot: Workspace.Slot, count: Int) {
        self.count = count
        fromRegion = count >= TensorStorage.minimumRegionFloats
        pointer = fromRegion ? TensorStorage.allocate(count) : Workspace.shared.buffer(slot, count: count)
    }

    func release() { if fromRegion { TensorStorage.release(pointer, count: count) } }
}
