import Foundation
import UNetData
import XCTest

@testable import UNetProtocol

/// What `predict`, `segment` and `model.create` promise a host, checked through the built binary over pipes:
/// one resize rule for every image form, channels-last shapes refused with a hint, unique mask file names,
/// thresholds only where they mean something.
final class InferenceContractTests: XCTestCase {
    /// A path and the same pixels sent as a uint8 array are one image: both are brought to the model's input
    /// size by default (as the training pipeline does), so they give the same mask; with `"resize": false`
    /// both run at their own size, again alike.
    func testPathAndArrayOfTheSamePixelsGiveTheSameMask() throws {
        let dir = try temporaryDirectory()
        let (h, w) = (40, 48)
        let pixels = disc(h, w)
        let file = dir + "/chest.png"
        try UNetDataPNG.grey(pixels, height: h, width: w).write(to: URL(fileURLWithPath: file))
        let engine = try EngineProcess(["--threads", "1"])
        XCTAssertNotNil(engine.result(1, "model.create", Harness.tinyUNet))
        var id = 2
        for resize: JSONValue in [.null, false] {
            func masks(_ image: JSONValue) -> JSONValue? {
                id += 1
                return engine.result(
                    id, "segment",
                    ["images": [image], "encoding": "array", "threshold": 0.5, "resize": resize])?["masks"]
            }
            let fromPath = masks(["path": .string(file)])
            let fromArray = masks(arrayImage(uint8: pixels, shape: [h, w]))
            XCTAssertEqual(fromPath?[0]?["shape"], [40, 48])
            XCTAssertNotNil(fromPath)
            XCTAssertEqual(fromArray, fromPath, "resize \(resize)")
        }
        XCTAssertEqual(engine.finish(), 0)
    }

    /// Keras' [H, W, C] order is refused with the channels-first shape that was meant, by `model.create` and
    /// `dataset.open` alike; the current model stays.
    func testChannelsLastInputShapeIsRefusedWithAHint() throws {
        let engine = try EngineProcess(["--threads", "1"])
        XCTAssertNotNil(engine.result(1, "model.create", Harness.tinyUNet))
        let cases: [(String, JSONObject, String)] = [
            (
                "model.create", ["architecture": "unet", "input_shape": [64, 64, 1], "depth": 2, "filters": 4],
                "[1, 64, 64]"
            ),
            ("model.create", ["architecture": "unet-classifier", "input_shape": [256, 256, 1]], "[1, 256, 256]"),
            ("model.create", ["architecture": "unet-classifier", "input_shape": [224, 224, 3]], "[3, 224, 224]"),
            (
                "dataset.open",
                ["name": "ph", "phantoms": ["count": 2, "size": [16, 16]], "input_shape": [16, 16, 1]],
                "[1, 16, 16]"
            ),
        ]
        for (i, (method, params, meant)) in cases.enumerated() {
            let error = engine.call(10 + i, method, params)?["error"]
            XCTAssertEqual(error?["code"], -32602, "\(params)")
            XCTAssertEqual(error?["data"]?["field"], "input_shape")
            let reason = error?["data"]?["reason"]?.stringValue ?? ""
            XCTAssertTrue(reason.contains("did you mean \(meant)?"), reason)
        }
        XCTAssertEqual(engine.result(20, "model.summary")?["input_shape"], [1, 16, 16], "the model stays")
        XCTAssertNotNil(
            engine.result(
                21, "model.create",
                [
                    "architecture": "unet", "input_shape": [3, 16, 16],
                    "depth": 1, "filters": 2,
                ]))
        XCTAssertNotNil(
            engine.result(
                22, "dataset.open",
                [
                    "name": "ph", "phantoms": ["count": 2, "size": [16, 16]],
                    "input_shape": [1, 16, 16],
                ]))
        XCTAssertEqual(engine.finish(), 0)
    }

    /// Two images with one file stem get two mask files (`x_mask.png`, `x_1_mask.png`), not one overwritten;
    /// inline images are named by position. Each file holds its own image's mask.
    func testOutputDirNamesAreUniqueWithinARequest() throws {
        let dir = try temporaryDirectory()
        let sizes = [(20, 24), (24, 20), (16, 28)]
        var images: [JSONValue] = []
        for (k, (h, w)) in sizes.enumerated() {
            try FileManager.default.createDirectory(atPath: dir + "/\(k)", withIntermediateDirectories: true)
            try UNetDataPNG.grey(disc(h, w), height: h, width: w).write(to: URL(fileURLWithPath: dir + "/\(k)/x.png"))
            images.append(["path": .string(dir + "/\(k)/x.png")])
        }
        images += [arrayImage(uint8: disc(12, 12), shape: [12, 12]), arrayImage(uint8: disc(8, 8), shape: [8, 8])]
        let engine = try EngineProcess(["--threads", "1"])
        XCTAssertNotNil(engine.result(1, "model.create", Harness.tinyUNet))
        let written = engine.result(2, "segment", ["images": .array(images), "output_dir": .string(dir + "/out")])
        let inline = engine.result(3, "segment", ["images": .array(images), "encoding": "array"])
        XCTAssertEqual(engine.finish(), 0)
        let paths = written?["masks"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
        XCTAssertEqual(
            paths,
            ["x_mask.png", "x_1_mask.png", "x_2_mask.png", "mask_003.png", "mask_004.png"].map { dir + "/out/" + $0 })
        for (i, path) in paths.enumerated() {
            let file = try ImageDecoder.decode(path: path)
            let expected = [UInt8](
                Data(base64Encoded: inline?["masks"]?[i]?["array"]?["data"]?.stringValue ?? "") ?? Data())
            XCTAssertEqual(file.pixels.map { UInt8($0) }, expected, path)
        }
    }

    /// `predict`'s threshold picks class 1 from one sigmoid unit; given to a model with more outputs (the
    /// reference Dense(2, sigmoid), a softmax head) it would be ignored, so it is -32602 naming the rule.
    func testPredictThresholdIsRefusedUnlessTheHeadIsOneUnit() throws {
        let engine = try EngineProcess(["--threads", "1"])
        let image = arrayImage(uint8: gradient(8, 8), shape: [8, 8])
        var head = Harness.tinyUNet
        head["classification_head"] = 2
        var id = 0
        for model: JSONObject in [["architecture": "unet-classifier", "input_shape": [1, 8, 8], "seed": 2], head] {
            id += 1
            XCTAssertNotNil(engine.result(id, "model.create", model))
            id += 1
            let error = engine.call(id, "predict", ["images": [image], "threshold": 0.3])?["error"]
            XCTAssertEqual(error?["code"], -32602)
            XCTAssertEqual(error?["data"]?["field"], "threshold")
            XCTAssertTrue(error?["data"]?["reason"]?.stringValue?.contains("one sigmoid unit") ?? false)
            id += 1
            XCTAssertNotNil(engine.result(id, "predict", ["images": [image], "threshold": .null]), "null: the default")
        }
        head["classification_head"] = 1
        XCTAssertNotNil(engine.result(10, "model.create", head))
        XCTAssertEqual(
            engine.result(11, "predict", ["images": [image], "threshold": 0])?["predictions"]?[0]?["class_index"], 1)
        XCTAssertEqual(engine.finish(), 0)
    }
}

extension EngineProcess {
    /// Sends one request and returns its response.
    func call(
        _ id: Int, _ method: String, _ params: JSONObject? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) -> JSONValue? {
        request(JSONValue(id), method, params)
        return response(JSONValue(id), file: file, line: line)
    }

    /// Sends one request and returns its result, failing the test on an error.
    func result(
        _ id: Int, _ method: String, _ params: JSONObject? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) -> JSONValue? {
        let r = call(id, method, params, file: file, line: line)
        XCTAssertNil(r?["error"], "\(method) failed: \(r.map(JSONCodec.encodeString) ?? "")", file: file, line: line)
        return r?["result"]
    }
}

extension XCTestCase {
    /// A fresh directory, removed when the test ends.
    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "unet-contract-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }
}

/// A grey (H, W) picture: a bright disc on a ramp, so a mask has structure at every scale.
func disc(_ h: Int, _ w: Int) -> [UInt8] {
    (0..<(h * w)).map { i in
        let (y, x) = (Double(i / w), Double(i % w))
        let inside =
            (y - Double(h) * 0.45) * (y - Double(h) * 0.45) + (x - Double(w) * 0.55) * (x - Double(w) * 0.55)
            < Double(min(h, w) * min(h, w)) * 0.09
        return UInt8(min(255, 30 + 100 * x / Double(w) + (inside ? 120 : 0)))
    }
}
