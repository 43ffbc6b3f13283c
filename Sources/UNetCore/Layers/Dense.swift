// Letters: N batch, I input features, O output features.

/// A fully connected layer, y = x · Wᵀ + b. Weight (O, I) as PyTorch's `Linear`; input (N, I); output (N, O).
/// `activation` is only a label for the summary (Keras writes `Dense(2, activation="sigmoid")` as one layer);
/// the model applies it, so that losses can work on logits.
public final class Dense: UnaryLayer {
    public var kind: String { activation.map { "Dense(\($0))" } ?? "Dense" }
    public let inputFeatures, outputFeatures: Int
    public let activation: String?
    public let weight: Parameter
    public let bias: Parameter
    private var input: Tensor?

    public init(inputFeatures: Int, outputFeatures: Int, activation: String? = nil,
                initializer: Initializer = .glorotUniform, rng: inout RandomGenerator) {
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

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.shape[0]
        let y = Tensor(uninitialized: [n, outputFeatures])
        // y (N, O) = x (N, I) · Wᵀ (I, O)
        gemm(transB: true, m: n, n: outputFeatures, k: inputFeatures, x.data, weight.value.data, y.data)
        for i in 0..<n { for o in 0..<outputFeatures { y.data[i * outputFeatures + o] += bias.value.data[o] } }
        input = training ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Dense.backward without a training forward") }
        let n = x.shape[0]
        // dW (O, I) += dyᵀ (O, N) · x (N, I)
        gemm(transA: true, m: outputFeatures, n: inputFeatures, k: n, dy.data, x.data, beta: 1, weight.grad.data)
        for i in 0..<n { for o in 0..<outputFeatures { bias.grad.data[o] += dy.data[i * outputFeatures + o] } }
        // dx (N, I) = dy (N, O) · W (O, I)
        let dx = Tensor(zeros: x.shape)
        gemm(m: n, n: inputFeatures, k: outputFeatures, dy.data, weight.value.data, dx.data)
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

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        return x.reshaped(try! outputShape(x.shape))
    }

    public func backward(_ dy: Tensor) -> Tensor { dy.reshaped(inputShape) }
    public func releaseCache() {}
}

/// Mean over the spatial axes: (N, C, H, W) to (N, C).
public final class GlobalAveragePooling2D: UnaryLayer {
    public let kind = "GlobalAveragePooling2D"
    private var inputShape: [Int] = []
    public init() {}

    public func outputShape(_ s: [Int]) throws -> [Int] {
        try expectRank(s, 4, kind)
        return [s[0], s[1]]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        inputShape = x.shape
        let planes = x.shape[0] * x.shape[1], plane = x.shape[2] * x.shape[3]
        let y = Tensor(zeros: [x.shape[0], x.shape[1]])
        for p in 0..<planes {
            var s: Float = 0
            for j in 0..<plane { s += x.data[p * plane + j] }
            y.data[p] = s / Float(plane)
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let dx = Tensor(zeros: inputShape)
        let plane = inputShape[2] * inputShape[3]
        for p in 0..<dy.count {
            let g = dy.data[p] / Float(plane)
            for j in 0..<plane { dx.data[p * plane + j] = g }
        }
        return dx
    }

    public func releaseCache() {}
}
