// Letters: N batch, I input features, O output features.

/// A fully connected layer, y = x · Wᵀ + b. Weight (O, I) as PyTorch's `Linear`; input (N, I); output (N, O).
/// `activation` is only a label for the summary (Keras writes `Dense(2, activation="sigmoid")` as one layer);
/// the model applies it, so that losses can work on logits.
public final class Dense: UnaryLayer {
    public var kind: String { activation.map { "Dense(\($0.rawValue))" } ?? "Dense" }
    public let inputFeatures, outputFeatures: Int
    public let activation: ModelHead.Activation?
    public let weight: Parameter
    public let bias: Parameter
    private var input: Tensor?

    public init(
        inputFeatures: Int, outputFeatures: Int, activation: ModelHead.Activation? = nil,
        initializer: Initializer = .glorotUniform, rng: inout RandomGenerator
    ) {
        self.inputFeatures = inputFeatures; self.outputFeatures = outputFeatures; self.activation = activation
        weight = Parameter("weight", Tensor(zeros: [outputFeatures, inputFeatures]))
        initializer.fill(weight.value, fanIn: inputFeatures, fanOut: outputFeatures, rng: &rng)
        bias = Parameter("bias", Tensor(zeros: [outputFeatures]))
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try expectRank(s, 2, kind)
        guard s[1] == inputFeatures else {
            throw ShapeError("Dense expects \(inputFeatures) input features, got \(s[1])")
        }
        return [s[0], outputFeatures]
    }

    /// Up to this many outputs (the classifier's head has 2), the products run as vector loops over the features:
    /// such a product is memory-bound, and OpenBLAS ran the classifier's (8 x 802,816) · (802,816 x 2) far below
    /// the memory bandwidth (figures in Examples/benchmarks/RESULTS.md).
    static let vectorLoopMaximumOutputs = 16

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (n, i, o) = (x.shape[0], inputFeatures, outputFeatures)
        let y = TensorRecycler.tensor(n, o)
        input = training ? x : nil
        if o <= Dense.vectorLoopMaximumOutputs {
            // y[s, k] = x[s] · W[k] + b[k], one dot product per (sample, output).
            let state = (x: x.data, w: weight.value.data, b: bias.value.data, y: y.data, i: i, o: o)
            Parallel.forEach(n * o, cost: i, with: state) { s, sk in
                let (sample, k) = (sk / s.o, sk % s.o)
                s.y[sk] = dotFloats(s.x + sample * s.i, s.w + k * s.i, s.i) + s.b[k]
            }
            return y
        }
        // y (N, O) = x (N, I) · Wᵀ (I, O)
        gemm(transB: true, m: n, n: o, k: i, x.data, weight.value.data, y.data)
        for s in 0..<n { for k in 0..<o { y.data[s * o + k] += bias.value.data[k] } }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Dense.backward without a training forward") }
        let (n, i, o) = (x.shape[0], inputFeatures, outputFeatures)
        for s in 0..<n { for k in 0..<o { bias.grad.data[k] += dy.data[s * o + k] } }
        let dx = TensorRecycler.tensor(x.shape)  // overwritten below
        if o <= Dense.vectorLoopMaximumOutputs {
            // Over feature ranges: dW[k] += Σ_s dy[s, k] · x[s] and dx[s] = Σ_k dy[s, k] · W[k], samples and
            // outputs in a fixed order, so the result does not depend on the split.
            // Eight features at a time, each output element read and written once.
            let state = (
                x: x.data, w: weight.value.data, dw: weight.grad.data, dy: dy.data, dx: dx.data, n: n, i: i, o: o
            )
            Parallel.forEachChunk(i, cost: 3 * n * o, with: state) { state, r in
                let (x, w, dwAll, dy, dx, n, i, o) = state
                var j = r.lowerBound
                while j < r.upperBound {
                    let lanes = min(8, r.upperBound - j)
                    for k in 0..<o {
                        let dw = dwAll + k * i + j
                        var acc = loadPartial(dw, lanes)
                        for s in 0..<n { acc += Float8(repeating: dy[s * o + k]) * loadPartial(x + s * i + j, lanes) }
                        storePartial(acc, dw, lanes)
                    }
                    for s in 0..<n {
                        var acc = Float8()
                        for k in 0..<o {
                            acc += Float8(repeating: dy[s * o + k]) * loadPartial(w + k * i + j, lanes)
                        }
                        storePartial(acc, dx + s * i + j, lanes)
                    }
                    j += lanes
                }
            }
            return dx
        }
        // dW (O, I) += dyᵀ (O, N) · x (N, I)
        gemm(transA: true, m: o, n: i, k: n, dy.data, x.data, beta: 1, weight.grad.data)
        // dx (N, I) = dy (N, O) · W (O, I)
        gemm(m: n, n: i, k: o, dy.data, weight.value.data, dx.data)
        return dx
    }

    public func releaseCache() { input = nil }
}

/// (N, C, H, W) to (N, C*H*W) in PyTorch's (channel-major) order.
public final class Flatten: UnaryLayer {
    public let kind = "Flatten"
    private var inputShape: [Int] = []
    public init() {}

    public func outputShape(_ s: [Int]) throws -> [Int] {
        guard s.count >= 2 else { throw ShapeError("Flatten needs a batch axis, got \(s)") }
        return [s[0], s.dropFirst().reduce(1, *)]
    }

    /// Views, not copies: the classifier's flattened activation is its largest tensor (100 MB at 224x224, batch 8).
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        return TensorRecycler.view(of: x, x.shape[0], x.count / max(x.shape[0], 1))
    }

    public func backward(_ dy: Tensor) -> Tensor { TensorRecycler.view(of: dy, shape: inputShape) }
    public func releaseCache() {}
}
