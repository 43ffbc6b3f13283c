import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// `train.configure`, inline `train.step`, divergence and resume through `model.save`/`model.load`.
final class TrainMethodTests: XCTestCase {
    /// Two 16x16 images with a bright square and its mask.
    func inlineBatch() -> JSONObject {
        var images: [JSONValue] = [], masks: [JSONValue] = []
        for k in 0..<2 {
            var img = [UInt8](repeating: 40, count: 256), mask = [UInt8](repeating: 0, count: 256)
            for y in (3 + k)..<(10 + k) { for x in 4..<12 { img[y * 16 + x] = 200; mask[y * 16 + x] = 255 } }
            images.append(arrayImage(uint8: img, shape: [16, 16]))
            masks.append(arrayImage(uint8: mask, shape: [16, 16]))
        }
        return ["images": .array(images), "masks": .array(masks)]
    }

    func testConfigureValidatesAndReportsTheWholeConfiguration() {
        let h = Harness()
        let c = h.result(
            "train.configure",
            [
                "optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.5, "loss": "dice",
                "class_weights": [1, 2], "batch_size": 3, "seed": 7,
            ])
        XCTAssertEqual(c?["optimizer"], "sgd")
        XCTAssertEqual(c?["learning_rate"], 0.01)
        XCTAssertEqual(c?["loss"], "dice")
        XCTAssertEqual(c?["class_weights"], [1, 2])
        XCTAssertEqual(c?["batch_size"], 3)
        XCTAssertEqual(h.result("train.configure", ["class_weights": "balanced"])?["class_weights"], "balanced")
        for (params, field) in [
            (["optimizer": "rmsprop"], "optimizer"), (["learning_rate": -1], "learning_rate"),
            (["loss": "hinge"], "loss"), (["class_weights": "uniform"], "class_weights"),
            (["batch_size": 0], "batch_size"), (["bogus": 1], "bogus"),
        ] as [(JSONObject, String)] {
            let r = h.call("train.configure", params)
            XCTAssertEqual(r?["error"]?["code"], -32602, "\(params)")
            XCTAssertEqual(r?["error"]?["data"]?["field"]?.stringValue, field, "\(params)")
        }
        XCTAssertEqual(h.result("train.configure")?["optimizer"], "sgd", "a refused configure changes nothing")
        h.finish()
    }

    func testInlineStepsLowerTheLossAndADivergingStepLeavesTheModelIntact() throws {
        let h = Harness()
        XCTAssertEqual(h.errorCode("train.step", inlineBatch()), -32001, "no model yet")
        h.result("model.create", Harness.tinyUNet)
        h.result("train.configure", ["learning_rate": 0.01])
        var losses: [Double] = []
        for _ in 0..<15 { losses.append(h.result("train.step", inlineBatch())?["loss"]?.doubleValue ?? .nan) }
        XCTAssertLessThan(losses.last!, losses.first!)
        let probe: JSONObject = [
            "images": .array(Array(inlineBatch()["images"]!.arrayValue!.prefix(1))), "encoding": "probabilities",
        ]
        let before = h.result("segment", probe)

        h.result("train.configure", ["learning_rate": 1e12, "optimizer": "sgd"])
        let r = h.call("train.step", inlineBatch())
        XCTAssertEqual(r?["error"]?["code"], -32005, "\(String(describing: r))")
        XCTAssertEqual(h.result("segment", probe), before, "the diverged step left the weights as they were")
        h.result("train.configure", ["learning_rate": 0.01, "optimizer": "adam"])
        XCTAssertNotNil(h.result("train.step", inlineBatch())?["loss"]?.doubleValue, "training goes on")
        h.assertAlive()
        h.finish()
    }

    func testInlineStepErrorsNameTheField() {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        var batch = inlineBatch()
        batch["masks"] = [batch["masks"]!.arrayValue![0]]
        XCTAssertEqual(h.call("train.step", batch)?["error"]?["data"]?["field"], "masks")
        XCTAssertEqual(h.call("train.step", ["images": inlineBatch()["images"]!])?["error"]?["code"], -32602)
        XCTAssertEqual(
            h.call("train.step", ["images": inlineBatch()["images"]!, "labels": [0, 1]])?["error"]?["code"],
            -32004, "a unet without a classification head cannot learn labels")
        XCTAssertEqual(h.call("train.fit", ["dataset": "nope"])?["error"]?["data"]?["field"], "dataset")
        h.finish()
    }

    func testSaveAndLoadResumeInlineTrainingExactly() throws {
        let path = NSTemporaryDirectory() + "train-resume-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        h.result("train.configure", ["learning_rate": 0.01])
        for _ in 0..<3 { h.result("train.step", inlineBatch()) }
        h.result("model.save", ["path": .string(path)])
        let continued = (0..<3).map { _ in h.result("train.step", inlineBatch())?["loss"] }
        h.result("model.load", ["path": .string(path)])
        XCTAssertEqual(h.result("train.configure")?["learning_rate"], 0.01, "the configuration came back with the file")
        let resumed = (0..<3).map { _ in h.result("train.step", inlineBatch())?["loss"] }
        XCTAssertEqual(resumed, continued, "steps after a load repeat the steps after the save")
        XCTAssertEqual(h.result("train.step", inlineBatch())?["step"], 7)
        h.finish()
    }
}
