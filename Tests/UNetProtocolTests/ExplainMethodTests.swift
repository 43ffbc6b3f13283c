import Foundation
import UNetCore
import UNetData
import XCTest

@testable import UNetProtocol

/// `explain`: every method through the dispatcher, the model and its training state kept bit for bit, the
/// encodings, thresholds and overlays, and the bad inputs the issue lists, each -32602 with the engine serving on.
final class ExplainMethodTests: XCTestCase {
    static let unetWithHead: JSONObject = [
        "architecture": "unet", "input_shape": [1, 16, 16], "depth": 2, "filters": 4, "seed": 1,
        "batch_norm": true, "dropout": 0.2, "classification_head": 2,
    ]

    func image(_ k: Int) -> JSONValue {
        var img = [UInt8](repeating: 40, count: 256)
        for y in (3 + k)..<(10 + k) { for x in 4..<12 { img[y * 16 + x] = 200 } }
        return arrayImage(uint8: img, shape: [16, 16])
    }

    func testEveryMethodAnswersAndLeavesTheCheckpointBitForBit() throws {
        let h = Harness()
        h.result("model.create", Self.unetWithHead)
        h.result("train.configure", ["optimizer": "adam", "learning_rate": 0.01])
        let mask = arrayImage(uint8: [UInt8](repeating: 255, count: 256), shape: [16, 16])
        h.result("train.step", ["images": [image(0), image(1)], "masks": [mask, mask]])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("explain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let before = dir.appendingPathComponent("before.safetensors").path
        h.result("model.save", ["path": .string(before)])
        let predicted = h.result("predict", ["images": [image(0)]])?["predictions"]?[0]?["class_index"]
        for method in ExplanationMethod.allCases where method != .classMap {
            var params: JSONObject = [
                "images": [image(0), image(1)], "method": .string(method.rawValue),
                "encoding": "probabilities",
            ]
            if method == .smoothgrad { params["samples"] = 3 }
            if method == .integratedGradients { params["steps"] = 4 }
            let r = h.result("explain", params)?["explanations"]
            XCTAssertEqual(r?.arrayValue?.count, 2, method.rawValue)
            XCTAssertEqual(r?[0]?["shape"], [16, 16])
            XCTAssertEqual(r?[0]?["target"], predicted, "the default target is the predicted class")
            let values = float32Values(r?[0]?["probabilities"])
            XCTAssertEqual(values.count, 256)
            XCTAssertEqual(values.max() ?? 0, 1, accuracy: 1e-6, "min-max normalised")
            XCTAssertEqual(values.min() ?? 1, 0, accuracy: 1e-6)
            if method.readsLayer { XCTAssertEqual(r?[0]?["layer"], "bottleneck.dropout") }
            if method == .integratedGradients { XCTAssertNotNil(r?[0]?["attribution_sum"]?.doubleValue) }
        }
        let after = dir.appendingPathComponent("after.safetensors").path
        h.result("model.save", ["path": .string(after)])
        let (b, a) = (try checkpoint(before), try checkpoint(after))
        XCTAssertEqual(a.tensors, b.tensors, "weights, BatchNorm statistics and the optimizer's moments, bit for bit")
        XCTAssertEqual(a.header, b.header, "the same names, shapes, offsets and metadata (the dropout generators)")
        h.finish()
    }

    /// A safetensors file's tensor bytes, and its header with each metadata value parsed as JSON where it is JSON,
    /// written with sorted keys (the engine writes the training state's keys in no fixed order).
    func checkpoint(_ path: String) throws -> (tensors: Data, header: String) {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONCodec.decode([UInt8](data[8..<(8 + length)]))
        return (data.suffix(from: 8 + length), canonical(header))
    }

    func canonical(_ v: JSONValue) -> String {
        switch v {
        case .object(let o):
            return "{" + o.sorted { $0.key < $1.key }.map { "\($0.key):\(canonical($0.value))" }.joined(separator: ",")
                + "}"
        case .array(let a): return "[" + a.map(canonical).joined(separator: ",") + "]"
        case .string(let s): return (try? JSONCodec.decode(s)).map { "json" + canonical($0) } ?? "\"\(s)\""
        default: return JSONCodec.encodeString(v)
        }
    }

    func testTargetsLayersThresholdsAndOverlays() throws {
        let h = Harness()
        h.result("model.create", Self.unetWithHead)
        let zero = h.result(
            "explain",
            [
                "images": [image(0)], "target": 0, "layer": "enc2.relu2",
                "normalize": "raw", "encoding": "probabilities",
            ])?["explanations"]?[0]
        XCTAssertEqual(zero?["target"], 0)
        XCTAssertEqual(zero?["layer"], "enc2.relu2")
        XCTAssertTrue(float32Values(zero?["probabilities"]).allSatisfy { $0 >= 0 }, "Grad-CAM is a ReLU")
        let r = h.result("explain", ["images": [image(0)], "method": "saliency", "threshold": 0.5, "overlay": true])?[
            "explanations"]?[0]
        let png = try ImageDecoder.decode([UInt8](Data(base64Encoded: r?["png"]?.stringValue ?? "")!))
        XCTAssertEqual([png.height, png.width], [16, 16])
        let mask = try ImageDecoder.decode([UInt8](Data(base64Encoded: r?["mask"]?.stringValue ?? "")!))
        let overlay = try ImageDecoder.decode([UInt8](Data(base64Encoded: r?["overlay"]?.stringValue ?? "")!))
        XCTAssertEqual(overlay.channels, 3)
        for p in 0..<256 where mask.pixels[p] == 255 {
            XCTAssertEqual(
                [overlay.pixels[p], overlay.pixels[256 + p], overlay.pixels[512 + p]], [0, 255, 0],
                "thresholded pixels are painted green")
        }
        XCTAssertEqual(
            r?["mask_fraction"]?.doubleValue ?? -1,
            Double(mask.pixels.filter { $0 == 255 }.count) / 256, accuracy: 1e-9)
        let big = arrayImage(uint8: gradient(40, 24), shape: [40, 24])
        let sized = h.result("explain", ["images": [big]])?["explanations"]?[0]
        XCTAssertEqual(sized?["shape"], [40, 24], "the map comes back at the image's own size")
        let own = h.result(
            "explain",
            [
                "images": [big], "resize": false, "method": "integrated_gradients", "steps": 2,
                "encoding": "probabilities",
            ])?["explanations"]?[0]
        XCTAssertEqual(
            own?["shape"], [40, 24], "a unet at the image's own size: the baseline is per channel, not per image")
        XCTAssertEqual(float32Values(own?["probabilities"]).count, 960)
        let black = arrayImage(uint8: [UInt8](repeating: 0, count: 960), shape: [40, 24])
        let atBlack = h.result(
            "explain",
            [
                "images": [black], "resize": false, "method": "saliency",
                "target": own?["target"] ?? 0,
            ])?["explanations"]?[0]
        XCTAssertEqual(
            own?["baseline_score"]?.doubleValue ?? 0, atBlack?["score"]?.doubleValue ?? 1, accuracy: 1e-5,
            "the baseline is the black image of the image's own size")
        h.finish()
    }

    func testClassMapOfAMaskOfOneChannelPerClass() throws {
        let h = Harness()
        h.result(
            "model.create",
            [
                "architecture": "unet", "input_shape": [1, 16, 16], "depth": 2, "filters": 4,
                "classes": 3,
            ])
        let r = h.result(
            "explain",
            [
                "images": [image(0)], "method": "class_map", "target": 2,
                "encoding": "probabilities",
            ])?["explanations"]?[0]
        XCTAssertEqual(r?["layer"], "mask")
        let segment = h.result("segment", ["images": [image(0)], "encoding": "probabilities"])?["masks"]?[0]
        let probabilities = float32Values(segment?["probabilities"])
        XCTAssertEqual(
            float32Values(r?["probabilities"]), Array(probabilities[512..<768]),
            "class_map of a mask is segment's probability of the class")
        XCTAssertEqual(h.errorCode("explain", ["images": [image(0)]]), -32602, "no class head for gradcam")
        h.finish()
    }

    /// A batch's 1024 integrated-gradients steps (about 20 s here in a debug build) stop at the next step once
    /// cancelled, not at the end of the batch.
    func testCancelStopsIntegratedGradientsBetweenSteps() {
        let h = Harness()
        h.result("model.create", Self.unetWithHead)
        h.send(
            id: "ig", "explain",
            [
                "images": [image(0), image(1), image(2), image(3)],
                "method": "integrated_gradients", "steps": 1024,
            ])
        h.waitUntilRunning("ig")
        let started = Date()
        _ = h.dispatcher.cancel(id: .string("ig"))
        XCTAssertEqual(h.response("ig")?["error"]?["code"], -32800)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertNotNil(h.result("explain", ["images": [image(0)]]), "the engine serves on")
        h.finish()
    }

    func testBadInputIsInvalidParamsAndTheEngineServesOn() {
        let h = Harness()
        XCTAssertEqual(h.errorCode("explain", ["images": [image(0)]]), -32001)
        h.result("model.create", Self.unetWithHead)
        func refusal(_ extra: JSONObject) -> (field: String?, reason: String) {
            var params: JSONObject = ["images": [image(0)]]
            for (k, v) in extra { params[k] = v }
            let e = h.call("explain", params)?["error"]
            XCTAssertEqual(e?["code"], -32602, "\(extra)")
            return (e?["data"]?["field"]?.stringValue, e?["data"]?["reason"]?.stringValue ?? "")
        }
        let method = refusal(["method": "lime"])
        XCTAssertEqual(method.field, "method")
        XCTAssertTrue(method.reason.contains("\"gradcam++\"") && method.reason.contains("\"class_map\""), method.reason)
        let layer = refusal(["layer": "dec1.conv1"])
        XCTAssertEqual(layer.field, "layer")
        XCTAssertTrue(layer.reason.contains("bottleneck.relu2") && layer.reason.contains("enc1.conv1"), layer.reason)
        XCTAssertEqual(refusal(["layer": "enc1.conv1", "method": "saliency"]).field, "layer")
        let target = refusal(["target": 2])
        XCTAssertEqual(target.field, "target")
        XCTAssertTrue(target.reason.contains("0...1"), target.reason)
        XCTAssertEqual(refusal(["target": "pneumonia"]).field, "target")
        XCTAssertEqual(refusal(["target": -1]).field, "target")
        XCTAssertEqual(refusal(["method": "smoothgrad", "samples": 0]).field, "samples")
        XCTAssertEqual(refusal(["method": "smoothgrad", "samples": 257]).field, "samples")
        XCTAssertEqual(refusal(["method": "smoothgrad", "noise": 2]).field, "noise")
        XCTAssertEqual(refusal(["method": "integrated_gradients", "steps": 0]).field, "steps")
        XCTAssertEqual(refusal(["method": "integrated_gradients", "steps": 100_000]).field, "steps")
        XCTAssertEqual(refusal(["steps": 8]).field, "steps")
        XCTAssertEqual(refusal(["normalize": "zscore"]).field, "normalize")
        XCTAssertEqual(refusal(["method": "class_map"]).field, "method", "a pooled bottleneck is no logit map")
        XCTAssertEqual(refusal(["threshold": 1.5]).field, "threshold")
        XCTAssertNotNil(h.result("explain", ["images": [image(0)]]), "the engine serves on")
        h.finish()
    }
}
