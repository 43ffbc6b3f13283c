// Letters: N batch, C channels, H/W input, OH/OW output = the reference's height and width.

/// Nearest-neighbour upsampling of x onto the height and width of a second input (the skip it is concatenated
/// with next): a U-Net decoder whose encoder produced odd sizes (stride-2 "same" padding: 15 -> 8) upsamples the
/// 8 back onto the 15, where doubling would give 16. Inputs [x (N, C, H, W), reference (N, *, OH, OW)]; output
/// (N, C, OH, OW).
///
/// The rule is PyTorch's `F.interpolate(x, size=(OH, OW), mode="nearest")`: output row oy reads input row
/// min(floor(oy · (H / OH)), H - 1), the ratio and product in float32 as PyTorch computes them, columns alike.
/// When OH = 2H and OW = 2W that is exactly `F.interpolate(scale_factor=2)`, what smp's decoders do (and the
/// factor-2 `UpSampling2D` path runs then). The reference only lends its shape: its gradient is zero.
public final class UpSampleToMatch: MultiInputLayer {
    public let kind = "UpSampleToMatch"
    /// Keeps the two shapes.
    public var keepsInputs: Bool { false }
    private let doubling = UpSampling2D(factor: 2, mode: .nearest)
    private var inputShape: [Int] = []
    private var referenceShape: [Int] = []
    public init() {}

    public func outputShape(_ shapes: [[Int]]) throws -> [Int] {
        guard shapes.count == 2 else {
            throw ShapeError("UpSampleToMatch takes [x, reference], got \(shapes.count) inputs")
        }
        let (x, r) = (shapes[0], shapes[1])
        try expectRank(x, 4, kind)
        try expectRank(r, 4, kind)
        guard x[0] == r[0], r[2] >= x[2], r[3] >= x[3] else {
            throw ShapeError("UpSampleToMatch: cannot upsample \(x) onto the size of \(r)")
        }
        return [x[0], x[1], r[2], r[3]]
    }

    /// The input index nearest output index `o` of `outSize` along an axis of `inSize`, as PyTorch computes it.
    @inline(__always)
    static func source(_ o: Int, inSize: Int, outSize: Int) -> Int {
        let scale = Float(inSize) / Float(outSize)
        return min(Int((Float(o) * scale).rounded(.down)), inSize - 1)
    }

    func isDoubling(_ x: [Int], _ r: [Int]) -> Bool { r[2] == 2 * x[2] && r[3] == 2 * x[3] }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let (x, r) = (inputs[0], inputs[1])
        inputShape = x.shape
        if referenceShape != r.shape { referenceShape = r.shape }
        if isDoubling(x.shape, r.shape) { return doubling.forward(x, training: training) }
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], r.shape[2], r.shape[3])
        let y = TensorRecycler.tensor(x.shape[0], x.shape[1], oh, ow)
        Parallel.forEach(x.shape[0] * x.shape[1], cost: oh * ow, with: (UnsafePointer(x.data), y.data, h, w, oh, ow)) {
            s, plane in
            let (x, y, h, w, oh, ow) = s
            let (xp, yp) = (x + plane * h * w, y + plane * oh * ow)
            for oy in 0..<oh {
                let src = xp + UpSampleToMatch.source(oy, inSize: h, outSize: oh) * w
                for ox in 0..<ow { yp[oy * ow + ox] = src[UpSampleToMatch.source(ox, inSize: w, outSize: ow)] }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor, into gradients: inout [Tensor]) {
        if isDoubling(inputShape, referenceShape) {
            gradients.append(doubling.backward(dy))
        } else {
            let (h, w, oh, ow) = (inputShape[2], inputShape[3], dy.shape[2], dy.shape[3])
            let dx = TensorRecycler.zeros(inputShape)
            Parallel.forEach(
                inputShape[0] * inputShape[1], cost: oh * ow,
                with: (UnsafePointer(dy.data), dx.data, h, w, oh, ow)
            ) { s, plane in
                let (dy, dx, h, w, oh, ow) = s
                let (dxp, dyp) = (dx + plane * h * w, dy + plane * oh * ow)
                for oy in 0..<oh {
                    let dst = dxp + UpSampleToMatch.source(oy, inSize: h, outSize: oh) * w
                    for ox in 0..<ow { dst[UpSampleToMatch.source(ox, inSize: w, outSize: ow)] += dyp[oy * ow + ox] }
                }
            }
            gradients.append(dx)
        }
        gradients.append(TensorRecycler.zeros(referenceShape))
    }

    public func releaseCache() {}
}
