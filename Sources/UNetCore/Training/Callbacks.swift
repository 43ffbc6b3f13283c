import Foundation

/// The training callbacks of the reference Keras pipeline, as small state machines fed one epoch's metrics at a
/// time. They decide; the trainer acts (changes the learning rate, stops, saves, restores weights). Their rules
/// are Keras 2's, so a pipeline moved from Keras stops and saves at the same epochs.

/// Whether larger or smaller values of a metric are better. `auto` picks `max` for accuracy-like names
/// (accuracy, auc, dice, iou, precision, recall, f1, specificity) and `min` for the rest (losses).
public enum MonitorMode: String, Codable, Sendable {
    case auto, min, max

    public func resolved(for monitor: String) -> MonitorMode {
        guard self == .auto else { return self }
        let higherIsBetter = ["acc", "auc", "dice", "iou", "precision", "recall", "f1", "specificity"]
        return higherIsBetter.contains { monitor.contains($0) } ? .max : .min
    }

    /// `current` beats `best` by more than `delta` (delta ≥ 0) in this mode.
    func improves(_ current: Double, over best: Double, delta: Double = 0) -> Bool {
        self == .max ? current - delta > best : current + delta < best
    }

    var worst: Double { self == .max ? -.infinity : .infinity }
}

/// Keras' ReduceLROnPlateau: after `patience` epochs without an improvement of more than `minDelta`, multiply the
/// learning rate by `factor` (not below `minLR`), then wait `cooldown` epochs before counting again.
public struct ReduceLROnPlateau: Codable, Sendable, Equatable {
    public var monitor = "val_loss"
    public var factor = 0.1
    public var patience = 10
    public var minDelta = 1e-4
    public var cooldown = 0
    public var minLR = 0.0
    public var mode = MonitorMode.auto
    // State.
    public private(set) var best: Double?
    public private(set) var wait = 0
    public private(set) var cooldownCounter = 0

    public init(
        monitor: String = "val_loss", factor: Double = 0.1, patience: Int = 10, minDelta: Double = 1e-4,
        cooldown: Int = 0, minLR: Double = 0, mode: MonitorMode = .auto
    ) {
        self.monitor = monitor; self.factor = factor; self.patience = patience; self.minDelta = minDelta
        self.cooldown = cooldown; self.minLR = minLR; self.mode = mode
    }

    /// Feeds one epoch's value of the monitored metric; returns the new learning rate when it should change.
    public mutating func epochEnded(value current: Double, learningRate lr: Double) -> Double? {
        let m = mode.resolved(for: monitor)
        if cooldownCounter > 0 { cooldownCounter -= 1; wait = 0 }
        if m.improves(current, over: best ?? m.worst, delta: minDelta) {
            best = current
            wait = 0
        } else if cooldownCounter == 0 {
            wait += 1
            if wait >= patience, Float(lr) > Float(minLR) {
                cooldownCounter = cooldown
                wait = 0
                return max(lr * factor, minLR)
            }
        }
        return nil
    }
}

/// Keras' EarlyStopping: stop when the monitored metric has not improved by more than `minDelta` for `patience`
/// epochs; optionally restore the weights of the best epoch.
public struct EarlyStopping: Codable, Sendable, Equatable {
    public var monitor = "val_loss"
    public var patience = 0
    public var minDelta = 0.0
    public var mode = MonitorMode.auto
    public var restoreBestWeights = false
    // State.
    public private(set) var best: Double?
    public private(set) var bestEpoch = 0
    public private(set) var wait = 0

    public init(
        monitor: String = "val_loss", patience: Int = 0, minDelta: Double = 0, mode: MonitorMode = .auto,
        restoreBestWeights: Bool = false
    ) {
        self.monitor = monitor; self.patience = patience; self.minDelta = abs(minDelta); self.mode = mode
        self.restoreBestWeights = restoreBestWeights
    }

    public struct Decision: Equatable {
        /// This epoch is the best so far (keep a copy of the weights when restoring them later).
        public var isBest: Bool
        /// Training should stop after this epoch.
        public var stop: Bool
    }

    /// Feeds one epoch (0-based) and its value of the monitored metric.
    public mutating func epochEnded(_ epoch: Int, value current: Double) -> Decision {
        let m = mode.resolved(for: monitor)
        wait += 1
        var isBest = false
        if m.improves(current, over: best ?? m.worst, delta: minDelta) {
            best = current
            bestEpoch = epoch
            wait = 0
            isBest = true
        }
        return Decision(isBest: isBest, stop: wait >= patience && epoch > 0)
    }
}

/// Keras' ModelCheckpoint: save after every epoch, or only when the monitored metric improves on the best so far.
/// `{epoch}` in the path is replaced by the 1-based epoch number.
public struct ModelCheckpointPolicy: Codable, Sendable, Equatable {
    public var path: String
    public var monitor = "val_loss"
    public var saveBestOnly = false
    public var mode = MonitorMode.auto
    public private(set) var best: Double?

    public init(path: String, monitor: String = "val_loss", saveBestOnly: Bool = false, mode: MonitorMode = .auto) {
        self.path = path; self.monitor = monitor; self.saveBestOnly = saveBestOnly; self.mode = mode
    }

    /// The file to write after `epoch` (0-based), or nil when this epoch is not saved.
    public mutating func epochEnded(_ epoch: Int, value current: Double?) -> String? {
        if saveBestOnly {
            let m = mode.resolved(for: monitor)
            guard let current, m.improves(current, over: best ?? m.worst) else { return nil }
            best = current
        }
        return path.replacingOccurrences(of: "{epoch}", with: String(epoch + 1))
    }
}
