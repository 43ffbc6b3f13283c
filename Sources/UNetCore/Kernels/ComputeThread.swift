import Foundation
import Synchronization

/// The contract that makes the engine's process-wide numeric state safe without locks: one thread at a time
/// computes.
///
/// That state is `Workspace.shared`'s scratch buffers, `Parallel`'s thread count and pool, OpenBLAS's thread
/// count, `GEMMThreading.insideProducts`, the algorithm switches (`ConvolutionAlgorithms`, `MaxPool2D`'s fast path)
/// and each model's cached activations: `nonisolated(unsafe)` statics and unlocked instance state. In the server
/// the computing thread is the dispatcher's worker, which runs every numeric request inside `run`; meanwhile a
/// forward, backward, workspace request or thread-count change from any other thread stops at a precondition
/// (`check`) instead of overwriting buffers the worker is using. The engine's own pool threads (`WorkerPool`) run
/// chunks on the owner's behalf and pass. A process that never calls `run` (a test, the benchmark, an example)
/// computes on whichever one thread it likes.
public enum ComputeThread {
    /// The thread inside `run`, as `pthread_self()`; 0 when none is.
    private static let owner = Atomic<UInt>(0)

    /// Runs `body` as the computing thread. Nested calls on the same thread run `body` directly.
    /// - Precondition: no other thread is inside `run`.
    public static func run<R>(_ body: () throws -> R) rethrows -> R {
        let me = currentThread
        if owner.load(ordering: .acquiring) == me { return try body() }
        let (claimed, holder) = owner.compareExchange(expected: 0, desired: me, ordering: .acquiringAndReleasing)
        precondition(claimed, "numeric work on two threads at once: thread \(holder) is computing")
        defer { owner.store(0, ordering: .releasing) }
        return try body()
    }

    /// Stops the process when another thread than the calling one is inside `run` (numeric work outside the
    /// computing thread while it computes), unless the caller is one of the engine's pool threads.
    @inline(__always)
    public static func check(_ what: StaticString) {
        precondition(!isComputingElsewhere, "\(what) on a thread other than the computing one")
    }

    /// Whether `check` would stop the calling thread: another thread is inside `run`, and this one is not one of
    /// the pool threads that run its chunks.
    @inline(__always)
    public static var isComputingElsewhere: Bool {
        let holder = owner.load(ordering: .relaxed)
        return holder != 0 && holder != currentThread && !WorkerPool.isPoolThread
    }

    @inline(__always)
    private static var currentThread: UInt { UInt(pthread_self()) }
}
