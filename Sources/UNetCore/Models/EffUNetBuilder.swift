/// Eff-UNet: an EfficientNet encoder (b0 ... b3, `EfficientNetPlan`) under a UNet++ (nested) or U-Net decoder, as
/// segmentation_models_pytorch's `UnetPlusPlus` and `Unet` build them, node for node, so that the weights go both
/// ways: every parameter and buffer is named as in smp's `state_dict` (`encoder._blocks.3._depthwise_conv.weight`,
/// `decoder.blocks.x_0_1.conv1.1.running_var`, `segmentation_head.0.bias`, `classification_head.3.weight`).
///
/// The encoder's 1x1 head convolution to 1280 channels and its BatchNorm (`encoder._conv_head`, `encoder._bn1`)
/// are built but never run, as in smp: they are in smp's state_dict, so keeping them (unused, gradient zero)
/// makes a checkpoint load into smp with `strict=True` and the parameter counts equal smp's (9,075,217 for b1
/// UNet++ with one class, 8,757,105 for b1 U-Net).
///
/// Heads: `mask` (smp's segmentation head, a 3x3 convolution to `classes`); with `deep_supervision`, `mask.1` ...
/// `mask.3` (UNet++'s extra heads on x_0_1 ... x_0_3, a 1x1 convolution each, bilinearly upsampled to the input's
/// size; not smp's: their tensors are `deep_supervision.N.0.*`); with `classification_head` {classes: K, ...},
/// `class`: from the encoder, smp's aux head (global average or max pool of the deepest feature, dropout,
/// Linear); from the mask, the seed's (global average or max pool of the mask logits, dropout, Dense to K).
/// Any input size: padded to a multiple of 32 and cropped back, like `unet`.
public enum EffUNetBuilder {
    public enum Decoder: String, Sendable, CaseIterable { case unetplusplus, unet }
    public enum HeadSource: String, Sendable, CaseIterable { case encoder, mask }
    public enum Pooling: String, Sendable, CaseIterable { case avg, max }

    public static let spec = ArchitectureSpec(
        name: .effUNet,
        summary: "an EfficientNet encoder under a UNet++ or U-Net decoder, smp's UnetPlusPlus/Unet with the same "
            + "state_dict names; 1 or 3 input channels, any input size (padded to a multiple of 32)",
        parameters: [
            ParameterSpec(
                "encoder", .choice(EfficientNetPlan.Variant.allCases.map(\.rawValue)),
                default: .string(EfficientNetPlan.Variant.b1.rawValue),
                "the EfficientNet variant (compound scaling as the paper's code)"),
            ParameterSpec(
                "decoder", .choice(Decoder.allCases.map(\.rawValue)), default: .string("unetplusplus"),
                "UNet++ (nested skips) or U-Net"),
            ParameterSpec(
                "decoder_channels", .integers(1...1024, count: 5), default: .integers([256, 128, 64, 32, 16]),
                "output channels of the five decoder stages, coarsest first"),
            ParameterSpec(
                "classes", .integer(1...1000), default: .integer(1),
                "mask channels: 1 is a sigmoid mask, K > 1 a softmax over K classes"),
            // The default shown is smp's (3); model.create always has input_shape, whose C it takes when absent.
            ParameterSpec(
                "in_channels", .integer(1...3), default: .integer(3),
                "input channels, 1 or 3 (smp's in_channels); input_shape's C when absent, and must equal it"),
            ParameterSpec(
                "drop_path_rate", .number(minimum: 0, maximum: 1, maximumExclusive: true), default: .number(0.2),
                "stochastic depth of the encoder's residual blocks: rate · block index / blocks"),
            ParameterSpec(
                "classification_head", .object(headFields), default: .null,
                "an image-level head (null: none): {classes, from, pooling, dropout}"),
            ParameterSpec(
                "deep_supervision", .boolean, default: .boolean(false),
                "UNet++ only: 1x1 mask heads on x_0_1 ... x_0_3 (outputs mask.1 ... mask.3, upsampled to the "
                    + "input's size), trained with the main mask's loss and averaged with it at inference"),
            // smp's 0.01 (TensorFlow's 0.99) moves the running statistics 1% a step: after a short run they keep
            // much of their initial mean 0 / variance 1, and the evaluation-mode model differs from the one
            // trained (issue 15). A larger value makes them follow training; 0.01 keeps smp's behaviour.
            ParameterSpec(
                "bn_momentum", .number(minimum: 0, maximum: 1, minimumExclusive: true, maximumExclusive: false),
                default: .number(0.01),
                "momentum of the encoder's BatchNorm running statistics (PyTorch convention: the new batch's "
                    + "weight); 0.01 is smp's / EfficientNet's, the decoder's BatchNorm keep PyTorch's 0.1"),
        ],
        validate: { config in
            let channels = config.integer("in_channels")
            guard [1, 3].contains(channels) else {
                throw ConfigError(field: "in_channels", reason: "must be 1 or 3, got \(channels)")
            }
            guard channels == config.inputShape[0] else {
                throw ConfigError(
                    field: "in_channels",
                    reason: "is \(channels) but input_shape's C is "
                        + "\(config.inputShape[0]) (give one of them, or both equal)")
            }
            if config.boolean("deep_supervision"), config.string("decoder") != Decoder.unetplusplus.rawValue {
                throw ConfigError(
                    field: "deep_supervision",
                    reason: "needs decoder \"unetplusplus\" (the U-Net "
                        + "decoder has no inner nodes)")
            }
        },
        derivedDefaults: { shape in ["in_channels": .integer(shape.first ?? 3)] },
        upgradeStored: upgradeFlattenedHead,
        estimate: ModelSizeEstimate.effUNet,
        build: build)

    /// The fields of `classification_head`.
    static let headFields = [
        ParameterSpec(
            "classes", .integer(1...1000), default: .null,
            "units of the head (required): 1 is a sigmoid, K > 1 a softmax"),
        ParameterSpec(
            "from", .choice(HeadSource.allCases.map(\.rawValue)), default: .string("encoder"),
            "what it pools: the deepest encoder feature (smp's aux head) or the mask logits (the seed's head)"),
        ParameterSpec(
            "pooling", .choice(Pooling.allCases.map(\.rawValue)), default: .string("avg"),
            "global pooling"),
        ParameterSpec(
            "dropout", .number(minimum: 0, maximum: 1, maximumExclusive: true), default: .number(0.2),
            "dropout before the Linear layer"),
    ]

    /// Checkpoints written before `classification_head` was an object stored it flat: `classification_head` K
    /// (0: none) beside `classification_from`, `classification_pooling` and `classification_dropout`.
    static func upgradeFlattenedHead(_ stored: [String: ParameterValue]) -> [String: ParameterValue] {
        guard case .integer(let k)? = stored["classification_head"] else { return stored }
        var s = stored
        let flat = [
            "from": "classification_from", "pooling": "classification_pooling", "dropout": "classification_dropout",
        ]
        var head: [String: ParameterValue] = ["classes": .integer(k)]
        for (field, key) in flat {
            if let v = s.removeValue(forKey: key) { head[field] = v }
        }
        s["classification_head"] = k == 0 ? .null : .object(head)
        return s
    }

    /// The typed parameters.
    public struct Settings {
        public let plan: EfficientNetPlan
        public let decoder: Decoder
        public let decoderChannels: [Int]
        public let classes, inChannels: Int
        /// The image-level head's units (0: none).
        public let classificationHead: Int
        public let dropPathRate, classificationDropout: Double
        /// The encoder's BatchNorm momentum.
        public let bnMomentum: Float
        public let headSource: HeadSource
        public let pooling: Pooling
        public let deepSupervision: Bool

        public init(_ c: ModelConfig) {
            plan = EfficientNetPlan(EfficientNetPlan.Variant(rawValue: c.string("encoder"))!)
            decoder = Decoder(rawValue: c.string("decoder"))!
            decoderChannels = c.integers("decoder_channels")
            classes = c.integer("classes"); inChannels = c.integer("in_channels")
            dropPathRate = c.number("drop_path_rate")
            bnMomentum = Float(c.number("bn_momentum"))
            let head = c.object("classification_head")
            classificationHead = head?["classes"]?.integer ?? 0
            classificationDropout = head?["dropout"]?.number ?? 0
            headSource = HeadSource(rawValue: head?["from"]?.string ?? "encoder")!
            pooling = Pooling(rawValue: head?["pooling"]?.string ?? "avg")!
            deepSupervision = c.boolean("deep_supervision")
        }

        /// The UNet++ nodes deep supervision reads (x_0_1 ... x_0_{n-2}) and their levels, finest last.
        public var supervisedNodes: [(name: String, channels: Int, level: Int)] {
            guard deepSupervision else { return [] }
            let n = decoderChannels.count
            return (1..<(n - 1)).map { ("x_0_\($0)", decoderChannels[$0], n - 1 - $0) }
        }

        /// The decoder's blocks as smp builds them: name, input, skip and output channels, and `level`, the
        /// block's output resolution as a power of 1/2 (0: the input's).
        public var decoderBlocks: [(name: String, input: Int, skip: Int, output: Int, level: Int)] {
            // smp's lists: the encoder's features coarsest first, without the input itself.
            let encoder = Array(plan.skipChannels.reversed())
            let inputs = [encoder[0]] + decoderChannels.dropLast()
            let skips = Array(encoder.dropFirst()) + [0]
            let n = decoderChannels.count
            switch decoder {
            case .unet:
                return (0..<n).map { ("\($0)", inputs[$0], skips[$0], decoderChannels[$0], n - 1 - $0) }
            case .unetplusplus:
                var blocks: [(String, Int, Int, Int, Int)] = []
                for layer in 0..<(n - 1) {
                    for depth in 0...layer {
                        let name = "x_\(depth)_\(layer)", level = n - 1 - layer
                        if depth == 0 {
                            blocks.append(
                                (name, inputs[layer], skips[layer] * (layer + 1), decoderChannels[layer], level))
                        } else {
                            blocks.append(
                                (
                                    name, skips[layer - 1], skips[layer] * (layer + 1 - depth), skips[layer],
                                    level
                                ))
                        }
                    }
                }
                blocks.append(("x_0_\(n - 1)", inputs[n - 1], 0, decoderChannels[n - 1], 0))
                return blocks
            }
        }
    }

    static func build(_ config: ModelConfig) -> Model {
        let s = Settings(config)
        var rng = RandomGenerator(seed: config.seed)
        let net = Network()
        let plan = s.plan

        func batchNorm(_ name: String, _ channels: Int, _ x: Int, encoder: Bool = true) -> Int {
            net.add(
                name, encoder ? efficientNetBatchNorm(channels, momentum: s.bnMomentum) : BatchNorm(channels: channels),
                x)
        }
        func pointwise(_ name: String, _ cin: Int, _ cout: Int, bias: Bool, _ x: Int) -> Int {
            net.add(name, pointwiseConv(cin, cout, bias: bias, rng: &rng), x)
        }

        // Encoder: the stem, then the MBConv blocks; `features` are the skips, finest first.
        var x = net.add(
            "encoder._conv_stem",
            Conv2D(
                inputChannels: s.inChannels, outputChannels: plan.stemChannels,
                kernelSize: 3, stride: 2, padding: plan.stemPadding, useBias: false,
                initializer: .heNormal, rng: &rng), Network.input)
        x = batchNorm("encoder._bn0", plan.stemChannels, x)
        x = net.add("encoder._swish", SiLU(), x)
        var features = [x]
        for (i, block) in plan.blocks.enumerated() {
            let rate = s.dropPathRate * Double(i) / Double(plan.blocks.count)
            x = addMBConv(
                block, named: "encoder._blocks.\(i)", to: net, x, dropPath: rate, bnMomentum: s.bnMomentum,
                seed: config.seed ^ (0xD9 + UInt64(i)), rng: &rng)
            if plan.outIndexes.contains(i) { features.append(x) }
        }
        let deepest = x
        // Built and never run, as in smp (see the type's comment).
        let head = pointwise("encoder._conv_head", plan.blocks.last!.output, plan.headChannels, bias: false, deepest)
        _ = batchNorm("encoder._bn1", plan.headChannels, head)

        // Decoder: each block upsamples its input, concatenates its skips, and applies two 3x3 Conv-BN-ReLU.
        let channels = Dictionary(uniqueKeysWithValues: s.decoderBlocks.map { ($0.name, $0) })
        func decoderBlock(_ id: String, _ input: Int, _ skips: [Int], reference: Int?) -> Int {
            let name = "decoder.blocks.\(id)", c = channels[id]!
            var y =
                reference.map { net.add("\(name).up", UpSampleToMatch(), input, $0) }
                ?? net.add("\(name).up", UpSampling2D(factor: 2, mode: .nearest), input)
            if !skips.isEmpty {
                y = net.add("\(name).concat", Concatenate(), inputs: [y] + skips)
            }
            for (k, cin) in [c.input + c.skip, c.output].enumerated() {
                y = net.add(
                    "\(name).conv\(k + 1).0",
                    Conv2D(
                        inputChannels: cin, outputChannels: c.output, kernelSize: 3,
                        padding: .explicit(1), useBias: false, initializer: .heNormal,
                        rng: &rng), y)
                y = batchNorm("\(name).conv\(k + 1).1", c.output, y, encoder: false)
                y = net.add("\(name).conv\(k + 1).2", ReLU(), y)
            }
            return y
        }
        let coarsestFirst = Array(features.reversed())
        let n = s.decoderChannels.count
        var decoded: Int
        var dense: [String: Int] = [:]
        switch s.decoder {
        case .unet:
            decoded = coarsestFirst[0]
            for i in 0..<n {
                let skip = i + 1 < coarsestFirst.count ? [coarsestFirst[i + 1]] : []
                decoded = decoderBlock("\(i)", decoded, skip, reference: skip.first ?? Network.input)
            }
        case .unetplusplus:
            for layer in 0..<(n - 1) {
                for depth in 0..<(n - 1 - layer) {
                    if layer == 0 {
                        dense["x_\(depth)_\(depth)"] = decoderBlock(
                            "x_\(depth)_\(depth)", coarsestFirst[depth],
                            [coarsestFirst[depth + 1]], reference: nil)
                    } else {
                        let l = depth + layer
                        let skips = (depth + 1...l).map { dense["x_\($0)_\(l)"]! } + [coarsestFirst[l + 1]]
                        dense["x_\(depth)_\(l)"] = decoderBlock(
                            "x_\(depth)_\(l)", dense["x_\(depth)_\(l - 1)"]!, skips,
                            reference: nil)
                    }
                }
            }
            decoded = decoderBlock("x_0_\(n - 1)", dense["x_0_\(n - 2)"]!, [], reference: nil)
        }
        let mask = net.add(
            "segmentation_head.0",
            Conv2D(
                inputChannels: s.decoderChannels[n - 1], outputChannels: s.classes,
                kernelSize: 3, padding: .explicit(1), initializer: .glorotUniform,
                rng: &rng), decoded)
        net.outputs = [mask]
        var heads = [ModelHead.mask(channels: s.classes, output: 0)]
        // Deep supervision: a 1x1 convolution to the mask's classes on each supervised node, upsampled
        // (bilinear) from its level to the input's size.
        for (i, node) in s.supervisedNodes.enumerated() {
            var y = net.add(
                "deep_supervision.\(i + 1).0",
                Conv2D(
                    inputChannels: node.channels, outputChannels: s.classes,
                    kernelSize: 1, padding: .valid, initializer: .glorotUniform,
                    rng: &rng), dense[node.name]!)
            y = net.add("deep_supervision.\(i + 1).up", UpSampling2D(factor: 1 << node.level, mode: .bilinear), y)
            heads.append(.mask("mask.\(i + 1)", channels: s.classes, output: net.outputs.count))
            net.outputs.append(y)
        }
        let k = s.classificationHead
        if k > 0 {
            let (source, width) = s.headSource == .encoder ? (deepest, plan.blocks.last!.output) : (mask, s.classes)
            var y = net.add(
                "classification_head.0",
                s.pooling == .avg
                    ? GlobalAveragePooling2D() as Layer
                    : GlobalMaxPooling2D() as Layer, source)
            if s.classificationDropout > 0 {
                y = net.add(
                    "classification_head.2", Dropout(rate: Float(s.classificationDropout), seed: config.seed ^ 0xC1), y)
            }
            y = net.add(
                "classification_head.3",
                Dense(
                    inputFeatures: width, outputFeatures: k,
                    activation: k == 1 ? .sigmoid : .softmax, rng: &rng), y)
            heads.append(
                ModelHead(
                    name: "class", kind: .classes, channels: k, activation: k == 1 ? .sigmoid : .softmax,
                    output: net.outputs.count))
            net.outputs.append(y)
        }
        return Model(
            config: config, network: net, heads: heads, padMultiple: 32, fixedSize: false,
            averagesMasksAtInference: s.deepSupervision)
    }
    /// EfficientNet's BatchNorm: TensorFlow's momentum 0.99 is PyTorch's 0.01 (the default), eps 1e-3.
    static func efficientNetBatchNorm(_ channels: Int, momentum: Float = 0.01) -> BatchNorm {
        BatchNorm(channels: channels, momentum: momentum, epsilon: 1e-3)
    }

    static func pointwiseConv(_ cin: Int, _ cout: Int, bias: Bool, rng: inout RandomGenerator) -> Conv2D {
        Conv2D(
            inputChannels: cin, outputChannels: cout, kernelSize: 1, padding: .valid, useBias: bias,
            initializer: .heNormal, rng: &rng)
    }

    /// Appends one MBConv block reading node `input` and returns its output node: [expand 1x1 + BN + swish] ->
    /// depthwise + BN + swish -> squeeze-excitation (pool, 1x1 + swish, 1x1 + sigmoid, gate) -> project 1x1 + BN
    /// -> [drop-path (when `dropPath` > 0) and the residual sum]. Node names are smp's under `name`.
    public static func addMBConv(
        _ block: EfficientNetPlan.Block, named name: String, to net: Network, _ input: Int,
        dropPath: Double, bnMomentum: Float = 0.01, seed: UInt64, rng: inout RandomGenerator
    ) -> Int {
        var x = input
        if block.expands {
            x = net.add("\(name)._expand_conv", pointwiseConv(block.input, block.expanded, bias: false, rng: &rng), x)
            x = net.add("\(name)._bn0", efficientNetBatchNorm(block.expanded, momentum: bnMomentum), x)
            x = net.add("\(name)._swish0", SiLU(), x)
        }
        x = net.add(
            "\(name)._depthwise_conv",
            DepthwiseConv2D(
                channels: block.expanded, kernelSize: block.kernel,
                stride: block.stride, padding: block.padding,
                useBias: false, initializer: .heNormal, rng: &rng), x)
        x = net.add("\(name)._bn1", efficientNetBatchNorm(block.expanded, momentum: bnMomentum), x)
        x = net.add("\(name)._swish1", SiLU(), x)
        var gate = net.add("\(name)._se_pool", GlobalAveragePooling2D(keepDims: true), x)
        gate = net.add("\(name)._se_reduce", pointwiseConv(block.expanded, block.squeezed, bias: true, rng: &rng), gate)
        gate = net.add("\(name)._se_swish", SiLU(), gate)
        gate = net.add("\(name)._se_expand", pointwiseConv(block.squeezed, block.expanded, bias: true, rng: &rng), gate)
        gate = net.add("\(name)._se_sigmoid", Sigmoid(), gate)
        x = net.add("\(name)._se_gate", ChannelGate(), x, gate)
        x = net.add("\(name)._project_conv", pointwiseConv(block.expanded, block.output, bias: false, rng: &rng), x)
        x = net.add("\(name)._bn2", efficientNetBatchNorm(block.output, momentum: bnMomentum), x)
        guard block.residual else { return x }
        if dropPath > 0 { x = net.add("\(name)._drop_path", DropPath(rate: Float(dropPath), seed: seed), x) }
        return net.add("\(name)._add", Add(), x, input)
    }
}

extension ModelConfig.Architecture {
    public static let effUNet = ModelConfig.Architecture(rawValue: "eff-unet")
}

extension ModelSizeEstimate {
    /// Mirrors `EffUNetBuilder` from the same plan and decoder table: exact parameter and buffer counts; the
    /// activations of the main tensors at the input padded to a multiple of 32.
    static func effUNet(_ config: ModelConfig) -> ModelSizeEstimate {
        let s = EffUNetBuilder.Settings(config)
        var e = ModelSizeEstimate()
        let pixels0 = ((config.inputShape[1] + 31) / 32 * 32) * ((config.inputShape[2] + 31) / 32 * 32)
        func pixels(_ level: Int) -> Int { pixels0 >> (2 * level) }
        e.conv(config.inputShape[0], s.plan.stemChannels, kernel: 3, bias: false)
        e.batchNorm(s.plan.stemChannels)
        e.activations += config.inputShape[0] * pixels0 + 3 * s.plan.stemChannels * pixels(1)
        var level = 1
        for b in s.plan.blocks {
            if b.expands {
                e.conv(b.input, b.expanded, kernel: 1, bias: false)
                e.batchNorm(b.expanded)
                e.activations += 3 * b.expanded * pixels(level)
            }
            if b.stride == 2 { level += 1 }
            e.parameters += b.expanded * b.kernel * b.kernel
            e.batchNorm(b.expanded)
            e.conv(b.expanded, b.squeezed, kernel: 1)
            e.conv(b.squeezed, b.expanded, kernel: 1)
            e.conv(b.expanded, b.output, kernel: 1, bias: false)
            e.batchNorm(b.output)
            e.activations += 4 * b.expanded * pixels(level) + (b.residual ? 3 : 2) * b.output * pixels(level)
        }
        e.conv(s.plan.blocks.last!.output, s.plan.headChannels, kernel: 1, bias: false)
        e.batchNorm(s.plan.headChannels)
        for b in s.decoderBlocks {
            e.conv(b.input + b.skip, b.output, kernel: 3, bias: false)
            e.batchNorm(b.output)
            e.conv(b.output, b.output, kernel: 3, bias: false)
            e.batchNorm(b.output)
            e.activations += (2 * b.input + b.skip + 6 * b.output) * pixels(b.level)
        }
        e.conv(s.decoderChannels.last!, s.classes, kernel: 3)
        e.activations += s.classes * pixels0
        for node in s.supervisedNodes {
            e.conv(node.channels, s.classes, kernel: 1)
            e.activations += s.classes * (pixels(node.level) + pixels0)
        }
        if s.classificationHead > 0 {
            let width = s.headSource == .encoder ? s.plan.blocks.last!.output : s.classes
            e.parameters += width * s.classificationHead + s.classificationHead
            e.activations += 2 * width + s.classificationHead
        }
        return e
    }
}
