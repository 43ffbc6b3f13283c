import Foundation
import TestSupport
import XCTest

@testable import UNetCore

/// The `eff-unet` architecture (issue 15): smp's EfficientNet layout and parameter counts, its static padding, the
/// state_dict names, and finite-difference gradients of one MBConv block and of a tiny whole model.
final class EffUNetTests: XCTestCase {
    static func config(
        _ encoder: String = "efficientnet-b1", decoder: String = "unetplusplus",
        decoderChannels: [Int] = [256, 128, 64, 32, 16], classes: Int = 1, shape: [Int] = [3, 64, 64],
        dropPath: Double = 0.2, head: Int = 0, from: String = "encoder", pooling: String = "avg",
        headDropout: Double = 0.2, deepSupervision: Bool = false, seed: UInt64 = 0
    ) -> ModelConfig {
        ModelConfig(
            architecture: .effUNet, inputShape: shape, seed: seed,
            parameters: [
                "encoder": .string(encoder), "decoder": .string(decoder),
                "decoder_channels": .integers(decoderChannels),
                "classes": .integer(classes), "drop_path_rate": .number(dropPath),
                "classification_head": head == 0
                    ? .null
                    : .object([
                        "classes": .integer(head), "from": .string(from), "pooling": .string(pooling),
                        "dropout": .number(headDropout),
                    ]),
                "deep_supervision": .boolean(deepSupervision),
            ])
    }

    /// smp 0.6.0's counts: `sum(p.numel() for p in model.parameters())`, the unused `_conv_head` and `_bn1` included.
    func testParameterCountsEqualSmps() throws {
        let plusPlus = try Model.build(Self.config())
        XCTAssertEqual(plusPlus.parameterCount, 9_075_217)
        let encoder = plusPlus.network.namedParameters.filter { $0.name.hasPrefix("encoder.") }
        XCTAssertEqual(encoder.reduce(0) { $0 + $1.parameter.value.count }, 6_513_184)
        let unused = encoder.filter { $0.name.hasPrefix("encoder._conv_head.") || $0.name.hasPrefix("encoder._bn1.") }
        XCTAssertEqual(unused.reduce(0) { $0 + $1.parameter.value.count }, 412_160)
        // 640 state_dict keys: parameters and BatchNorm buffers.
        XCTAssertEqual(plusPlus.network.namedParameters.count + plusPlus.network.namedBuffers.count, 640)
        XCTAssertEqual(try Model.build(Self.config(decoder: "unet")).parameterCount, 8_757_105)
        // smp's aux head on the 320-channel feature: Linear(320, 2).
        XCTAssertEqual(try Model.build(Self.config(decoder: "unet", head: 2)).parameterCount, 8_757_105 + 642)
    }

    /// The names smp's state_dict uses, a few of each kind.
    func testTensorNamesAreSmps() throws {
        let model = try Model.build(Self.config(head: 2))
        let names = Set(model.network.namedParameters.map(\.name) + model.network.namedBuffers.map(\.name))
        for name in [
            "encoder._conv_stem.weight", "encoder._bn0.running_var", "encoder._blocks.0._depthwise_conv.weight",
            "encoder._blocks.0._se_reduce.bias", "encoder._blocks.1._project_conv.weight",
            "encoder._blocks.2._expand_conv.weight", "encoder._blocks.22._bn2.num_batches_tracked",
            "encoder._conv_head.weight", "encoder._bn1.bias", "decoder.blocks.x_0_0.conv1.0.weight",
            "decoder.blocks.x_1_1.conv2.1.running_mean", "decoder.blocks.x_0_4.conv2.0.weight",
            "segmentation_head.0.bias", "classification_head.3.weight",
        ] {
            XCTAssertTrue(names.contains(name), name)
        }
        XCTAssertFalse(names.contains("encoder._blocks.0._expand_conv.weight"), "the first stage does not expand")
        XCTAssertEqual(
            model.network.namedParameters.first { $0.name == "encoder._blocks.0._depthwise_conv.weight" }?
                .parameter.value.shape, [32, 1, 3, 3])
    }

    /// The layout of b0 ... b3 and the static padding smp computes for b1 at 240x240 (issue 15's table).
    func testEfficientNetPlansAreSmps() {
        let b1 = EfficientNetPlan(.b1)
        XCTAssertEqual(b1.blocks.count, 23)
        XCTAssertEqual(b1.stemPadding, .sides(top: 0, bottom: 1, left: 0, right: 1))
        XCTAssertEqual(b1.blocks[2].padding, .sides(top: 0, bottom: 1, left: 0, right: 1))
        XCTAssertEqual(b1.blocks[8].padding, .sides(top: 0, bottom: 1, left: 0, right: 1))
        XCTAssertEqual(b1.blocks[5].padding, .sides(top: 1, bottom: 2, left: 1, right: 2))
        XCTAssertEqual(b1.blocks[16].padding, .explicit(2))
        XCTAssertEqual(b1.blocks[1].padding, .explicit(1))
        XCTAssertEqual(b1.skipChannels, [32, 24, 40, 112, 320])
        XCTAssertEqual(b1.blocks[1].squeezed, 4, "a quarter of the block's input (16), not of its expansion")
        XCTAssertEqual(b1.blocks[2].squeezed, 4)
        XCTAssertEqual(EfficientNetPlan(.b0).blocks.count, 16)
        XCTAssertEqual(EfficientNetPlan(.b2).skipChannels, [32, 24, 48, 120, 352])
        XCTAssertEqual(EfficientNetPlan(.b3).skipChannels, [40, 32, 48, 136, 384])
        XCTAssertEqual(EfficientNetPlan(.b3).blocks.count, 26)
        XCTAssertEqual(EfficientNetPlan(.b2).headChannels, 1408)
    }

    /// The estimate counts what the builder builds, for every variant, decoder and head.
    func testEstimateIsExact() throws {
        var cases = EfficientNetPlan.Variant.allCases.map { ($0.rawValue, "unetplusplus", 0, "encoder") }
        cases += [
            ("efficientnet-b0", "unet", 0, "encoder"), ("efficientnet-b0", "unet", 3, "encoder"),
            ("efficientnet-b0", "unetplusplus", 2, "mask"),
        ]
        for (encoder, decoder, head, from) in cases {
            let config = Self.config(
                encoder, decoder: decoder, decoderChannels: [40, 32, 24, 16, 8], classes: 2,
                shape: [1, 64, 96], head: head, from: from)
            let model = try Model.build(config)
            let e = ModelSizeEstimate(config)
            XCTAssertEqual(e.parameters, model.parameterCount, "\(encoder) \(decoder) \(head) \(from)")
            XCTAssertEqual(e.buffers, model.network.buffers.reduce(0) { $0 + $1.count }, "\(encoder) \(decoder)")
        }
    }

    func testOutputsHaveTheInputsSizeAtAnySize() throws {
        for decoder in ["unetplusplus", "unet"] {
            let model = try Model.build(
                Self.config(
                    "efficientnet-b0", decoder: decoder,
                    decoderChannels: [16, 16, 8, 8, 8], classes: 2,
                    shape: [1, 50, 70], head: 3))
            let out = try model.forward(randomTensor([2, 1, 50, 70], seed: 3), training: false)
            XCTAssertEqual(out.mask?.shape, [2, 2, 50, 70])
            XCTAssertEqual(out.classLogits?.shape, [2, 3])
        }
    }

    func testBadConfigurationsNameTheirField() {
        func field(_ c: ModelConfig) -> String? {
            do { _ = try Model.build(c); return nil } catch let e as ConfigError { return e.field } catch { return "?" }
        }
        XCTAssertEqual(field(Self.config(shape: [2, 64, 64])), "in_channels")
        var disagreeing = Self.config(shape: [1, 64, 64])
        disagreeing.parameters["in_channels"] = .integer(3)
        XCTAssertEqual(field(disagreeing), "in_channels")
        var headless = Self.config(head: 2)
        headless.parameters["classification_head"] = .object(["from": .string("mask")])
        XCTAssertEqual(field(headless), "classification_head.classes")
        var typo = Self.config(head: 2)
        typo.parameters["classification_head"] = .object(["classes": .integer(2), "source": .string("mask")])
        XCTAssertEqual(field(typo), "classification_head.source")
        XCTAssertEqual(field(Self.config(decoder: "unet", deepSupervision: true)), "deep_supervision")
        XCTAssertEqual(field(Self.config("efficientnet-b7")), "encoder")
        XCTAssertEqual(field(Self.config(decoder: "fpn")), "decoder")
        XCTAssertEqual(field(Self.config(decoderChannels: [256, 128, 64, 32])), "decoder_channels")
        XCTAssertEqual(field(Self.config(decoderChannels: [256, 128, 64, 32, 0])), "decoder_channels")
    }

    // MARK: Gradients by finite differences (training mode: BatchNorm on batch statistics)

    /// L = Σ_o Σ y_o·R_o over `outputs` (network output indices; the first by default), forward in training mode,
    /// every parameter's gradient at `points` spots.
    func checkGradients(
        _ net: Network, _ x: Tensor, outputs: [Int] = [0], parameters names: Set<String>? = nil,
        points: Int, epsilon: Float = 1e-2, atol: Double = 3e-3, rtol: Double = 3e-2,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var checker = GradientCheck(epsilon: epsilon, maxPoints: points, atol: atol, rtol: rtol)
        checker.seed = 7
        let shapes = net.forward(x, training: true).map(\.shape)
        let weights = outputs.map { randomTensor(shapes[$0], seed: 51 + UInt64($0)) }
        func loss() -> Double {
            let ys = net.forward(x, training: true, wanted: outputs)
            var s = 0.0
            for (o, r) in zip(outputs, weights) {
                let y = ys[o]!
                for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
            }
            net.releaseCaches()
            return s
        }
        _ = net.forward(x, training: true, wanted: outputs)
        net.zeroGradients()
        var seeds = [Tensor?](repeating: nil, count: net.outputs.count)
        for (o, r) in zip(outputs, weights) { seeds[o] = r }
        let dx = net.backward(seeds)
        let grads = net.namedParameters.map { ($0.name, $0.parameter, $0.parameter.grad.copy()) }
        checker.compare(x, dx, loss, "input", file: file, line: line)
        for (name, p, g) in grads where names?.contains(name) ?? true {
            checker.compare(p.value, g, loss, name, file: file, line: line)
        }
    }

    /// One expanding MBConv block with a residual (stride 1, 16 -> 16 channels, kernel 5, padding (1, 3, 2, 2)),
    /// and a strided one without, each on its own.
    func testMBConvBlockGradients() {
        for block in [
            EfficientNetPlan.Block(
                input: 8, expanded: 48, squeezed: 2, output: 8, kernel: 5, stride: 1,
                padding: .sides(top: 1, bottom: 3, left: 2, right: 2)),
            EfficientNetPlan.Block(
                input: 8, expanded: 8, squeezed: 2, output: 12, kernel: 3, stride: 2,
                padding: .sides(top: 0, bottom: 1, left: 0, right: 1)),
        ] {
            var rng = RandomGenerator(seed: 5)
            let net = Network()
            _ = EffUNetBuilder.addMBConv(block, named: "block", to: net, Network.input, dropPath: 0, seed: 1, rng: &rng)
            net.outputs = [net.nodes.count - 1]
            for (_, p) in net.namedParameters { for i in 0..<p.value.count { p.value[i] += rng.uniform(-0.2, 0.2) } }
            checkGradients(net, randomTensor([2, 8, 9, 11], seed: 8), points: 12)
        }
    }

    /// b0 UNet++ with decoder channels (16, 8, 8, 8, 4) at 64x64, batch 2: the input gradient and a tensor of every
    /// kind, to 0.25 + 10%. Loose on purpose: float32 central differences through 80 layers, with BatchNorm on
    /// batch statistics of 8 values per channel at 2x2, are that noisy. At a step of 2e-3 the numeric gradient of
    /// one `_se_expand` weight came out 0.127 in one run and -0.083 in another, the analytic one 0.030 both times;
    /// at 1e-2 the curvature puts large ones 5-10% off. This catches a missing or misrouted gradient (the stem's
    /// are ~37); the tight check is `GoldenEffUNetTests` (every gradient's norm within 1e-3 of smp's).
    func testTinyEffUNetGradients() throws {
        #if DEBUG
        throw XCTSkip(
            "a full eff-unet many times over: minutes unoptimized, seconds optimized; `make test` runs it with -c release"
        )
        #endif
        let model = try Model.build(
            Self.config(
                "efficientnet-b0", decoderChannels: [16, 8, 8, 8, 4], shape: [1, 64, 64],
                dropPath: 0))
        let checked: Set<String> = [
            "encoder._conv_stem.weight", "encoder._blocks.0._depthwise_conv.weight",
            "encoder._blocks.4._se_expand.weight",
            "encoder._blocks.10._project_conv.weight", "decoder.blocks.x_1_2.conv1.0.weight",
            "decoder.blocks.x_0_3.conv2.1.weight", "segmentation_head.0.bias",
        ]
        XCTAssertTrue(checked.isSubset(of: Set(model.network.namedParameters.map(\.name))))
        checkGradients(
            model.network, randomTensor([2, 1, 64, 64], seed: 9), parameters: checked, points: 2,
            epsilon: 2e-3, atol: 0.25, rtol: 0.1)
    }

    // MARK: The seed's "mask" head and deep supervision

    /// The seed's head: `class` is Dense(global average of the mask logit map), so its logits can be recomputed
    /// from the mask the model returns (at a size the model pads, the pool is over the padded map, so 64x64 here).
    func testMaskHeadIsADenseLayerOnTheAveragedMaskLogits() throws {
        let model = try Model.build(
            Self.config(
                "efficientnet-b0", decoderChannels: [16, 8, 8, 8, 4], classes: 2,
                shape: [3, 64, 64], head: 2, from: "mask", headDropout: 0))
        XCTAssertEqual(model.heads.map(\.name), ["mask", "class"])
        XCTAssertEqual(model.classHead?.activation, .softmax)
        let dense = try XCTUnwrap(model.network.namedParameters.first { $0.name == "classification_head.3.weight" })
        XCTAssertEqual(dense.parameter.value.shape, [2, 2], "Dense from the 2 mask channels to the 2 classes")
        let bias = try XCTUnwrap(model.network.namedParameters.first { $0.name == "classification_head.3.bias" })
        for i in 0..<2 { bias.parameter.value[i] = 0.1 * Float(i + 1) }
        let out = try model.forward(randomTensor([2, 3, 64, 64], seed: 4), training: false)
        let mask = try XCTUnwrap(out.mask), logits = try XCTUnwrap(out.classLogits)
        let plane = 64 * 64
        for n in 0..<2 {
            let means = (0..<2).map { c in
                (0..<plane).reduce(0.0) { $0 + Double(mask[(n * 2 + c) * plane + $1]) } / Double(plane)
            }
            for k in 0..<2 {
                let expected =
                    Double(bias.parameter.value[k])
                    + (0..<2).reduce(0.0) { $0 + Double(dense.parameter.value[k * 2 + $1]) * means[$1] }
                XCTAssertEqual(Double(logits[n * 2 + k]), expected, accuracy: 1e-4, "image \(n) class \(k)")
            }
        }
    }

    /// The class head's logits against finite differences, through the mask map into the decoder and encoder.
    func testMaskHeadGradients() throws {
        #if DEBUG
        throw XCTSkip(
            "a full eff-unet many times over: minutes unoptimized, seconds optimized; `make test` runs it with -c release"
        )
        #endif
        let model = try Model.build(
            Self.config(
                "efficientnet-b0", decoderChannels: [16, 8, 8, 8, 4], classes: 2,
                shape: [1, 64, 64], dropPath: 0, head: 2, from: "mask", headDropout: 0))
        let checked: Set<String> = [
            "classification_head.3.weight", "classification_head.3.bias",
            "segmentation_head.0.weight", "decoder.blocks.x_0_3.conv2.0.weight",
            "encoder._conv_stem.weight",
        ]
        XCTAssertTrue(checked.isSubset(of: Set(model.network.namedParameters.map(\.name))))
        checkGradients(
            model.network, randomTensor([2, 1, 64, 64], seed: 9), outputs: [try XCTUnwrap(model.classOutput)],
            parameters: checked, points: 2, epsilon: 2e-3, atol: 0.25, rtol: 0.1)
    }

    func deepSupervised(shape: [Int] = [1, 64, 64]) throws -> Model {
        try Model.build(
            Self.config(
                "efficientnet-b0", decoderChannels: [16, 8, 8, 8, 4], classes: 1, shape: shape,
                dropPath: 0, deepSupervision: true))
    }

    /// Heads `mask.1` ... `mask.3` on x_0_1 ... x_0_3 at the input's size in training; an inference mask is the
    /// mean of the four heads' logits (each computed alone here, in evaluation mode, and cropped).
    func testDeepSupervisionHeadsExistAndInferenceAveragesThem() throws {
        let model = try deepSupervised(shape: [1, 50, 70])
        XCTAssertEqual(model.heads.map(\.name), ["mask", "mask.1", "mask.2", "mask.3"])
        XCTAssertEqual(model.parameterCount, ModelSizeEstimate(model.config).parameters)
        for (i, node) in ["x_0_1", "x_0_2", "x_0_3"].enumerated() {
            let conv = model.network.nodes.first { $0.name == "deep_supervision.\(i + 1).0" }!
            XCTAssertEqual(model.network.nodes[conv.inputs[0]].name, "decoder.blocks.\(node).conv2.2")
        }
        let x = randomTensor([2, 1, 50, 70], seed: 6)
        let trained = try model.forward(x, training: true)
        XCTAssertEqual(trained.deepSupervision.map(\.shape), Array(repeating: [2, 1, 50, 70], count: 3))
        let averaged = try XCTUnwrap(try model.forward(x, training: false).mask).copy()
        let padded = pad(x, height: 64, width: 96)
        let all = model.network.forward(padded, training: false, wanted: [0, 1, 2, 3]).map {
            crop($0!, height: 50, width: 70)
        }
        for i in stride(from: 0, to: averaged.count, by: 97) {
            let mean = (all[0][i] + all[1][i] + all[2][i] + all[3][i]) / 4
            XCTAssertEqual(averaged[i], mean, accuracy: 1e-5)
        }
        XCTAssertGreaterThan(
            (0..<averaged.count).map { abs(averaged[$0] - all[0][$0]) }.max()!, 1e-3,
            "the average is not the main head alone")
    }

    /// The training loss is the main mask's plus each deep-supervision head's (each the main's loss by default).
    func testDeepSupervisionLossIncludesEveryHead() throws {
        let batch = try DiscSource(count: 2, size: 64, seed: 5).batch(indices: [0, 1], epoch: 0, augment: false)
        func loss(_ losses: [String: HeadLoss]) throws -> Float {
            var c = TrainingConfig()
            c.optimizer = .sgd; c.headLosses = losses
            return try Trainer(model: try deepSupervised(), config: c).trainStep(batch).loss
        }
        let all = try loss([:])
        let main = try loss([
            "mask.1": HeadLoss(weight: 0), "mask.2": HeadLoss(weight: 0), "mask.3": HeadLoss(weight: 0),
        ])
        let aux = try (1...3).map { n in
            try loss(
                Dictionary(
                    uniqueKeysWithValues: ["mask", "mask.1", "mask.2", "mask.3"].map {
                        ($0, HeadLoss(weight: $0 == "mask.\(n)" ? 1 : 0))
                    }))
        }
        XCTAssertGreaterThan(all, main)
        XCTAssertEqual(Double(all), Double(main) + aux.reduce(0) { $0 + Double($1) }, accuracy: 1e-5)
    }

    /// The deep-supervision heads' gradients (all four mask outputs in the loss) against finite differences.
    func testDeepSupervisionGradients() throws {
        #if DEBUG
        throw XCTSkip(
            "a full eff-unet many times over: minutes unoptimized, seconds optimized; `make test` runs it with -c release"
        )
        #endif
        let model = try deepSupervised()
        let checked: Set<String> = [
            "deep_supervision.1.0.weight", "deep_supervision.2.0.bias",
            "deep_supervision.3.0.weight", "decoder.blocks.x_0_1.conv2.0.weight",
            "segmentation_head.0.weight",
        ]
        XCTAssertTrue(checked.isSubset(of: Set(model.network.namedParameters.map(\.name))))
        checkGradients(
            model.network, randomTensor([2, 1, 64, 64], seed: 9), outputs: [0, 1, 2, 3], parameters: checked,
            points: 2, epsilon: 2e-3, atol: 0.25, rtol: 0.1)
    }

    // MARK: Checkpoints of the flattened head

    /// Before `classification_head` was an object, eff-unet checkpoints stored it flat (`classification_head` K,
    /// `classification_from`, `classification_pooling`, `classification_dropout`; the configuration JSON below is
    /// what that code wrote, keys sorted). Such a file loads as the same head, weights and outputs unchanged.
    func testCheckpointsWithTheFlattenedHeadLoadAsTheObject() throws {
        let config = Self.config(
            "efficientnet-b0", decoderChannels: [16, 8, 8, 8, 4], classes: 2, shape: [1, 64, 64],
            head: 2, from: "mask", pooling: "max", headDropout: 0.1, seed: 3)
        let model = try Model.build(config)
        let path = NSTemporaryDirectory() + "effunet-flat-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try Checkpoint.save(model: model, optimizer: nil, to: path)
        var file = try SafeTensors.read(path: path)
        file.metadata[Checkpoint.configKey] =
            #"{"architecture":"eff-unet","classes":2,"classification_dropout":0.1,"#
            + #""classification_from":"mask","classification_head":2,"classification_pooling":"max","#
            + #""decoder":"unetplusplus","decoder_channels":[16,8,8,8,4],"drop_path_rate":0.2,"#
            + #""encoder":"efficientnet-b0","input_shape":[1,64,64],"seed":3}"#
        try file.write(path: path)
        let loaded = try Checkpoint.load(path: path, current: nil).model
        XCTAssertEqual(loaded.config, model.config)
        XCTAssertEqual(
            loaded.config.object("classification_head"),
            ["classes": .integer(2), "from": .string("mask"), "pooling": .string("max"), "dropout": .number(0.1)])
        let saved = Dictionary(
            uniqueKeysWithValues: model.network.namedParameters.map { ($0.name, $0.parameter.value.array) })
        for (name, p) in loaded.network.namedParameters { XCTAssertEqual(p.value.array, saved[name], name) }
        // Outputs to float rounding: the two models' first inference may take different kernel paths (bit-equal
        // optimized, 1e-7 apart unoptimized).
        let x = randomTensor([1, 1, 64, 64], seed: 2)
        let (a, b) = (try model.forward(x, training: false), try loaded.forward(x, training: false))
        assertClose(try XCTUnwrap(b.classLogits), try XCTUnwrap(a.classLogits), atol: 1e-6, rtol: 1e-5)
        // A flattened head of 0 classes is none; absent flattened fields take the defaults.
        let none =
            #"{"architecture":"eff-unet","classification_head":0,"classification_from":"encoder","#
            + #""encoder":"efficientnet-b0","input_shape":[3,64,64],"seed":0}"#
        let decoded = try JSONDecoder().decode(ModelConfig.self, from: Data(none.utf8))
        XCTAssertEqual(decoded.parameters["classification_head"], .null)
        XCTAssertNil(decoded.parameters["classification_from"])
        XCTAssertEqual(decoded.integer("in_channels"), 3)
        let bare = #"{"architecture":"eff-unet","classification_head":4,"input_shape":[1,64,64],"seed":0}"#
        XCTAssertEqual(
            try JSONDecoder().decode(ModelConfig.self, from: Data(bare.utf8)).object("classification_head"),
            ["classes": .integer(4), "from": .string("encoder"), "pooling": .string("avg"), "dropout": .number(0.2)])
    }
}
