import Foundation
import UNetCore
import UNetData
import XCTest

@testable import UNetProtocol

/// `predict` and `segment` on inline arrays and encoded images.
final class InferenceMethodTests: XCTestCase {
    func testSegmentEncodingsAgree() throws {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        let image = arrayImage(uint8: gradient(12, 20), shape: [12, 20])
        let probs = h.result("segment", ["images": [image], "encoding": "probabilities_json"])?["masks"]?[0]
        let float32 = h.result("segment", ["images": [image], "encoding": "probabilities"])?["masks"]?[0]
        let array = h.result("segment", ["images": [image], "encoding": "array", "threshold": 0.5])?["masks"]?[0]
        let png = h.result("segment", ["images": [image]])?["masks"]?[0]
        XCTAssertEqual(probs?["shape"], [12, 20], "masks come back at the input size: the unet pads and crops")
        XCTAssertEqual(array?["array"]?["shape"], [12, 20])
        XCTAssertEqual(array?["array"]?["dtype"], "uint8")

        let p = (probs?["probabilities"]?.arrayValue ?? []).flatMap { $0.arrayValue ?? [] }.compactMap(\.doubleValue)
        XCTAssertEqual(p.count, 240)
        XCTAssertTrue(p.allSatisfy { (0...1).contains($0) })
        XCTAssertEqual(float32?["probabilities"]?["dtype"], "float32")
        XCTAssertEqual(float32?["probabilities"]?["shape"], [12, 20])
        XCTAssertEqual(
            float32Values(float32?["probabilities"]), p.map { Float($0) },
            "the same numbers: 9 significant digits give a float32 back exactly")
        let bytes = [UInt8](Data(base64Encoded: array?["array"]?["data"]?.stringValue ?? "") ?? Data())
        XCTAssertEqual(bytes, p.map { $0 > 0.5 ? 255 : 0 }, "the mask is the thresholded probabilities")
        let fraction = Double(bytes.filter { $0 == 255 }.count) / 240
        XCTAssertEqual(array?["foreground_fraction"]?.doubleValue ?? -1, fraction, accuracy: 1e-6)
        XCTAssertEqual(png?["foreground_fraction"], array?["foreground_fraction"])

        let decoded = try ImageDecoder.decode([UInt8](Data(base64Encoded: png?["png"]?.stringValue ?? "")!))
        XCTAssertEqual([decoded.height, decoded.width], [12, 20])
        XCTAssertEqual(decoded.pixels.map { UInt8($0) }, bytes)
        h.finish()
    }

    func testSegmentMatchesTheModelRunDirectly() throws {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        let pixels = gradient(16, 16)
        let r = h.result(
            "segment", ["images": [arrayImage(uint8: pixels, shape: [1, 16, 16])], "encoding": "probabilities"])
        let model = try Model.build(
            ModelConfig(architecture: .unet, inputShape: [1, 16, 16], seed: 1, depth: 2, filters: 4))
        let x = Tensor(shape: [1, 1, 16, 16], values: pixels.map { Float($0) * Float(1.0 / 255) })
        let expected = Model.activate(try model.forward(x, training: false).mask!, .sigmoid).array
        XCTAssertEqual(float32Values(r?["masks"]?[0]?["probabilities"]), expected)
        h.finish()
    }

    func testFloat32ArraysAreUsedAsGiven() throws {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        let pixels = gradient(16, 16)
        let a = h.result(
            "segment", ["images": [arrayImage(uint8: pixels, shape: [16, 16])], "encoding": "probabilities"])
        let b = h.result(
            "segment",
            [
                "images": [arrayImage(float32: pixels.map { Float($0) * Float(1.0 / 255) }, shape: [16, 16])],
                "encoding": "probabilities",
            ])
        XCTAssertEqual(a, b)
        h.finish()
    }

    func testMultiClassMaskIsArgmax() throws {
        let h = Harness()
        var params = Harness.tinyUNet
        params["classes"] = 3
        h.result("model.create", params)
        let r = h.result(
            "segment", ["images": [arrayImage(uint8: gradient(16, 16), shape: [16, 16])], "encoding": "array"])
        let bytes = [UInt8](Data(base64Encoded: r?["masks"]?[0]?["array"]?["data"]?.stringValue ?? "") ?? Data())
        XCTAssertEqual(bytes.count, 256)
        XCTAssertTrue(bytes.allSatisfy { $0 < 3 })
        let probs = h.result(
            "segment",
            [
                "images": [arrayImage(uint8: gradient(16, 16), shape: [16, 16])],
                "encoding": "probabilities",
            ])
        XCTAssertEqual(probs?["masks"]?[0]?["probabilities"]?["shape"], [3, 16, 16], "[K, H, W]")
        h.finish()
    }

    func testSegmentWritesPNGsToOutputDir() throws {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unet-proto-\(UUID().uuidString)/masks")
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let r = h.result(
            "segment",
            [
                "images": [
                    arrayImage(uint8: gradient(16, 16), shape: [16, 16]),
                    arrayImage(uint8: gradient(9, 9), shape: [9, 9]),
                ],
                "output_dir": .string(dir.path),
            ])
        let paths = r?["masks"]?.arrayValue?.compactMap { $0["path"]?.stringValue } ?? []
        XCTAssertEqual(paths.map { ($0 as NSString).lastPathComponent }, ["mask_000.png", "mask_001.png"])
        let second = try ImageDecoder.decode(path: paths[1])
        XCTAssertEqual([second.height, second.width], [9, 9])
        h.finish()
    }

    func testEncodedImagesAreDecodedAndResized() throws {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        let png = try PNGEncoder.encodeGrey(gradient(32, 24), height: 32, width: 24)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unet-proto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("chest.png")
        try Data(png).write(to: file)
        let inline = h.result(
            "segment", ["images": [["png": .string(Data(png).base64EncodedString())]], "encoding": "array"])
        let fromFile = h.result("segment", ["images": [["path": .string(file.path)]], "encoding": "array"])
        XCTAssertEqual(inline?["masks"]?[0]?["shape"], [32, 24], "run at 16x16, mask resized back to the image")
        XCTAssertEqual(inline, fromFile)
        let native = h.result(
            "segment",
            [
                "images": [["png": .string(Data(png).base64EncodedString())]],
                "resize": false, "encoding": "array",
            ])
        XCTAssertEqual(native?["masks"]?[0]?["shape"], [32, 24])
        let out = h.result("segment", ["images": [["path": .string(file.path)]], "output_dir": .string(dir.path)])
        XCTAssertEqual(out?["masks"]?[0]?["path"], .string(dir.appendingPathComponent("chest_mask.png").path))

        XCTAssertEqual(h.errorCode("segment", ["images": [["path": "/no/such/image.png"]]]), -32002)
        XCTAssertEqual(
            h.errorCode("segment", ["images": [["jpeg": .string(Data("not a jpeg".utf8).base64EncodedString())]]]),
            -32003)
        XCTAssertEqual(h.errorCode("segment", ["images": [["png": "%%%"]]]), -32602)
        h.finish()
    }

    func testImageValidation() {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        func field(_ image: JSONValue, file: StaticString = #filePath, line: UInt = #line) -> String? {
            let r = h.call("segment", ["images": [image]], file: file, line: line)
            XCTAssertEqual(r?["error"]?["code"], -32602, file: file, line: line)
            return r?["error"]?["data"]?["field"]?.stringValue
        }
        XCTAssertEqual(field(["array": ["dtype": "uint8", "shape": [4, 4], "data": "AAAA"]]), "images[0].array.data")
        XCTAssertEqual(
            field(["array": ["dtype": "int16", "shape": [2, 2], "data": "AAAAAA=="]]), "images[0].array.dtype")
        XCTAssertEqual(
            field(["array": ["dtype": "uint8", "shape": [2, 2, 2, 2], "data": ""]]), "images[0].array.shape")
        XCTAssertEqual(field(["array": ["dtype": "uint8", "shape": [0, 2], "data": ""]]), "images[0].array.shape[0]")
        XCTAssertEqual(
            field(["array": ["dtype": "uint8", "shape": [100000, 100000], "data": ""]]), "images[0].array.shape[0]")
        XCTAssertEqual(
            field(["array": ["dtype": "uint8", "shape": [8000, 8000, 8000], "data": ""]]), "images[0].array.shape")
        XCTAssertEqual(
            field(["array": ["dtype": "uint8", "shape": [2, 2], "data": "AAAAAA==", "order": "C"]]),
            "images[0].array.order")
        XCTAssertEqual(field(["tiff": "AAAA"]), "images[0]")
        XCTAssertEqual(field(["png": "AAAA", "jpeg": "AAAA"]), "images[0]")
        XCTAssertEqual(field("just a string"), "images[0]")
        XCTAssertEqual(field(arrayImage(float32: [.nan, 0, 0, 0], shape: [2, 2])), "images[0].array.data")
        XCTAssertEqual(h.errorCode("segment", ["images": []]), -32602)
        XCTAssertEqual(
            h.errorCode("segment", ["images": [arrayImage(uint8: [1, 2], shape: [2, 1])], "encoding": "jpeg"]), -32602)
        XCTAssertEqual(
            h.errorCode("segment", ["images": [arrayImage(uint8: [UInt8](repeating: 0, count: 8), shape: [2, 2, 2])]]),
            -32004, "two channels for a one-channel model")
        h.assertAlive()
        h.finish()
    }

    func testPredictOnClassifierAndUNetHead() {
        let h = Harness()
        h.result("model.create", ["architecture": "unet-classifier", "input_shape": [1, 8, 8], "seed": 3])
        let good = h.result(
            "predict",
            [
                "images": [
                    arrayImage(uint8: gradient(8, 8), shape: [8, 8]),
                    arrayImage(uint8: gradient(8, 8).reversed(), shape: [1, 8, 8]),
                ]
            ])
        let predictions = good?["predictions"]?.arrayValue ?? []
        XCTAssertEqual(predictions.count, 2)
        for p in predictions {
            let probs = p["probabilities"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            XCTAssertEqual(probs.count, 2)
            let index = Int(p["class_index"]?.intValue ?? -1)
            XCTAssertEqual(index, probs[1] > probs[0] ? 1 : 0)
            XCTAssertEqual(p["label"], .string(String(index)))
        }
        let wrong = h.call(
            "predict", ["images": [arrayImage(uint8: gradient(8, 12), shape: [8, 12])], "resize": false])
        XCTAssertEqual(wrong?["error"]?["code"], -32004)
        XCTAssertEqual(wrong?["error"]?["data"]?["field"], "images[0]")
        let resized = h.result("predict", ["images": [arrayImage(uint8: gradient(8, 12), shape: [8, 12])]])
        XCTAssertEqual(resized?["predictions"]?.arrayValue?.count, 1, "arrays are resized by default")
        XCTAssertEqual(h.errorCode("segment", ["images": [arrayImage(uint8: gradient(8, 8), shape: [8, 8])]]), -32009)

        h.result("model.create", Harness.tinyUNet)
        XCTAssertEqual(h.errorCode("predict", ["images": [arrayImage(uint8: gradient(8, 8), shape: [8, 8])]]), -32009)
        var head = Harness.tinyUNet
        head["classification_head"] = 1
        h.result("model.create", head)
        let one = h.result(
            "predict", ["images": [arrayImage(uint8: gradient(20, 20), shape: [20, 20])], "threshold": 0.0])
        XCTAssertEqual(one?["predictions"]?[0]?["probabilities"]?.arrayValue?.count, 1)
        XCTAssertEqual(one?["predictions"]?[0]?["class_index"], 1, "one sigmoid unit: class 1 at or above threshold")
        h.finish()
    }

    /// A cancelled request stops at the next image boundary and answers -32800.
    func testSegmentChecksCancellationBetweenImages() throws {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        let session = h.dispatcher.session
        let request = Request(
            id: .int(1), method: "segment",
            params: ["images": [arrayImage(uint8: gradient(16, 16), shape: [16, 16])]])
        let ctx = RequestContext(request: request, session: session, dispatcher: h.dispatcher)
        ctx.cancel()
        let spec = InferenceMethods.methods.first { $0.name == "segment" }!
        XCTAssertThrowsError(try spec.handler(ctx)) { XCTAssertEqual(($0 as? RPCError)?.code, -32800) }
        h.finish()
    }

    /// Consecutive images of one size share a forward, up to `batch_size`; a new size starts a new batch.
    func testImagesRunInBatchesOfConsecutiveSameSizeImages() throws {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        let sizes = [(16, 16), (16, 16), (16, 16), (12, 20), (16, 16), (16, 16)]
        let images = sizes.map { arrayImage(uint8: gradient($0.0, $0.1), shape: [$0.0, $0.1]) }
        let request = Request(
            id: .int(1), method: "segment", params: ["images": .array(images), "batch_size": 2, "resize": false])
        let ctx = RequestContext(request: request, session: h.dispatcher.session, dispatcher: h.dispatcher)
        var seen: [[Int]] = []  // [image, row, batch size]
        try InferenceMethods.forEachImage(ctx, model: try h.dispatcher.session.requireModel(), heads: .mask) {
            i, input, output, row in
            XCTAssertEqual(Array(input.tensor.shape.dropFirst()), [sizes[i].0, sizes[i].1])
            seen.append([i, row, output.mask!.shape[0]])
        }
        XCTAssertEqual(seen, [[0, 0, 2], [1, 1, 2], [2, 0, 1], [3, 0, 1], [4, 0, 2], [5, 1, 2]])
        h.finish()
    }

    /// A batched request gives each image what a request of that image alone gives (to float rounding: a batch
    /// may take another convolution algorithm than one image), in image order.
    func testBatchedResultsMatchOneImageAtATime() {
        let h = Harness()
        var head = Harness.tinyUNet
        head["classification_head"] = 2
        h.result("model.create", head)
        let sizes = [(16, 16), (16, 16), (12, 20), (16, 16), (16, 16), (16, 16)]
        let images = sizes.enumerated().map { k, s in
            arrayImage(uint8: gradient(s.0, s.1).map { $0 &+ UInt8(k * 40) }, shape: [s.0, s.1])
        }
        func numbers(_ v: JSONValue?) -> [Double] {
            guard let v else { return [] }
            if let d = v.doubleValue { return [d] }
            return (v.arrayValue ?? []).flatMap(numbers)
        }
        for method in ["segment", "predict"] {
            let key = method == "segment" ? "masks" : "predictions"
            let field = "probabilities"  // per-pixel for segment, per-class for predict
            var params: JSONObject = ["images": .array(images), "batch_size": 4]
            if method == "segment" { params["encoding"] = "probabilities_json" }
            let batched = h.result(method, params)?[key]?.arrayValue ?? []
            XCTAssertEqual(batched.count, images.count)
            for (i, image) in images.enumerated() {
                var one: JSONObject = ["images": [image]]
                if method == "segment" { one["encoding"] = "probabilities_json" }
                let single = h.result(method, one)?[key]?[0]
                let (a, b) = (numbers(batched[i][field]), numbers(single?[field]))
                XCTAssertEqual(a.count, b.count, "\(method) image \(i)")
                XCTAssertFalse(a.isEmpty)
                for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5, "\(method) image \(i)") }
            }
        }
        XCTAssertEqual(h.errorCode("segment", ["images": .array(images), "batch_size": 0]), -32602)
        XCTAssertEqual(h.errorCode("predict", ["images": .array(images), "batch_size": "8"]), -32602)
        h.assertAlive()
        h.finish()
    }
}

/// The values of a float32 raw array `{"dtype": "float32", "shape", "data": base64}` (`segment`'s
/// "probabilities" encoding).
func float32Values(_ array: JSONValue?) -> [Float] {
    let bytes = [UInt8](Data(base64Encoded: array?["data"]?.stringValue ?? "") ?? Data())
    return stride(from: 0, to: bytes.count - 3, by: 4).map { i in
        Float(
            bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16
                | UInt32(bytes[i + 3]) << 24)
    }
}
