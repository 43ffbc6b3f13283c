/// A built network with its configuration: the thing `model.create` makes, training updates and checkpoints
/// save. The network produces logits; `Model` knows its named outputs (`heads`: which is the mask, which the
/// image-level class, what activation turns each into probabilities), and (for `unet`) pads any input to a
/// multiple of 2^depth and crops the masks back, so every height and width works.
public final class Model {
    public typealias Activation = ModelHead.Activation

    /// What a forward pass returns: logits, batch first. Masks are (N, K, H, W) at the input's size.
    public struct Output {
        /// The main mask head's logits (`mask`).
        public var mask: Tensor?
        /// The image-level head's logits (`class`).
        public var classLogits: Tensor?
        /// The other mask heads' logits, in `Model.deepSupervisionHeads` order (computed in training only).
        public var deepSupervision: [Tensor] = []
    }

    public let config: ModelConfig
    public let network: Network
    /// The named outputs, in the order the architecture declares them.
    public let heads: [ModelHead]
    /// The main head of each kind, and the extra mask heads.
    public let maskHead: ModelHead?
    public let classHead: ModelHead?
    public let deepSupervisionHeads: [ModelHead]
    /// Indices into `network.outputs` of the main heads.
    public var maskOutput: Int? { maskHead?.output }
    public var classOutput: Int? { classHead?.output }
    public var maskActivation: Activation? { maskHead?.activation }
    public var classActivation: Activation? { classHead?.activation }
    /// Inputs are padded at the bottom and right to a multiple of this (1: no padding, fixed size).
    public let padMultiple: Int
    /// Whether height and width must equal `config.inputShape` (a Flatten fixes them).
    public let fixedSize: Bool
    /// Whether an inference forward's `mask` is the mean of the logits of every mask head (main and deep
    /// supervision), UNet++'s "accurate mode"; otherwise it is the main head's alone.
    public let averagesMasksAtInference: Bool

    /// `heads` name every network output once; the main mask is `mask`, the main class head `class`.
    public init(
        config: ModelConfig, network: Network, heads: [ModelHead], padMultiple: Int, fixedSize: Bool,
        averagesMasksAtInference: Bool = false
    ) {
        precondition(
            Set(heads.map(\.output)) == Set(network.outputs.indices)
                && Set(heads.map(\.name)).count == heads.count, "every network output needs one uniquely named head")
        self.config = config; self.network = network; self.heads = heads
        maskHead = heads.first { $0.kind == .mask && $0.isMain }
        classHead = heads.first { $0.kind == .classes && $0.isMain }
        deepSupervisionHeads = heads.filter { $0.kind == .mask && !$0.isMain }
        self.padMultiple = padMultiple; self.fixedSize = fixedSize
        self.averagesMasksAtInference = averagesMasksAtInference && !deepSupervisionHeads.isEmpty
    }

    /// The head called `name`.
    public func head(_ name: String) -> ModelHead? { heads.first { $0.name == name } }

    /// Builds the model a configuration describes, with weights drawn from its seed.
    public static func build(_ config: ModelConfig) throws -> Model {
        try config.validate()
        try ModelSizeEstimate(config).check(config)
        let model = try ArchitectureRegistry.lookup(config.architecture).build(config)
        _ = try model.network.shapes(for: [1] + model.paddedShape(config.inputShape))
        model.network.fuseActivations()
        return model
    }

    public var parameterCount: Int { network.parameterCount }

    /// The per-image shape [C, H, W] the network runs on after padding.
    func paddedShape(_ s: [Int]) -> [Int] { [s[0], padded(s[1]), padded(s[2])] }

    /// A height or width padded up to a multiple of `padMultiple`.
    func padded(_ side: Int) -> Int { (side + padMultiple - 1) / padMultiple * padMultiple }

    /// Checks an input batch (N, C, H, W) against the model; the error says what was expected.
    public func validateInput(_ shape: [Int]) throws {
        let c = config.inputShape
        guard shape.count == 4, shape[0] >= 1 else { throw ShapeError("input must be (N, C, H, W), got \(shape)") }
        guard shape[1] == c[0] else { throw ShapeError("model expects \(c[0]) channels, got \(shape[1])") }
        if fixedSize {
            guard shape[2] == c[1], shape[3] == c[2] else {
                throw ShapeError(
                    "\(config.architecture.rawValue) expects \(c[1])x\(c[2]) images, got \(shape[2])x\(shape[3])")
            }
        }
        guard shape[2] >= 1, shape[3] >= 1, shape[2] <= 8192, shape[3] <= 8192 else {
            throw ShapeError("height and width must be in 1...8192, got \(shape[2])x\(shape[3])")
        }
    }

    private var lastInputShape: [Int] = []
    /// Scratch for `forward` and the backward, emptied and refilled each step rather than made anew.
    private var wanted: [Int] = []
    private var outputs: [Tensor?] = []
    private var gradients: [Tensor?] = []
    /// The deep-supervision logits of the last training forward, which its `Output` shares: emptied (keeping its
    /// storage) at the next forward, when the caller has let go of that output, so a step makes no array. They
    /// stay referenced until then.
    private var deepSupervisionLogits: [Tensor] = []

    /// Which outputs a forward pass computes.
    public struct Heads: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let mask = Heads(rawValue: 1)
        public static let classes = Heads(rawValue: 2)
        public static let all: Heads = [.mask, .classes]
    }

    /// Runs the model on a batch (N, C, H, W). Throws `ShapeError` for an input the model cannot take.
    /// - Parameter heads: the outputs wanted; layers only the others need are skipped (a U-Net's decoder when
    ///   only its classification head is trained or asked for).
    public func forward(_ x: Tensor, training: Bool, heads: Heads = .all) throws -> Output {
        try validateInput(x.shape)
        lastInputShape = x.shape
        let input = pad(x, height: padded(x.shape[2]), width: padded(x.shape[3]))
        wanted.removeAll(keepingCapacity: true)
        let masks = heads.contains(.mask) || classOutput == nil
        if let m = maskOutput, masks { wanted.append(m) }
        if let c = classOutput, heads.contains(.classes) || maskOutput == nil { wanted.append(c) }
        let averaged = !training && masks && averagesMasksAtInference
        if training && masks || averaged { for h in deepSupervisionHeads { wanted.append(h.output) } }
        network.forward(input, training: training, wanted: wanted, into: &outputs)
        var result = Output()
        if let m = maskOutput, let out = outputs[m] {
            result.mask = crop(averaged ? averageOfMaskHeads(out) : out, height: x.shape[2], width: x.shape[3])
        }
        if let c = classOutput, let out = outputs[c] { result.classLogits = out }
        deepSupervisionLogits.removeAll(keepingCapacity: true)
        if training && masks && !deepSupervisionHeads.isEmpty {
            for h in deepSupervisionHeads {
                deepSupervisionLogits.append(crop(outputs[h.output]!, height: x.shape[2], width: x.shape[3]))
            }
            result.deepSupervision = deepSupervisionLogits
        }
        // Emptied in place: the outputs live as long as the caller keeps them, not until the next forward.
        outputs.removeAll(keepingCapacity: true)
        return result
    }

    /// The mean of the main mask's logits `main` and the deep-supervision heads' (in `outputs`), in a new tensor.
    private func averageOfMaskHeads(_ main: Tensor) -> Tensor {
        let y = TensorRecycler.tensor(main.shape[0], main.shape[1], main.shape[2], main.shape[3])
        y.data.update(from: main.data, count: main.count)
        for h in deepSupervisionHeads {
            let o = outputs[h.output]!
            for i in 0..<y.count { y.data[i] += o.data[i] }
        }
        let scale = 1 / Float(deepSupervisionHeads.count + 1)
        for i in 0..<y.count { y.data[i] *= scale }
        return y
    }

    /// Backpropagates dL/d(mask logits) and dL/d(class logits) (and of the deep-supervision masks, in
    /// `deepSupervisionHeads` order) from the last training forward and returns dL/dx; parameter gradients
    /// accumulate.
    @discardableResult
    public func backward(maskGradient: Tensor?, classGradient: Tensor?, deepSupervision: [Tensor?] = []) -> Tensor {
        setOutputGradients(maskGradient: maskGradient, classGradient: classGradient, deepSupervision: deepSupervision)
        defer { for i in gradients.indices { gradients[i] = nil } }
        let dx = network.backward(gradients)
        return crop(dx, height: lastInputShape[2], width: lastInputShape[3])
    }

    /// The backward of a training step: parameter gradients only, no gradient for the input image.
    public func backwardParameters(maskGradient: Tensor?, classGradient: Tensor?, deepSupervision: [Tensor?] = []) {
        setOutputGradients(maskGradient: maskGradient, classGradient: classGradient, deepSupervision: deepSupervision)
        network.backwardParameters(gradients)
        for i in gradients.indices { gradients[i] = nil }
    }

    /// `gradients`: the loss gradients in the network's output order, the mask's padded to the network's input
    /// size.
    private func setOutputGradients(maskGradient: Tensor?, classGradient: Tensor?, deepSupervision: [Tensor?]) {
        if gradients.count != network.outputs.count {
            gradients = [Tensor?](repeating: nil, count: network.outputs.count)
        }
        let (ph, pw) = (padded(lastInputShape[2]), padded(lastInputShape[3]))
        if let m = maskOutput, let g = maskGradient { gradients[m] = pad(g, height: ph, width: pw) }
        for (h, g) in zip(deepSupervisionHeads, deepSupervision) {
            if let g { gradients[h.output] = pad(g, height: ph, width: pw) }
        }
        if let c = classOutput, let g = classGradient { gradients[c] = g }
    }

    /// Turns logits into probabilities with the output's activation.
    public static func activate(_ logits: Tensor, _ activation: Activation) -> Tensor {
        let p = Tensor(zeros: logits.shape)
        switch activation {
        case .sigmoid: for i in 0..<p.count { p.data[i] = sigmoid(logits.data[i]) }
        case .softmax: softmaxChannels(logits, into: p)
        }
        return p
    }
}

/// Zero-pads (N, C, H, W) at the bottom and right to height `ph` and width `pw`; returns `x` itself when no
/// padding is needed.
func pad(_ x: Tensor, height ph: Int, width pw: Int) -> Tensor {
    let (h, w) = (x.shape[2], x.shape[3])
    if h == ph && w == pw { return x }
    let y = TensorRecycler.tensor(x.shape[0], x.shape[1], ph, pw)
    y.zero()
    for plane in 0..<(x.shape[0] * x.shape[1]) {
        for r in 0..<h { (y.data + plane * ph * pw + r * pw).update(from: x.data + plane * h * w + r * w, count: w) }
    }
    return y
}

/// The top-left (H, W) window of (N, C, H', W'); returns `x` itself when it already has that size.
func crop(_ x: Tensor, height h: Int, width w: Int) -> Tensor {
    if x.shape[2] == h && x.shape[3] == w { return x }
    let (ph, pw) = (x.shape[2], x.shape[3])
    let y = TensorRecycler.tensor(x.shape[0], x.shape[1], h, w)  // every row written below
    for plane in 0..<(x.shape[0] * x.shape[1]) {
        for r in 0..<h { (y.data + plane * h * w + r * w).update(from: x.data + plane * ph * pw + r * pw, count: w) }
    }
    return y
}
