import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// `train.configure`'s `lr_schedule`: each shape's rates against PyTorch's recorded ones
/// (Tests/fixtures/make_schedule_fixtures.py), the bad inputs, and a fit that follows a schedule scaled by
/// ReduceLROnPlateau.
final class LearningRateScheduleTests: XCTestCase {
    func testEverySchedulesRatesOver100StepsEqualPyTorchs() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../UNetCoreTests/Fixtures/lr_schedules.json")
        let fixture = try JSONCodec.decode([UInt8](try Data(contentsOf: url)))
        let cases = try XCTUnwrap(fixture["cases"]?.arrayValue)
        XCTAssertEqual(Set(cases.compactMap { $0["lr_schedule"]?["type"]?.stringValue }), Set(LRScheduleParams.types))
        for c in cases {
            let name = c["name"]?.stringValue ?? "?"
            let schedule = try LRScheduleParams.read(ParamsReader(try XCTUnwrap(c["lr_schedule"]?.objectValue)))
            let base = try XCTUnwrap(c["learning_rate"]?.doubleValue)
            let expected = try XCTUnwrap(c["rates"]?.arrayValue).compactMap { $0.stringValue.flatMap(Double.init) }
            XCTAssertEqual(expected.count, 100, name)
            for (t, want) in expected.enumerated() {
                let got = schedule.learningRate(base: base, at: t)
                XCTAssertEqual(got, want, accuracy: 1e-9 * abs(want) + 1e-15, "\(name) at step \(t)")
            }
            // The answer of train.configure reads back as the same schedule.
            let echoed = try LRScheduleParams.read(
                ParamsReader(try XCTUnwrap(LRScheduleParams.json(schedule).objectValue)))
            XCTAssertEqual(echoed, schedule, name)
        }
    }

    func testBadSchedulesNameTheFieldAndChangeNothing() {
        let h = Harness()
        let good = h.result("train.configure", ["lr_schedule": ["type": "step", "step_size": 2, "by": "epoch"]])
        XCTAssertEqual(good?["lr_schedule"]?["gamma"], 0.1)
        XCTAssertEqual(good?["lr_schedule"]?["by"], "epoch")
        let bad: [(JSONObject, String)] = [
            (["type": "warp"], "lr_schedule.type"), ([:], "lr_schedule.type"),
            (["type": "step", "step_size": -3], "lr_schedule.step_size"),
            (["type": "step", "step_size": 0], "lr_schedule.step_size"),
            (["type": "step", "step_size": 2, "by": "batch"], "lr_schedule.by"),
            (["type": "step", "step_size": 2, "warmup_steps": 1], "lr_schedule.warmup_steps"),
            (["type": "exponential"], "lr_schedule.decay_rate"),
            (["type": "exponential", "decay_rate": 0.5, "decay_steps": -1], "lr_schedule.decay_steps"),
            (["type": "cosine"], "lr_schedule.decay_steps"),
            (["type": "cosine", "decay_steps": 10, "warmup_steps": -1], "lr_schedule.warmup_steps"),
            (["type": "cosine", "decay_steps": 10, "alpha": 2], "lr_schedule.alpha"),
            (["type": "one_cycle", "total_steps": 10, "pct_start": 0.05], "lr_schedule.pct_start"),
            (["type": "one_cycle", "total_steps": 10, "div_factor": 0], "lr_schedule.div_factor"),
            (["type": "one_cycle", "total_steps": 10, "anneal": "cubic"], "lr_schedule.anneal"),
            (["type": "polynomial", "decay_steps": -100], "lr_schedule.decay_steps"),
        ]
        for (schedule, field) in bad {
            let r = h.call("train.configure", ["learning_rate": 0.5, "lr_schedule": .object(schedule)])
            XCTAssertEqual(r?["error"]?["code"], -32602, "\(schedule)")
            XCTAssertEqual(r?["error"]?["data"]?["field"]?.stringValue, field, "\(schedule)")
        }
        let now = h.result("train.configure")
        XCTAssertEqual(now?["lr_schedule"], good?["lr_schedule"], "a refused schedule changes nothing")
        XCTAssertEqual(now?["learning_rate"], good?["learning_rate"])
        XCTAssertEqual(h.result("train.configure", ["lr_schedule": .null])?["lr_schedule"], .null, "null removes it")
        h.finish()
    }

    func testFitFollowsAScheduleByEpochThatThePlateauScales() throws {
        let h = Harness()
        h.result("dataset.open", ["name": "ph", "phantoms": ["count": 8, "size": [32, 32], "seed": 1]])
        h.result("model.create", Harness.tinyUNet)
        h.result(
            "train.configure",
            [
                "learning_rate": 0.01, "batch_size": 4,
                "lr_schedule": ["type": "step", "step_size": 1, "gamma": 0.5, "by": "epoch"],
            ])
        // The plateau never sees an improvement of 10: it halves the rate after epoch 1 (epoch 0 sets its best), and
        // from then on the schedule's rates are halved too.
        let r = h.result(
            "train.fit",
            [
                "dataset": "ph", "epochs": 4,
                "callbacks": [
                    "reduce_lr_on_plateau": ["monitor": "loss", "patience": 0, "factor": 0.5, "min_delta": 10]
                ],
            ])
        let rates = try XCTUnwrap(r?["history"]?.arrayValue).compactMap { $0["learning_rate"]?.doubleValue }
        XCTAssertEqual(rates, [0.01, 0.005, 0.00125, 0.0003125])

        // A warm-up this fit would not finish is refused before any step.
        h.result("train.configure", ["lr_schedule": ["type": "cosine", "decay_steps": 10, "warmup_steps": 100]])
        let refused = h.call("train.fit", ["dataset": "ph", "epochs": 3])
        XCTAssertEqual(refused?["error"]?["code"], -32602)
        XCTAssertEqual(refused?["error"]?["data"]?["field"]?.stringValue, "lr_schedule.warmup_steps")
        h.result("train.configure", ["lr_schedule": .null])
        XCTAssertEqual(
            h.result("train.fit", ["dataset": "ph", "epochs": 1])?["step"], 10, "the refused fit took no step")
        h.finish()
    }
}
