// Letters: N batch, C channels, K kernel (K x K), S stride, H/W input, OH/OW output.

/// Depthwise 2-D convolution (channel multiplier 1): each channel convolved with its own K x K kernel, as PyTorch's
/// `Conv2d(C, C, K, stride, groups=C)`. Weight (C, 1, K, K) as PyTorch; optional bias (C); input (N, C, H, W);
/// output (N, C, OH, OW). Any K >= 1 (EfficientNet uses 3 and 5) and stride; padding "same", "valid", symmetric
/// or per side (`Padding.sides`), so TensorFlow's "same" and PyTorch's static padding are both exact.
///
/// Computed directly (`Kernels/Depthwise.swift`, through `CKernels`' AVX2 or AVX-512 copies where the CPU has them,
/// `SIMDLevel`): the forward's planes in parallel, the backward's channels.
public final class DepthwiseConv2D: UnaryLayer {
    public let kind = "DepthwiseConv2D"
    public let channels, kernelSize, stride: Int
    public let padding: Padding
    public let weight: Parameter
    public let bias: Parameter?
    private var input: Tensor?

    public init(
        channels: Int, kernelSize: Int, stride: Int = 1, padding: Padding = .same, useBias: Bool = true,
        initializer: Initializer = .glorotUniform, rng: inout RandomGenerator
    ) {
        precondition(channels >= 1 && kernelSize >= 1 && stride >= 1, "DepthwiseConv2D needs positive sizes")
        if case .sides(let t, let b, let l, let r) = padding {
            precondition(min(t, b, l, r) >= 0, "DepthwiseConv2D padding must not be negative")
        }
        self.channels = channels; self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
        let k2 = kernelSize * kernelSize
        weight = Parameter("weight", Tensor(zeros: [channels, 1, kernelSize, kernelSize]))
        initializer.fill(weight.value, fanIn: k2, fanOut: k2, rng: &rng)
        bias = useBias ? Parameter("bias", Tensor(zeros: [channels])) : nil
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// One plane's geometry (channels 1: the kernels take a plane at a time).
    func geometry(_ shape: [Int]) -> ConvGeometry {
        ConvGeometry(
            channels: 1, height: shape[2], width: shape[3], kernelH: kernelSize, kernelW: kernelSize,
            strideH: stride, strideW: stride, padding: padding)
    }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try ConvGeometry.outputShape(s, of: kind, channels: channels, outChannels: channels, geometry)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let g = geometry(x.shape)
        let y = TensorRecycler.tensor(x.shape[0], channels, g.outH, g.outW)  // every element written
        let state = (
            x: UnsafePointer(x.data), y: y.data, w: UnsafePointer(weight.value.data),
            b: bias.map { UnsafePointer($0.value.data) }, g: g, c: channels
        )
        Parallel.forEach(x.shape[0] * channels, cost: g.outH * g.outW * kernelSize * kernelSize, with: state) { s, p in
            let (k2, c) = (s.g.kernelW * s.g.kernelW, p % s.c)
            depthwiseForward(
                s.x + p * s.g.height * s.g.width, s.g, s.w + c * k2, bias: s.b?[c] ?? 0,
                s.y + p * s.g.outH * s.g.outW)
        }
        input = training ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor { backward(dy, inputGradient: true)! }

    public func backwardParametersOnly(_ dy: Tensor) { _ = backward(dy, inputGradient: false) }

    /// Both gradients in one visit of each plane, channels in parallel (each channel sums its planes over the batch
    /// in order, so no two threads write one kernel): the plane's x and dy come from memory once, for the weight
    /// gradient, and stay in cache for the input gradient. At stride 1 that is a forward convolution of dy with
    /// the kernel turned by 180° (`depthwiseAdjointGeometry`).
    func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor? {
        guard let x = input else { preconditionFailure("DepthwiseConv2D.backward without a training forward") }
        let g = geometry(x.shape)
        let (n, k2) = (x.shape[0], kernelSize * kernelSize)
        if let bias { accumulateChannelSums(dy, into: bias.grad) }
        let dx = inputGradient ? TensorRecycler.tensor(x.shape) : nil  // every plane overwritten
        let state = (
            x: UnsafePointer(x.data), dy: UnsafePointer(dy.data), dx: dx?.data, dw: weight.grad.data,
            w: UnsafePointer(weight.value.data), g: g, adjoint: depthwiseAdjointGeometry(g), n: n,
            c: channels, k2: k2
        )
        let cost = n * g.outH * g.outW * k2 * (inputGradient ? 2 : 1)  // per channel
        // Scratch per chunk: the Double sums of one kernel's gradient, then its turned kernel as floats.
        Workspace.shared.forEachChunk(
            channels, cost: cost, scratch: Double.self, capacity: 2 * k2,
            with: state
        ) { s, scratch, range in
            let (inPlane, outPlane) = (s.g.height * s.g.width, s.g.outH * s.g.outW)
            let turned = UnsafeMutableRawPointer(scratch + s.k2).bindMemory(to: Float.self, capacity: s.k2)
            for c in range {
                let w = s.w + c * s.k2
                for t in 0..<s.k2 { turned[t] = w[s.k2 - 1 - t] }
                scratch.update(repeating: 0, count: s.k2)
                for i in 0..<s.n {
                    let p = i * s.c + c
                    let (xp, dyp) = (s.x + p * inPlane, s.dy + p * outPlane)
                    depthwiseWeightGradient(xp, dyp, s.g, scratch)
                    guard let dx = s.dx else { continue }
                    depthwiseInputGradient(dyp, s.g, w, turned: turned, adjoint: s.adjoint, dx + p * inPlane)
                }
                for t in 0..<s.k2 { s.dw[c * s.k2 + t] += Float(scratch[t]) }
            }
        }
        return dx
    }

    public func releaseCache() { input = nil }
}
