import Dispatch
import Foundation

/// The threads that run the chunks of the engine's parallel loops: made once, woken by semaphores.
///
/// Why not `DispatchQueue.concurrentPerform`: each call allocated four heap blocks (measured with
/// `unet-bench --alloc-probe`), and a training step makes about a thousand such calls (every elementwise layer,
/// every split GEMM, every Winograd chunk). Here a call stores its job on the caller's stack, signals the workers
/// and runs chunk 0 itself: no allocation once the threads exist.
///
/// Chunk `i` always runs `body(state, i)`, whichever thread takes it, so results depend on the chunking only. One
/// loop runs at a time: a call made while another is running (nested inside a chunk, or from a second thread)
/// runs its chunks inline, one after another.
final class WorkerPool: @unchecked Sendable {
    /// Chunks a call may have: the worker threads plus the caller.
    let width: Int
    private let start: [DispatchSemaphore]
    private let done = DispatchSemaphore(value: 0)
    private let busy = NSLock()
    /// The running call's job, on the caller's stack while `run` is on the stack.
    nonisolated(unsafe) private var job: UnsafePointer<any ChunkJob>?

    init(threads: Int) {
        width = max(1, threads)
        start = (1..<width).map { _ in DispatchSemaphore(value: 0) }
        for w in 1..<width {
            let thread = Thread { [unowned self] in self.serve(w) }
            thread.name = "unet-worker-\(w)"
            thread.start()
        }
    }

    /// Set (to any non-nil value) on the pools' worker threads only.
    private static let poolThreadKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create")
        return key
    }()

    /// Whether the calling thread is one of the pools' workers.
    static var isPoolThread: Bool { pthread_getspecific(poolThreadKey) != nil }

    /// The pool lives as long as the process (replaced pools leave their threads waiting; `setThreads` is rare).
    private func serve(_ w: Int) {
        pthread_setspecific(WorkerPool.poolThreadKey, UnsafeRawPointer(bitPattern: 1))
        while true {
            start[w - 1].wait()
            job!.pointee.run(w)
            done.signal()
        }
    }

    /// Runs `job.run(i)` for `i` in `0..<chunks`, chunks 1... on the workers and chunk 0 on the caller.
    ///
    /// Jobs carry their loop body as a closure that captures nothing, with what it reads in a `state` field. A
    /// closure that captures cannot reach another thread without a heap box for its context (Swift's
    /// `withoutActuallyEscaping` makes one per call: that was the one allocation of every parallel loop); a
    /// capture-free closure is a bare function pointer, and the job stays on the caller's stack. (A body that
    /// does capture still works, at an allocation per call.) The body must not be wrapped in another closure or
    /// stored in a tuple on the way here either: either makes Swift re-abstract it through a heap-allocated
    /// thunk, hence one job type per loop shape in `ParallelJobs.swift`.
    func run<Job: ChunkJob>(_ chunks: Int, _ job: Job) {
        guard chunks > 1 else { if chunks == 1 { job.run(0) }; return }
        guard chunks <= width, busy.try() else {
            for i in 0..<chunks { job.run(i) }
            return
        }
        var local = job
        withUnsafePointer(to: &local) { jobPointer in
            // The existential holds one pointer, within its inline buffer: no box.
            var erased: any ChunkJob = JobReference(job: jobPointer)
            withUnsafePointer(to: &erased) { erasedPointer in
                self.job = erasedPointer
                for w in 1..<chunks { start[w - 1].signal() }
                erasedPointer.pointee.run(0)
                for _ in 1..<chunks { done.wait() }
                self.job = nil
            }
        }
        busy.unlock()
    }
}

/// A job the workers can run without knowing its type: chunk `i` of one parallel loop.
protocol ChunkJob {
    func run(_ chunk: Int)
}

/// A job on the caller's stack, seen through one pointer.
private struct JobReference<Job: ChunkJob>: ChunkJob {
    let job: UnsafePointer<Job>
    func run(_ chunk: Int) { job.pointee.run(chunk) }
}
