/// The shapes of parallel loop the engine runs, one job type each (see `WorkerPool.run` for why the body is
/// stored as it came, not wrapped). Each runs chunk `c` of `chunks` over `0..<count`, split by
/// `Parallel.chunkRange`.

/// `body(state, c)` for chunk `c`.
struct ChunkIndexJob<State>: ChunkJob {
    let state: State
    let body: (State, Int) -> Void
    func run(_ c: Int) { body(state, c) }
}

/// `body(state, range)` for chunk `c`'s range.
struct RangeJob<State>: ChunkJob {
    let state: State
    let body: (State, Range<Int>) -> Void
    let count, chunks: Int
    func run(_ c: Int) { body(state, Parallel.chunkRange(c, of: chunks, count: count)) }
}

/// `body(state, c, range)`: the chunk's index too, for per-chunk scratch or partial sums.
struct IndexedRangeJob<State>: ChunkJob {
    let state: State
    let body: (State, Int, Range<Int>) -> Void
    let count, chunks: Int
    func run(_ c: Int) { body(state, c, Parallel.chunkRange(c, of: chunks, count: count)) }
}

/// `body(state, i)` for each `i` of chunk `c`'s range.
struct ElementJob<State>: ChunkJob {
    let state: State
    let body: (State, Int) -> Void
    let count, chunks: Int
    func run(_ c: Int) { for i in Parallel.chunkRange(c, of: chunks, count: count) { body(state, i) } }
}

/// `body(state, i)` for `i` = c, c + chunks, c + 2·chunks, ... below `count`: whole products dealt to threads in a
/// fixed pattern (`independentProducts`).
struct StridedJob<State>: ChunkJob {
    let state: State
    let body: (State, Int) -> Void
    let count, chunks: Int
    func run(_ c: Int) {
        var i = c
        while i < count { body(state, i); i += chunks }
    }
}

/// `body(state, scratch, range)` with chunk `c`'s own `stride` bytes of scratch at `base + c·stride`
/// (`Workspace.forEachChunk`).
struct ScratchJob<T, State>: ChunkJob {
    let state: State
    let body: (State, UnsafeMutablePointer<T>, Range<Int>) -> Void
    let base: UnsafeMutableRawPointer
    let stride, count, chunks: Int
    func run(_ c: Int) {
        body(
            state, (base + c * stride).assumingMemoryBound(to: T.self), Parallel.chunkRange(c, of: chunks, count: count)
        )
    }
}
