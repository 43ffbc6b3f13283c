// Letters: N batch, C input channels, O output channels, K kernel, S stride, H/W input, OH/OW output.

/// Transposed convolution ("up-convolution"), by default the U-Net's 2x2 stride-2 upsampling.
/// Weight (C, O, K, K) as PyTorch's `ConvTranspose2d`; input (N, C, H, W); output (N, O, (H-1)S+K, (W-1)S+K).
///
/// Forward is the adjoint of a convolution: col (O*K*K, H*W) = Wᵀ · x, then col2im onto the larger output.
/// Backward: dcol = im2col(dy); dx = W · dcol; dW += x · dcolᵀ.
public final class ConvTranspose2D: UnaryLayer {
    public let kind = "ConvTranspose2D"
    public let inputChannels, outputChannels, kernelSize, stride: Int
    public let weight: Parameter
    public let bias: Parameter?
    private var input: Tensor?

    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int = 2, stride: Int = 2,
                useBias: Bool = true, initializer: Initializer = .glorotUniform, rng: inout RandomGenerator) {
        self.inputChannels = inputChannels; self.outputChannels = outputChannels
        self.kernelSize = kernelSize; self.stride = stride
        let k2 = kernelSize * kernelSize
        weight = Parameter("weight", Tensor(zeros: [inputChannels, outputChannels, kernelSize, kernelSize]))
        // Keras and PyTorch both take fan-in from the output side of the stored tensor here: use O*K*K / C*K*K.
        initializer.fill(weight.value, fanIn: outputChannels * k2, fanOut: inputChannels * k2, rng: &rng)
        bias = useBias ? Parameter("bias", Tensor(zeros: [outputChannels])) : nil
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// The geometry of the equivalent forward convolution that maps the output back to the input.
    func outputGeometry(_ s: [Int]) -> ConvGeometry {
        ConvGeometry(channels: outputChannels, height: (s[2] - 1) * stride + kernelSize,
                     width: (s[3] - 1) * stride + kernelSize, kernelH: kernelSize, kernelW: kernelSize,
                     strideH: stride, strideW: stride, padding: .valid)
    }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try expectRank(s, 4, kind)
        guard s[1] == inputChannels else {
            throw ShapeError("ConvTranspose2D expects \(inputChannels) input channels, got \(s[1])")
        }
        let g = outputGeometry(s)
        return [s[0], outputChannels, g.height, g.width]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let g = outputGeometry(x.shape)
        let (n, c, rows, hw) = (x.shape[0], inputChannels, g.colRows, x.shape[2] * x.shape[3])
        let y = Tensor(zeros: [n, outputChannels, g.height, g.width])
        let col = Workspace.shared.buffer(.columns, count: rows * hw)
        for i in 0..<n {
            // col (O*K*K, H*W) = Wᵀ (O*K*K, C) · x[i] (C, H*W)
            gemm(transA: true, m: rows, n: hw, k: c, weight.value.data, x.image(i), col)
            col2im(col, g, y.image(i))
        }
        if let bias { addChannelBias(y, bias.value) }
        input = training ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("ConvTranspose2D.backward without a training forward") }
        let g = outputGeometry(x.shape)
        let (n, c, rows, hw) = (x.shape[0], inputChannels, g.colRows, x.shape[2] * x.shape[3])
        let dx = Tensor(zeros: x.shape)
        let dcol = Workspace.shared.buffer(.columnGradient, count: rows * hw)
        for i in 0..<n {
            im2col(dy.image(i), g, dcol)
            // dx[i] (C, H*W) = W (C, O*K*K) · dcol (O*K*K, H*W)
            gemm(m: c, n: hw, k: rows, weight.value.data, dcol, dx.image(i))
            // dW (C, O*K*K) += x[i] (C, H*W) · dcolᵀ (H*W, O*K*K)
            gemm(transB: true, m: c, n: rows, k: hw, x.image(i), dcol, beta: 1, weight.grad.data)
        }
        if let bias { accumulateChannelSums(dy, into: bias.grad) }
        return dx
    }

    public func releaseCache() { input = nil }
}
