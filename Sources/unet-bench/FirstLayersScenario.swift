import ArgumentParser
import Dispatch
import UNetCore

/// `--first-layers`: the first layers' weights-only backward against sgemm on the same product, both warm (best of 7
/// repeats on the same operands) and both cold (a 128 MiB write before each run evicts them), in one process.
struct FirstLayersScenario: Scenario {
    @Flag(
        name: .customLong("first-layers"),
        help: "The first layers' weights-only backward against sgemm, warm and cold, then exit.")
    var isSelected = false

    func run(_ settings: BenchSettings) throws {
        var rng = RandomGenerator(seed: 4)
        let flush = Tensor(zeros: [32 << 20])
        func cold(_ body: () -> Void) -> Double {
            var best = Double.infinity
            for _ in 0..<7 {
                flush.data.update(repeating: 1, count: flush.count)
                let t = DispatchTime.now().uptimeNanoseconds
                body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
            }
            return best
        }
        print(
            pad("first layer, weights-only backward", 36) + pad("warm ms", 10) + pad("sgemm ms", 10) + pad("ratio", 8)
                + pad("cold ms", 10) + pad("sgemm ms", 10) + "ratio")
        for (c, h, n) in [(1, 128, 1), (3, 224, 1), (1, 256, 1), (1, 256, 4)] {
            let conv = Conv2D(inputChannels: c, outputChannels: 64, kernelSize: 3, rng: &rng)
            let x = Tensor(zeros: [n, c, h, h]), dy = Tensor(zeros: [n, 64, h, h])
            for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
            for i in 0..<dy.count { dy[i] = rng.uniform(-1, 1) }
            _ = conv.forward(x, training: true)
            let warm = timeBest(7) { conv.backwardParametersOnly(dy) }
            let coldLayer = cold { conv.backwardParametersOnly(dy) }
            // The reference: dW (64, 9C) = dy (64, N·H·W) · colsᵀ, one product over the whole batch.
            let (k, p) = (c * 9, n * h * h)
            let a = Tensor(zeros: [64 * p]), b = Tensor(zeros: [p * k]), out = Tensor(zeros: [64 * k])
            let warmGEMM = timeBest(7) { gemm(transB: true, m: 64, n: k, k: p, a.data, b.data, out.data) }
            let coldGEMM = cold { gemm(transB: true, m: 64, n: k, k: p, a.data, b.data, out.data) }
            print(
                pad("\(c)->64 @\(h)x\(h), batch \(n)", 36) + pad(fmt(warm * 1e3, 2), 10)
                    + pad(fmt(warmGEMM * 1e3, 2), 10) + pad(fmt(warmGEMM / warm, 2), 8)
                    + pad(fmt(coldLayer * 1e3, 2), 10)
                    + pad(fmt(coldGEMM * 1e3, 2), 10) + fmt(coldGEMM / coldLayer, 2))
        }
    }
}
