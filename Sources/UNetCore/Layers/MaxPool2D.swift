// Letters: N batch, C channels, H/W input, OH/OW output, K window, S stride.

/// Max pooling over K x K windows with stride S and no padding (Keras "valid"; odd edges are dropped).
/// The forward remembers the winning input of each window; the backward routes dy there.
public final class MaxPool2D: UnaryLayer {
    public let kind = "MaxPool2D"
    public let poolSize, stride: Int
    private var inputShape: [Int] = []
    private var argmax: [Int32] = []

    public init(poolSize: Int = 2, stride: Int? = nil) {
        self.poolSize = poolSize
        self.stride = stride ?? poolSize
    }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try expectRank(s, 4, kind)
        guard s[2] >= poolSize, s[3] >= poolSize else { throw ShapeError("MaxPool2D: input \(s) is too small") }
        return [s[0], s[1], (s[2] - poolSize) / stride + 1, (s[3] - poolSize) / stride + 1]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let s = x.shape
        let (h, w) = (s[2], s[3])
        let (oh, ow) = ((h - poolSize) / stride + 1, (w - poolSize) / stride + 1)
        let y = Tensor(uninitialized: [s[0], s[1], oh, ow])
        if training { argmax = [Int32](repeating: 0, count: y.count) }
        let k = poolSize, st = stride
        argmax.withUnsafeMutableBufferPointer { am in
            let record = training
            let amBase = am.baseAddress
            Parallel.forEach(s[0] * s[1], cost: h * w) { plane in
                let xp = x.data + plane * h * w
                let yp = y.data + plane * oh * ow
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -Float.infinity
                        var bestIndex = (oy * st) * w + ox * st
                        for i in 0..<k {
                            let row = (oy * st + i) * w + ox * st
                            for j in 0..<k where xp[row + j] > best {
                                best = xp[row + j]
                                bestIndex = row + j
                            }
                        }
                        yp[oy * ow + ox] = best
                        if record { amBase![plane * oh * ow + oy * ow + ox] = Int32(bestIndex) }
                    }
                }
            }
        }
        inputShape = s
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dx = Tensor(zeros: inputShape)
        let planeIn = inputShape[2] * inputShape[3]
        let planeOut = dy.count / (inputShape[0] * inputShape[1])
        argmax.withUnsafeBufferPointer { am in
            Parallel.forEach(inputShape[0] * inputShape[1], cost: planeIn) { plane in
                let dxp = dx.data + plane * planeIn
                for j in 0..<planeOut {
                    dxp[Int(am[plane * planeOut + j])] += dy.data[plane * planeOut + j]
                }
            }
        }
        return dx
    }

    public func releaseCache() { argmax = [] }
}
