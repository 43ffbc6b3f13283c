// Letters: N batch, C channels, P pixels per channel plane (H*W, or 1 for (N, C) input), M = N*P.

/// Batch normalisation over the channel axis with PyTorch's semantics: biased variance to normalise, unbiased
/// variance in the running average, `momentum` 0.1 weighting the new batch, eps 1e-5. Works on (N, C, H, W)
/// and (N, C). Parameters `weight` (γ) and `bias` (β); buffers `running_mean`, `running_var`,
/// `num_batches_tracked`.
public final class BatchNorm: UnaryLayer, TrainingDependentLayer {
    public let kind = "BatchNorm"
    public let channels: Int
    public let momentum: Float
    public let epsilon: Float
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVar: Tensor
    /// Stored as a float tensor here; checkpoints write it as I64 as PyTorch does.
    public let batchesTracked = Tensor(zeros: [])

    /// With it set, a training forward normalises with the running statistics and leaves them alone, and the
    /// backward is that affine map's gradient (`TrainingDependentLayer`).
    public var evaluatesInTraining = false

    // Cached by a training forward for the backward: x̂ and 1/σ per channel.
    private var normalized: Tensor?
    private var inverseStd: [Float]

    public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        self.channels = channels; self.momentum = momentum; self.epsilon = epsilon
        weight = Parameter("weight", Tensor(shape: [channels], repeating: 1))
        bias = Parameter("bias", Tensor(zeros: [channels]))
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
        inverseStd = [Float](repeating: 0, count: channels)
    }

    public var parameters: [Parameter] { [weight, bias] }
    public var buffers: [(name: String, value: Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", batchesTracked)]
    }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        guard s.count == 2 || s.count == 4, s[1] == channels else {
            throw ShapeError("BatchNorm expects (N, \(channels)) or (N, \(channels), H, W), got \(s)")
        }
        return s
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (n, c) = (x.shape[0], channels)
        let p = x.count / (n * c)
        let m = n * p
        let y = TensorRecycler.tensor(x.shape)
        let xhat = training ? TensorRecycler.tensor(x.shape) : nil
        let batchStatistics = training && !evaluatesInTraining
        // 1/σ per channel is kept for the backward only by a training forward (into a buffer made once).
        inverseStd.withUnsafeMutableBufferPointer { inv in
            let invBase = inv.baseAddress!
            Parallel.forEach(c, cost: 3 * m, with: (self, x, y, xhat, invBase, n, c, p, m, training, batchStatistics)) {
                s, ch in
                let (layer, x, y, xhat, invBase, n, c, p, m, training, batchStatistics) = s
                let (runningMean, runningVar, momentum) = (layer.runningMean, layer.runningVar, layer.momentum)
                var mean: Float, variance: Float
                if batchStatistics {
                    var s = 0.0, s2 = 0.0
                    for i in 0..<n { s += sumInDouble(x.data + (i * c + ch) * p, p) }
                    let mu = s / Double(m)
                    for i in 0..<n { s2 += squaredDeviationsInDouble(x.data + (i * c + ch) * p, p, mean: mu) }
                    mean = Float(mu)
                    variance = Float(s2 / Double(m))
                    let unbiased = m > 1 ? Float(s2 / Double(m - 1)) : variance
                    runningMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * mean
                    runningVar.data[ch] = (1 - momentum) * runningVar.data[ch] + momentum * unbiased
                } else {
                    mean = runningMean.data[ch]
                    variance = runningVar.data[ch]
                }
                let r = 1 / (variance + layer.epsilon).squareRoot()
                if training { invBase[ch] = r }
                let (g, b) = (layer.weight.value.data[ch], layer.bias.value.data[ch])
                for i in 0..<n {
                    let off = (i * c + ch) * p
                    normalizeAffine(x.data + off, p, mean: mean, inverseStd: r, gamma: g, beta: b,
                                    xhat: xhat.map { $0.data + off }, y.data + off)
                }
            }
        }
        if training {
            if batchStatistics { batchesTracked.data[0] += 1 }
            normalized = xhat
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let xhat = normalized else { preconditionFailure("BatchNorm.backward without a training forward") }
        let (n, c) = (dy.shape[0], channels)
        let p = dy.count / (n * c)
        let m = Float(n * p)
        let dx = TensorRecycler.tensor(dy.shape)
        // The running statistics are constants of the evaluation function: no terms through the batch mean and
        // variance, dx = γ/σ · dy.
        let throughStatistics: Float = evaluatesInTraining ? 0 : 1
        Parallel.forEach(c, cost: 3 * n * p, with: (self, dy, xhat, dx, n, c, p, m, throughStatistics)) { s, ch in
            let (layer, dy, xhat, dx, n, c, p, m, throughStatistics) = s
            var sumDy: Float = 0, sumDyXhat: Float = 0
            for i in 0..<n {
                let off = (i * c + ch) * p
                let (s, d) = sumAndDot(dy.data + off, xhat.data + off, p)
                sumDy += s
                sumDyXhat += d
            }
            layer.weight.grad.data[ch] += sumDyXhat
            layer.bias.grad.data[ch] += sumDy
            // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂))
            let k = layer.weight.value.data[ch] * layer.inverseStd[ch]
            for i in 0..<n {
                let off = (i * c + ch) * p
                batchNormInputGradient(dy.data + off, xhat.data + off, p, k: k, a: throughStatistics * sumDy / m,
                                       b: throughStatistics * sumDyXhat / m, dx.data + off)
            }
        }
        return dx
    }

    public func releaseCache() { normalized = nil }
}
