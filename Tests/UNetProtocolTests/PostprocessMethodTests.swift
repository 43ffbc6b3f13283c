import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// `postprocess` on `segment` and `evaluate` (issue 22): the same clean-up in both, and bad input refused.
final class PostprocessMethodTests: XCTestCase {
    private let post: JSONValue = ["opening": 1, "keep_largest": 1, "fill_holes": true, "connectivity": 4]

    private func labelMask(_ entry: JSONValue?) -> [Bool] {
        let data = Data(base64Encoded: entry?["array"]?["data"]?.stringValue ?? "") ?? Data()
        return data.map { $0 != 0 }
    }

    /// `segment`'s mask with `postprocess` is the plain mask cleaned by the same steps, and `evaluate` scores
    /// exactly those masks: its per-image Dice equals the Dice of `segment`'s cleaned masks against the samples'.
    func testSegmentAndEvaluateCleanMasksAlike() throws {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        h.result("dataset.open", ["name": "ph", "phantoms": ["count": 3, "size": [16, 16], "seed": 4]])
        let samples = try XCTUnwrap(h.result("dataset.sample", ["name": "ph", "count": 3])?["samples"]?.arrayValue)
        let images: [JSONValue] = samples.map { $0["image"]! }
        // A threshold below the untrained model's outputs leaves speckled masks for the steps to change.
        let plain = h.result("segment", ["images": .array(images), "encoding": "array", "threshold": 0.499])
        let cleaned = h.result(
            "segment",
            [
                "images": .array(images), "encoding": "array", "threshold": 0.499,
                "postprocess": post,
            ])
        var steps = MaskPostprocessing()
        steps.opening = 1; steps.keepLargest = 1; steps.fillHoles = true; steps.connectivity = .four
        var changed = false
        let evaluated = h.result(
            "evaluate", ["dataset": "ph", "threshold": 0.499, "per_image": true, "postprocess": post])
        for i in 0..<3 {
            let before = labelMask(plain?["masks"]?[i]), after = labelMask(cleaned?["masks"]?[i])
            XCTAssertEqual(steps.apply(before, height: 16, width: 16), after, "image \(i)")
            changed = changed || before != after
            let truth = labelMask(samples[i]["mask"])
            let both = zip(after, truth).filter { $0 && $1 }.count
            let total = after.filter { $0 }.count + truth.filter { $0 }.count
            let dice = total == 0 ? 1 : 2 * Double(both) / Double(total)
            let reported = try XCTUnwrap(evaluated?["per_image"]?[i]?["dice"]?.doubleValue)
            XCTAssertEqual(reported, dice, accuracy: 1e-9, "image \(i)")
        }
        XCTAssertTrue(changed, "the clean-up changed no mask: the test shows nothing")
        h.finish()
    }

    func testBadPostprocessIsInvalidParamsNamingTheField() {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        h.result("dataset.open", ["name": "ph", "phantoms": ["count": 2, "size": [16, 16]]])
        let image: JSONValue = [arrayImage(uint8: gradient(16, 16), shape: [16, 16])]
        let cases: [(JSONValue, String)] = [
            (["keep_largest": 0], "postprocess.keep_largest"), (["opening": 40], "postprocess.opening"),
            (["connectivity": 6], "postprocess.connectivity"), (["fill_holes": 1], "postprocess.fill_holes"),
            (["largest": 2], "postprocess.largest"), (true, "postprocess"),
        ]
        for (value, field) in cases {
            for (method, params) in [
                ("segment", ["images": image, "postprocess": value] as JSONObject),
                ("evaluate", ["dataset": "ph", "postprocess": value]),
            ] {
                let r = h.call(method, params)
                XCTAssertEqual(r?["error"]?["code"], -32602, "\(method) \(value)")
                XCTAssertEqual(r?["error"]?["data"]?["field"]?.stringValue, field, "\(method) \(value)")
            }
        }
        let r = h.call("segment", ["images": image, "encoding": "probabilities", "postprocess": ["fill_holes": true]])
        XCTAssertEqual(r?["error"]?["data"]?["field"]?.stringValue, "postprocess")
        h.assertAlive()
        h.finish()
    }
}
