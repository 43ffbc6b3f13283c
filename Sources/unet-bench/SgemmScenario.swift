import ArgumentParser
import Foundation
import UNetCore

/// `--sgemm-only`: the BLAS line and the sgemm ceiling, then exit (to compare BLAS cores in seconds). The default
/// run prints the same two lines first.
struct SgemmScenario: Scenario {
    @Flag(name: .customLong("sgemm-only"), help: "The BLAS line and the sgemm ceiling, then exit.")
    var isSelected = false

    func run(_ settings: BenchSettings) throws { _ = Self.printCeiling(settings) }

    /// Prints the threads, the BLAS library and core, and OpenBLAS's GFLOP/s on a large square product (2048, or
    /// 1024 with `--quick`): the ceiling the other tables' ratios use. Returns that ceiling.
    static func printCeiling(_ settings: BenchSettings) -> Double {
        print("unet-bench: \(settings.threads) threads, \(ProcessInfo.processInfo.activeProcessorCount) cores")
        print("BLAS: " + BLASCoreCheck.report.summary)
        print("SIMD: " + SIMDLevel.report.summary)
        let n = settings.quick ? 1024 : 2048
        let ceiling = gemmGFLOPs(m: n, n: n, k: n)
        print("sgemm \(n)x\(n)x\(n): \(fmt(ceiling)) GFLOP/s (the ceiling the ratios below use)")
        return ceiling
    }
}

func gemmGFLOPs(m: Int, n: Int, k: Int, repeats: Int = 3) -> Double {
    2 * Double(m * n * k) / gemmSeconds(m: m, n: n, k: k, repeats: repeats) / 1e9
}

/// Best time of the engine's `gemm` (threads split as in the layers) on one shape.
func gemmSeconds(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, repeats: Int = 3) -> Double {
    let a = Tensor(zeros: [m * k]), b = Tensor(zeros: [k * n]), c = Tensor(zeros: [m * n])
    var rng = RandomGenerator(seed: 2)
    for i in 0..<a.count { a[i] = rng.nextFloat() }
    for i in 0..<b.count { b[i] = rng.nextFloat() }
    return timeBest(repeats) { gemm(transA: transA, transB: transB, m: m, n: n, k: k, a.data, b.data, c.data) }
}
