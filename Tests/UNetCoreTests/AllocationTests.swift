import CAllocationCounter
@testable import UNetCore
import XCTest

/// Heap allocations, counted by wrapping malloc (CAllocationCounter): warm work must make none.
final class AllocationTests: XCTestCase {
    /// Allocations made by `repeats` calls of `body`, after one warm-up call.
    func allocations(_ repeats: Int = 20, _ body: () -> Void) -> Int {
        body()
        unet_allocations_reset()
        for _ in 0..<repeats { body() }
        return unet_allocations_count()
    }

    /// Every loop shape on two threads, each with a body that captures nothing, hands its work to the worker
    /// threads without a heap allocation. (A capturing closure needed a box per loop: about a thousand per
    /// training step.)
    func testParallelLoopsOnTwoThreadsAllocateNothing() {
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        Parallel.setThreads(2)
        let count = 1 << 16
        let x = Tensor(zeros: [6 * count])
        let base = x.data
        XCTAssertEqual(Parallel.chunkCount(count, cost: 1), 2, "the loops below must really go to two threads")
        XCTAssertEqual(allocations {
            Parallel.forEachChunk(count, with: base) { b, r in for i in r { b[i] += 1 } }
        }, 0, "forEachChunk")
        XCTAssertEqual(allocations {
            Parallel.forEach(count, with: (base + count, 2 as Float)) { s, i in s.0[i] += s.1 }
        }, 0, "forEach")
        XCTAssertEqual(allocations {
            Parallel.forEachChunkIndexed(count, with: base + 2 * count) { b, c, r in for i in r { b[i] += Float(c) } }
        }, 0, "forEachChunkIndexed")
        XCTAssertEqual(allocations { Parallel.run(2, with: base + 3 * count) { b, c in b[c] += 1 } }, 0, "run")
        XCTAssertEqual(allocations { independentProducts(36, with: base + 4 * count) { b, i in b[i] += 1 } }, 0,
                       "independentProducts")
        XCTAssertEqual(allocations {
            Workspace.shared.forEachChunk(count, cost: 1, scratch: Float.self, capacity: 8, with: base + 5 * count) {
                b, scratch, r in
                scratch[0] = 1
                for i in r { b[i] += scratch[0] }
            }
        }, 0, "Workspace.forEachChunk")
        let a = Tensor(zeros: [64 * 64]), b = Tensor(zeros: [64 * 4096]), c = Tensor(zeros: [64 * 4096])
        XCTAssertEqual(allocations { gemm(m: 64, n: 4096, k: 64, a.data, b.data, c.data) }, 0, "split gemm")
        XCTAssertEqual(x[0], 21, "the loops ran")
    }

    /// The counter itself: it sees an allocation made on purpose, so the zeros above mean something.
    func testTheCounterSeesAnAllocation() {
        XCTAssertGreaterThanOrEqual(allocations(5) { _ = Tensor(zeros: [4]) }, 5)
    }
}
