// Letters: N batch, C channels, H/W input, OH/OW output, K window, S stride.

/// Max pooling over K x K windows with stride S and no padding (Keras "valid"; odd edges are dropped).
/// The forward remembers the winning input of each window; the backward routes dy there.
public final class MaxPool2D: UnaryLayer {
    public let kind = "MaxPool2D"
    /// Keeps its winners.
    public var keepsInputs: Bool { false }
    public let poolSize, stride: Int
    private var inputShape: [Int] = []
    /// The winner of each output's window as its offset inside the window (row * poolSize + column), kept by a
    /// training forward. One byte each, in a buffer reused from step to step.
    private var winners: [UInt8] = []

    /// The 2x2 stride-2 pooling of every U-Net here takes a branch-free path; the general loop is its oracle
    /// (tests turn this off to compare the two).
    nonisolated(unsafe) static var fastPathEnabled = true

    public init(poolSize: Int = 2, stride: Int? = nil) {
        precondition(poolSize >= 1 && poolSize <= 16, "MaxPool2D pool size must be 1...16")
        self.poolSize = poolSize
        self.stride = stride ?? poolSize
    }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try expectRank(s, 4, kind)
        guard s[2] >= poolSize, s[3] >= poolSize else { throw ShapeError("MaxPool2D: input \(s) is too small") }
        return [s[0], s[1], (s[2] - poolSize) / stride + 1, (s[3] - poolSize) / stride + 1]
    }

    var usesFastPath: Bool { MaxPool2D.fastPathEnabled && poolSize == 2 && stride == 2 }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let s = x.shape
        let (h, w) = (s[2], s[3])
        let (oh, ow) = ((h - poolSize) / stride + 1, (w - poolSize) / stride + 1)
        let y = TensorRecycler.tensor(s[0], s[1], oh, ow)
        if training && winners.count != y.count { winners = [UInt8](repeating: 0, count: y.count) }
        let k = poolSize, st = stride, fast = usesFastPath
        winners.withUnsafeMutableBufferPointer { am in
            let record = training ? am.baseAddress : nil
            Parallel.forEach(s[0] * s[1], cost: h * w, with: (x, y, record, h, w, oh, ow, k, st, fast)) { s, plane in
                let (x, y, record, h, w, oh, ow, k, st, fast) = s
                let xp = UnsafePointer(x.data + plane * h * w)
                let yp = y.data + plane * oh * ow
                let wp = record.map { $0 + plane * oh * ow }
                if fast {
                    maxPool2x2(xp, w: w, oh: oh, ow: ow, yp, wp)
                    return
                }
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -Float.infinity
                        var bestOffset = 0
                        for i in 0..<k {
                            let row = (oy * st + i) * w + ox * st
                            for j in 0..<k where xp[row + j] > best {
                                best = xp[row + j]
                                bestOffset = i * k + j
                            }
                        }
                        yp[oy * ow + ox] = best
                        wp?[oy * ow + ox] = UInt8(bestOffset)
                    }
                }
            }
        }
        inputShape = s
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let (h, w) = (inputShape[2], inputShape[3])
        let (oh, ow) = (dy.shape[2], dy.shape[3])
        // The fast path writes every dx element itself when the windows tile the input exactly.
        let tiles = usesFastPath && h == 2 * oh && w == 2 * ow
        let dx = tiles ? TensorRecycler.tensor(inputShape) : TensorRecycler.zeros(inputShape)
        let k = poolSize, st = stride
        winners.withUnsafeBufferPointer { am in
            let wins = am.baseAddress!
            Parallel.forEach(
                inputShape[0] * inputShape[1], cost: h * w, with: (dx, dy, wins, h, w, oh, ow, k, st, tiles)
            ) {
                s, plane in
                let (dx, dy, wins, h, w, oh, ow, k, st, tiles) = s
                let dxp = dx.data + plane * h * w
                let dyp = UnsafePointer(dy.data + plane * oh * ow)
                let wp = wins + plane * oh * ow
                if tiles {
                    maxPool2x2Backward(dyp, wp, oh: oh, ow: ow, dxp)
                    return
                }
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let offset = Int(wp[oy * ow + ox])
                        dxp[(oy * st + offset / k) * w + ox * st + offset % k] += dyp[oy * ow + ox]
                    }
                }
            }
        }
        return dx
    }

    public func releaseCache() {}
}

/// One plane of 2x2 stride-2 max pooling: the first of equal maxima wins, as in the general loop. Eight windows
/// at a time: sixteen floats of each input row split into even and odd columns, compared lane by lane.
@inline(__always)
private func maxPool2x2(
    _ x: UnsafePointer<Float>, w: Int, oh: Int, ow: Int, _ y: UnsafeMutablePointer<Float>,
    _ winners: UnsafeMutablePointer<UInt8>?
) {
    for oy in 0..<oh {
        let (r0, r1) = (x + 2 * oy * w, x + (2 * oy + 1) * w)
        let yr = y + oy * ow
        var ox = 0
        while ox + 8 <= ow {
            let (a, c) = (load16(r0 + 2 * ox), load16(r1 + 2 * ox))
            let (topRight, bottomRight) = (a.oddHalf .> a.evenHalf, c.oddHalf .> c.evenHalf)
            let top = a.evenHalf.replacing(with: a.oddHalf, where: topRight)
            let bottom = c.evenHalf.replacing(with: c.oddHalf, where: bottomRight)
            let useBottom = bottom .> top
            store8(top.replacing(with: bottom, where: useBottom), yr + ox)
            if let winners {
                let topOffset = SIMD8<Int32>(repeating: 0).replacing(with: 1, where: topRight)
                let bottomOffset = SIMD8<Int32>(repeating: 2).replacing(with: 3, where: bottomRight)
                let offset = SIMD8<UInt8>(truncatingIfNeeded: topOffset.replacing(with: bottomOffset, where: useBottom))
                UnsafeMutableRawPointer(winners + oy * ow + ox).storeBytes(of: offset, as: SIMD8<UInt8>.self)
            }
            ox += 8
        }
        while ox < ow {
            let (a, b, c, d) = (r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1])
            let top = b > a ? b : a, bottom = d > c ? d : c
            yr[ox] = bottom > top ? bottom : top
            if let winners {
                let topOffset: UInt8 = b > a ? 1 : 0, bottomOffset: UInt8 = d > c ? 3 : 2
                winners[oy * ow + ox] = bottom > top ? bottomOffset : topOffset
            }
            ox += 1
        }
    }
}

/// dx for one plane of 2x2 stride-2 pooling whose windows tile the input: dy at each window's winner, 0 elsewhere.
@inline(__always)
private func maxPool2x2Backward(
    _ dy: UnsafePointer<Float>, _ winners: UnsafePointer<UInt8>, oh: Int, ow: Int,
    _ dx: UnsafeMutablePointer<Float>
) {
    let w = 2 * ow
    for oy in 0..<oh {
        let (r0, r1) = (dx + 2 * oy * w, dx + (2 * oy + 1) * w)
        for ox in 0..<ow {
            let (g, win) = (dy[oy * ow + ox], winners[oy * ow + ox])
            r0[2 * ox] = win == 0 ? g : 0
            r0[2 * ox + 1] = win == 1 ? g : 0
            r1[2 * ox] = win == 2 ? g : 0
            r1[2 * ox + 1] = win == 3 ? g : 0
        }
    }
}
