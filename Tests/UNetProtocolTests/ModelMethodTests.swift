import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// `model.*` through the dispatcher, with tiny models.
final class ModelMethodTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("unet-proto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testCreateReturnsTheSummaryAndSummaryMatchesUNetCore() throws {
        let h = Harness()
        let created = h.result("model.create", Harness.tinyUNet)
        let summary = h.result("model.summary")
        XCTAssertEqual(created, summary)
        let model = try Model.build(
            ModelConfig(architecture: .unet, inputShape: [1, 16, 16], seed: 1, depth: 2, filters: 4))
        let expected = ModelSummary(model)
        XCTAssertEqual(summary?["total_params"], JSONValue(expected.totalParams))
        XCTAssertEqual(summary?["trainable_params"], JSONValue(expected.trainableParams))
        let layers = summary?["layers"]?.arrayValue ?? []
        XCTAssertEqual(layers.count, expected.rows.count)
        XCTAssertEqual(layers.first?["output_shape"], [4, 16, 16], "per image: no batch axis")
        XCTAssertEqual(layers.last?["output_shape"], [1, 16, 16])
        XCTAssertEqual(summary?["config"]?["depth"], 2)
        h.finish()
    }

    func testConfigErrorsAreInvalidParamsNamingTheField() {
        let h = Harness()
        let odd = h.call("model.create", ["architecture": "unet-classifier", "input_shape": [1, 10, 10]])
        XCTAssertEqual(odd?["error"]?["code"], -32602)
        XCTAssertEqual(odd?["error"]?["data"]?["field"], "input_shape")
        let unetOnly = h.call(
            "model.create", ["architecture": "unet-classifier", "input_shape": [1, 8, 8], "depth": 2])
        XCTAssertEqual(unetOnly?["error"]?["data"]?["field"], "depth")
        let arch = h.call("model.create", ["architecture": "resnet", "input_shape": [1, 8, 8]])
        XCTAssertEqual(arch?["error"]?["data"]?["field"], "architecture")
        let shape = h.call("model.create", ["architecture": "unet", "input_shape": [1, 8]])
        XCTAssertEqual(shape?["error"]?["data"]?["field"], "input_shape")
        let up = h.call("model.create", ["architecture": "unet", "input_shape": [1, 8, 8], "upsampling": "cubic"])
        XCTAssertEqual(up?["error"]?["data"]?["field"], "upsampling")
        XCTAssertEqual(h.errorCode("model.summary"), -32001, "failed creates leave no model")
        h.finish()
    }

    func testSaveAndLoadRoundTrip() throws {
        let h = Harness()
        var params = Harness.tinyUNet
        params["batch_norm"] = true
        params["upsampling"] = "bilinear"
        params["classification_head"] = 3
        let created = h.result("model.create", params)
        let path = dir.appendingPathComponent("m.safetensors").path
        let saved = h.result("model.save", ["path": .string(path)])
        XCTAssertEqual(saved?["path"], .string(path))
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        XCTAssertEqual(saved?["bytes"]?.intValue.map(Int.init), size)

        let image = arrayImage(uint8: gradient(16, 16), shape: [16, 16])
        let before = h.result("predict", ["images": [image]])
        h.result("model.create", Harness.tinyUNet).map { XCTAssertNotEqual($0, created) }
        XCTAssertEqual(h.result("model.load", ["path": .string(path)]), created)
        XCTAssertEqual(h.result("predict", ["images": [image]]), before, "loaded weights predict the same")
        h.finish()
    }

    func testBadLoadsLeaveTheModelIntact() throws {
        let h = Harness()
        let created = h.result("model.create", Harness.tinyUNet)
        XCTAssertEqual(h.errorCode("model.load", ["path": .string(dir.appendingPathComponent("none").path)]), -32002)
        let junk = dir.appendingPathComponent("junk.safetensors")
        try Data("this is not a checkpoint at all".utf8).write(to: junk)
        XCTAssertEqual(h.errorCode("model.load", ["path": .string(junk.path)]), -32007)
        // A valid checkpoint of a different model
        let other = dir.appendingPathComponent("other.safetensors").path
        let model = try Model.build(ModelConfig(architecture: .unet, inputShape: [1, 16, 16], depth: 2, filters: 8))
        var st = try Checkpoint.make(model: model, optimizer: nil)
        st.metadata.removeValue(forKey: Checkpoint.configKey)
        try st.write(path: other)
        let mismatch = h.call("model.load", ["path": .string(other)])
        XCTAssertEqual(mismatch?["error"]?["code"], -32007)
        XCTAssertEqual(h.result("model.summary"), created)
        h.finish()
    }

    func testSaveErrors() {
        let h = Harness()
        XCTAssertEqual(h.errorCode("model.save", ["path": "/tmp/x.safetensors"]), -32001)
        h.result("model.create", Harness.tinyUNet)
        XCTAssertEqual(
            h.errorCode("model.save", ["path": .string(dir.appendingPathComponent("no/such/dir/m.safetensors").path)]),
            -32008)
        XCTAssertEqual(h.errorCode("model.save", [:]), -32602)
        h.finish()
    }
}
