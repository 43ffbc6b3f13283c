/// Inverted dropout: in training, zeroes each element with probability `rate` and scales the rest by
/// 1/(1-rate); at inference it is the identity. The mask comes from the layer's own seeded generator,
/// whose state checkpoints keep, so a resumed run drops the same units.
public final class Dropout: UnaryLayer, StochasticLayer, TrainingDependentLayer {
    public let kind = "Dropout"
    public let rate: Float
    public var rng: RandomGenerator
    private var mask: Tensor?
    /// With it set, a training forward is the identity and draws nothing (`TrainingDependentLayer`).
    public var evaluatesInTraining = false

    public init(rate: Float, seed: UInt64) {
        precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1)")
        self.rate = rate
        self.rng = RandomGenerator(seed: seed)
    }

    public func outputShape(_ s: [Int]) throws -> [Int] { s }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training, !evaluatesInTraining, rate > 0 else {
            // A recycled copy, not `copy()`: an inference forward allocates nothing.
            mask = nil
            let y = TensorRecycler.tensor(x.shape)
            y.assign(x)
            return y
        }
        let m = TensorRecycler.zeros(x.shape)
        let keep = 1 / (1 - rate)
        for i in 0..<x.count { m.data[i] = rng.nextFloat() >= rate ? keep : 0 }
        let y = TensorRecycler.zeros(x.shape)
        for i in 0..<x.count { y.data[i] = x.data[i] * m.data[i] }
        mask = m
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let m = mask else {
            let dx = TensorRecycler.tensor(dy.shape)
            dx.assign(dy)
            return dx
        }
        let dx = TensorRecycler.zeros(dy.shape)
        for i in 0..<dy.count { dx.data[i] = dy.data[i] * m.data[i] }
        return dx
    }

    public func releaseCache() { mask = nil }
}
