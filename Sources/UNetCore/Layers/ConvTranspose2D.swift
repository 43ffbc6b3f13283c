// Letters: N batch, C input channels, O output channels, K kernel, S stride, H/W input, OH/OW output.

/// Transposed convolution ("up-convolution"), by default the U-Net's 2x2 stride-2 upsampling.
/// Weight (C, O, K, K) as PyTorch's `ConvTranspose2d`; input (N, C, H, W); output (N, O, (H-1)S+K, (W-1)S+K).
///
/// Forward is the adjoint of a convolution: col (O*K*K, H*W) = Wᵀ · x, then col2im onto the larger output.
/// Backward: dcol = im2col(dy); dx = W · dcol; dW += x · dcolᵀ.
public final class ConvTranspose2D: ConcatenationProducer {
    public let kind = "ConvTranspose2D"
    public let inputChannels, outputChannels, kernelSize, stride: Int
    public let weight: Parameter
    public let bias: Parameter?
    private var input: Tensor?

    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int = 2, stride: Int = 2,
        useBias: Bool = true, initializer: Initializer = .glorotUniform, rng: inout RandomGenerator
    ) {
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
        ConvGeometry(
            channels: outputChannels, height: (s[2] - 1) * stride + kernelSize,
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

    /// Kernel and stride equal (the U-Net's 2x2 stride 2): every output pixel comes from exactly one column entry.
    var tilesWithoutOverlap: Bool { stride == kernelSize }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let g = outputGeometry(x.shape)
        // Without overlap every output element is written once (with its bias), so it needs no zeroing first.
        let y = TensorRecycler.tensor(x.shape[0], outputChannels, g.height, g.width)
        guard tilesWithoutOverlap else {
            y.zero()
            let (c, rows, hw) = (inputChannels, g.colRows, x.shape[2] * x.shape[3])
            let buffer = TemporaryBuffer(.columns, count: rows * hw)
            defer { buffer.release() }
            let col = buffer.pointer
            for i in 0..<x.shape[0] {
                gemm(transA: true, m: rows, n: hw, k: c, weight.value.data, x.image(i), col)
                col2im(col, g, y.image(i))
            }
            if let bias { addChannelBias(y, bias.value) }
            input = training ? x : nil
            return y
        }
        forward(x, training: training, into: y.data, imageStride: y.count / y.shape[0])
        return y
    }

    /// The strided paths are the kernel = stride ones (the U-Net's), whose output takes no zeroing and no bias pass.
    var writesIntoConcatenation: Bool { tilesWithoutOverlap }

    func forward(_ x: Tensor, training: Bool, into y: UnsafeMutablePointer<Float>, imageStride: Int) {
        precondition(tilesWithoutOverlap, "ConvTranspose2D writes into a concatenation only for kernel = stride")
        let g = outputGeometry(x.shape)
        let (n, c, rows, hw) = (x.shape[0], inputChannels, g.colRows, x.shape[2] * x.shape[3])
        let buffer = TemporaryBuffer(.columns, count: rows * hw)
        defer { buffer.release() }
        let col = buffer.pointer
        for i in 0..<n {
            // col (O*K*K, H*W) = Wᵀ (O*K*K, C) · x[i] (C, H*W)
            gemm(transA: true, m: rows, n: hw, k: c, weight.value.data, x.image(i), col)
            scatterTiles(col, height: x.shape[2], width: x.shape[3], bias: bias?.value.data, y + i * imageStride)
        }
        input = training ? x : nil
    }

    /// y[o, h*K + a, w*K + b] = col[(o*K + a)*K + b, h*W + w] + bias[o]: col2im and the bias in one pass, for
    /// kernel = stride. (Zeroing the output, folding the columns onto it and adding the bias were three passes
    /// over the largest tensor of the decoder.)
    private func scatterTiles(
        _ col: UnsafePointer<Float>, height h: Int, width w: Int, bias: UnsafePointer<Float>?,
        _ y: UnsafeMutablePointer<Float>
    ) {
        let k = kernelSize
        let (oh, ow) = (h * k, w * k)
        Parallel.forEach(outputChannels, cost: oh * ow, with: (col, h, w, bias, y, k, oh, ow)) { s, o in
            let (col, h, w, bias, y, k, oh, ow) = s
            let b = bias?[o] ?? 0
            let yo = y + o * oh * ow
            for a in 0..<k {
                let src = col + (o * k + a) * k * h * w  // rows kb = 0..<k of col follow at h*w apart
                for r in 0..<h {
                    let d = yo + (r * k + a) * ow  // one output row, written in order
                    if k == 2 {
                        let (s0, s1) = (src + r * w, src + h * w + r * w)
                        for q in 0..<w { d[2 * q] = s0[q] + b; d[2 * q + 1] = s1[q] + b }
                    } else {
                        for q in 0..<w { for kb in 0..<k { d[q * k + kb] = src[kb * h * w + r * w + q] + b } }
                    }
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        backward(UnsafePointer(dy.data), imageStride: dy.count / dy.shape[0])
    }

    func backward(_ dy: UnsafePointer<Float>, imageStride: Int) -> Tensor {
        guard let x = input else { preconditionFailure("ConvTranspose2D.backward without a training forward") }
        let g = outputGeometry(x.shape)
        let (n, c, rows, hw) = (x.shape[0], inputChannels, g.colRows, x.shape[2] * x.shape[3])
        let dx = TensorRecycler.tensor(x.shape)  // the GEMM overwrites it
        let buffer = TemporaryBuffer(.columns, count: rows * hw)
        defer { buffer.release() }
        let dcol = buffer.pointer
        for i in 0..<n {
            im2col(dy + i * imageStride, g, dcol)
            // dx[i] (C, H*W) = W (C, O*K*K) · dcol (O*K*K, H*W)
            gemm(m: c, n: hw, k: rows, weight.value.data, dcol, dx.image(i))
            // dW (C, O*K*K) += x[i] (C, H*W) · dcolᵀ (H*W, O*K*K)
            gemm(transB: true, m: c, n: rows, k: hw, x.image(i), dcol, beta: 1, weight.grad.data)
        }
        if let bias {
            accumulateChannelSums(
                dy, n: n, c: outputChannels, plane: g.height * g.width, imageStride: imageStride, into: bias.grad)
        }
        return dx
    }

    public func releaseCache() { input = nil }
}
