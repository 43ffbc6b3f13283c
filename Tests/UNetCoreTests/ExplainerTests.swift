import TestSupport
import XCTest

@testable import UNetCore

/// `Explainer`: the gradients it reads (of the input and of an intermediate activation, in evaluation mode) by
/// finite differences, the model left bit for bit as it was, the default layers, `class_map` against the head it
/// reads, and integrated gradients' completeness.
final class ExplainerTests: XCTestCase {
    /// A unet with BatchNorm, dropout and a two-class head whose running statistics are off their defaults.
    func trainedStatisticsUNet() throws -> Model {
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 16, 16], seed: 3, depth: 2,
                filters: 4, batchNorm: true, classificationHead: 2, dropout: 0.3))
        for s in 0..<3 {
            _ = try model.forward(randomTensor([1, 1, 16, 16], seed: 40 + UInt64(s)), training: true)
            model.network.releaseCaches()
        }
        return model
    }

    /// The class logit of `target` in an evaluation forward.
    func evaluationScore(_ model: Model, _ x: Tensor, _ target: Int) -> Double {
        Double((try! model.forward(x, training: false, heads: .classes)).classLogits!.data[target])
    }

    func testInputGradientIsTheEvaluationFunctionsGradient() throws {
        let model = try trainedStatisticsUNet()
        let x = randomTensor([1, 1, 16, 16], seed: 7)
        let g = try Explainer(model: model).scoreGradients(x, [1])
        XCTAssertEqual(g.targets, [1])
        XCTAssertEqual(Double(g.scores[0]), evaluationScore(model, x, 1), accuracy: 1e-5)
        // A piecewise-linear function: a coordinate whose ±ε crosses a ReLU or max-pool kink would disagree, and at
        // this seed none of the 40 does.
        GradientCheck(epsilon: 1e-3, maxPoints: 40).compare(x, g.input, { evaluationScore(model, x, 1) }, "dS/dx")
    }

    /// The identity plus a perturbation δ: dS/dδ is dS/dA for the activation A it passes on.
    final class Offset: UnaryLayer {
        let kind = "Offset"
        let delta: Tensor
        init(_ shape: [Int]) { delta = Tensor(zeros: shape) }
        func outputShape(_ s: [Int]) throws -> [Int] { s }
        func forward(_ x: Tensor, training: Bool) -> Tensor {
            let y = x.copy()
            y.add(delta)
            return y
        }
        func backward(_ dy: Tensor) -> Tensor { dy.copy() }
        func releaseCache() {}
    }

    /// A hand-built network, conv → BatchNorm → ReLU → A → conv → ReLU → pool → dense: the tapped activation's
    /// gradient against finite differences of a perturbation added to A.
    func testTappedActivationGradientMatchesFiniteDifferences() throws {
        var rng = RandomGenerator(seed: 5)
        let net = Network()
        var x = net.add("conv1", Conv2D(inputChannels: 1, outputChannels: 3, kernelSize: 3, rng: &rng), Network.input)
        let bn = BatchNorm(channels: 3)
        for c in 0..<3 { bn.runningMean[c] = 0.1 * Float(c); bn.runningVar[c] = 0.5 + Float(c) }
        x = net.add("bn1", bn, x)
        x = net.add("relu1", ReLU(), x)
        let offset = Offset([1, 3, 8, 8])
        let a = net.add("feature", offset, x)
        x = net.add("conv2", Conv2D(inputChannels: 3, outputChannels: 4, kernelSize: 3, rng: &rng), a)
        x = net.add("relu2", ReLU(), x)
        x = net.add("pool", GlobalAveragePooling2D(), x)
        x = net.add("dense", Dense(inputFeatures: 4, outputFeatures: 2, rng: &rng), x)
        net.outputs = [x]
        let model = Model(
            config: ModelConfig(architecture: .unet, inputShape: [1, 8, 8]), network: net,
            heads: [ModelHead(name: "class", kind: .classes, channels: 2, activation: .softmax, output: 0)],
            padMultiple: 1, fixedSize: true)
        let input = randomTensor([1, 1, 8, 8], seed: 8)
        let explainer = Explainer(model: model)
        XCTAssertEqual(explainer.layers, ["conv1", "bn1", "relu1", "feature", "conv2", "relu2"])
        let g = try explainer.scoreGradients(input, [0], tap: a)
        XCTAssertEqual(g.activation?.shape, [1, 3, 8, 8])
        GradientCheck(epsilon: 1e-3, maxPoints: 60).compare(
            offset.delta, g.activationGradient!,
            { evaluationScore(model, input, 0) }, "dS/dA")
        XCTAssertEqual(bn.runningVar[2], 2.5, "running statistics untouched")
    }

    /// Every method leaves weights, BatchNorm statistics, dropout generators and gradients bit for bit.
    func testExplainingChangesNothingInTheModel() throws {
        let model = try trainedStatisticsUNet()
        model.network.parameters.forEach { p in for i in 0..<p.grad.count { p.grad[i] = Float(i % 7) } }
        func state() -> [[UInt32]] {
            var all: [[UInt32]] = model.network.parameters.map { $0.value.array.map(\.bitPattern) }
            all += model.network.parameters.map { $0.grad.array.map(\.bitPattern) }
            all += model.network.buffers.map { $0.array.map(\.bitPattern) }
            for node in model.network.nodes {
                guard let s = (node.layer as? StochasticLayer)?.rng.state else { continue }
                all.append([s.0, s.1, s.2, s.3].map { UInt32(truncatingIfNeeded: $0) })
            }
            return all
        }
        let before = state()
        let x = randomTensor([2, 1, 16, 16], seed: 9)
        let explainer = Explainer(model: model)
        for method in ExplanationMethod.allCases where method != .classMap {
            _ = try explainer.explain(
                x, targets: [nil, 1], options: ExplanationOptions(method: method, samples: 2, steps: 2))
            XCTAssertEqual(state(), before, method.rawValue)
        }
    }

    func testDefaultLayerIsTheDeepestEncoderFeature() throws {
        let unet = try trainedStatisticsUNet()
        XCTAssertEqual(Explainer(model: unet).defaultLayer, "bottleneck.dropout")
        XCTAssertFalse(Explainer(model: unet).layers.contains { $0.hasPrefix("dec") || $0 == "head" })
        let plain = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 16, 16], depth: 2, filters: 2,
                classificationHead: 1))
        XCTAssertEqual(Explainer(model: plain).defaultLayer, "bottleneck.relu2")
        let classifier = try Model.build(ModelConfig(architecture: .unetClassifier, inputShape: [1, 8, 8], classes: 2))
        XCTAssertEqual(Explainer(model: classifier).defaultLayer, "block3.relu2")
        let noHead = try Model.build(ModelConfig(architecture: .unet, inputShape: [1, 16, 16], depth: 2, filters: 2))
        XCTAssertThrowsError(try Explainer(model: noHead).classCount(for: .gradcam))
        XCTAssertThrowsError(try Explainer(model: noHead).classCount(for: .classMap))
    }

    /// A model whose class head pools its own logit map (as the Eff-UNet's does): the spatial mean of the map
    /// `class_map` reads is what the head outputs, and the map is that map's per-pixel softmax.
    func testClassMapReadsTheLogitMapTheHeadPools() throws {
        var rng = RandomGenerator(seed: 6)
        let (net, logits) = logitMapNetwork(channels: 3, rng: &rng)
        net.outputs = [logits, net.add("pool", GlobalAveragePooling2D(), logits)]
        let model = logitMapModel(net, maskChannels: 3, classes: 3)
        let input = randomTensor([2, 1, 8, 8], seed: 10)
        let explainer = Explainer(model: model)
        let source = try explainer.logitMapSource()
        XCTAssertEqual(source.node, logits)
        let (map, head) = try explainer.logitMap(input, source)
        assertSpatialMeans(of: map, equal: head!)
        let e = try explainer.explain(input, targets: [2, nil], options: ExplanationOptions(method: .classMap))
        XCTAssertEqual(e.layer, "logits")
        XCTAssertEqual(e.targets[0], 2)
        let z = (0..<3).map { map.data[(0 * 3 + $0) * 64 + 10] }
        let softmax = exp(z[2]) / z.map { exp($0) }.reduce(0, +)
        XCTAssertEqual(e.maps.data[10], softmax, accuracy: 1e-5)
    }

    /// conv 3x3 (1 -> 4), ReLU, then a 1x1 convolution to `channels` per-pixel logits (the node returned).
    private func logitMapNetwork(channels: Int, rng: inout RandomGenerator) -> (Network, Int) {
        let net = Network()
        var x = net.add("conv", Conv2D(inputChannels: 1, outputChannels: 4, kernelSize: 3, rng: &rng), Network.input)
        x = net.add("relu", ReLU(), x)
        return (net, net.add("logits", Conv2D(inputChannels: 4, outputChannels: channels, kernelSize: 1, rng: &rng), x))
    }

    /// An 8x8 model of `net` whose outputs are [mask, class logits].
    private func logitMapModel(_ net: Network, maskChannels: Int, classes: Int) -> Model {
        Model(
            config: ModelConfig(architecture: .unet, inputShape: [1, 8, 8]), network: net,
            heads: [
                .mask(channels: maskChannels, output: 0),
                ModelHead(name: "class", kind: .classes, channels: classes, activation: .softmax, output: 1),
            ],
            padMultiple: 1, fixedSize: false)
    }

    /// Each (image, class) plane of `map` averages to that image's class logit in `head`.
    private func assertSpatialMeans(
        of map: Tensor, equal head: Tensor, file: StaticString = #filePath, line: UInt = #line
    ) {
        let (n, k, plane) = (map.shape[0], map.shape[1], map.shape[2] * map.shape[3])
        for i in 0..<n {
            for c in 0..<k {
                let values = UnsafeBufferPointer(start: map.data + (i * k + c) * plane, count: plane)
                XCTAssertEqual(
                    values.reduce(0, +) / Float(plane), head.data[i * k + c], accuracy: 1e-5, file: file, line: line)
            }
        }
    }

    /// The Eff-UNet's "mask" head (global average pool -> Dropout -> Dense + softmax): `class_map` applies the
    /// Dense to every pixel of the pooled map, so the map's spatial mean is the head's logits (pooling and the
    /// Dense commute) and each pixel's probability is the softmax of W·m + b, not of the pooled map's own channels
    /// (which the Dense may swap: a trained eff-unet had its mask channel 1 highest on NORMAL images).
    func testClassMapAppliesTheHeadsDenseToEveryPixel() throws {
        var rng = RandomGenerator(seed: 7)
        let (net, mapNode) = logitMapNetwork(channels: 2, rng: &rng)
        var y = net.add("pool", GlobalAveragePooling2D(), mapNode)
        y = net.add("drop", Dropout(rate: 0.5, seed: 1), y)
        let dense = Dense(inputFeatures: 2, outputFeatures: 3, activation: .softmax, rng: &rng)
        net.outputs = [mapNode, net.add("dense", dense, y)]
        let model = logitMapModel(net, maskChannels: 2, classes: 3)
        let input = randomTensor([2, 1, 8, 8], seed: 12)
        let explainer = Explainer(model: model)
        let source = try explainer.logitMapSource()
        XCTAssertEqual(source.node, mapNode)
        XCTAssertTrue(source.dense === dense)
        XCTAssertEqual(source.classes, 3)
        let (map, head) = try explainer.logitMap(input, source)
        XCTAssertEqual(map.shape, [2, 3, 8, 8])
        assertSpatialMeans(of: map, equal: head!)
        // One pixel by hand: the pooled map's channels at pixel 10 of image 1, through W and b, then softmax.
        network: do {
            net.tap = mapNode
            defer { net.tap = nil }
            _ = try model.forward(input, training: false, heads: .classes)
            let m = net.tappedOutput!
            let (w, b) = (dense.weight.value.data, dense.bias.value.data)
            let channels = (0..<2).map { m.data[(1 * 2 + $0) * 64 + 10] }
            let z = (0..<3).map { k in b[k] + w[k * 2] * channels[0] + w[k * 2 + 1] * channels[1] }
            let e = try explainer.explain(input, targets: [0, 1], options: ExplanationOptions(method: .classMap))
            XCTAssertEqual(e.layer, "logits")
            let softmax = exp(z[1]) / z.map { exp($0) }.reduce(0, +)
            XCTAssertEqual(e.maps.data[64 + 10], softmax, accuracy: 1e-5)
            break network
        }
    }

    /// Integrated gradients: the attributions add up to S(x) - S(baseline), within 2% at 64 steps and 1% at 256 on
    /// this random-noise input (a rough path through many ReLU kinks; the PyTorch fixtures hold 1% at 64 steps on
    /// phantom images), and the scores are the evaluation forward's.
    func testIntegratedGradientsAreComplete() throws {
        let model = try trainedStatisticsUNet()
        let x = randomTensor([2, 1, 16, 16], seed: 11, low: 0, high: 1)
        for (steps, tolerance) in [(64, 0.02), (256, 0.01)] {
            let e = try Explainer(model: model).explain(
                x, targets: [0, 1],
                options: ExplanationOptions(
                    method: .integratedGradients, steps: steps))
            for n in 0..<2 {
                let difference = Double(e.scores[n] - e.baselineScores![n])
                XCTAssertEqual(e.attributionSums![n], difference, accuracy: tolerance * abs(difference) + 1e-6)
                XCTAssertEqual(
                    Double(e.scores[n]), evaluationScore(model, x.image(n), n, shape: [1, 1, 16, 16]),
                    accuracy: 1e-4)
            }
        }
    }

    func evaluationScore(_ model: Model, _ image: UnsafeMutablePointer<Float>, _ target: Int, shape: [Int]) -> Double {
        let x = Tensor(zeros: shape)
        x.data.update(from: image, count: x.count)
        return evaluationScore(model, x, target)
    }

    func testBilinearResizeMatchesPyTorchsHalfPixelRule() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode="bilinear")
        let t = Tensor(shape: [1, 1, 2, 2], values: [0, 1, 2, 3])
        let r = BilinearResize.resize(t, height: 4, width: 4)
        assertClose(r.array, [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3])
    }
}
