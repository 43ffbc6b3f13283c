import Dispatch
import Foundation

/// The threads that run the chunks of the engine's parallel loops: made once, woken by semaphores.
///
/// Why not `DispatchQueue.concurrentPerform`: each call allocated four heap blocks (measured with
/// `unet-bench --alloc-probe`), and a training step makes about a thousand such calls (every elementwise layer,
/// every split GEMM, every Winograd chunk). Here a call stores the body, signals the workers and runs chunk 0
/// itself: no allocation once the threads exist.
///
/// Chunk `i` always runs `body(i)`, whichever thread takes it, so results depend on the chunking only. One loop
/// runs at a time: a call made while another is running (nested inside a chunk, or from a second thread) runs
/// its chunks inline, one after another.
final class WorkerPool: @unchecked Sendable {
    /// Chunks a call may have: the worker threads plus the caller.
    let width: Int
    private let start: [DispatchSemaphore]
    private let done = DispatchSemaphore(value: 0)
    private let busy = NSLock()
    /// The running call's body, on the caller's stack while `run` is on the stack. Held through a raw pointer to a
    /// non-generic struct: storing the closure in an Optional property re-abstracted it, one allocation per call.
    private struct Job { let body: (Int) -> Void }
    nonisolated(unsafe) private var job: UnsafeRawPointer?

    init(threads: Int) {
        width = max(1, threads)
        start = (1..<width).map { _ in DispatchSemaphore(value: 0) }
        for w in 1..<width {
            let thread = Thread { [unowned self] in self.serve(w) }
            thread.name = "unet-worker-\(w)"
            thread.start()
        }
    }

    /// The pool lives as long as the process (replaced pools leave their threads waiting; `setThreads` is rare).
    private func serve(_ w: Int) {
        while true {
            start[w - 1].wait()
            job!.assumingMemoryBound(to: Job.self).pointee.body(w)
            done.signal()
        }
    }

    /// Runs `body(i)` for `i` in `0..<chunks`, chunks 1... on the workers and chunk 0 on the caller.
    func run(_ chunks: Int, _ body: (Int) -> Void) {
        guard chunks > 1 else { if chunks == 1 { body(0) }; return }
        guard chunks <= width, busy.try() else {
            for i in 0..<chunks { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var current = Job(body: escapable)
            withUnsafePointer(to: &current) { p in
                job = UnsafeRawPointer(p)
                for w in 1..<chunks { start[w - 1].signal() }
                p.pointee.body(0)
                for _ in 1..<chunks { done.wait() }
                job = nil
            }
        }
        busy.unlock()
    }
}
