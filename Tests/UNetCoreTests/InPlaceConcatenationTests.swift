import TestSupport
import XCTest

@testable import UNetCore

/// `Network`'s in-place concatenation (an upsampling or transposed convolution writing straight into its skip
/// concatenation's buffer, and reading its gradient from the concatenation's): the same bits as copying, in
/// training steps (losses, weights after Adam) and inference, for every producer the U-Nets use; and less memory.
final class InPlaceConcatenationTests: XCTestCase {
    override func tearDown() { Network.concatenatesInPlace = true; Network.keepsSignBits = true }

    /// The architectures with a producer before each concatenation: transposed convolutions (with BatchNorm and
    /// a class head on the bottleneck), nearest and bilinear upsampling, and the reference classifier.
    let configs = [
        ModelConfig(
            architecture: .unet, inputShape: [1, 32, 32], seed: 5, depth: 2, filters: 4, batchNorm: true,
            classificationHead: 2),
        ModelConfig(
            architecture: .unet, inputShape: [2, 32, 32], seed: 6, depth: 3, filters: 4, upsampling: .nearest),
        ModelConfig(
            architecture: .unet, inputShape: [1, 24, 40], seed: 7, depth: 2, filters: 4, upsampling: .bilinear),
        ModelConfig(architecture: .unetClassifier, inputShape: [3, 16, 16], seed: 8),
    ]

    func batch(_ model: Model, _ config: ModelConfig, count: Int) -> Batch {
        let images = randomTensor([count] + config.inputShape, seed: 11, low: 0, high: 1)
        if model.classHead != nil && model.maskHead == nil {
            return Batch(images: images, labels: (0..<count).map { $0 % 2 })
        }
        let m = randomTensor([count, 1] + Array(config.inputShape.dropFirst()), seed: 12, low: 0, high: 1)
        for i in 0..<m.count { m[i] = m[i] > 0.5 ? 1 : 0 }
        return Batch(images: images, masks: m, labels: model.classHead == nil ? nil : (0..<count).map { $0 % 2 })
    }

    /// Three Adam steps and an inference forward, with in-place concatenation on or off: losses, every weight and
    /// every output, as bits.
    func run(_ config: ModelConfig, inPlace: Bool) throws -> (losses: [Float], weights: [Float], outputs: [Float]) {
        Network.concatenatesInPlace = inPlace
        let model = try Model.build(config)
        let b = batch(model, config, count: 3)
        var trainingConfig = TrainingConfig()
        trainingConfig.batchSize = 3
        let trainer = Trainer(model: model, config: trainingConfig)
        var losses: [Float] = []
        for _ in 0..<3 { losses.append(try trainer.trainStep(b).loss) }
        let out = try model.forward(b.images, training: false)
        let outputs = [out.mask, out.classLogits].compactMap { $0 }.flatMap { $0.array }
        XCTAssertEqual(
            model.network.inPlaceConcatenationCount,
            inPlace ? (config.architecture == .unetClassifier ? 2 : config.integer("depth")) : 0,
            "\(config.architecture.rawValue): concatenations planned in place")
        return (losses, model.network.parameters.flatMap { $0.value.array }, outputs)
    }

    func testInPlaceGivesTheSameBitsAsCopying() throws {
        for config in configs {
            let name = "\(config.architecture.rawValue) \(config.inputShape)"
            let copied = try run(config, inPlace: false)
            let inPlace = try run(config, inPlace: true)
            XCTAssertEqual(inPlace.losses.map(\.bitPattern), copied.losses.map(\.bitPattern), "\(name): losses")
            XCTAssertEqual(inPlace.weights.map(\.bitPattern), copied.weights.map(\.bitPattern), "\(name): weights")
            XCTAssertEqual(inPlace.outputs.map(\.bitPattern), copied.outputs.map(\.bitPattern), "\(name): outputs")
            XCTAssertTrue(copied.losses.allSatisfy(\.isFinite), name)
        }
    }

    /// The encoder skips' ReLUs keeping sign bits instead of their outputs (`ReLU.keepsSignBits`): the same bits
    /// as keeping the outputs, over three Adam steps (odd sizes, so the last word of bits is partial).
    func testSignBitsGiveTheSameBitsAsKeptOutputs() throws {
        let odd = ModelConfig(architecture: .unet, inputShape: [1, 20, 28], seed: 14, depth: 2, filters: 3)
        for config in configs + [odd] {
            let name = "\(config.architecture.rawValue) \(config.inputShape)"
            Network.keepsSignBits = false
            let kept = try run(config, inPlace: true)
            Network.keepsSignBits = true
            let bits = try run(config, inPlace: true)
            XCTAssertEqual(bits.losses.map(\.bitPattern), kept.losses.map(\.bitPattern), "\(name): losses")
            XCTAssertEqual(bits.weights.map(\.bitPattern), kept.weights.map(\.bitPattern), "\(name): weights")
            XCTAssertEqual(bits.outputs.map(\.bitPattern), kept.outputs.map(\.bitPattern), "\(name): outputs")
        }
    }

    /// Which ReLUs keep sign bits: those read by upsamplings (which keep a shape) too, in the nearest and bilinear
    /// U-Nets and the classifier; not those read by a transposed convolution, which keeps its input.
    func testReLUsBeforeUpsamplingsKeepSignBitsAndBeforeTransposedConvolutionsDoNot() throws {
        for config in configs {
            let model = try Model.build(config)
            let trainer = Trainer(model: model, config: TrainingConfig())
            _ = try trainer.trainStep(batch(model, config, count: 2))
            let nodes = model.network.nodes
            var checked = 0
            for node in nodes where node.layer is UpSampling2D || node.layer is ConvTranspose2D {
                let relu = try XCTUnwrap(nodes[node.inputs[0]].layer as? ReLU, "\(node.name) reads a ReLU")
                XCTAssertEqual(
                    relu.keepsSignBits, node.layer is UpSampling2D, "\(nodes[node.inputs[0]].name) before \(node.name)")
                checked += 1
            }
            XCTAssertGreaterThan(checked, 0, config.architecture.rawValue)
        }
    }

    /// The input gradient too (what Grad-CAM and the gradient checks read), through a hand-built graph whose
    /// concatenation takes a transposed convolution first and the network input's convolution second.
    func testInputGradientIsTheSame() {
        func gradient(inPlace: Bool) -> (y: [Float], dx: [Float], dw: [Float]) {
            Network.concatenatesInPlace = inPlace
            var rng = RandomGenerator(seed: 21)
            let net = Network()
            let a = net.add("a", Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, rng: &rng), Network.input)
            let p = net.add("pool", MaxPool2D(), a)
            let up = net.add(
                "up", ConvTranspose2D(inputChannels: 3, outputChannels: 2, initializer: .heNormal, rng: &rng), p)
            let cat = net.add("cat", Concatenate(), up, a)
            net.outputs = [net.add("b", Conv2D(inputChannels: 5, outputChannels: 2, kernelSize: 3, rng: &rng), cat)]
            let x = randomTensor([2, 2, 8, 6], seed: 22)
            let y = net.forward(x, training: true)[0]
            XCTAssertEqual(net.inPlaceConcatenationCount, inPlace ? 1 : 0)
            net.zeroGradients()
            let dx = net.backward([randomTensor(y.shape, seed: 23)])
            return (y.array, dx.array, net.parameters.flatMap { $0.grad.array })
        }
        let (copied, inPlace) = (gradient(inPlace: false), gradient(inPlace: true))
        XCTAssertEqual(inPlace.y.map(\.bitPattern), copied.y.map(\.bitPattern))
        XCTAssertEqual(inPlace.dx.map(\.bitPattern), copied.dx.map(\.bitPattern))
        XCTAssertEqual(inPlace.dw.map(\.bitPattern), copied.dw.map(\.bitPattern))
        XCTAssertGreaterThan(copied.dx.map { abs($0) }.max() ?? 0, 0, "a gradient reached the input")
    }

    /// The point of it: the classifier's inference holds its upsampled tensors no more (at 64x64, batch 2, the
    /// 128-channel upsampling at full size is 4 MiB, live beside its 192-channel concatenation; the peak falls by
    /// 2.3 MiB in a release build, the calls' scratch from the region being live at the peak too).
    func testInferencePeakIsLower() throws {
        func peak(inPlace: Bool) throws -> Int {
            Network.concatenatesInPlace = inPlace
            let config = ModelConfig(architecture: .unetClassifier, inputShape: [1, 64, 64], seed: 9)
            let model = try Model.build(config)
            let x = randomTensor([2, 1, 64, 64], seed: 13)
            _ = try model.forward(x, training: false)
            TensorRecycler.collect()
            TensorStorage.resetPeak()
            _ = try model.forward(x, training: false)
            return TensorStorage.peakLiveByteCount - TensorStorage.liveByteCount
        }
        let (copied, inPlace) = (try peak(inPlace: false), try peak(inPlace: true))
        XCTAssertLessThanOrEqual(inPlace, copied - (1 << 20), "peak \(inPlace) vs \(copied) bytes")
    }
}
