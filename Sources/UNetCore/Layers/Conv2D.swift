// Letters: N batch, C input channels, O output channels, KH/KW kernel, H/W input, OH/OW output,
// K = C*KH*KW (rows of the column matrix), P = OH*OW (output pixels).

/// 2-D convolution with bias, computed as im2col then one GEMM per image (a 1x1 kernel skips im2col); a 3x3
/// stride-1 padding-1 layer takes the direct small-channel kernels at up to 48 channels where the CPU has AVX2
/// (`conv2dDirectSmall`), else Winograd F(4x4, 3x3) where it profits (`usesWinograd`); on AVX-512 Winograd's
/// row-fused driver takes the forward and input gradient of the direct kernels' layers too (`usesWinogradRows`).
/// Weight (O, C, KH, KW) as PyTorch; input (N, C, H, W); output (N, O, OH, OW).
public final class Conv2D: UnaryLayer {
    public let kind = "Conv2D"
    public let inputChannels, outputChannels, kernelH, kernelW, stride: Int
    public let padding: Padding
    public let weight: Parameter
    public let bias: Parameter?

    /// Whether the output is max(·, 0) of the convolution: a ReLU fused in, set by `Network.fuseActivations()` only
    /// where that ReLU is the output's one consumer (and then passes its input through). The backward still takes
    /// the gradient of the linear output, which that ReLU's backward produces.
    public internal(set) var rectifiesOutput = false

    private var input: Tensor?
    /// Winograd's transformed kernels for inference forwards, valid while the weights' version is unchanged.
    let winogradKernels = WinogradKernelCache()
    /// A small convolution's column matrices with their row of ones, (N, K+1, P), kept from a training forward:
    /// its backward then needs no im2col, and its bias gradient comes out of the weight-gradient product.
    private var columns: Tensor?

    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1,
        padding: Padding = .same, useBias: Bool = true, initializer: Initializer = .glorotUniform,
        rng: inout RandomGenerator
    ) {
        self.inputChannels = inputChannels; self.outputChannels = outputChannels
        self.kernelH = kernelSize; self.kernelW = kernelSize; self.stride = stride; self.padding = padding
        let k2 = kernelSize * kernelSize
        weight = Parameter("weight", Tensor(zeros: [outputChannels, inputChannels, kernelSize, kernelSize]))
        initializer.fill(weight.value, fanIn: inputChannels * k2, fanOut: outputChannels * k2, rng: &rng)
        bias = useBias ? Parameter("bias", Tensor(zeros: [outputChannels])) : nil
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    func geometry(_ shape: [Int]) -> ConvGeometry {
        ConvGeometry(
            channels: shape[1], height: shape[2], width: shape[3], kernelH: kernelH, kernelW: kernelW,
            strideH: stride, strideW: stride, padding: padding)
    }

    /// A 1x1 stride-1 unpadded convolution is a plain GEMM on the image itself.
    var isPointwise: Bool { kernelH == 1 && kernelW == 1 && stride == 1 }

    /// Whether this input takes Winograd F(4x4, 3x3): a 3x3 stride-1 convolution padded by one on every side
    /// ("same" or explicit 1), large enough to profit (`ConvolutionAlgorithms.useWinograd`).
    public func usesWinograd(_ shape: [Int]) -> Bool {
        guard kernelH == 3, kernelW == 3, stride == 1, padding == .same || padding == .explicit(1) else { return false }
        return ConvolutionAlgorithms.useWinograd(
            channels: inputChannels, outChannels: outputChannels,
            height: shape[2], width: shape[3], batch: shape[0])
    }

    /// Whether this layer takes the direct small-channel kernels (`conv2dDirectSmall`): a 3x3 stride-1 convolution
    /// padded by one on every side whose channel counts are both small (`ConvolutionAlgorithms.useDirect`).
    public var usesDirectConvolution: Bool {
        guard kernelH == 3, kernelW == 3, stride == 1, padding == .same || padding == .explicit(1) else { return false }
        return ConvolutionAlgorithms.useDirect(channels: inputChannels, outChannels: outputChannels)
    }

    /// Whether this input's forward and input gradient take Winograd's row-fused driver (AVX-512) even where the
    /// direct kernels apply: it does 4x fewer multiply-adds at the cost of transforms that stay in cache, and ran
    /// 1.5-2x the direct kernels' speed at 16 to 40 channels on rows of 56 to 224 pixels (`unet-bench --conv`).
    public func usesWinogradRows(_ shape: [Int]) -> Bool {
        usesWinograd(shape)
            && ConvolutionAlgorithms.useWinogradRows(
                channels: inputChannels, outChannels: outputChannels, width: shape[3])
    }

    /// Whether this input's weight gradient takes the row-fused driver's (`useWinogradRowsWeightGradient`); the
    /// others stay with the direct kernels' or the chunked driver's.
    func usesWinogradRowsWeightGradient(_ shape: [Int]) -> Bool {
        usesWinograd(shape)
            && ConvolutionAlgorithms.useWinogradRowsWeightGradient(
                channels: inputChannels, outChannels: outputChannels, width: shape[3])
    }

    /// Whether this input's forward and input gradient take the direct kernels: their layers, less those the
    /// row-fused Winograd driver takes.
    func usesDirectForward(_ shape: [Int]) -> Bool { usesDirectConvolution && !usesWinogradRows(shape) }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try ConvGeometry.outputShape(s, of: kind, channels: inputChannels, outChannels: outputChannels, geometry)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        input = training ? x : nil
        columns = nil
        return convolve(
            x, training: training, weight: weight, bias: bias?.value, rectify: rectifiesOutput,
            kernels: winogradKernels)
    }

    /// The kernels and bias with an inference BatchNorm folded in (`forwardFoldingBatchNorm`), and their
    /// Winograd transforms: remade only when a fold gives other values (a step, a load), so a model that only
    /// infers transforms once.
    private var folded: (weight: Parameter, bias: Tensor)?
    private let foldedWinogradKernels = WinogradKernelCache()
    /// Bytes the fold keeps: the folded kernels and bias, and their Winograd transforms (the memory breakdown).
    var foldedKernelBytes: Int {
        (folded.map { ($0.weight.value.count + $0.bias.count) * 4 } ?? 0) + foldedWinogradKernels.byteCount
    }

    /// An inference forward followed by `bn`'s inference affine map, and by max(·, 0) where `bn` rectifies, in one
    /// convolution: w'[o] = w[o]·s[o], b'[o] = b[o]·s[o] + t[o], where BatchNorm's y = x·s + t per channel
    /// (s = γ/√(σ² + ε), t = β - μ·s). Saves two passes over the output (`Network`'s inference plan). The values
    /// differ from the two layers' by rounding only.
    func forwardFoldingBatchNorm(_ bn: BatchNorm, _ x: Tensor) -> Tensor {
        input = nil
        columns = nil
        let (o, perOutput) = (outputChannels, weight.value.count / outputChannels)
        if folded == nil {  // the weights' shape is fixed: loads write into the tensor
            folded = (Parameter("weight", Tensor(zeros: weight.value.shape)), Tensor(zeros: [o]))
        }
        let (w, b) = (folded!.weight, folded!.bias)
        var changed = false
        for oc in 0..<o {
            let (s, shift) = bn.inferenceScaleAndShift(oc)
            for e in oc * perOutput..<(oc + 1) * perOutput {
                let v = weight.value.data[e] * s
                if v.bitPattern != w.value.data[e].bitPattern { w.value.data[e] = v; changed = true }
            }
            b.data[oc] = (bias?.value.data[oc] ?? 0) * s + shift
        }
        if changed { w.noteValueChanged() }
        return convolve(
            x, training: false, weight: w, bias: b, rectify: bn.rectifiesOutput, kernels: foldedWinogradKernels)
    }

    private func convolve(
        _ x: Tensor, training: Bool, weight: Parameter, bias: Tensor?, rectify: Bool, kernels: WinogradKernelCache
    ) -> Tensor {
        let g = geometry(x.shape)
        let (n, o, k, p) = (x.shape[0], outputChannels, g.colRows, g.colCols)
        let y = TensorRecycler.tensor(n, o, g.outH, g.outW)  // every element written by the GEMM
        if usesDirectForward(x.shape) {
            conv2dDirectSmall(
                x.data, n: n, c: inputChannels, h: g.height, w: g.width, weight: weight.value.data,
                bias: bias?.data, outChannels: o, rectify: rectify, y.data)
            return y
        }
        if usesWinograd(x.shape) {
            // The ReLU, if fused, costs nothing here: it rides on the output transform's last store.
            let tiles = WinogradPlan(n: n, c: inputChannels, o: o, h: g.height, w: g.width).tiles
            let kept =
                training || !WinogradKernelCache.keeps(tiles: tiles)
                ? nil : kernels.kernels(of: weight, o: o, c: inputChannels)
            if !training && kept == nil { kernels.release() }
            conv2dWinograd(
                x.data, n: n, c: inputChannels, h: g.height, w: g.width, weight: weight.value.data,
                transformed: kept, bias: bias?.data, outChannels: o, rectify: rectify,
                y.data)
            return y
        }
        if let bias, !isPointwise, k <= Conv2D.biasInGEMMMaximumRows {
            forwardWithBiasRow(x, g, weight: weight.value, bias: bias, y, keepColumns: training)
            if rectify { rectifyInPlace(y) }
            return y
        }
        let buffer = isPointwise ? nil : TemporaryBuffer(.columns, count: k * p)
        defer { buffer?.release() }
        let col = buffer?.pointer
        for i in 0..<n {
            var cols = UnsafePointer(x.image(i))
            if let col { im2col(x.image(i), g, col); cols = UnsafePointer(col) }
            // y[i] (O, P) = W (O, K) · col (K, P)
            gemm(m: o, n: p, k: k, weight.value.data, cols, y.image(i))
        }
        if let bias { addChannelBias(y, bias) }
        if rectify { rectifyInPlace(y) }
        return y
    }

    /// max(y, 0) in place, when a ReLU is fused (on the GEMM paths; Winograd does it in its output transform).
    private func rectifyInPlace(_ y: Tensor) {
        Parallel.forEachChunk(y.count, with: y.data) { y, r in reluForward(y, y, r) }
    }

    /// Up to this many column rows (C·KH·KW), the bias goes into the GEMM as one more row.
    static let biasInGEMMMaximumRows = 64

    /// y = [W | b] · [col; 1]: the bias rides in the GEMM as an extra column of the weights against a row of ones
    /// under the im2col columns. For the first layers (K = 9 or 27) the separate bias pass over the output cost a
    /// third of the forward; the extra row costs 1/K more multiply-adds, and copying the (O, K+1) weights is tiny
    /// only while K is small, hence the limit.
    ///
    /// With `keepColumns` (training) each image's columns stay in `columns` for the backward: at K = 9 or 27 they
    /// are 9 or 27 times the input, small beside the layer's 64-channel output, and rebuilding them cost the
    /// backward as much as its product.
    private func forwardWithBiasRow(
        _ x: Tensor, _ g: ConvGeometry, weight: Tensor, bias: Tensor, _ y: Tensor, keepColumns: Bool
    ) {
        let (n, o, k, p) = (x.shape[0], outputChannels, g.colRows, g.colCols)
        let kept = keepColumns ? TensorRecycler.tensor(n, k + 1, p) : nil
        let shared = kept == nil ? Workspace.shared.buffer(.columns, count: (k + 1) * p) : nil
        let w = Workspace.shared.buffer(.augmentedWeights, count: o * (k + 1))
        for oi in 0..<o {
            (w + oi * (k + 1)).update(from: weight.data + oi * k, count: k)
            w[oi * (k + 1) + k] = bias.data[oi]
        }
        if let shared { (shared + k * p).update(repeating: 1, count: p) }  // im2col below rewrites only rows 0..<k
        for i in 0..<n {
            let col = kept?.image(i) ?? shared!
            if kept != nil { (col + k * p).update(repeating: 1, count: p) }
            im2col(x.image(i), g, col)
            gemm(m: o, n: p, k: k + 1, w, col, y.image(i))
        }
        columns = kept
    }

    /// The weight and bias gradients of a forward that kept its columns:
    /// [dW | db] (O, K+1) = Σ_i dy[i] (O, P) · [col; 1]ᵀ (P, K+1), the bias gradient being the product's last column.
    private func accumulateFromKeptColumns(_ dy: Tensor, _ g: ConvGeometry, columns: Tensor) {
        let (n, o, k, p) = (dy.shape[0], outputChannels, g.colRows, g.colCols)
        let dwb = Workspace.shared.buffer(.augmentedWeights, count: o * (k + 1))
        for i in 0..<n {
            gemm(transB: true, m: o, n: k + 1, k: p, dy.image(i), columns.image(i), beta: i == 0 ? 0 : 1, dwb)
        }
        for oi in 0..<o {
            for j in 0..<k { weight.grad.data[oi * k + j] += dwb[oi * (k + 1) + j] }
            bias!.grad.data[oi] += dwb[oi * (k + 1) + k]
        }
    }

    /// dx on the GEMM paths: dcol (K, P) = Wᵀ (K, O) · dy[i] (O, P), folded back onto dx[i] by col2im (a pointwise
    /// convolution's product is dx[i] itself).
    private func inputGradientByColumns(_ dy: Tensor, _ shape: [Int], _ g: ConvGeometry) -> Tensor {
        let (n, o, k, p) = (shape[0], outputChannels, g.colRows, g.colCols)
        let dx = TensorRecycler.zeros(shape)
        // The columns slot: the weight gradient's columns are done with by now.
        let buffer = isPointwise ? nil : TemporaryBuffer(.columns, count: k * p)
        defer { buffer?.release() }
        let dcol = buffer?.pointer
        for i in 0..<n {
            if let dcol {
                gemm(transA: true, m: k, n: p, k: o, weight.value.data, dy.image(i), dcol)
                col2im(dcol, g, dx.image(i))
            } else {
                gemm(transA: true, m: k, n: p, k: o, weight.value.data, dy.image(i), dx.image(i))
            }
        }
        return dx
    }

    public func backward(_ dy: Tensor) -> Tensor { backward(dy, inputGradient: true)! }

    /// The first convolution's input gradient is never read in training; skipping it saves a third of its
    /// backward (the Wᵀ·dy GEMM and col2im).
    public func backwardParametersOnly(_ dy: Tensor) { _ = backward(dy, inputGradient: false) }

    /// The network's backward: the kept input (and columns) are let go once the parameter gradients have used
    /// them, before dx is made, so dx can take their memory. The decoder's first convolutions read concatenations
    /// that nothing else keeps, and their dx was the largest tensor made in the classifier's backward.
    public func backwardReleasingCache(_ dy: Tensor) -> Tensor { backward(dy, inputGradient: true, releasing: true)! }

    func backward(_ dy: Tensor, inputGradient: Bool, releasing: Bool = false) -> Tensor? {
        guard let shape = input?.shape else { preconditionFailure("Conv2D.backward without a training forward") }
        let g = geometry(shape)
        accumulateParameterGradients(dy, g)
        guard inputGradient else { return nil }
        if releasing { releaseCache() }
        if usesDirectForward(shape) {
            let dx = TensorRecycler.tensor(shape)  // overwritten
            conv2dDirectSmallInputGradient(
                dy.data, n: shape[0], c: inputChannels, h: g.height, w: g.width, weight: weight.value.data,
                outChannels: outputChannels, dx.data)
            return dx
        }
        guard usesWinograd(shape) else { return inputGradientByColumns(dy, shape, g) }
        let dx = TensorRecycler.tensor(shape)  // overwritten
        conv2dWinogradInputGradient(
            dy.data, n: shape[0], c: inputChannels, h: g.height, w: g.width, weight: weight.value.data,
            outChannels: outputChannels, dx.data)
        return dx
    }

    /// dW (and db) += this backward's share, from the kept columns or the kept input.
    private func accumulateParameterGradients(_ dy: Tensor, _ g: ConvGeometry) {
        let x = input!
        let (n, o, k, p) = (x.shape[0], outputChannels, g.colRows, g.colCols)
        if let columns {
            accumulateFromKeptColumns(dy, g, columns: columns)
            return
        }
        if let bias { accumulateChannelSums(dy, into: bias.grad) }
        if usesWinogradRowsWeightGradient(x.shape) {
            winogradRowsWeightGradient(
                x.data, dy.data, n: n, c: inputChannels, h: g.height, w: g.width, outChannels: o,
                weightGradient: weight.grad.data)
            return
        }
        if usesDirectConvolution {
            conv2dDirectSmallBackward(
                x.data, n: n, c: inputChannels, h: g.height, w: g.width, weight: weight.value.data,
                outChannels: o, dy.data, weightGradient: weight.grad.data, inputGradient: nil)
            return
        }
        if usesWinograd(x.shape) {
            conv2dWinogradBackward(
                x.data, n: n, c: inputChannels, h: g.height, w: g.width, weight: weight.value.data,
                outChannels: o, dy.data, weightGradient: weight.grad.data, inputGradient: nil)
            return
        }
        let buffer = isPointwise ? nil : TemporaryBuffer(.columns, count: k * p)
        defer { buffer?.release() }
        let col = buffer?.pointer
        for i in 0..<n {
            var cols = UnsafePointer(x.image(i))
            if let col { im2col(x.image(i), g, col); cols = UnsafePointer(col) }
            // dW (O, K) += dy[i] (O, P) · colᵀ (P, K)
            gemm(transB: true, m: o, n: k, k: p, dy.image(i), cols, beta: 1, weight.grad.data)
        }
    }

    public func releaseCache() { input = nil; columns = nil }
}

/// y[n, c, ...] += b[c] for a (N, C, ...) tensor.
func addChannelBias(_ y: Tensor, _ b: Tensor) {
    let (n, c) = (y.shape[0], y.shape[1])
    let plane = y.count / (n * c)
    Parallel.forEach(n * c, cost: plane, with: (y.data, b.data, c, plane)) { s, nc in
        let (y, b, c, plane) = s
        let v = b[nc % c]
        let p = y + nc * plane
        for j in 0..<plane { p[j] += v }
    }
}

/// g[c] += sum over n and pixels of dy[n, c, ...]; summed in a fixed order for determinism.
func accumulateChannelSums(_ dy: Tensor, into g: Tensor) {
    let (n, c) = (dy.shape[0], dy.shape[1])
    let plane = dy.count / (n * c)
    accumulateChannelSums(UnsafePointer(dy.data), n: n, c: c, plane: plane, imageStride: c * plane, into: g)
}

/// `accumulateChannelSums` over images `imageStride` floats apart (the channels of a concatenation's gradient).
func accumulateChannelSums(
    _ dy: UnsafePointer<Float>, n: Int, c: Int, plane: Int, imageStride: Int, into g: Tensor
) {
    Parallel.forEach(c, cost: n * plane, with: (dy, g.data, n, plane, imageStride)) { state, ch in
        let (dy, g, n, plane, imageStride) = state
        var s: Float = 0
        for i in 0..<n { s += sumFloats(dy + i * imageStride + ch * plane, plane) }
        g[ch] += s
    }
}
