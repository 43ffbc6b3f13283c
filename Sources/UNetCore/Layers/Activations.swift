import Foundation

/// max(x, 0). The backward passes dy where the output was positive.
public final class ReLU: GradientOverwritingLayer {
    public let kind = "ReLU"
    /// Set with `Conv2D.rectifiesOutput` by `Network.fuseActivations()`: the input is already max(·, 0), so the
    /// forward passes it through (no pass, no new tensor) and only the backward's mask remains.
    public internal(set) var inputIsRectified = false
    /// Set by `Network`'s plan where no reader of the output keeps it (the U-Nets' skips, read by a pooling and a
    /// concatenation's copy): a training forward then keeps one bit per element (y > 0) instead of the output,
    /// so the output can go once its readers have run. The same mask, so the same gradients, bit for bit.
    var keepsSignBits = false
    /// Set with `BatchNorm.rectifiesOutput` by `Network`'s plan: that BatchNorm's backward masks the gradient
    /// itself (from its own input), so a training forward keeps nothing and the backward passes dL/dy through.
    var batchNormMasksGradient = false
    /// `batchNormMasksGradient` as the last training forward ran.
    private var passesGradientThrough = false
    private var output: Tensor?
    /// y > 0 of a training forward with `keepsSignBits`, element e at bit e % 32 of word e / 32; reused from step
    /// to step, like MaxPool2D's winners.
    private var signBits: [UInt32] = []
    /// Whether `signBits` hold the last training forward's mask (the backward's choice of mask).
    private var hasSignBits = false
    public init() {}

    public func outputShape(_ s: [Int]) throws -> [Int] { s }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y: Tensor
        if inputIsRectified {
            y = x
        } else {
            y = TensorRecycler.tensor(x.shape)
            Parallel.forEachChunk(x.count, with: (x.data, y.data)) { s, r in reluForward(s.0, s.1, r) }
        }
        hasSignBits = false
        passesGradientThrough = training && inputIsRectified && batchNormMasksGradient
        output = training && !keepsSignBits && !passesGradientThrough ? y : nil
        if training && keepsSignBits && !passesGradientThrough { keepSignBits(of: y) }
        return y
    }

    private func keepSignBits(of y: Tensor) {
        let words = (y.count + 31) / 32
        if signBits.count != words { signBits = [UInt32](repeating: 0, count: words) }
        signBits.withUnsafeMutableBufferPointer { bits in
            Parallel.forEachChunk(words, cost: 32, with: (UnsafePointer(y.data), y.count, bits.baseAddress!)) {
                s, r in reluSignBits(s.0, count: s.1, s.2, words: r)
            }
        }
        hasSignBits = true
    }

    public func backward(_ dy: Tensor) -> Tensor {
        passesGradientThrough ? dy : backward(dy, into: TensorRecycler.tensor(dy.shape))
    }

    func backward(overwriting dy: Tensor) -> Tensor { passesGradientThrough ? dy : backward(dy, into: dy) }

    private func backward(_ dy: Tensor, into dx: Tensor) -> Tensor {
        if hasSignBits {
            let words = signBits.count
            signBits.withUnsafeBufferPointer { bits in
                Parallel.forEachChunk(
                    words, cost: 32, with: (bits.baseAddress!, UnsafePointer(dy.data), dx.data, dy.count)
                ) { s, r in reluBackward(signBits: s.0, s.1, s.2, count: s.3, words: r) }
            }
            return dx
        }
        guard let y = output else { preconditionFailure("ReLU.backward without a training forward") }
        Parallel.forEachChunk(dy.count, with: (y.data, dy.data, dx.data)) { s, r in reluBackward(s.0, s.1, s.2, r) }
        return dx
    }

    public func releaseCache() { output = nil; hasSignBits = false; passesGradientThrough = false }
}

/// 1 / (1 + e^-x), elementwise. dx = dy * y * (1 - y).
public final class Sigmoid: UnaryLayer {
    public let kind = "Sigmoid"
    private var output: Tensor?
    public init() {}

    public func outputShape(_ s: [Int]) throws -> [Int] { s }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = TensorRecycler.zeros(x.shape)
        for i in 0..<x.count { y.data[i] = sigmoid(x.data[i]) }
        output = training ? y : nil
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("Sigmoid.backward without a training forward") }
        let dx = TensorRecycler.zeros(dy.shape)
        for i in 0..<dy.count { dx.data[i] = dy.data[i] * y.data[i] * (1 - y.data[i]) }
        return dx
    }

    public func releaseCache() { output = nil }
}

/// Softmax over the channel axis (dim 1) of (N, C) or (N, C, H, W).
/// dx = y * (dy - Σ_c dy·y).
public final class Softmax: UnaryLayer {
    public let kind = "Softmax"
    private var output: Tensor?
    public init() {}

    public func outputShape(_ s: [Int]) throws -> [Int] {
        guard s.count >= 2 else { throw ShapeError("Softmax needs a channel axis, got \(s)") }
        return s
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = TensorRecycler.zeros(x.shape)
        softmaxChannels(x, into: y)
        output = training ? y : nil
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("Softmax.backward without a training forward") }
        let dx = TensorRecycler.zeros(dy.shape)
        let (n, c) = (y.shape[0], y.shape[1])
        let plane = y.count / (n * c)
        for i in 0..<n {
            for p in 0..<plane {
                let base = i * c * plane + p
                var dot: Float = 0
                for k in 0..<c { dot += dy.data[base + k * plane] * y.data[base + k * plane] }
                for k in 0..<c {
                    let j = base + k * plane
                    dx.data[j] = y.data[j] * (dy.data[j] - dot)
                }
            }
        }
        return dx
    }

    public func releaseCache() { output = nil }
}

/// The logistic function, written to stay finite for large |x|.
@inline(__always)
public func sigmoid(_ x: Float) -> Float {
    x >= 0
        ? 1 / (1 + expf(-x))
        : {
            let e = expf(x); return e / (1 + e)
        }()
}

/// Numerically stable softmax over dim 1 of x (N, C, ...), written into y.
public func softmaxChannels(_ x: Tensor, into y: Tensor) {
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.count / (n * c)
    for i in 0..<n {
        for p in 0..<plane {
            let base = i * c * plane + p
            var m = -Float.infinity
            for k in 0..<c { m = max(m, x.data[base + k * plane]) }
            var s: Float = 0
            for k in 0..<c {
                let e = expf(x.data[base + k * plane] - m)
                y.data[base + k * plane] = e
                s += e
            }
            for k in 0..<c { y.data[base + k * plane] /= s }
        }
    }
}
