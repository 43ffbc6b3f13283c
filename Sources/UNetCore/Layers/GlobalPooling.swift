// Letters: N batch, C channels, H/W height and width.

/// Mean over the spatial axes: (N, C, H, W) to (N, C), or to (N, C, 1, 1) with `keepDims` (PyTorch's
/// `adaptive_avg_pool2d(x, 1)`, the squeeze of squeeze-and-excitation, whose 1x1 convolutions follow).
public final class GlobalAveragePooling2D: UnaryLayer {
    public let kind = "GlobalAveragePooling2D"
    /// Keeps the input's shape.
    public var keepsInputs: Bool { false }
    public let keepDims: Bool
    private var inputShape: [Int] = []
    public init(keepDims: Bool = false) { self.keepDims = keepDims }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try expectRank(s, 4, kind)
        return keepDims ? [s[0], s[1], 1, 1] : [s[0], s[1]]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], plane = x.shape[2] * x.shape[3]
        let y =
            keepDims
            ? TensorRecycler.tensor(x.shape[0], x.shape[1], 1, 1) : TensorRecycler.tensor(x.shape[0], x.shape[1])
        // Planes over the threads, each summed in vectors in a fixed order (`sumFloats`): the serial scalar sum, one
        // addition waiting on the last, took 6% of eff-unet b1's inference at 224 (23 squeezes).
        Parallel.forEach(planes, cost: plane, with: (UnsafePointer(x.data), y.data, plane)) { s, p in
            let (x, y, plane) = s
            y[p] = sumFloats(x + p * plane, plane) / Float(plane)
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dx = TensorRecycler.tensor(inputShape)
        let plane = inputShape[2] * inputShape[3]
        Parallel.forEach(dy.count, cost: plane, with: (UnsafePointer(dy.data), dx.data, plane)) { s, p in
            let (dy, dx, plane) = s
            (dx + p * plane).update(repeating: dy[p] / Float(plane), count: plane)
        }
        return dx
    }

    public func releaseCache() {}
}

/// Maximum over the spatial axes, PyTorch's `AdaptiveMaxPool2d(1)` (smp's `pooling="max"` head): (N, C, H, W)
/// to (N, C), or (N, C, 1, 1) with `keepDims`. The backward routes dy to the first maximum of each plane, as
/// PyTorch does; the winners are kept in a buffer reused from step to step.
public final class GlobalMaxPooling2D: UnaryLayer {
    public let kind = "GlobalMaxPooling2D"
    /// Keeps the input's shape and the winners.
    public var keepsInputs: Bool { false }
    public let keepDims: Bool
    private var inputShape: [Int] = []
    private var winners: [Int32] = []
    public init(keepDims: Bool = false) { self.keepDims = keepDims }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try expectRank(s, 4, kind)
        guard s[2] > 0, s[3] > 0 else { throw ShapeError("GlobalMaxPooling2D: input \(s) has no pixels") }
        return keepDims ? [s[0], s[1], 1, 1] : [s[0], s[1]]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], plane = x.shape[2] * x.shape[3]
        let y =
            keepDims
            ? TensorRecycler.tensor(x.shape[0], x.shape[1], 1, 1) : TensorRecycler.tensor(x.shape[0], x.shape[1])
        if winners.count != planes { winners = [Int32](repeating: 0, count: planes) }
        winners.withUnsafeMutableBufferPointer { wins in
            for p in 0..<planes {
                let xp = x.data + p * plane
                var best = 0
                for j in 1..<max(plane, 1) where xp[j] > xp[best] { best = j }
                y.data[p] = xp[best]
                wins[p] = Int32(best)
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dx = TensorRecycler.zeros(inputShape)
        let plane = inputShape[2] * inputShape[3]
        for p in 0..<dy.count { dx.data[p * plane + Int(winners[p])] = dy.data[p] }
        return dx
    }

    public func releaseCache() {}
}
