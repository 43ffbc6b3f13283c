import Dispatch

/// Data-parallel loops for elementwise and per-channel work.
///
/// They run only between BLAS calls, never beside one, and use the same thread count as OpenBLAS, so the two
/// take turns on the cores instead of oversubscribing them. The split of `0..<count` into chunks depends only
/// on `count` and the thread count, so per-chunk reductions combined in chunk order are deterministic.
public enum Parallel {
    nonisolated(unsafe) public private(set) static var threads = 1
    /// Below this much work a loop runs inline: waking threads costs more than it saves.
    public static let minimumWorkPerThread = 32_768

    /// One pool per thread count ever set, so switching back and forth makes no new threads.
    nonisolated(unsafe) private static var pools: [Int: WorkerPool] = [:]
    nonisolated(unsafe) private static var pool = WorkerPool(threads: 1)

    public static func setThreads(_ n: Int) {
        threads = max(1, n)
        BLAS.setThreads(threads)
        if pools[threads] == nil { pools[threads] = WorkerPool(threads: threads) }
        pool = pools[threads]!
    }

    /// Runs `body(i)` for `i` in `0..<chunks` (at most `threads`) at once on the engine's threads.
    public static func run(_ chunks: Int, _ body: (Int) -> Void) { pool.run(chunks, body) }

    /// Calls `body(range)` for disjoint ranges covering `0..<count`, in parallel when worthwhile.
    /// - Parameter cost: work per index in "element operations", to decide whether to go parallel.
    public static func forEachChunk(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
        forEachChunkIndexed(count, cost: cost) { _, range in body(range) }
    }

    /// Like `forEachChunk`, also passing each chunk's index, which is below `threads`: for per-chunk scratch memory
    /// taken from one buffer made up front (`Workspace.forEachChunk(_:cost:scratch:capacity:_:)`) instead of an
    /// allocation per call.
    public static func forEachChunkIndexed(_ count: Int, cost: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        let chunks = chunkCount(count, cost: cost)
        if chunks <= 1 { body(0, 0..<count); return }
        run(chunks) { c in body(c, chunkRange(c, of: chunks, count: count)) }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, in parallel when worthwhile.
    public static func forEach(_ count: Int, cost: Int = 1, _ body: (Int) -> Void) {
        forEachChunk(count, cost: cost) { range in for i in range { body(i) } }
    }

    static func chunkCount(_ count: Int, cost: Int) -> Int {
        guard threads > 1, count > 1 else { return 1 }
        let work = count * max(cost, 1)
        return min(threads, count, max(1, work / minimumWorkPerThread))
    }

    static func chunkRange(_ c: Int, of chunks: Int, count: Int) -> Range<Int> {
        (c * count / chunks)..<((c + 1) * count / chunks)
    }
}
