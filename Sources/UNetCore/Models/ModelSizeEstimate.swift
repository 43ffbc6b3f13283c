import Foundation

/// How big a model of a configuration is, computed from the configuration alone, before anything is allocated.
///
/// `model.create` and `model.load` refuse a configuration whose estimate is past the engine's limit
/// (`--max-model-bytes`), where building it would abort the process (`unet-classifier` at 8192x8192 with 1000
/// classes asks for 17 TB). The parameter and buffer counts are exact (a test compares them with built models),
/// so a checkpoint's tensors can be checked against its configuration before its model is built; the activation
/// count is an estimate for one image at the nominal input shape.
public struct ModelSizeEstimate: Equatable, Sendable {
    /// Trainable values (weights and biases).
    public var parameters = 0
    /// Non-trainable state (BatchNorm's running statistics and counters).
    public var buffers = 0
    /// Values of the layers' outputs for one image, forward.
    public var activations = 0

    /// Bytes to create and train the model on one image: each parameter as a weight, its gradient and Adam's
    /// two moments; each buffer once; each activation value and its gradient (all float32).
    public var bytes: Int { 16 * parameters + 4 * buffers + 8 * activations }

    /// Largest estimate `Model.build` accepts; the engine sets it from `--max-model-bytes` (default half the
    /// physical memory).
    nonisolated(unsafe) public static var maximumBytes = Int(clamping: ProcessInfo.processInfo.physicalMemory / 2)

    public init() {}

    /// The configuration's estimate, as its architecture declares it (`ArchitectureSpec.estimate`); `config`
    /// must have passed `validate()` (its sizes are then bounded).
    public init(_ config: ModelConfig) {
        self = ArchitectureRegistry.spec(config.architecture)?.estimate(config) ?? ModelSizeEstimate()
    }

    // MARK: Building blocks for the architectures' estimates

    public mutating func conv(_ cin: Int, _ cout: Int, kernel: Int, bias: Bool = true) {
        parameters += cin * cout * kernel * kernel + (bias ? cout : 0)
    }

    public mutating func batchNorm(_ channels: Int) {
        parameters += 2 * channels
        buffers += 2 * channels + 1
    }

    /// Mirrors `UNetClassifierBuilder`.
    static func unetClassifier(_ c: ModelConfig) -> ModelSizeEstimate {
        var e = ModelSizeEstimate()
        e.addClassifier(c, classes: c.integer("classes"))
        return e
    }

    private mutating func addClassifier(_ c: ModelConfig, classes: Int) {
        let (channels, hw) = (c.inputShape[0], c.inputShape[1] * c.inputShape[2])
        // (input channels, output channels, pixels at this level) of each two-convolution block.
        let blocks = [
            (channels, 64, hw), (64, 128, hw / 4), (128, 256, hw / 16), (256 + 128, 128, hw / 4),
            (128 + 64, 64, hw),
        ]
        for (cin, cout, pixels) in blocks {
            conv(cin, cout, kernel: 3)
            conv(cout, cout, kernel: 3)
            activations += 4 * cout * pixels  // two convolutions, two ReLUs
        }
        activations += channels * hw + 64 * hw / 4 + 128 * hw / 16  // input, pools
        activations += (256 + 256 + 128) * hw / 4 + (128 + 192) * hw  // upsamplings, concatenations
        parameters += 64 * hw * classes + classes  // the Dense layer on the flattened last block
        activations += 64 * hw + classes
    }

    /// Mirrors `UNetBuilder`, at the input shape padded to a multiple of 2^depth.
    static func unet(_ config: ModelConfig) -> ModelSizeEstimate {
        var e = ModelSizeEstimate()
        e.addUNet(UNetSettings(config), inputShape: config.inputShape)
        return e
    }

    /// The unet's parameters, typed.
    struct UNetSettings {
        let depth, filters, classes, classificationHead: Int
        let batchNorm: Bool
        let dropout: Double
        let upsampling: UNetBuilder.Upsampling
        init(_ c: ModelConfig) {
            depth = c.integer("depth"); filters = c.integer("filters"); classes = c.integer("classes")
            classificationHead = c.integer("classification_head"); batchNorm = c.boolean("batch_norm")
            dropout = c.number("dropout"); upsampling = UNetBuilder.Upsampling(rawValue: c.string("upsampling"))!
        }
    }

    private mutating func addUNet(_ c: UNetSettings, inputShape: [Int]) {
        let multiple = 1 << c.depth
        let pad = { (side: Int) in (side + multiple - 1) / multiple * multiple }
        let pixels0 = pad(inputShape[1]) * pad(inputShape[2])
        let pixels = { (level: Int) in pixels0 >> (2 * level) }
        let perConv = c.batchNorm ? 3 : 2  // convolution, BatchNorm, ReLU outputs
        func doubleConv(_ cin: Int, _ cout: Int, level: Int) {
            for input in [cin, cout] {
                conv(input, cout, kernel: 3, bias: !c.batchNorm)
                if c.batchNorm { batchNorm(cout) }
            }
            activations += 2 * perConv * cout * pixels(level)
        }
        activations += inputShape[0] * pixels0
        var channels = inputShape[0]
        for level in 0..<c.depth {
            let out = c.filters << level
            doubleConv(channels, out, level: level)
            activations += out * pixels(level + 1)  // pool
            channels = out
        }
        doubleConv(channels, c.filters << c.depth, level: c.depth)
        channels = c.filters << c.depth
        if c.dropout > 0 { activations += channels * pixels(c.depth) }
        for level in stride(from: c.depth - 1, through: 0, by: -1) {
            let out = c.filters << level
            let upChannels: Int
            if c.upsampling == .transpose {
                parameters += channels * out * 4 + out
                upChannels = out
            } else {
                upChannels = channels
            }
            activations += (upChannels + upChannels + out) * pixels(level)  // upsampling, concatenation
            doubleConv(upChannels + out, out, level: level)
            channels = out
        }
        conv(channels, c.classes, kernel: 1)
        activations += c.classes * pixels0
        if c.classificationHead > 0 {
            let features = c.filters << c.depth
            parameters += features * c.classificationHead + c.classificationHead
            activations += features + c.classificationHead
        }
    }

    /// Throws a `ConfigError` naming the setting that makes the model too big: `filters` when the weights
    /// dominate a U-Net, else `input_shape` (activations grow with it, and so does the classifier's Dense layer).
    public func check(_ config: ModelConfig, limit: Int = ModelSizeEstimate.maximumBytes) throws {
        guard bytes > limit else { return }
        let field = config.architecture == .unet && 16 * parameters > 8 * activations ? "filters" : "input_shape"
        func gb(_ n: Int) -> String { String(Double(n / 10_000_000) / 100) + " GB" }
        throw ConfigError(
            field: field,
            reason: "the model needs about \(gb(bytes)) (\(parameters) parameters, "
                + "\(activations) activation values per image), more than the engine's limit of \(limit) bytes "
                + "(--max-model-bytes)")
    }
}
