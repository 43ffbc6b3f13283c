// Letters: N batch, C channels, H/W input, OH/OW output = H*F, W*F for scale factor F.

/// Upsampling by an integer factor, nearest-neighbour (Keras' default) or bilinear with half-pixel centres
/// (Keras' `interpolation="bilinear"`, PyTorch's `align_corners=False`).
public final class UpSampling2D: UnaryLayer {
    public enum Mode: String, Sendable { case nearest, bilinear }

    public let kind = "UpSampling2D"
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
        inputShape = x.shape
        let (h, w) = (x.shape[2], x.shape[3])
        let (oh, ow) = (h * factor, w * factor)
        let y = Tensor(uninitialized: try! outputShape(x.shape))
        Parallel.forEach(x.shape[0] * x.shape[1], cost: oh * ow) { plane in
            let xp = x.data + plane * h * w
            let yp = y.data + plane * oh * ow
            for oy in 0..<oh {
                switch mode {
                case .nearest:
                    let row = xp + (oy / factor) * w
                    for ox in 0..<ow { yp[oy * ow + ox] = row[ox / factor] }
                case .bilinear:
                    let (y0, y1, ly) = taps(oy, h)
                    for ox in 0..<ow {
                        let (x0, x1, lx) = taps(ox, w)
                        let top = xp[y0 * w + x0] * (1 - lx) + xp[y0 * w + x1] * lx
                        let bottom = xp[y1 * w + x0] * (1 - lx) + xp[y1 * w + x1] * lx
                        yp[oy * ow + ox] = top * (1 - ly) + bottom * ly
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dx = Tensor(zeros: inputShape)
        let (h, w) = (inputShape[2], inputShape[3])
        let (oh, ow) = (h * factor, w * factor)
        Parallel.forEach(inputShape[0] * inputShape[1], cost: oh * ow) { plane in
            let dxp = dx.data + plane * h * w
            let dyp = dy.data + plane * oh * ow
            for oy in 0..<oh {
                switch mode {
                case .nearest:
                    let row = dxp + (oy / factor) * w
                    for ox in 0..<ow { row[ox / factor] += dyp[oy * ow + ox] }
                case .bilinear:
                    let (y0, y1, ly) = taps(oy, h)
                    for ox in 0..<ow {
                        let (x0, x1, lx) = taps(ox, w)
                        let g = dyp[oy * ow + ox]
                        dxp[y0 * w + x0] += g * (1 - ly) * (1 - lx)
                        dxp[y0 * w + x1] += g * (1 - ly) * lx
                        dxp[y1 * w + x0] += g * ly * (1 - lx)
                        dxp[y1 * w + x1] += g * ly * lx
                    }
                }
            }
        }
        return dx
    }

    public func releaseCache() {}
}
