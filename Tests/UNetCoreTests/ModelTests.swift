import TestSupport
import XCTest

@testable import UNetCore

final class ModelTests: XCTestCase {
    func testReferenceClassifierHasKerasParameterCount() throws {
        let model = try Model.build(ModelConfig(architecture: .unetClassifier, inputShape: [3, 224, 224]))
        XCTAssertEqual(model.parameterCount, 8_305_602)
        let summary = ModelSummary(model)
        XCTAssertEqual(summary.totalParams, 8_305_602)
        XCTAssertTrue(summary.table.contains("Total params: 8,305,602"), summary.table)
        XCTAssertEqual(summary.rows.last?.type, "Dense(sigmoid)")
        XCTAssertEqual(summary.rows.last?.outputShape, [2])
        XCTAssertEqual(summary.rows.first { $0.name == "concat1" }?.outputShape, [384, 112, 112])
    }

    func testRonnebergerUNetParameterCount() throws {
        let model = try Model.build(ModelConfig(architecture: .unet, inputShape: [1, 256, 256]))
        XCTAssertEqual(model.parameterCount, 31_030_593)
    }

    func testSummaryCountsBatchNormStatisticsAsNonTrainable() throws {
        let model = try Model.build(
            ModelConfig(architecture: .unet, inputShape: [1, 32, 32], depth: 2, filters: 4, batchNorm: true))
        let s = ModelSummary(model)
        // Every BatchNorm holds 2C trainable (γ, β) and 2C non-trainable (running mean and variance) values.
        let bnChannels = [4, 4, 8, 8, 16, 16, 8, 8, 4, 4].reduce(0, +)
        XCTAssertEqual(s.totalParams - s.trainableParams, 2 * bnChannels)
        XCTAssertEqual(s.trainableParams, model.parameterCount)
    }

    func testUNetAcceptsAnySizeAndCropsTheMaskBack() throws {
        for upsampling in ModelConfig.Upsampling.allCases {
            let model = try Model.build(
                ModelConfig(
                    architecture: .unet, inputShape: [1, 64, 64], depth: 3, filters: 4,
                    upsampling: upsampling))
            let x = randomTensor([2, 1, 100, 75], seed: 1)
            let out = try model.forward(x, training: true)
            XCTAssertEqual(out.mask?.shape, [2, 1, 100, 75], "\(upsampling)")
            let dx = model.backward(maskGradient: randomTensor([2, 1, 100, 75], seed: 2), classGradient: nil)
            XCTAssertEqual(dx.shape, [2, 1, 100, 75])
        }
    }

    func testInputValidationNamesTheProblem() throws {
        let classifier = try Model.build(ModelConfig(architecture: .unetClassifier, inputShape: [1, 16, 16]))
        XCTAssertThrowsError(try classifier.forward(Tensor(zeros: [1, 1, 20, 16]), training: false)) { e in
            XCTAssertTrue("\(e)".contains("16x16"), "\(e)")
        }
        XCTAssertThrowsError(try classifier.forward(Tensor(zeros: [1, 3, 16, 16]), training: false)) { e in
            XCTAssertTrue("\(e)".contains("channels"), "\(e)")
        }
        XCTAssertThrowsError(try Model.build(ModelConfig(architecture: .unet, inputShape: [1, 16, 16], depth: 9))) {
            e in
            XCTAssertEqual((e as? ConfigError)?.field, "depth")
        }
        XCTAssertThrowsError(try Model.build(ModelConfig(architecture: .unet, inputShape: [1, 16]))) { e in
            XCTAssertEqual((e as? ConfigError)?.field, "input_shape")
        }
    }

    func testClassificationHeadOutputsImageLevelLogits() throws {
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 16, 16], depth: 2, filters: 4,
                classificationHead: 3))
        let out = try model.forward(randomTensor([2, 1, 20, 12], seed: 3), training: false)
        XCTAssertEqual(out.mask?.shape, [2, 1, 20, 12])
        XCTAssertEqual(out.classLogits?.shape, [2, 3])
        XCTAssertEqual(model.classActivation, .softmax)
        let p = Model.activate(out.classLogits!, .softmax)
        XCTAssertEqual(p[0] + p[1] + p[2], 1, accuracy: 1e-5)
    }

    /// The whole network's gradient (padding, skip connections, BatchNorm, both heads) against finite differences.
    func testWholeUNetGradientMatchesFiniteDifferences() throws {
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 8, 8], seed: 5, depth: 2, filters: 2,
                batchNorm: true, upsampling: .bilinear, classificationHead: 2))
        let x = randomTensor([2, 1, 7, 6], seed: 6)
        let target = randomTensor([2, 1, 7, 6], seed: 7, low: 0, high: 1)
        let labels = Tensor(shape: [2], values: [0, 1])
        func loss() throws -> (Double, Model.Output) {
            let out = try model.forward(x, training: true)
            let a = binaryCrossEntropy(logits: out.mask!, targets: target)
            let b = softmaxCrossEntropy(logits: out.classLogits!, labels: labels)
            return (Double(a.loss) + Double(b.loss), out)
        }
        model.network.zeroGradients()
        let (_, out) = try loss()
        let dx = model.backward(
            maskGradient: binaryCrossEntropy(logits: out.mask!, targets: target).gradient,
            classGradient: softmaxCrossEntropy(logits: out.classLogits!, labels: labels).gradient)
        let grads = model.network.namedParameters.map { ($0.name, $0.parameter.value, $0.parameter.grad.copy()) }
        // ReLU kinks make a few coordinates non-differentiable at ε = 1e-2; a smaller step keeps clear of them.
        let checker = GradientCheck(epsilon: 2e-3, maxPoints: 6, atol: 2e-3, rtol: 5e-2)
        let f = { (try? loss().0) ?? .nan }
        checker.compare(x, dx, f, "input")
        for (name, value, grad) in grads { checker.compare(value, grad, f, name) }
    }

    func testSameSeedAndThreadsGiveBitIdenticalLossesOver20Steps() throws {
        func run() throws -> [Float] {
            let model = try Model.build(
                ModelConfig(
                    architecture: .unet, inputShape: [1, 16, 16], seed: 42, depth: 2, filters: 4,
                    batchNorm: true, dropout: 0.2))
            let opt = Optimizer(kind: .adam, learningRate: 1e-3)
            let x = randomTensor([2, 1, 16, 16], seed: 8)
            let t = randomTensor([2, 1, 16, 16], seed: 9, low: 0, high: 1)
            var losses: [Float] = []
            for _ in 0..<20 {
                model.network.zeroGradients()
                let out = try model.forward(x, training: true)
                let l = bceDiceLoss(logits: out.mask!, targets: t)
                model.backward(maskGradient: l.gradient, classGradient: nil)
                opt.step(model.network.namedParameters.map(\.parameter))
                losses.append(l.loss)
            }
            return losses
        }
        let a = try run(), b = try run()
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
        XCTAssertLessThan(a.last!, a.first!, "training should reduce the loss")
        let other = try Model.build(
            ModelConfig(architecture: .unet, inputShape: [1, 16, 16], seed: 43, depth: 2, filters: 4))
        let same = try Model.build(
            ModelConfig(architecture: .unet, inputShape: [1, 16, 16], seed: 42, depth: 2, filters: 4))
        XCTAssertNotEqual(
            other.network.namedParameters[0].parameter.value.array,
            same.network.namedParameters[0].parameter.value.array)
    }
}

extension ModelTests {
    /// Asking for the classification head alone skips the decoder and gives the same class logits.
    func testClassHeadAloneSkipsTheDecoderAndAgrees() throws {
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 16, 16], seed: 3, depth: 2, filters: 4,
                classificationHead: 2))
        let x = randomTensor([2, 1, 16, 16], seed: 4)
        let both = try model.forward(x, training: false)
        let only = try model.forward(x, training: true, heads: .classes)
        XCTAssertNil(only.mask)
        assertClose(try XCTUnwrap(only.classLogits), try XCTUnwrap(both.classLogits), atol: 1e-6, rtol: 1e-6)
        // The backward reaches the encoder's weights and leaves the decoder's gradients at zero.
        model.network.zeroGradients()
        model.backward(maskGradient: nil, classGradient: randomTensor([2, 2], seed: 5))
        let grads = Dictionary(uniqueKeysWithValues: model.network.namedParameters.map { ($0.name, $0.parameter.grad) })
        XCTAssertGreaterThan(grads["enc1.conv1.weight"]!.array.map(abs).max()!, 0)
        XCTAssertEqual(grads["dec1.conv1.weight"]!.array.map(abs).max()!, 0)
    }
}

extension ModelTests {
    /// The training step's backward skips the input gradient but must leave every parameter gradient exactly as
    /// the full backward computes it, on both convolution paths (im2col for the 1-channel first layer, Winograd
    /// for the wide ones).
    func testParameterOnlyBackwardGivesTheSameGradients() throws {
        let model = try Model.build(
            ModelConfig(architecture: .unet, inputShape: [1, 24, 24], seed: 5, depth: 2, filters: 8))
        let x = randomTensor([2, 1, 24, 24], seed: 6)
        let g = randomTensor([2, 1, 24, 24], seed: 7)
        func gradients(full: Bool) throws -> [[Float]] {
            model.network.zeroGradients()
            _ = try model.forward(x, training: true)
            if full {
                model.backward(maskGradient: g, classGradient: nil)
            } else {
                model.backwardParameters(maskGradient: g, classGradient: nil)
            }
            return model.network.namedParameters.map(\.parameter.grad.array)
        }
        let full = try gradients(full: true), parametersOnly = try gradients(full: false)
        XCTAssertEqual(full.count, parametersOnly.count)
        for (a, b) in zip(full, parametersOnly) { XCTAssertEqual(a, b) }
        XCTAssertGreaterThan(full[0].map(abs).max()!, 0)
    }
    /// ReLUs fused into the convolutions before them (`Network.fuseActivations`, which `Model.build` runs) give the
    /// bits of the separate layers, forward and backward, on the Winograd and the im2col paths.
    func testFusedReLUsGiveTheUnfusedBits() throws {
        let model = try Model.build(
            ModelConfig(architecture: .unet, inputShape: [1, 24, 24], seed: 5, depth: 2, filters: 8))
        let pairs = model.network.nodes.compactMap { node -> (Conv2D, ReLU)? in
            guard let relu = node.layer as? ReLU, let j = node.inputs.first, j >= 0,
                let conv = model.network.nodes[j].layer as? Conv2D
            else { return nil }
            return (conv, relu)
        }
        XCTAssertEqual(
            pairs.count, 10,
            "two convolution-ReLU pairs in each of 2 encoder blocks, the bottleneck and 2 decoder blocks")
        XCTAssertTrue(pairs.allSatisfy { $0.0.rectifiesOutput && $0.1.inputIsRectified })
        XCTAssertTrue(
            pairs.contains { $0.0.usesWinograd([2, $0.0.inputChannels, 24, 24]) }, "a Winograd layer is fused")
        let x = randomTensor([2, 1, 24, 24], seed: 6)
        let g = randomTensor([2, 1, 24, 24], seed: 7)
        func run() throws -> ([Float], [[Float]]) {
            model.network.zeroGradients()
            let out = try model.forward(x, training: true)
            model.backwardParameters(maskGradient: g, classGradient: nil)
            return (out.mask!.array, model.network.parameters.map(\.grad.array))
        }
        let fused = try run()
        for (conv, relu) in pairs { conv.rectifiesOutput = false; relu.inputIsRectified = false }
        let separate = try run()
        XCTAssertEqual(fused.0, separate.0, "outputs")
        for (a, b) in zip(fused.1, separate.1) { XCTAssertEqual(a, b, "parameter gradients") }
    }

    func testFusionSkipsAConvolutionWithTwoReadersOrThatIsAnOutput() {
        var rng = RandomGenerator(seed: 1)
        let net = Network()
        let c1 = net.add("c1", Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3, rng: &rng), Network.input)
        let r1 = net.add("r1", ReLU(), c1)
        let r2 = net.add("r2", ReLU(), c1)  // c1 has two readers
        let cat = net.add("cat", Concatenate(), r1, r2)
        let c2 = net.add("c2", Conv2D(inputChannels: 4, outputChannels: 1, kernelSize: 3, rng: &rng), cat)
        net.add("r3", ReLU(), c2)
        net.outputs = [c2, 5]  // c2 is itself an output
        net.fuseActivations()
        for node in net.nodes {
            if let conv = node.layer as? Conv2D { XCTAssertFalse(conv.rectifiesOutput, node.name) }
            if let relu = node.layer as? ReLU { XCTAssertFalse(relu.inputIsRectified, node.name) }
        }
    }

    /// The profile charges each node's forward and backward with what its counter advanced by meanwhile: here a
    /// counter that advances by one per reading, so each node that ran shows exactly 1, and nodes that did not run
    /// (no backward in inference) show 0.
    func testProfileCountsPerNode() {
        var rng = RandomGenerator(seed: 1)
        let net = Network()
        let c = net.add("c", Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3, rng: &rng), Network.input)
        net.add("r", ReLU(), c)
        net.outputs = [1]
        let profile = NetworkProfile(nodeCount: 2)
        var readings = 0
        profile.allocationCount = {
            readings += 1; return readings
        }
        net.profile = profile
        let x = Tensor(shape: [1, 1, 5, 5], repeating: 0.5)
        let y = net.forward(x, training: true)[0]
        net.backwardParameters([Tensor(shape: y.shape, repeating: 1)])
        _ = net.forward(x, training: false)
        XCTAssertEqual(profile.forwardAllocations, [2, 2])
        XCTAssertEqual(profile.backwardAllocations, [1, 1])
        XCTAssertEqual(readings, 12)
        XCTAssertTrue(profile.forwardSeconds.allSatisfy { $0 >= 0 })
        XCTAssertTrue(profile.backwardSeconds.allSatisfy { $0 >= 0 })
    }
}
