import Dispatch

/// Data-parallel loops for elementwise and per-channel work.
///
/// They run only between BLAS calls, never beside one, and use the same thread count as OpenBLAS, so the two
/// take turns on the cores instead of oversubscribing them. The split of `0..<count` into chunks depends only
/// on `count` and the thread count, so per-chunk reductions combined in chunk order are deterministic.
///
/// Every loop takes its inputs as `state` and a body that captures nothing, as `{ s, range in ... s.x ... }`:
/// handing a capturing closure to the worker threads costs a heap allocation per loop (`WorkerPool.run`), and a
/// training step runs about a thousand loops. A body that captures by mistake still computes the same thing;
/// `testWarmStepsAllocateNothing` finds it.
public enum Parallel {
    nonisolated(unsafe) public private(set) static var threads = 1
    /// Below this much work a loop runs inline: waking threads costs more than it saves.
    public static let minimumWorkPerThread = 32_768

    /// One pool per thread count ever set, so switching back and forth makes no new threads.
    nonisolated(unsafe) private static var pools: [Int: WorkerPool] = [:]
    nonisolated(unsafe) private static var pool = WorkerPool(threads: 1)

    public static func setThreads(_ n: Int) {
        ComputeThread.check("Parallel.setThreads")
        threads = max(1, n)
        BLAS.setThreads(threads)
        if pools[threads] == nil { pools[threads] = WorkerPool(threads: threads) }
        pool = pools[threads]!
    }

    /// Runs `job.run(i)` for `i` in `0..<chunks` (at most `threads`) at once on the engine's threads.
    static func run<Job: ChunkJob>(_ chunks: Int, _ job: Job) { pool.run(chunks, job) }

    /// Runs `body(state, i)` for `i` in `0..<chunks` (at most `threads`) at once on the engine's threads.
    public static func run<State>(_ chunks: Int, with state: State, _ body: @escaping (State, Int) -> Void) {
        pool.run(chunks, ChunkIndexJob(state: state, body: body))
    }

    /// Calls `body(state, range)` for disjoint ranges covering `0..<count`, in parallel when worthwhile (a single
    /// chunk runs inline: `WorkerPool.run`).
    /// - Parameter cost: work per index in "element operations", to decide whether to go parallel.
    public static func forEachChunk<State>(
        _ count: Int, cost: Int = 1, with state: State,
        _ body: @escaping (State, Range<Int>) -> Void
    ) {
        let chunks = chunkCount(count, cost: cost)
        pool.run(chunks, RangeJob(state: state, body: body, count: count, chunks: chunks))
    }

    /// Like `forEachChunk`, also passing each chunk's index, which is below `threads`: for per-chunk scratch memory
    /// taken from one buffer made up front (`Workspace.forEachChunk`) instead of an allocation per call.
    public static func forEachChunkIndexed<State>(
        _ count: Int, cost: Int = 1, with state: State,
        _ body: @escaping (State, Int, Range<Int>) -> Void
    ) {
        let chunks = chunkCount(count, cost: cost)
        pool.run(chunks, IndexedRangeJob(state: state, body: body, count: count, chunks: chunks))
    }

    /// Calls `body(state, i)` for every `i` in `0..<count`, in parallel when worthwhile.
    public static func forEach<State>(
        _ count: Int, cost: Int = 1, with state: State,
        _ body: @escaping (State, Int) -> Void
    ) {
        let chunks = chunkCount(count, cost: cost)
        pool.run(chunks, ElementJob(state: state, body: body, count: count, chunks: chunks))
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
