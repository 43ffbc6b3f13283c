import Foundation
import TestSupport
import UNetCore
import XCTest

/// Checkpoints move between the engine and PyTorch in both directions. The fixtures come from
/// `Tests/fixtures/make_golden.py` and the PyTorch twins in `Tests/python/torch_models.py`; the Python side of
/// the round trip (an engine checkpoint loaded into the twin with `strict=True`) is
/// `Tests/python/test_checkpoint_interop.py`.
final class CheckpointInteropTests: XCTestCase {
    /// The twin's configuration in `main_interop()` of make_golden.py (INTEROP_CONFIG).
    let interopConfig = ModelConfig(
        architecture: .unet, inputShape: [2, 16, 16], classes: 2, seed: 0, depth: 2,
        filters: 4, batchNorm: true, upsampling: .transpose, classificationHead: 3)

    var torchStateDictPath: String { get throws { try Golden.url("torch_unet_state_dict", "safetensors").path } }

    func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent(name).path
    }

    // MARK: - PyTorch to engine

    // torch.manual_seed(1); model = torch_models.from_config(INTEROP_CONFIG)  # unet, 2 in, 2 classes, depth 2,
    //     # filters 4, BatchNorm, transposed convolutions, a 3-class head
    // BatchNorm weights/biases set to rand(0.5, 1.5)/rand(-0.3, 0.3); 3 training forwards move the statistics
    // model.eval(); save_file(model.state_dict(), "torch_unet_state_dict.safetensors")  # no engine metadata
    // x = randn((1, 2, 13, 18)); mask_logits, class_logits = model(x)  # 13x18: padded to 16x20, cropped back
    // save("torch_unet_output", {"x": x, "mask_logits": mask_logits, "class_logits": class_logits})
    func testLoadsATorchStateDictStrictlyAndReproducesItsOutput() throws {
        let path = try torchStateDictPath
        let file = try SafeTensors.read(path: path)
        XCTAssertNil(file.metadata[Checkpoint.configKey], "written by torch alone, without engine metadata")

        let current = try Model.build(interopConfig)
        let loaded = try Checkpoint.load(path: path, current: current)
        XCTAssertEqual(loaded.model.config, interopConfig)
        XCTAssertNil(loaded.optimizer)
        let net = loaded.model.network
        // Every tensor of the file landed under the same name, bit for bit (num_batches_tracked from I64).
        let names = net.namedParameters.map(\.name) + net.namedBuffers.map(\.name)
        XCTAssertEqual(Set(names), Set(file.tensors.keys))
        for (name, p) in net.namedParameters { XCTAssertEqual(p.value.array, file.tensors[name]?.array, name) }
        for (name, t) in net.namedBuffers { XCTAssertEqual(t.array, file.tensors[name]?.array, name) }
        XCTAssertEqual(net.namedBuffers.first { $0.name == "enc1.bn1.num_batches_tracked" }?.value[0], 3)

        // Eval-mode output on the same input: both run in float32 with different summation orders (measured worst
        // difference 6e-8; tolerance atol 1e-6, rtol 1e-4).
        let g = try Golden("torch_unet_output")
        let out = try loaded.model.forward(try g("x"), training: false)
        assertClose(try XCTUnwrap(out.mask), try g("mask_logits"), atol: 1e-6, rtol: 1e-4, "mask logits")
        assertClose(try XCTUnwrap(out.classLogits), try g("class_logits"), atol: 1e-6, rtol: 1e-4, "class logits")
    }

    /// Loading is strict, as `load_state_dict(strict=True)`: a missing, an unexpected or a misshapen tensor is a
    /// mismatch error, and the model passed as `current` keeps its weights.
    func testTorchStateDictWithAWrongTensorIsRejected() throws {
        let original = try SafeTensors.read(path: try torchStateDictPath)
        let current = try Model.build(interopConfig)
        let before = current.network.namedParameters.map { $0.parameter.value.array }

        var missing = original
        missing.tensors["head.bias"] = nil
        var extra = original
        extra.tensors["dec1.conv3.weight"] = Tensor(zeros: [4, 4, 3, 3])
        var misshapen = original
        misshapen.tensors["enc1.conv1.weight"] = Tensor(zeros: [4, 2, 5, 5])
        for (what, st) in [("missing", missing), ("extra", extra), ("misshapen", misshapen)] {
            let path = temporaryPath("\(what).safetensors")
            try st.write(path: path)
            XCTAssertThrowsError(try Checkpoint.load(path: path, current: current), what) { error in
                guard case CheckpointError.mismatch = error else { return XCTFail("\(what): \(error)") }
            }
        }
        XCTAssertEqual(current.network.namedParameters.map { $0.parameter.value.array }, before)
    }

    // MARK: - Engine to PyTorch: names, dtypes and shapes

    // for cfg in configs:  # unet: batch_norm, bilinear, nearest + head + dropout, depth 3/4; unet-classifier 3x8x8
    //     sd = torch_models.from_config(cfg).state_dict()
    //     listing.append({"config": cfg, "tensors": [{"name": k, "dtype": "I64" if v.dtype == torch.int64
    //                     else "F32", "shape": list(v.shape)} for k, v in sd.items()]})
    // json.dump(listing, "twin_state_dict_names.json")
    /// The engine's checkpoint of each configuration holds exactly the twin's state_dict entries, with the same
    /// dtypes and shapes as the file header states them, so `load_state_dict(strict=True)` accepts it (after
    /// dropping `optimizer.*` entries). Checked here without torch.
    func testCheckpointNamesDtypesAndShapesAreTheTwinsStateDict() throws {
        let data = try Data(contentsOf: try Golden.url("twin_state_dict_names", "json"))
        let listing = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(listing.count, 6)
        for entry in listing {
            let configData = try JSONSerialization.data(withJSONObject: try XCTUnwrap(entry["config"]))
            let config = try JSONDecoder().decode(ModelConfig.self, from: configData)
            let expected = try XCTUnwrap(entry["tensors"] as? [[String: Any]]).map { try describe($0) }
            let model = try Model.build(config)
            let path = temporaryPath("engine.safetensors")
            try Checkpoint.save(model: model, optimizer: nil, to: path)
            let header = try safetensorsHeader(path)
            let actual = try header.filter { $0.key != "__metadata__" }.map { name, value in
                var e = try XCTUnwrap(value as? [String: Any], name)
                e["name"] = name
                return try describe(e)
            }
            XCTAssertEqual(actual.sorted(), expected.sorted(), "\(String(decoding: configData, as: UTF8.self))")
            let (classes, filters) = (
                config.parameters["classes"]?.integer ?? 0, config.parameters["filters"]?.integer ?? 0
            )
            XCTAssertTrue(
                expected.contains("head.weight F32 [\(classes), \(filters), 1, 1]")
                    || config.architecture == .unetClassifier, "the listing is read")
            let metadata = try XCTUnwrap(header["__metadata__"] as? [String: String])
            XCTAssertEqual(metadata["format"], "pt")
            let storedJSON = try XCTUnwrap(metadata[Checkpoint.configKey])
            let stored = try JSONDecoder().decode(ModelConfig.self, from: Data(storedJSON.utf8))
            XCTAssertEqual(stored, config)
        }
    }

    /// "name dtype [shape]" of a tensor entry; throws if a field is missing or malformed.
    func describe(_ entry: [String: Any]) throws -> String {
        let name = try XCTUnwrap(entry["name"] as? String, "name in \(entry)")
        let dtype = try XCTUnwrap(entry["dtype"] as? String, "dtype of \(name)")
        let shape = try XCTUnwrap(entry["shape"] as? [Any], "shape of \(name)").map {
            try XCTUnwrap(($0 as? NSNumber)?.intValue, "shape of \(name)")
        }
        return "\(name) \(dtype) \(shape)"
    }

    /// The JSON header of a safetensors file as any reader sees it: 8 bytes of little-endian length, then JSON.
    func safetensorsHeader(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let object = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length)))
        return try XCTUnwrap(object as? [String: Any])
    }
}
