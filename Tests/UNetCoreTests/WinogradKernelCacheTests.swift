import TestSupport
import XCTest

@testable import UNetCore

/// Inference keeps Winograd's transformed kernels between calls (`WinogradKernelCache`), and every writer of the
/// weights makes them stale (`Parameter.version`): an optimizer step, a checkpoint load, restoring the best weights.
/// A training forward transforms the kernels afresh each time, so its output is the reference for a fresh transform.
final class WinogradKernelCacheTests: XCTestCase {
    /// These layers are small enough for the direct kernels (`SmallConvolutionTests`), which keep no transformed
    /// kernels: off here, so they take Winograd.
    override func setUp() {
        super.setUp()
        ConvolutionAlgorithms.directEnabled = false
    }

    override func tearDown() {
        ConvolutionAlgorithms.directEnabled = true
        super.tearDown()
    }

    func winogradLayer(seed: UInt64) -> Conv2D {
        var rng = RandomGenerator(seed: seed)
        return Conv2D(inputChannels: 16, outputChannels: 12, kernelSize: 3, rng: &rng)
    }

    func testInferenceTransformsTheKernelsOnceAndGivesTheFreshResult() {
        let conv = winogradLayer(seed: 1)
        let x = randomTensor([1, 16, 20, 20], seed: 2)
        XCTAssertTrue(conv.usesWinograd(x.shape))
        let first = conv.forward(x, training: false).array
        let second = conv.forward(x, training: false).array
        XCTAssertEqual(conv.winogradKernels.transformCount, 1, "the second inference call reuses the kernels")
        XCTAssertEqual(first, second)
        XCTAssertEqual(conv.forward(x, training: true).array, first, "kept kernels give the bits of fresh ones")
        XCTAssertEqual(conv.winogradKernels.transformCount, 1, "training forwards do not touch the cache")
    }

    func testAnOptimizerStepMakesTheKeptKernelsStale() {
        let conv = winogradLayer(seed: 3)
        let x = randomTensor([1, 16, 20, 20], seed: 4)
        let before = conv.forward(x, training: false).array
        _ = conv.forward(x, training: true)
        _ = conv.backward(randomTensor([1, 12, 20, 20], seed: 5))
        Optimizer(kind: .sgd, learningRate: 0.1).step(conv.parameters)
        let after = conv.forward(x, training: false).array
        XCTAssertEqual(conv.winogradKernels.transformCount, 2)
        XCTAssertNotEqual(after, before)
        XCTAssertEqual(after, conv.forward(x, training: true).array, "the step's new weights, not the old kernels")
    }

    func testACheckpointLoadIntoTheModelMakesTheKeptKernelsStale() throws {
        func model(seed: UInt64) throws -> Model {
            try Model.build(
                ModelConfig(
                    architecture: .unet, inputShape: [1, 32, 32], seed: seed, depth: 2,
                    filters: 8))
        }
        let (a, b) = (try model(seed: 1), try model(seed: 2))
        let x = randomTensor([1, 1, 32, 32], seed: 6)
        let convs = a.network.nodes.compactMap { $0.layer as? Conv2D }
        _ = try a.forward(x, training: false)
        XCTAssertTrue(convs.contains { $0.winogradKernels.transformCount == 1 }, "some layer takes Winograd")
        let st = try Checkpoint.make(model: b, optimizer: nil)
        try Checkpoint.copyWeights(from: st, into: a, path: "b")
        let loaded = try XCTUnwrap(try a.forward(x, training: false).mask).array
        XCTAssertEqual(loaded, try XCTUnwrap(try b.forward(x, training: false).mask).array)
    }

    func testNoteWeightsChangedBumpsEveryParameter() throws {
        let m = try Model.build(ModelConfig(architecture: .unet, inputShape: [1, 16, 16], depth: 2, filters: 8))
        let versions = m.network.parameters.map(\.version)
        m.network.noteWeightsChanged()
        XCTAssertTrue(zip(versions, m.network.parameters.map(\.version)).allSatisfy { $0 < $1 })
    }
}
