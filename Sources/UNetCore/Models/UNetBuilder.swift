/// A Ronneberger-style segmentation U-Net: `depth` encoder levels of two 3x3 convolutions (optionally with
/// BatchNorm) and a 2x2 max-pool, filters doubling per level from `filters`; a bottleneck; decoder levels that
/// upsample (2x2 up-convolution, or bilinear/nearest upsampling), concatenate the encoder's output of the same
/// resolution and apply two 3x3 convolutions; then a 1x1 convolution to the mask logits. An optional head pools
/// the bottleneck globally and classifies the whole image with a Dense layer.
///
/// Node names (and so checkpoint names): `enc{1...depth}.conv1/bn1/conv2/bn2`, `bottleneck.*`,
/// `dec{depth...1}.up` and `.conv1/bn1/conv2/bn2`, `head`, `classifier`. He-normal weights, zero biases;
/// convolutions followed by BatchNorm have no bias (it would be cancelled by the normalisation).
/// Depth 4, 64 filters, up-convolutions, no BatchNorm, 1 channel in and out: 31,030,593 parameters.
///
/// Heads: `mask` (the 1x1 convolution's `classes` channels) and, with `classification_head` K > 0, `class`.
public enum UNetBuilder {
    public static let spec = ArchitectureSpec(
        name: .unet,
        summary: "Ronneberger's segmentation U-Net, any input size (padded to a multiple of 2^depth), with an optional "
            + "image-level head on the bottleneck",
        parameters: [
            ParameterSpec(
                "classes", .integer(1...1000), default: .integer(1),
                "mask channels: 1 is a sigmoid mask, K > 1 a softmax over K classes"),
            ParameterSpec(
                "depth", .integer(1...6), default: .integer(4), "encoder levels (each halves the resolution)"),
            ParameterSpec(
                "filters", .integer(1...256), default: .integer(64),
                "filters of the first level, doubling per level"),
            ParameterSpec(
                "batch_norm", .boolean, default: .boolean(false),
                "BatchNorm after every 3x3 convolution (which then has no bias)"),
            ParameterSpec(
                "upsampling", .choice(Upsampling.allCases.map(\.rawValue)), default: .string("transpose"),
                "decoder upsampling: 2x2 up-convolution, or bilinear or nearest resizing"),
            ParameterSpec(
                "classification_head", .integer(0...1000), default: .integer(0),
                "classes of an image-level head on the pooled bottleneck (0: none, 1: sigmoid, K > 1: softmax)"),
            ParameterSpec(
                "dropout", .number(minimum: 0, maximum: 1, maximumExclusive: true), default: .number(0),
                "dropout on the bottleneck, as in Ronneberger et al. (0: none)"),
        ],
        estimate: ModelSizeEstimate.unet,
        build: build)

    public enum Upsampling: String, Sendable, CaseIterable {
        case transpose, bilinear, nearest
    }

    static func build(_ config: ModelConfig) -> Model {
        var rng = RandomGenerator(seed: config.seed)
        let net = Network()
        let f = config.integer("filters")
        let bn = config.boolean("batch_norm")
        let depth = config.integer("depth"), classes = config.integer("classes")
        let dropout = Float(config.number("dropout"))
        let upsampling = Upsampling(rawValue: config.string("upsampling"))!

        func doubleConv(_ name: String, _ input: Int, _ inC: Int, _ outC: Int) -> Int {
            var x = input
            for (i, cin) in [inC, outC].enumerated() {
                x = net.add(
                    "\(name).conv\(i + 1)",
                    Conv2D(
                        inputChannels: cin, outputChannels: outC, kernelSize: 3,
                        useBias: !bn, initializer: .heNormal, rng: &rng), x)
                if bn { x = net.add("\(name).bn\(i + 1)", BatchNorm(channels: outC), x) }
                x = net.add("\(name).relu\(i + 1)", ReLU(), x)
            }
            return x
        }

        var skips: [Int] = []
        var x = Network.input
        var channels = config.inputShape[0]
        for level in 0..<depth {
            let out = f << level
            x = doubleConv("enc\(level + 1)", x, channels, out)
            skips.append(x)
            x = net.add("pool\(level + 1)", MaxPool2D(), x)
            channels = out
        }
        x = doubleConv("bottleneck", x, channels, f << depth)
        channels = f << depth
        if dropout > 0 {
            x = net.add("bottleneck.dropout", Dropout(rate: dropout, seed: config.seed ^ 0xD0), x)
        }
        let bottleneck = x

        for level in stride(from: depth - 1, through: 0, by: -1) {
            let out = f << level
            let name = "dec\(level + 1)"
            let upChannels: Int
            switch upsampling {
            case .transpose:
                x = net.add(
                    "\(name).up",
                    ConvTranspose2D(
                        inputChannels: channels, outputChannels: out,
                        initializer: .heNormal, rng: &rng), x)
                upChannels = out
            case .bilinear, .nearest:
                x = net.add(
                    "\(name).up", UpSampling2D(factor: 2, mode: upsampling == .bilinear ? .bilinear : .nearest), x)
                upChannels = channels
            }
            x = net.add("\(name).concat", Concatenate(), x, skips[level])
            x = doubleConv(name, x, upChannels + out, out)
            channels = out
        }
        let head = net.add(
            "head",
            Conv2D(
                inputChannels: channels, outputChannels: classes, kernelSize: 1,
                initializer: .glorotUniform, rng: &rng), x)
        net.outputs = [head]
        var heads = [ModelHead.mask(channels: classes, output: 0)]
        let k = config.integer("classification_head")
        if k > 0 {
            let pooled = net.add("classifier.pool", GlobalAveragePooling2D(), bottleneck)
            let dense = net.add(
                "classifier",
                Dense(
                    inputFeatures: f << depth, outputFeatures: k,
                    activation: k == 1 ? .sigmoid : .softmax, rng: &rng), pooled)
            net.outputs.append(dense)
            heads.append(
                ModelHead(
                    name: "class", kind: .classes, channels: k, activation: k == 1 ? .sigmoid : .softmax,
                    output: 1))
        }
        return Model(config: config, network: net, heads: heads, padMultiple: 1 << depth, fixedSize: false)
    }
}

extension ModelConfig.Architecture {
    public static let unet = ModelConfig.Architecture(rawValue: "unet")
}

extension ModelConfig {
    /// A `unet` (or `unet-classifier`: `classes` and `seed` only) configuration from typed Swift arguments, for
    /// tests, the benchmark and Swift programs; the arguments an architecture does not declare are left out.
    public init(
        architecture: Architecture, inputShape: [Int], classes: Int? = nil, seed: UInt64 = 0,
        depth: Int = 4, filters: Int = 64, batchNorm: Bool = false, upsampling: UNetBuilder.Upsampling = .transpose,
        classificationHead: Int = 0, dropout: Double = 0
    ) {
        var given: [String: ParameterValue] = [
            "depth": .integer(depth), "filters": .integer(filters), "batch_norm": .boolean(batchNorm),
            "upsampling": .string(upsampling.rawValue), "classification_head": .integer(classificationHead),
            "dropout": .number(dropout),
        ]
        if let classes { given["classes"] = .integer(classes) }
        let declared = Set(ArchitectureRegistry.spec(architecture)?.parameters.map(\.name) ?? [])
        self.init(
            architecture: architecture, inputShape: inputShape, seed: seed,
            parameters: given.filter { declared.contains($0.key) })
    }

    /// `ModelConfig.Upsampling` as before the registry.
    public typealias Upsampling = UNetBuilder.Upsampling
}
