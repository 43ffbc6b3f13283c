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

    /// Whether the output is max(·, 0): the ReLU that alone reads it fused in (`Network.planBatchNormFusions`),
    /// passing it through. Its backward too: the ReLU passes dL/dy through and this layer's backward masks it,
    /// recomputing x̂·γ + β > 0 from its input as the forward did (`batchNormBackwardSums`), so the ReLU keeps no
    /// mask and makes no pass of its own.
    public internal(set) var rectifiesOutput = false
    /// `rectifiesOutput` as the last training forward ran: the backward masks exactly then.
    private var rectifiedInForward = false

    // Cached by a training forward for the backward: its input x and, per channel, the mean and 1/σ it normalised
    // with. The backward recomputes x̂ = (x - μ)·(1/σ) as the forward did, the same bits, instead of reading a
    // stored x̂: the forward then writes one tensor, not two, and keeps the input it was given (which its producer
    // made anyway) instead of a new one of the same size.
    private var input: Tensor?
    private var means: [Float]
    private var inverseStd: [Float]

    /// Synchronised BatchNorm (data-parallel training with `sync_batch_norm`): a training forward takes the mean
    /// and variance of the global batch across the ranks, and the backward sums its two reductions across them,
    /// weighted by this rank's share of the global batch (`weight`, the factor its gradients are averaged with),
    /// so each rank's gradients are those of the single-process model on the global batch. nil: local statistics.
    public var synchronization: (group: DataParallelGroup, weight: Double)?
    /// Per channel: the global batch's sum and sum of squares, then its mean and variance (and the count last).
    private var globalStatistics: [Double] = []

    public init(channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
        self.channels = channels; self.momentum = momentum; self.epsilon = epsilon
        weight = Parameter("weight", Tensor(shape: [channels], repeating: 1))
        bias = Parameter("bias", Tensor(zeros: [channels]))
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
        inverseStd = [Float](repeating: 0, count: channels)
        means = [Float](repeating: 0, count: channels)
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

    /// Channel `ch`'s inference map y = x·s + t, s = γ/√(σ² + ε) and t = β - μ·s (from the running statistics),
    /// for a convolution that folds this layer in (`Conv2D.forwardFoldingBatchNorm`).
    func inferenceScaleAndShift(_ ch: Int) -> (scale: Float, shift: Float) {
        let s = weight.value.data[ch] / (runningVar.data[ch] + epsilon).squareRoot()
        return (s, bias.value.data[ch] - runningMean.data[ch] * s)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (n, c) = (x.shape[0], channels)
        let p = x.count / (n * c)
        let m = n * p
        let y = TensorRecycler.tensor(x.shape)
        let batchStatistics = training && !evaluatesInTraining
        if batchStatistics, let sync = synchronization { return synchronizedForward(x, y, group: sync.group) }
        // μ and 1/σ per channel are kept for the backward only by a training forward (into buffers made once).
        inverseStd.withUnsafeMutableBufferPointer { inv in
            means.withUnsafeMutableBufferPointer { mu in
                let (invBase, meanBase) = (inv.baseAddress!, mu.baseAddress!)
                Parallel.forEach(
                    c, cost: 3 * m, with: (self, x, y, invBase, meanBase, n, c, p, m, training, batchStatistics)
                ) {
                    s, ch in
                    let (layer, x, y, invBase, meanBase, n, c, p, m, training, batchStatistics) = s
                    let (runningMean, runningVar, momentum) = (layer.runningMean, layer.runningVar, layer.momentum)
                    var mean: Float, variance: Float
                    if batchStatistics {
                        // One pass over the channel, shifted by its first value (see `batchNormMoments`).
                        let shift = x.data[ch * p]
                        var s = 0.0, s2 = 0.0
                        for i in 0..<n {
                            let (a, b) = batchNormMoments(x.data + (i * c + ch) * p, p, shift: shift)
                            s += a
                            s2 += b
                        }
                        let d = s / Double(m)
                        let deviations = max(s2 - s * d, 0)  // Σ (x - μ)²
                        mean = Float(Double(shift) + d)
                        variance = Float(deviations / Double(m))
                        let unbiased = m > 1 ? Float(deviations / Double(m - 1)) : variance
                        runningMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * mean
                        runningVar.data[ch] = (1 - momentum) * runningVar.data[ch] + momentum * unbiased
                    } else {
                        mean = runningMean.data[ch]
                        variance = runningVar.data[ch]
                    }
                    let r = 1 / (variance + layer.epsilon).squareRoot()
                    if training { (invBase[ch], meanBase[ch]) = (r, mean) }
                    let (g, b) = (layer.weight.value.data[ch], layer.bias.value.data[ch])
                    for i in 0..<n {
                        let off = (i * c + ch) * p
                        batchNormNormalize(
                            x.data + off, p, mean: mean, inverseStd: r, gamma: g, beta: b,
                            rectify: layer.rectifiesOutput, y.data + off)
                    }
                }
            }
        }
        if training {
            if batchStatistics { batchesTracked.data[0] += 1 }
            input = x
            rectifiedInForward = rectifiesOutput
        }
        return y
    }

    /// (γ, β) of channel `ch` where the backward masks its output gradient by the fused ReLU, else nil.
    @inline(__always)
    private func rectification(_ ch: Int) -> (gamma: Float, beta: Float)? {
        rectifiedInForward ? (weight.value.data[ch], bias.value.data[ch]) : nil
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("BatchNorm.backward without a training forward") }
        if !evaluatesInTraining, let sync = synchronization {
            return synchronizedBackward(dy, x, sync.group, weight: sync.weight)
        }
        let (n, c) = (dy.shape[0], channels)
        let p = dy.count / (n * c)
        let m = Float(n * p)
        let dx = TensorRecycler.tensor(dy.shape)
        // The running statistics are constants of the evaluation function: no terms through the batch mean and
        // variance, dx = γ/σ · dy.
        let throughStatistics: Float = evaluatesInTraining ? 0 : 1
        Parallel.forEach(c, cost: 3 * n * p, with: (self, dy, x, dx, n, c, p, m, throughStatistics)) { s, ch in
            let (layer, dy, x, dx, n, c, p, m, throughStatistics) = s
            let (mean, r, rectified) = (layer.means[ch], layer.inverseStd[ch], layer.rectification(ch))
            var sumDy: Float = 0, sumDyXhat: Float = 0
            for i in 0..<n {
                let off = (i * c + ch) * p
                let (s, d) = batchNormBackwardSums(
                    dy.data + off, x.data + off, p, mean: mean, inverseStd: r, rectified: rectified)
                sumDy += s
                sumDyXhat += d
            }
            layer.weight.grad.data[ch] += sumDyXhat
            layer.bias.grad.data[ch] += sumDy
            // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂))
            let k = layer.weight.value.data[ch] * r
            for i in 0..<n {
                let off = (i * c + ch) * p
                batchNormInputGradientDispatched(
                    dy.data + off, x.data + off, p, mean: mean, inverseStd: r, k: k, a: throughStatistics * sumDy / m,
                    b: throughStatistics * sumDyXhat / m, rectified: rectified, dx.data + off)
            }
        }
        return dx
    }

    public func releaseCache() { input = nil }

    // MARK: Synchronised statistics (plain loops: data-parallel ranks run one thread each, typically)

    private func synchronizedForward(_ x: Tensor, _ y: Tensor, group: DataParallelGroup) -> Tensor {
        let (n, c) = (x.shape[0], channels)
        let p = x.count / (n * c)
        if globalStatistics.count != 2 * c + 1 { globalStatistics = [Double](repeating: 0, count: 2 * c + 1) }
        for ch in 0..<c {
            var s = 0.0, s2 = 0.0
            for i in 0..<n {
                s += sumInDouble(x.data + (i * c + ch) * p, p)
                s2 += squaredDeviationsInDouble(x.data + (i * c + ch) * p, p, mean: 0)
            }
            globalStatistics[ch] = s
            globalStatistics[c + ch] = s2
        }
        globalStatistics[2 * c] = Double(n * p)
        globalStatistics.withUnsafeMutableBufferPointer { group.allreduceSum($0) }
        let m = globalStatistics[2 * c]
        for ch in 0..<c {
            let mean = globalStatistics[ch] / m
            let variance = max(globalStatistics[c + ch] / m - mean * mean, 0)
            let unbiased = m > 1 ? variance * m / (m - 1) : variance
            runningMean.data[ch] = (1 - momentum) * runningMean.data[ch] + momentum * Float(mean)
            runningVar.data[ch] = (1 - momentum) * runningVar.data[ch] + momentum * Float(unbiased)
            let r = 1 / (Float(variance) + epsilon).squareRoot()
            (inverseStd[ch], means[ch]) = (r, Float(mean))
            for i in 0..<n {
                let off = (i * c + ch) * p
                batchNormNormalize(
                    x.data + off, p, mean: Float(mean), inverseStd: r, gamma: weight.value.data[ch],
                    beta: bias.value.data[ch], rectify: rectifiesOutput, y.data + off)
            }
        }
        batchesTracked.data[0] += 1
        input = x
        rectifiedInForward = rectifiesOutput
        return y
    }

    /// dx of this rank's inputs, in units of its own (unweighted) loss: dy is the gradient of the rank's mean loss,
    /// the global batch's loss is the weighted sum of the ranks', so the global reductions sum weight·dy and dx is
    /// divided back by `weight` (the averaging multiplies every gradient of this rank by it afterwards).
    private func synchronizedBackward(
        _ dy: Tensor, _ x: Tensor, _ group: DataParallelGroup,
        weight share: Double
    ) -> Tensor {
        let (n, c) = (dy.shape[0], channels)
        let p = dy.count / (n * c)
        let dx = TensorRecycler.tensor(dy.shape)
        var sums = [Double](repeating: 0, count: 2 * c)
        for ch in 0..<c {
            var sumDy: Float = 0, sumDyXhat: Float = 0
            for i in 0..<n {
                let off = (i * c + ch) * p
                let (s, d) = batchNormBackwardSums(
                    dy.data + off, x.data + off, p, mean: means[ch], inverseStd: inverseStd[ch],
                    rectified: rectification(ch))
                sumDy += s
                sumDyXhat += d
            }
            weight.grad.data[ch] += sumDyXhat
            bias.grad.data[ch] += sumDy
            sums[ch] = share * Double(sumDy)
            sums[c + ch] = share * Double(sumDyXhat)
        }
        sums.withUnsafeMutableBufferPointer { group.allreduceSum($0) }
        let m = globalStatistics[2 * c]
        for ch in 0..<c {
            let k = weight.value.data[ch] * inverseStd[ch]
            let (a, b) = (Float(sums[ch] / (m * share)), Float(sums[c + ch] / (m * share)))
            for i in 0..<n {
                let off = (i * c + ch) * p
                batchNormInputGradientDispatched(
                    dy.data + off, x.data + off, p, mean: means[ch], inverseStd: inverseStd[ch], k: k, a: a, b: b,
                    rectified: rectification(ch), dx.data + off)
            }
        }
        return dx
    }
}
