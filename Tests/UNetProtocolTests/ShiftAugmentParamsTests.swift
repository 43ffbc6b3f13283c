import XCTest

@testable import UNetProtocol

/// Issue 22's augmentation keys through `dataset.open`: repeatable samples, and bad values named.
final class ShiftAugmentParamsTests: XCTestCase {
    func testShiftAugmentationSamplesRepeatAndBadValuesAreNamed() {
        let h = Harness()
        let augment: JSONValue = [
            "gamma": [0.5, 2], "noise": 0.02, "blur": 1, "letterbox_pad": 0.2,
            "elastic": ["alpha": 20, "sigma": 4], "zoom_range": [0.7, 1.4],
        ]
        func sample() -> JSONValue? {
            h.result(
                "dataset.open",
                [
                    "name": "ph", "phantoms": ["count": 2, "size": [32, 32], "seed": 1],
                    "augment": augment, "seed": 3,
                ])
            return h.result("dataset.sample", ["name": "ph", "count": 2, "augment": true, "epoch": 1])
        }
        let first = sample()
        XCTAssertNotNil(first?["samples"]?[0]?["image"])
        XCTAssertEqual(sample(), first, "the same seed gives the same samples bit for bit")
        let plain = h.result("dataset.sample", ["name": "ph", "count": 2, "augment": false])
        XCTAssertNotEqual(plain?["samples"]?[0]?["image"], first?["samples"]?[0]?["image"])
        let cases: [(JSONObject, String)] = [
            (["gamma": [2, 0.5]], "augment.gamma"), (["gamma": 2], "augment.gamma"), (["noise": 0.9], "augment.noise"),
            (["blur": -1], "augment.blur"), (["letterbox_pad": 0.8], "augment.letterbox_pad"),
            (["elastic": ["sigma": 0]], "augment.elastic.sigma"), (["elastic": ["beta": 1]], "augment.elastic.beta"),
        ]
        for (value, field) in cases {
            let r = h.call(
                "dataset.open",
                [
                    "name": "bad", "phantoms": ["count": 2, "size": [16, 16]],
                    "augment": .object(value),
                ])
            XCTAssertEqual(r?["error"]?["code"], -32602, "\(value)")
            XCTAssertEqual(r?["error"]?["data"]?["field"]?.stringValue, field, "\(value)")
        }
        h.assertAlive()
        h.finish()
    }
}
