// Letters: N batch.

/// Stochastic depth (DropPath, EfficientNet's "drop connect"): in training each sample's whole tensor is zeroed
/// with probability `rate` and the survivors are scaled by 1/(1 - rate); at inference (or at rate 0) it is the
/// identity, passing its input and its gradient through without a copy. Input (N, ...); output the same.
///
/// Seeded like `Dropout`: one draw per sample, in batch order, from the layer's own generator, kept with the
/// Dropouts' in checkpoints (`StochasticLayer`), so a run and a resumed run repeat bit for bit. A sample survives
/// when the draw u in [0, 1) is >= rate, as `floor(1 - rate + u)` in the EfficientNet code that smp uses.
public final class DropPath: UnaryLayer, StochasticLayer, TrainingDependentLayer {
    public let kind = "DropPath"
    public let rate: Float
    public var rng: RandomGenerator
    /// Each sample's factor (0 or 1/(1 - rate)) from the last training forward, empty after an identity forward;
    /// reused from step to step.
    private var scales: [Float] = []
    /// With it set, a training forward is the identity and draws nothing (`TrainingDependentLayer`).
    public var evaluatesInTraining = false

    public init(rate: Float, seed: UInt64) {
        precondition(rate >= 0 && rate < 1, "drop path rate must be in [0, 1)")
        self.rate = rate
        self.rng = RandomGenerator(seed: seed)
    }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        guard !s.isEmpty else { throw ShapeError("DropPath needs a batch axis, got \(s)") }
        return s
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training, !evaluatesInTraining, rate > 0 else {
            scales.removeAll(keepingCapacity: true)
            return x
        }
        let n = x.shape[0]
        let keep = 1 / (1 - rate)
        scales.removeAll(keepingCapacity: true)
        for _ in 0..<n { scales.append(rng.nextFloat() >= rate ? keep : 0) }
        return scaled(x)
    }

    public func backward(_ dy: Tensor) -> Tensor { scales.isEmpty ? dy : scaled(dy) }

    /// t with sample i multiplied by scales[i], in a new tensor.
    private func scaled(_ t: Tensor) -> Tensor {
        let y = TensorRecycler.tensor(t.shape)
        let per = t.count / max(t.shape[0], 1)
        scales.withUnsafeBufferPointer { s in
            Parallel.forEach(t.shape[0], cost: per, with: (UnsafePointer(t.data), y.data, s.baseAddress!, per)) {
                st, i in
                let (t, y, s, per) = st
                scaleFloats(t + i * per, by: s[i], y + i * per, per)
            }
        }
        return y
    }

    public func releaseCache() {}
}
