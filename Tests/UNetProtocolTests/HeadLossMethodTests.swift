import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// `train.configure`'s per-head `loss` through the dispatcher.
final class HeadLossMethodTests: XCTestCase {
    var withHead: JSONObject {
        var p = Harness.tinyUNet
        p["classification_head"] = 2
        return p
    }

    func testPerHeadLossesAreAnsweredInTheLongFormAndTheStringFormStays() {
        let h = Harness()
        _ = h.result("model.create", withHead)
        let c = h.result("train.configure", ["loss": ["mask": "bce+dice", "class": ["name": "ce", "weight": 0.5]]])
        XCTAssertEqual(
            c?["loss"], ["class": ["name": "ce", "weight": 0.5], "mask": ["name": "bce+dice", "weight": 1]])
        XCTAssertEqual(h.result("train.configure", ["loss": "dice"])?["loss"], "dice")
        XCTAssertEqual(h.result("train.configure", ["loss": "auto"])?["loss"], "auto")
        h.finish()
    }

    func testBadPerHeadLossesAreInvalidParamsNamingTheField() {
        let h = Harness()
        _ = h.result("model.create", Harness.tinyUNet)
        let cases: [(JSONValue, String, String?)] = [
            (["class": "ce"], "loss.class", "is not a head of this model (its heads: mask)"),
            (["mask": ["name": "ce", "weight": -1]], "loss.mask.weight", "must be a finite number >= 0, got -1.0"),
            (["mask": ["name": "ce", "weight": "heavy"]], "loss.mask.weight", nil),
            (["mask": ["name": "hinge"]], "loss.mask.name", nil),
            (["mask": ["name": "ce", "scale": 2]], "loss.mask.scale", nil),
            (["head": "ce"], "loss.head", nil),
            (["mask": 3], "loss.mask", nil),
            (7, "loss", nil),
        ]
        for (loss, field, reason) in cases {
            let e = h.call("train.configure", ["loss": loss])?["error"]
            XCTAssertEqual(e?["code"], -32602, "\(loss)")
            XCTAssertEqual(e?["data"]?["field"]?.stringValue, field, "\(loss)")
            if let reason { XCTAssertEqual(e?["data"]?["reason"]?.stringValue, reason, "\(loss)") }
        }
        XCTAssertEqual(h.result("train.configure")?["loss"], "auto", "refused configures change nothing")
        h.finish()
    }

    /// JSON text cannot carry an infinite weight (the parser refuses 1e999), but the check does not rely on it.
    func testANonFiniteWeightIsRefused() {
        var c = TrainingConfig()
        let p = ParamsReader(["loss": ["mask": ["name": "dice", "weight": .double(.infinity)]]])
        XCTAssertThrowsError(try LossParam.read(p, into: &c, model: nil)) {
            XCTAssertEqual(($0 as? RPCError)?.data?["field"], "loss.mask.weight")
        }
        XCTAssertNil(c.headLosses)
    }

    /// Set before the model exists, the per-head losses are checked when training starts.
    func testALossForAHeadTheModelLacksIsRefusedWhenTrainingStarts() {
        let h = Harness()
        XCTAssertEqual(h.result("train.configure", ["loss": ["class": "ce"]])?["loss"]?["class"]?["name"], "ce")
        _ = h.result("model.create", Harness.tinyUNet)
        let step: JSONObject = [
            "images": [arrayImage(uint8: gradient(16, 16), shape: [16, 16])],
            "masks": [arrayImage(uint8: gradient(16, 16), shape: [16, 16])],
        ]
        let e = h.call("train.step", step)?["error"]
        XCTAssertEqual(e?["code"], -32602)
        XCTAssertEqual(e?["data"]?["field"], "loss.class")
        XCTAssertEqual(h.result("train.configure", ["loss": ["mask": "dice"]])?["loss"]?["mask"]?["name"], "dice")
        XCTAssertNotNil(h.result("train.step", step)?["loss"])
        h.finish()
    }
}
