import CKernels

// Letters: N batch, C channels, H/W height and width.

/// Squeeze-and-excitation's gating: y = x·s with x (N, C, H, W) and the gates s (N, C, 1, 1) broadcast over
/// H x W. Inputs [x, s]; output (N, C, H, W).
/// dx = dy·s (broadcast), ds[n, c] = Σ_hw dy·x, both in one pass over dy (`scaleAndDot`); memory-bound, planes in
/// parallel.
public final class ChannelGate: MultiInputLayer {
    public let kind = "ChannelGate"
    private var input: Tensor?
    private var gates: Tensor?

    public init() {}

    public func outputShape(_ shapes: [[Int]]) throws -> [Int] {
        guard shapes.count == 2 else { throw ShapeError("ChannelGate takes [x, gates], got \(shapes.count) inputs") }
        let (x, s) = (shapes[0], shapes[1])
        try expectRank(x, 4, kind)
        guard s == [x[0], x[1], 1, 1] else {
            throw ShapeError("ChannelGate: gates \(s) do not fit x \(x): expected \([x[0], x[1], 1, 1])")
        }
        return x
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let (x, s) = (inputs[0], inputs[1])
        let y = TensorRecycler.tensor(x.shape)
        let plane = x.shape[2] * x.shape[3]
        Parallel.forEach(s.count, cost: plane, with: (UnsafePointer(x.data), UnsafePointer(s.data), y.data, plane)) {
            st, p in
            let (x, s, y, plane) = st
            scaleFloatsDispatched(x + p * plane, by: s[p], y + p * plane, plane)
        }
        (input, gates) = training ? (x, s) : (nil, nil)
        return y
    }

    public func backward(_ dy: Tensor, into gradients: inout [Tensor]) {
        guard let x = input, let s = gates else {
            preconditionFailure("ChannelGate.backward without a training forward")
        }
        let dx = TensorRecycler.tensor(x.shape)
        let ds = TensorRecycler.tensor(s.shape)
        let plane = x.shape[2] * x.shape[3]
        let state = (UnsafePointer(x.data), UnsafePointer(s.data), UnsafePointer(dy.data), dx.data, ds.data, plane)
        Parallel.forEach(s.count, cost: 2 * plane, with: state) { st, p in
            let (x, s, dy, dx, ds, plane) = st
            let offset = p * plane
            ds[p] = scaleAndDotDispatched(dy + offset, by: s[p], dx + offset, dot: x + offset, plane)
        }
        gradients.append(dx)
        gradients.append(ds)
    }

    public func releaseCache() { (input, gates) = (nil, nil) }
}

/// `scaleFloats` through `CKernels`' copy for `level` where there is one.
@inline(__always)
func scaleFloatsDispatched(
    _ x: UnsafePointer<Float>, by v: Float, _ y: UnsafeMutablePointer<Float>, _ count: Int,
    level: SIMDLevel = .active
) {
    switch level {
    case .avx512: unet_scale_avx512(x, v, y, count)
    case .avx2: unet_scale_avx2(x, v, y, count)
    case .portable: scaleFloats(x, by: v, y, count)
    }
}

/// `scaleAndDot` through `CKernels`' copy for `level` where there is one (its sum in that copy's fixed order).
@inline(__always)
func scaleAndDotDispatched(
    _ dy: UnsafePointer<Float>, by v: Float, _ dx: UnsafeMutablePointer<Float>,
    dot x: UnsafePointer<Float>, _ count: Int, level: SIMDLevel = .active
) -> Float {
    switch level {
    case .avx512: unet_scale_and_dot_avx512(dy, v, dx, x, count)
    case .avx2: unet_scale_and_dot_avx2(dy, v, dx, x, count)
    case .portable: scaleAndDot(dy, by: v, dx, dot: x, count)
    }
}
