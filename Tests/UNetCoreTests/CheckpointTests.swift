import Foundation
import TestSupport
import UNetCore
import XCTest

final class CheckpointTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unet-ckpt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func trainedModel() throws -> (Model, Optimizer) {
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 16, 16], seed: 1, depth: 2, filters: 4,
                batchNorm: true, classificationHead: 2))
        let opt = Optimizer(kind: .adam, learningRate: 1e-3)
        let x = randomTensor([2, 1, 16, 16], seed: 2), t = randomTensor([2, 1, 16, 16], seed: 3, low: 0, high: 1)
        for _ in 0..<3 {
            model.network.zeroGradients()
            let out = try model.forward(x, training: true)
            model.backward(maskGradient: binaryCrossEntropy(logits: out.mask!, targets: t).gradient, classGradient: nil)
            opt.step(model.network.namedParameters.map(\.parameter))
        }
        return (model, opt)
    }

    func testRoundTripRestoresWeightsBuffersAndOptimizer() throws {
        let (model, opt) = try trainedModel()
        let path = dir + "/m.safetensors"
        let bytes = try Checkpoint.save(model: model, optimizer: opt, to: path, extraMetadata: ["note": "hi"])
        XCTAssertEqual(bytes, try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let loaded = try Checkpoint.load(path: path, current: nil)
        XCTAssertEqual(loaded.model.config, model.config)
        XCTAssertEqual(loaded.metadata["note"], "hi")
        for ((n, a), (_, b)) in zip(model.network.namedParameters, loaded.model.network.namedParameters) {
            XCTAssertEqual(a.value.array, b.value.array, n)
        }
        for ((n, a), (_, b)) in zip(model.network.namedBuffers, loaded.model.network.namedBuffers) {
            XCTAssertEqual(a.array, b.array, n)
        }
        XCTAssertEqual(model.network.namedBuffers.first { $0.name.hasSuffix("num_batches_tracked") }?.value[0], 3)
        let o = try XCTUnwrap(loaded.optimizer)
        XCTAssertEqual(o.stepCount, 3)
        XCTAssertEqual(o.kind, .adam)
        XCTAssertEqual(o.first.map(\.array), opt.first.map(\.array))
        XCTAssertEqual(o.second.map(\.array), opt.second.map(\.array))
        // The file is plain safetensors: header length, JSON header, with I64 batch counters.
        let st = try SafeTensors.read(path: path)
        XCTAssertTrue(st.integerNames.contains("enc1.bn1.num_batches_tracked"))
        XCTAssertEqual(st.tensors["enc1.conv1.weight"]?.shape, [4, 1, 3, 3])
        XCTAssertNotNil(st.tensors["optimizer.enc1.conv1.weight.exp_avg"])
        XCTAssertEqual(st.metadata["format"], "pt")
    }

    func testTruncatedAndCorruptFilesAreRejectedClearly() throws {
        let (model, opt) = try trainedModel()
        let path = dir + "/m.safetensors"
        try Checkpoint.save(model: model, optimizer: opt, to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        for (name, bytes) in [
            ("truncated", data.prefix(data.count - 100)), ("empty", Data()), ("short", data.prefix(5)),
            ("garbage", Data("this is not a checkpoint at all, just text".utf8)),
        ] {
            let p = dir + "/\(name).safetensors"
            try bytes.write(to: URL(fileURLWithPath: p))
            XCTAssertThrowsError(try Checkpoint.load(path: p, current: model), name) { e in
                guard case CheckpointError.invalid(let file, _) = e else { return XCTFail("\(name): \(e)") }
                XCTAssertEqual(file, p)
            }
        }
        XCTAssertThrowsError(try Checkpoint.load(path: dir + "/missing.safetensors", current: model)) { e in
            XCTAssertEqual(e as? CheckpointError, .notFound(dir + "/missing.safetensors"))
        }
    }

    func testMismatchedStateDictIsRejectedAndTheModelIsUntouched() throws {
        let (model, _) = try trainedModel()
        let before = model.network.namedParameters.map { $0.parameter.value.array }
        // A bare state_dict (no engine metadata) of a different width loads into the current configuration: shapes differ.
        let other = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 16, 16], depth: 2, filters: 8,
                batchNorm: true, classificationHead: 2))
        var st = try Checkpoint.make(model: other, optimizer: nil)
        st.metadata = [:]
        let path = dir + "/other.safetensors"
        try st.write(path: path)
        XCTAssertThrowsError(try Checkpoint.load(path: path, current: model)) { e in
            guard case CheckpointError.mismatch(_, let why) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(why.contains("shape"), why)
        }
        // Missing and unexpected names are errors too (strict loading).
        var missing = try Checkpoint.make(model: model, optimizer: nil)
        missing.metadata = [:]
        missing.tensors["head.bias"] = nil
        missing.tensors["extra.weight"] = Tensor(zeros: [1])
        try missing.write(path: path)
        XCTAssertThrowsError(try Checkpoint.load(path: path, current: model))
        XCTAssertEqual(model.network.namedParameters.map { $0.parameter.value.array }, before)
    }

    func testAtomicWriteLeavesNoTemporaryFilesAndReplacesTheOldFile() throws {
        let (model, opt) = try trainedModel()
        let path = dir + "/m.safetensors"
        try Checkpoint.save(model: model, optimizer: nil, to: path)
        try Checkpoint.save(model: model, optimizer: opt, to: path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["m.safetensors"])
        XCTAssertNotNil(try Checkpoint.load(path: path, current: nil).optimizer)
        XCTAssertThrowsError(try Checkpoint.save(model: model, optimizer: nil, to: dir + "/no/such/dir/m.safetensors"))
    }
}
