import Foundation

// Every loss takes logits (the network's raw outputs), returns the mean loss and writes dL/dlogits, so that
// the sigmoid/softmax and the log never meet as separate float32 steps. Sums are in Double.
//
// Class weights: a loss over C channels takes an optional weight per class.
// - BCE on a 1-channel output (binary): an element with target t weighs w[t] (w has 2 entries).
// - BCE on C > 1 channels (one-hot, as the reference Dense(2, sigmoid)): a sample or pixel weighs w[argmax t].
//   The weighted mean is Σ w·l / count, as Keras and PyTorch's `weight=` do.
// - Softmax cross-entropy: PyTorch's rule, Σ w[y]·l / Σ w[y].
// - Dice: the class-weighted mean of per-class Dice losses.

/// A loss value and its gradient with respect to the logits.
public struct LossResult {
    public let loss: Float
    public let gradient: Tensor
}

/// The loss functions the engine trains with.
public enum LossKind: String, CaseIterable, Sendable, Codable {
    case bce, ce, dice
    case bceDice = "bce+dice"
}

/// The weight of element `index` of a (N, C, ...) target under the class-weight rule for BCE described above
/// (1 without class weights). Worked out per element rather than into an array: a training step makes no
/// allocation.
@inline(__always)
func bceElementWeight(_ target: Tensor, _ classWeights: [Float]?, _ index: Int) -> Float {
    guard let w = classWeights else { return 1 }
    let c = target.rank > 1 ? target.shape[1] : 1
    let plane = target.count / (target.shape[0] * c)
    // The pixel's first channel, and the class its target marks.
    let base = index / (c * plane) * (c * plane) + index % plane
    var cls = 0
    if c == 1 {
        cls = target.data[base] > 0.5 ? 1 : 0
    } else {
        for k in 1..<c where target.data[base + k * plane] > target.data[base + cls * plane] { cls = k }
    }
    return cls < w.count ? w[cls] : 1
}

/// Binary cross-entropy from logits, stable for any logit: l = max(z,0) − z·t + log(1 + e^−|z|).
/// dl/dz = σ(z) − t.
public func binaryCrossEntropy(logits z: Tensor, targets t: Tensor, classWeights: [Float]? = nil) -> LossResult {
    precondition(z.shape == t.shape, "BCE: logits \(z.shape) vs targets \(t.shape)")
    let g = TensorRecycler.tensor(z.shape)  // every element written below
    let n = Float(z.count)
    var total = 0.0
    for i in 0..<z.count {
        let (x, y) = (z.data[i], t.data[i])
        let l = Double(max(x, 0) - x * y) + log1p(exp(-Double(abs(x))))
        let wi = bceElementWeight(t, classWeights, i)
        total += Double(wi) * l
        g.data[i] = wi * (sigmoid(x) - y) / n
    }
    return LossResult(loss: Float(total / Double(z.count)), gradient: g)
}

/// Binary cross-entropy from probabilities p (after a sigmoid), clamped to [ε, 1−ε] as Keras does (ε = 1e-7).
/// The gradient is with respect to p. For training prefer `binaryCrossEntropy(logits:)`.
public func binaryCrossEntropy(
    probabilities p: Tensor, targets t: Tensor, classWeights: [Float]? = nil,
    epsilon: Float = 1e-7
) -> LossResult {
    precondition(p.shape == t.shape, "BCE: probabilities \(p.shape) vs targets \(t.shape)")
    let g = TensorRecycler.tensor(p.shape)  // every element written below
    let n = Float(p.count)
    var total = 0.0
    for i in 0..<p.count {
        let q = min(max(p.data[i], epsilon), 1 - epsilon)
        let y = t.data[i]
        let wi = bceElementWeight(t, classWeights, i)
        total += Double(wi) * -(Double(y) * log(Double(q)) + Double(1 - y) * log(Double(1 - q)))
        let inside = p.data[i] > epsilon && p.data[i] < 1 - epsilon
        g.data[i] = inside ? wi * (q - y) / (q * (1 - q)) / n : 0
    }
    return LossResult(loss: Float(total / Double(p.count)), gradient: g)
}

/// Softmax cross-entropy over dim 1 of logits (N, C) or (N, C, H, W); `labels` holds class indices, shaped
/// (N) or (N, H, W). dl/dz = softmax(z) − onehot(y), weighted and normalised as PyTorch's CrossEntropyLoss.
public func softmaxCrossEntropy(logits z: Tensor, labels: Tensor, classWeights: [Float]? = nil) -> LossResult {
    let (n, c) = (z.shape[0], z.shape[1])
    let plane = z.count / (n * c)
    precondition(labels.count == n * plane, "CE: logits \(z.shape) vs labels \(labels.shape)")
    let p = TensorRecycler.tensor(z.shape)
    softmaxChannels(z, into: p)
    let g = TensorRecycler.tensor(z.shape)  // every element written below
    var total = 0.0, weightSum = 0.0
    for i in 0..<n {
        for q in 0..<plane {
            let y = min(max(Int(labels.data[i * plane + q]), 0), c - 1)
            let w = Double(classWeights?[y] ?? 1)
            let base = i * c * plane + q
            total -= w * log(max(Double(p.data[base + y * plane]), 1e-38))
            weightSum += w
        }
    }
    let norm = Float(weightSum > 0 ? weightSum : 1)
    for i in 0..<n {
        for q in 0..<plane {
            let y = min(max(Int(labels.data[i * plane + q]), 0), c - 1)
            let w = classWeights?[y] ?? 1
            let base = i * c * plane + q
            for k in 0..<c {
                g.data[base + k * plane] = w * (p.data[base + k * plane] - (k == y ? 1 : 0)) / norm
            }
        }
    }
    return LossResult(loss: Float(total / Double(norm)), gradient: g)
}

/// Soft Dice loss on mask logits (N, C, H, W) against targets of the same shape (one-hot for C > 1).
/// Probabilities are σ(z) for C = 1 and softmax(z) otherwise. Per image and class,
/// dice = (2Σpt + s) / (Σp + Σt + s) with smoothing s = 1; the loss is 1 − the (class-weighted) mean dice.
public func diceLoss(
    logits z: Tensor, targets t: Tensor, classWeights: [Float]? = nil,
    smooth: Double = 1
) -> LossResult {
    precondition(z.shape == t.shape, "Dice: logits \(z.shape) vs targets \(t.shape)")
    let (n, c) = (z.shape[0], z.shape[1])
    let plane = z.count / (n * c)
    let p = TensorRecycler.tensor(z.shape)
    if c == 1 { for i in 0..<z.count { p.data[i] = sigmoid(z.data[i]) } } else { softmaxChannels(z, into: p) }
    func weight(_ k: Int) -> Double { c == 1 ? 1 : Double(classWeights?[k] ?? 1) }  // one class: nothing to weigh
    var wsum = 0.0
    for k in 0..<c { wsum += weight(k) }
    wsum *= Double(n)
    // dL/dp first, then through the activation.
    let dp = TensorRecycler.tensor(z.shape)  // every element written below
    var total = 0.0
    for i in 0..<n {
        for k in 0..<c {
            let base = (i * c + k) * plane
            var inter = 0.0, sp = 0.0, st = 0.0
            for j in 0..<plane {
                inter += Double(p.data[base + j] * t.data[base + j])
                sp += Double(p.data[base + j]); st += Double(t.data[base + j])
            }
            let num = 2 * inter + smooth, den = sp + st + smooth
            total += weight(k) * (1 - num / den)
            // d(1 − num/den)/dp_j = −(2 t_j · den − num) / den²
            for j in 0..<plane {
                dp.data[base + j] = Float(-weight(k) * (2 * Double(t.data[base + j]) * den - num) / (den * den) / wsum)
            }
        }
    }
    let g = TensorRecycler.tensor(z.shape)  // every element written below
    if c == 1 {
        for i in 0..<z.count { g.data[i] = dp.data[i] * p.data[i] * (1 - p.data[i]) }
    } else {
        for i in 0..<n {
            for q in 0..<plane {
                let base = i * c * plane + q
                var dot: Float = 0
                for k in 0..<c { dot += dp.data[base + k * plane] * p.data[base + k * plane] }
                for k in 0..<c {
                    g.data[base + k * plane] = p.data[base + k * plane] * (dp.data[base + k * plane] - dot)
                }
            }
        }
    }
    return LossResult(loss: Float(total / wsum), gradient: g)
}

/// BCE + Dice, the usual segmentation loss: the sum of the two, gradients added.
public func bceDiceLoss(logits z: Tensor, targets t: Tensor, classWeights: [Float]? = nil) -> LossResult {
    let a = binaryCrossEntropy(logits: z, targets: t, classWeights: classWeights)
    let b = diceLoss(logits: z, targets: t, classWeights: classWeights)
    a.gradient.add(b.gradient)
    return LossResult(loss: a.loss + b.loss, gradient: a.gradient)
}
