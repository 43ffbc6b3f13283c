import TestSupport
import XCTest

@testable import UNetCore

/// `Network`'s inference folds (Conv → BatchNorm → ReLU as one convolution, `Conv2D.forwardFoldingBatchNorm`):
/// the same outputs as running the three layers, to rounding, on every convolution path (direct, Winograd,
/// im2col with the bias row, a pointwise GEMM), with and without a bias, and after the weights and running
/// statistics change (the folded kernels and their Winograd transforms are remade).
final class BatchNormFoldingTests: XCTestCase {
    override func tearDown() {
        Network.foldsBatchNorm = true
        Network.fusesBatchNormReLU = true
        ConvolutionAlgorithms.directEnabled = true
        ConvolutionAlgorithms.winogradEnabled = true
    }

    /// conv a (3 → 8, bias) → BN → ReLU → conv b (8 → 12, no bias) → BN → conv c (1x1, 12 → 5) → BN → ReLU, and a
    /// BN read twice (by a ReLU and by the output Add), which must not fold its ReLU.
    func makeNetwork() -> (Network, [BatchNorm], [Conv2D]) {
        var rng = RandomGenerator(seed: 31)
        let net = Network()
        let a = Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 3, rng: &rng)
        let b = Conv2D(inputChannels: 8, outputChannels: 12, kernelSize: 3, useBias: false, rng: &rng)
        let c = Conv2D(inputChannels: 12, outputChannels: 5, kernelSize: 1, rng: &rng)
        let d = Conv2D(inputChannels: 5, outputChannels: 5, kernelSize: 3, rng: &rng)
        let bns = [8, 12, 5, 5].map { BatchNorm(channels: $0) }
        var x = net.add("a", a, Network.input)
        x = net.add("a.bn", bns[0], x)
        x = net.add("a.relu", ReLU(), x)
        x = net.add("b", b, x)
        x = net.add("b.bn", bns[1], x)
        x = net.add("c", c, x)
        x = net.add("c.bn", bns[2], x)
        x = net.add("c.relu", ReLU(), x)
        x = net.add("d", d, x)
        let shared = net.add("d.bn", bns[3], x)
        let r = net.add("d.relu", ReLU(), shared)
        net.outputs = [net.add("sum", Add(), r, shared)]
        for (k, bn) in bns.enumerated() {
            let s = UInt64(40 + 4 * k)
            bn.weight.value.assign(randomTensor([bn.channels], seed: s, low: 0.5, high: 1.5))
            bn.bias.value.assign(randomTensor([bn.channels], seed: s + 1))
            bn.runningMean.assign(randomTensor([bn.channels], seed: s + 2, low: -0.3, high: 0.3))
            bn.runningVar.assign(randomTensor([bn.channels], seed: s + 3, low: 0.2, high: 2))
        }
        return (net, bns, [a, b, c, d])
    }

    func inference(_ net: Network, _ x: Tensor, folding: Bool) -> [Float] {
        Network.foldsBatchNorm = folding
        net.tap = nil  // drops the plan, so the flag takes effect
        return net.forward(x, training: false)[0].array
    }

    func assertClose(
        _ got: [Float], _ want: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        var worst: Float = 0
        for (g, w) in zip(got, want) { worst = max(worst, abs(g - w) / (1 + abs(w))) }
        XCTAssertLessThanOrEqual(worst, 2e-5, what, file: file, line: line)
        XCTAssertGreaterThan(want.map { abs($0) }.max() ?? 0, 0.1, what, file: file, line: line)
    }

    func testFoldedInferenceMatchesTheLayersOnEveryConvolutionPath() {
        let paths: [(String, Bool, Bool)] = [
            ("direct", true, true), ("Winograd and im2col", false, true), ("im2col and GEMM", false, false),
        ]
        for (name, direct, winograd) in paths {
            ConvolutionAlgorithms.directEnabled = direct
            ConvolutionAlgorithms.winogradEnabled = winograd
            let (net, bns, convs) = makeNetwork()
            let x = randomTensor([2, 3, 16, 16], seed: 7)
            let layers = inference(net, x, folding: false)
            XCTAssertEqual(net.inferenceFoldCount, 0, name)
            let folded = inference(net, x, folding: true)
            XCTAssertEqual(net.inferenceFoldCount, 4, "\(name): a, b, c and d fold their BatchNorms")
            XCTAssertEqual(net.inferenceRectifyingFoldCount, 2, "\(name): a's and c's ReLUs; d's BN has two readers")
            assertClose(folded, layers, "\(name): first inference")
            XCTAssertEqual(inference(net, x, folding: true), folded, "\(name): a second folded inference repeats")

            // A training forward (new running statistics) and changed weights: the next fold sees both.
            _ = net.forward(randomTensor([2, 3, 16, 16], seed: 8), training: true)
            for conv in convs {
                for e in 0..<conv.weight.value.count { conv.weight.value[e] *= 1.25 }
                conv.weight.noteValueChanged()
            }
            bns[1].bias.value[0] += 0.5
            let foldedAfter = inference(net, x, folding: true)
            assertClose(foldedAfter, inference(net, x, folding: false), "\(name): after a step")
            XCTAssertNotEqual(foldedAfter, folded, "\(name): the step changed the outputs")
        }
    }

    /// Training forwards run every layer: the same bits with the folds planned or not.
    func testTrainingForwardIsUnchanged() {
        func run(folding: Bool) -> [Float] {
            Network.foldsBatchNorm = folding
            let (net, _, _) = makeNetwork()
            return net.forward(randomTensor([2, 3, 16, 16], seed: 9), training: true)[0].array
        }
        XCTAssertEqual(run(folding: true).map(\.bitPattern), run(folding: false).map(\.bitPattern))
    }

    /// A tapped node (Grad-CAM's activation) gets its own output: a tapped convolution folds nothing, a tapped
    /// BatchNorm folds into its convolution but keeps its ReLU apart, and the tap holds what the layers give.
    func testTappedNodesKeepTheirOutputs() {
        let (net, _, _) = makeNetwork()
        let x = randomTensor([1, 3, 16, 16], seed: 10)
        net.tap = 0  // conv a
        _ = net.forward(x, training: false)
        XCTAssertEqual(net.inferenceFoldCount, 3)
        for folding in [false, true] {
            Network.foldsBatchNorm = folding
            net.tap = 1  // a.bn
            _ = net.forward(x, training: false)
            XCTAssertEqual(net.inferenceFoldCount, folding ? 4 : 0)
            XCTAssertEqual(net.inferenceRectifyingFoldCount, folding ? 1 : 0, "c's ReLU alone")
            if folding { assertClose(net.tappedOutput!.array, unfoldedTap, "the tapped BatchNorm") }
            unfoldedTap = net.tappedOutput!.array
            XCTAssertTrue(unfoldedTap.contains { $0 < 0 }, "a BatchNorm's output, not rectified")
        }
    }
    /// BatchNorm → ReLU fused (`BatchNorm.rectifiesOutput`) gives the same bits as the two layers: three Adam
    /// steps of a BatchNorm U-Net (losses, weights, running statistics), then an inference forward; a ReLU after a
    /// BatchNorm read twice (d.bn, by the ReLU and the Add) is not fused.
    func testBatchNormReLUFusionGivesTheSameBits() throws {
        let config = ModelConfig(
            architecture: .unet, inputShape: [1, 20, 28], seed: 15, depth: 2, filters: 4, batchNorm: true)
        func run(fused: Bool) throws -> [[UInt32]] {
            Network.fusesBatchNormReLU = fused
            let model = try Model.build(config)
            let images = randomTensor([3, 1, 20, 28], seed: 16, low: 0, high: 1)
            let m = randomTensor([3, 1, 20, 28], seed: 17, low: 0, high: 1)
            for i in 0..<m.count { m[i] = m[i] > 0.5 ? 1 : 0 }
            var trainingConfig = TrainingConfig()
            trainingConfig.batchSize = 3
            let trainer = Trainer(model: model, config: trainingConfig)
            var losses: [Float] = []
            for _ in 0..<3 { losses.append(try trainer.trainStep(Batch(images: images, masks: m)).loss) }
            let bns = model.network.nodes.compactMap { $0.layer as? BatchNorm }
            XCTAssertEqual(bns.filter(\.rectifiesOutput).count, fused ? bns.count : 0, "every BatchNorm has its ReLU")
            let out = try model.forward(images, training: false).mask!.array
            return [
                losses.map(\.bitPattern), model.network.parameters.flatMap { $0.value.array }.map(\.bitPattern),
                model.network.buffers.flatMap { $0.array }.map(\.bitPattern), out.map(\.bitPattern),
            ]
        }
        let (fused, apart) = (try run(fused: true), try run(fused: false))
        for (k, what) in ["losses", "weights", "running statistics", "inference"].enumerated() {
            XCTAssertEqual(fused[k], apart[k], what)
        }
        Network.fusesBatchNormReLU = true
        let (net, bns, _) = makeNetwork()
        _ = net.forward(randomTensor([1, 3, 16, 16], seed: 18), training: true)
        XCTAssertEqual(bns.map(\.rectifiesOutput), [true, false, true, false], "a and c; b has no ReLU, d two readers")
    }

    private var unfoldedTap: [Float] = []
}
