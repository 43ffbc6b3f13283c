import ArgumentParser
import CAllocationCounter
import Dispatch
import UNetCore

/// `--alloc-probe`: heap allocations per call of a few building blocks (CAllocationCounter).
struct AllocationProbeScenario: Scenario {
    @Flag(name: .customLong("alloc-probe"), help: "Heap allocations per call of a few building blocks, then exit.")
    var isSelected = false

    func run(_ settings: BenchSettings) throws {
        func probe(_ what: String, _ body: () -> Void) {
            body()
            unet_allocations_reset()
            for _ in 0..<100 { body() }
            print("\(what): \(Double(unet_allocations_count()) / 100) allocations per call")
        }
        let t = Tensor(zeros: [1 << 16])
        probe("Tensor(uninitialized: [2, 8, 64, 64])") { _ = Tensor(uninitialized: [2, 8, 64, 64]) }
        probe("Parallel.forEachChunk, 2 chunks") {
            Parallel.forEachChunk(1 << 16, with: t.data) { d, r in d[r.lowerBound] = 1 }
        }
        probe("DispatchQueue.concurrentPerform(2)") {
            DispatchQueue.concurrentPerform(iterations: 2) { i in t.data[i] = 1 }
        }
        let a = Tensor(zeros: [64 * 64]), b = Tensor(zeros: [64 * 4096]), c = Tensor(zeros: [64 * 4096])
        probe("gemm 64x4096x64 (split)") { gemm(m: 64, n: 4096, k: 64, a.data, b.data, c.data) }
        probe("Parallel.run(2) empty") { Parallel.run(2, with: ()) { _, _ in } }
        // Swift boxes the closure that withoutActuallyEscaping hands out (to check it did not escape): the one
        // allocation every parallel loop made until loops took capture-free bodies.
        func withoutEscaping(_ body: (Int) -> Void) { withoutActuallyEscaping(body) { e in e(0) } }
        probe("withoutActuallyEscaping alone") { withoutEscaping { i in t.data[i] = 1 } }
        let net = Network()
        let r1 = net.add("r1", ReLU(), Network.input)
        net.add("r2", ReLU(), r1)
        net.outputs = [1]
        let small = Tensor(zeros: [1, 4])
        probe("Network forward of two ReLUs on 4 floats") { _ = net.forward(small, training: false) }
        probe("ReLU forward 1x4") { _ = ReLU().forward(small, training: false) }
        probe("Network forward wanted [0]") { _ = net.forward(small, training: false, wanted: [0]) }
        probe("ReLU forward 2x8x64x64") { _ = ReLU().forward(Tensor(zeros: [2, 8, 64, 64]), training: false) }
    }
}
