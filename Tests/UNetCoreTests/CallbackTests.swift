import UNetCore
import XCTest

/// Scripted metric sequences, with the epochs at which Keras 2 acts on them worked out by hand from its rules.
final class CallbackTests: XCTestCase {
    func testReduceLROnPlateauFiresAfterPatienceAndRespectsCooldownAndMinimum() {
        var cb = ReduceLROnPlateau(monitor: "val_loss", factor: 0.5, patience: 2, cooldown: 1, minLR: 0.2)
        var lr = 1.0
        var changes: [Int: Double] = [:]
        // Improves at 0 and 1, then flat. Keras decrements the cooldown counter at the start of an epoch and, once
        // it reaches 0, counts that same epoch: so a cooldown of 1 delays the next reduction by nothing here.
        let losses = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97, 0.98]
        for (epoch, v) in losses.enumerated() {
            if let new = cb.epochEnded(value: v, learningRate: lr) { lr = new; changes[epoch] = new }
        }
        // wait 1 at 2, 2 at 3 → fires (1 → 0.5), counter 1; at 4 the counter drops to 0 and wait becomes 1;
        // 2 at 5 → fires (0.5 → 0.25); likewise at 7 (0.25 → 0.125, clamped to min_lr 0.2); never below min_lr.
        XCTAssertEqual(changes, [3: 0.5, 5: 0.25, 7: 0.2])
    }

    func testReduceLROnPlateauIgnoresImprovementsSmallerThanMinDelta() {
        var cb = ReduceLROnPlateau(monitor: "val_loss", factor: 0.1, patience: 2, minDelta: 0.01)
        XCTAssertNil(cb.epochEnded(value: 1.0, learningRate: 1))
        XCTAssertNil(cb.epochEnded(value: 0.995, learningRate: 1))  // not better by more than 0.01
        XCTAssertEqual(cb.epochEnded(value: 0.992, learningRate: 1)!, 0.1, accuracy: 1e-12)
    }

    func testEarlyStoppingStopsAfterPatienceAndRemembersTheBestEpoch() {
        var cb = EarlyStopping(monitor: "val_auc", patience: 3, restoreBestWeights: true)  // auto: higher is better
        let aucs = [0.70, 0.80, 0.85, 0.84, 0.85, 0.83, 0.90]
        var stoppedAt: Int?
        var bestFlags: [Bool] = []
        for (epoch, v) in aucs.enumerated() {
            let d = cb.epochEnded(epoch, value: v)
            bestFlags.append(d.isBest)
            if d.stop { stoppedAt = epoch; break }
        }
        XCTAssertEqual(stoppedAt, 5)  // best at 2; epochs 3, 4, 5 bring no improvement (0.85 ties do not count)
        XCTAssertEqual(cb.bestEpoch, 2)
        XCTAssertEqual(bestFlags, [true, true, true, false, false, false])
    }

    func testEarlyStoppingWithZeroPatienceNeverStopsOnTheFirstEpoch() {
        var cb = EarlyStopping(monitor: "loss", patience: 0)
        XCTAssertFalse(cb.epochEnded(0, value: 1).stop)
        XCTAssertTrue(cb.epochEnded(1, value: 0.5).stop)  // Keras: wait >= 0 after epoch 0 is always true
    }

    func testModelCheckpointSavesEveryEpochOrOnlyImprovements() {
        var every = ModelCheckpointPolicy(path: "/tmp/m-{epoch}.safetensors")
        XCTAssertEqual(every.epochEnded(0, value: 1), "/tmp/m-1.safetensors")
        XCTAssertEqual(every.epochEnded(1, value: 2), "/tmp/m-2.safetensors")
        var best = ModelCheckpointPolicy(path: "/tmp/best.safetensors", monitor: "val_loss", saveBestOnly: true)
        let saved = [0.5, 0.6, 0.4, 0.4, 0.3].enumerated().map { best.epochEnded($0.offset, value: $0.element) != nil }
        XCTAssertEqual(saved, [true, false, true, false, true])
        XCTAssertNil(best.epochEnded(5, value: nil), "a missing metric saves nothing")
    }

    func testMonitorModeAuto() {
        XCTAssertEqual(MonitorMode.auto.resolved(for: "val_loss"), .min)
        XCTAssertEqual(MonitorMode.auto.resolved(for: "val_accuracy"), .max)
        XCTAssertEqual(MonitorMode.auto.resolved(for: "val_dice"), .max)
    }
}
