import Foundation
import TestSupport
import UNetCore
import XCTest

/// Checkpoints written before the architecture registry (commit 5490033) still load and give the same outputs.
///
/// Fixtures, made by that commit's code (`UNET_WRITE_LEGACY_FIXTURES=<dir> swift test --filter LegacyCheckpoint`
/// regenerates them with whatever the code is now, so only do that on purpose):
/// - `legacy_unet.safetensors`: a whole checkpoint, a unet (depth 2, 4 filters, BatchNorm, a 2-class head) at
///   1x32x32 after three Adam steps, so the BatchNorm statistics and the optimizer moments are not their
///   initial values; `legacy_unet_outputs.safetensors` holds a fixed input and its eval-mode mask and class logits.
/// - `legacy_unet_classifier.safetensors`: the unet-classifier's weights are 1.9 M floats whatever the input size
///   (its widths are fixed), too big to commit, so this file keeps what the old code wrote *except* the weights:
///   the checkpoint metadata verbatim, each state_dict name's shape and a checksum, a fixed 1x16x16 input and
///   its class logits. The weights come from the seed; the test rebuilds the checkpoint file from the metadata
///   and those weights (after checking them against the checksums) and loads it.
final class LegacyCheckpointTests: XCTestCase {
    static let unetConfig = ModelConfig(
        architecture: .unet, inputShape: [1, 32, 32], classes: 1, seed: 7, depth: 2,
        filters: 4, batchNorm: true, classificationHead: 2)
    static let classifierConfig = ModelConfig(architecture: .unetClassifier, inputShape: [1, 16, 16], seed: 11)

    func fixture(_ name: String) throws -> SafeTensors {
        try SafeTensors.read(path: try Golden.url(name, "safetensors").path)
    }

    /// Per-tensor checksum: [sum, sum of |x|, first, last].
    static func checksum(_ t: Tensor) -> Tensor {
        let a = t.array
        let sum = a.reduce(0.0) { $0 + Double($1) }, abs = a.reduce(0.0) { $0 + Double(Swift.abs($1)) }
        return Tensor(shape: [4], values: [Float(sum), Float(abs), a.first ?? 0, a.last ?? 0])
    }

    func testOldUNetCheckpointLoadsAndReproducesItsOutputs() throws {
        let contents = try Checkpoint.load(path: try Golden.url("legacy_unet", "safetensors").path, current: nil)
        let model = contents.model
        XCTAssertEqual(model.config, Self.unetConfig)
        XCTAssertEqual(model.parameterCount, 7_511)
        XCTAssertEqual(contents.optimizer?.stepCount, 3)
        let reference = try fixture("legacy_unet_outputs")
        let out = try model.forward(try XCTUnwrap(reference.tensors["input"]), training: false)
        assertClose(try XCTUnwrap(out.mask), try XCTUnwrap(reference.tensors["mask"]), atol: 1e-5, rtol: 1e-5)
        assertClose(try XCTUnwrap(out.classLogits), try XCTUnwrap(reference.tensors["class"]), atol: 1e-5, rtol: 1e-5)
    }

    func testOldUNetClassifierCheckpointLoadsAndReproducesItsOutputs() throws {
        let reference = try fixture("legacy_unet_classifier")
        // The weights the seed gives must be the old code's, name for name and shape for shape.
        let fresh = try Model.build(Self.classifierConfig)
        var file = SafeTensors()
        file.metadata = reference.metadata
        let names = fresh.network.namedParameters.map { ($0.name, $0.parameter.value) } + fresh.network.namedBuffers
        XCTAssertEqual(
            Set(names.map(\.0)),
            Set(
                reference.tensors.keys.filter { $0.hasPrefix("checksum.") }
                    .map { String($0.dropFirst("checksum.".count)) }))
        for (name, t) in names {
            XCTAssertEqual(reference.tensors["shape." + name]?.array.map(Int.init), t.shape, name)
            assertClose(Self.checksum(t), try XCTUnwrap(reference.tensors["checksum." + name]), atol: 1e-3, rtol: 1e-5)
            file.tensors[name] = t
        }
        let path = NSTemporaryDirectory() + "legacy-classifier-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try file.write(path: path)
        let model = try Checkpoint.load(path: path, current: nil).model
        XCTAssertEqual(model.config, Self.classifierConfig)
        XCTAssertEqual(model.parameterCount, 1_914_690)
        let out = try model.forward(try XCTUnwrap(reference.tensors["input"]), training: false)
        assertClose(try XCTUnwrap(out.classLogits), try XCTUnwrap(reference.tensors["class"]), atol: 1e-5, rtol: 1e-5)
    }

    /// Writes the fixtures into `UNET_WRITE_LEGACY_FIXTURES` when it is set (skipped otherwise).
    func testWriteFixtures() throws {
        guard let dir = ProcessInfo.processInfo.environment["UNET_WRITE_LEGACY_FIXTURES"] else {
            throw XCTSkip("set UNET_WRITE_LEGACY_FIXTURES=<dir> to regenerate the legacy checkpoint fixtures")
        }
        // unet: three Adam steps on mask and class targets, then the whole checkpoint.
        let unet = try Model.build(Self.unetConfig)
        let opt = Optimizer(kind: .adam, learningRate: 1e-2)
        let x = randomTensor([2, 1, 32, 32], seed: 2), t = randomTensor([2, 1, 32, 32], seed: 3, low: 0, high: 1)
        for _ in 0..<3 {
            unet.network.zeroGradients()
            let out = try unet.forward(x, training: true)
            let cls = binaryCrossEntropy(
                logits: out.classLogits!, targets: Tensor(shape: [2, 2], values: [1, 0, 0, 1]))
            unet.backward(
                maskGradient: binaryCrossEntropy(logits: out.mask!, targets: t).gradient,
                classGradient: cls.gradient)
            opt.step(unet.network.namedParameters.map(\.parameter))
        }
        try Checkpoint.save(model: unet, optimizer: opt, to: dir + "/legacy_unet.safetensors")
        let input = randomTensor([2, 1, 32, 32], seed: 5)
        let out = try unet.forward(input, training: false)
        var outputs = SafeTensors()
        outputs.tensors = ["input": input, "mask": out.mask!, "class": out.classLogits!]
        try outputs.write(path: dir + "/legacy_unet_outputs.safetensors")

        // unet-classifier: the checkpoint without its weights, see the type's comment.
        let classifier = try Model.build(Self.classifierConfig)
        let whole = try Checkpoint.make(model: classifier, optimizer: nil)
        var header = SafeTensors()
        header.metadata = whole.metadata
        for (name, t) in whole.tensors {
            header.tensors["shape." + name] = Tensor(shape: [t.rank], values: t.shape.map(Float.init))
            header.tensors["checksum." + name] = Self.checksum(t)
        }
        let cInput = randomTensor([2, 1, 16, 16], seed: 6)
        header.tensors["input"] = cInput
        header.tensors["class"] = try classifier.forward(cInput, training: false).classLogits!
        try header.write(path: dir + "/legacy_unet_classifier.safetensors")
    }
}
