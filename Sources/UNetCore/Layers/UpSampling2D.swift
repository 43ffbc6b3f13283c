// Letters: N batch, C channels, H/W input, OH/OW output = H*F, W*F for scale factor F.

/// Upsampling by an integer factor, nearest-neighbour (Keras' default) or bilinear with half-pixel centres
/// (Keras' `interpolation="bilinear"`, PyTorch's `align_corners=False`).
public final class UpSampling2D: ConcatenationProducer {
    public enum Mode: String, Sendable { case nearest, bilinear }

    public let kind = "UpSampling2D"
    /// Keeps the input's shape.
    public var keepsInputs: Bool { false }
    public let factor: Int
    public let mode: Mode
    private var inputShape: [Int] = []

    public init(factor: Int = 2, mode: Mode = .nearest) {
        self.factor = factor
        self.mode = mode
    }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try expectRank(s, 4, kind)
        return [s[0], s[1], s[2] * factor, s[3] * factor]
    }

    /// For output coordinate `o` along an axis of input size `n`: the two source indices and the weight of
    /// the second, under half-pixel centres.
    @inline(__always)
    func taps(_ o: Int, _ n: Int) -> (Int, Int, Float) {
        let src = max((Float(o) + 0.5) / Float(factor) - 0.5, 0)
        let i0 = min(Int(src), n - 1)
        let i1 = min(i0 + 1, n - 1)
        return (i0, i1, src - Float(i0))
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (oh, ow) = (x.shape[2] * factor, x.shape[3] * factor)
        let y = TensorRecycler.tensor(x.shape[0], x.shape[1], oh, ow)
        forward(x, training: training, into: y.data, imageStride: x.shape[1] * oh * ow)
        return y
    }

    var writesIntoConcatenation: Bool { true }

    func forward(_ x: Tensor, training: Bool, into y: UnsafeMutablePointer<Float>, imageStride: Int) {
        inputShape = x.shape
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (h * factor, w * factor)
        Parallel.forEach(x.shape[0] * c, cost: oh * ow, with: (self, x, y, c, h, w, oh, ow, imageStride)) {
            state, plane in
            let (layer, x, y, c, h, w, oh, ow, imageStride) = state
            let (mode, factor) = (layer.mode, layer.factor)
            let xp = x.data + plane * h * w
            let yp = y + (plane / c) * imageStride + (plane % c) * oh * ow
            if mode == .nearest {
                // Each input row is widened once, then copied to the factor - 1 rows below (no divisions).
                for iy in 0..<h {
                    let (src, dst) = (xp + iy * w, yp + iy * factor * ow)
                    for ix in 0..<w {
                        let v = src[ix]
                        for f in 0..<factor { dst[ix * factor + f] = v }
                    }
                    for r in 1..<factor { (dst + r * ow).update(from: dst, count: ow) }
                }
                return
            }
            for oy in 0..<oh {
                let (y0, y1, ly) = layer.taps(oy, h)
                for ox in 0..<ow {
                    let (x0, x1, lx) = layer.taps(ox, w)
                    let top = xp[y0 * w + x0] * (1 - lx) + xp[y0 * w + x1] * lx
                    let bottom = xp[y1 * w + x0] * (1 - lx) + xp[y1 * w + x1] * lx
                    yp[oy * ow + ox] = top * (1 - ly) + bottom * ly
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        backward(UnsafePointer(dy.data), imageStride: dy.count / dy.shape[0])
    }

    func backward(_ dy: UnsafePointer<Float>, imageStride: Int) -> Tensor {
        let (c, h, w) = (inputShape[1], inputShape[2], inputShape[3])
        let (oh, ow) = (h * factor, w * factor)
        let dx = mode == .nearest ? TensorRecycler.tensor(inputShape) : TensorRecycler.zeros(inputShape)
        Parallel.forEach(inputShape[0] * c, cost: oh * ow, with: (self, dy, dx, c, h, w, oh, ow, imageStride)) {
            state, plane in
            let (layer, dy, dx, c, h, w, oh, ow, imageStride) = state
            let (mode, factor) = (layer.mode, layer.factor)
            let dxp = dx.data + plane * h * w
            let dyp = dy + (plane / c) * imageStride + (plane % c) * oh * ow
            if mode == .nearest {
                // Each input pixel sums its factor x factor block, rows then columns in order; for the usual
                // factor 2, eight pixels at a time from the even and odd columns of two dy rows.
                for iy in 0..<h {
                    var start = 0
                    if factor == 2 {
                        let (r0, r1) = (dyp + 2 * iy * ow, dyp + (2 * iy + 1) * ow)
                        while start + 8 <= w {
                            let (a, b) = (load16(r0 + 2 * start), load16(r1 + 2 * start))
                            store8(a.evenHalf + a.oddHalf + b.evenHalf + b.oddHalf, dxp + iy * w + start)
                            start += 8
                        }
                    }
                    for ix in start..<w {
                        var s: Float = 0
                        for r in 0..<factor {
                            let row = dyp + (iy * factor + r) * ow + ix * factor
                            for f in 0..<factor { s += row[f] }
                        }
                        dxp[iy * w + ix] = s
                    }
                }
                return
            }
            for oy in 0..<oh {
                let (y0, y1, ly) = layer.taps(oy, h)
                for ox in 0..<ow {
                    let (x0, x1, lx) = layer.taps(ox, w)
                    let g = dyp[oy * ow + ox]
                    dxp[y0 * w + x0] += g * (1 - ly) * (1 - lx)
                    dxp[y0 * w + x1] += g * (1 - ly) * lx
                    dxp[y1 * w + x0] += g * ly * (1 - lx)
                    dxp[y1 * w + x1] += g * ly * lx
                }
            }
        }
        return dx
    }

    public func releaseCache() {}
}
