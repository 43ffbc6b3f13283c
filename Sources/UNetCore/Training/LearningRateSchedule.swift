import Foundation

/// A learning rate that changes with the step or the epoch, `train.configure`'s `lr_schedule`. `t` counts the
/// optimizer steps taken before this one (`unit` step, as Keras' schedules count `optimizer.iterations`) or the
/// epochs finished (`unit` epoch, as PyTorch's schedulers stepped once an epoch), and `base` is the configured
/// learning rate. Each formula is PyTorch's `torch.optim.lr_scheduler` closed form, and Keras' where Keras has
/// the schedule (they agree but for the parameter names given):
///
/// - constant: `base`.
/// - step (StepLR): `base · gamma^⌊t / step_size⌋`.
/// - exponential (Keras ExponentialDecay; ExponentialLR is `decay_steps` 1): `base · decay_rate^(t / decay_steps)`,
///   the exponent floored with `staircase`.
/// - cosine (Keras CosineDecay with warm-up; PyTorch LinearLR then CosineAnnealingLR with `eta_min` = alpha·base,
///   in a SequentialLR): for `t < w` (`warmup_steps`) the warm-up `base · (s + (1 − s) · t / w)` from
///   `s` = `warmup_start_factor` of the rate; then with `u = min(t − w, decay_steps)`,
///   `base · (alpha + (1 − alpha) · (1 + cos(π u / decay_steps)) / 2)`. Keras' `initial_learning_rate` is
///   s · base and its `warmup_target` is base.
/// - one_cycle (OneCycleLR, without its momentum cycling): from `base / div_factor` up to `base` over the first
///   `pct_start · total_steps − 1` steps, then down to `base / div_factor / final_div_factor` at step
///   `total_steps − 1`, by cosine (`anneal` "cos": `end + (start − end)(1 + cos(π p)) / 2`) or linearly; held there
///   after (PyTorch refuses to go on).
/// - polynomial (Keras PolynomialDecay; PyTorch PolynomialLR and nnU-Net's poly with `end_learning_rate` 0 and
///   nnU-Net's `power` 0.9): `(base − end) · (1 − min(t, decay_steps) / decay_steps)^power + end`.
///
/// ReduceLROnPlateau composes with it by scaling it (`Trainer.learningRateScale`): the rate of a step is the
/// schedule's times the product of the plateau's reductions.
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public enum Unit: String, Codable, Sendable, CaseIterable { case step, epoch }

    public enum Shape: Codable, Equatable, Sendable {
        case constant
        case step(stepSize: Int, gamma: Double)
        case exponential(decaySteps: Int, decayRate: Double, staircase: Bool)
        case cosine(decaySteps: Int, alpha: Double, warmupSteps: Int, warmupStartFactor: Double)
        case oneCycle(totalSteps: Int, pctStart: Double, divFactor: Double, finalDivFactor: Double, linear: Bool)
        case polynomial(decaySteps: Int, power: Double, endLearningRate: Double)
    }

    public var shape: Shape
    public var unit: Unit

    public init(_ shape: Shape, unit: Unit = .step) {
        self.shape = shape
        self.unit = unit
    }

    /// The rate at `t` (steps or epochs, from 0) for the configured rate `base`.
    public func learningRate(base: Double, at t: Int) -> Double {
        let t = Double(max(t, 0))
        switch shape {
        case .constant:
            return base
        case let .step(stepSize, gamma):
            return base * pow(gamma, (t / Double(stepSize)).rounded(.down))
        case let .exponential(decaySteps, decayRate, staircase):
            let p = t / Double(decaySteps)
            return base * pow(decayRate, staircase ? p.rounded(.down) : p)
        case let .cosine(decaySteps, alpha, warmupSteps, start):
            let w = Double(warmupSteps)
            if t < w { return base * (start + (1 - start) * t / w) }
            let u = min(t - w, Double(decaySteps))
            return base * (alpha + (1 - alpha) * (1 + cos(Double.pi * u / Double(decaySteps))) / 2)
        case let .oneCycle(totalSteps, pctStart, divFactor, finalDivFactor, linear):
            let initial = base / divFactor, minimum = initial / finalDivFactor
            let peakStep = pctStart * Double(totalSteps) - 1, lastStep = Double(totalSteps - 1)
            let t = min(t, lastStep)
            let (from, to, p) =
                t <= peakStep
                ? (initial, base, t / peakStep) : (base, minimum, (t - peakStep) / (lastStep - peakStep))
            return linear ? from + (to - from) * p : to + (from - to) / 2 * (1 + cos(Double.pi * p))
        case let .polynomial(decaySteps, power, end):
            return (base - end) * pow(1 - min(t, Double(decaySteps)) / Double(decaySteps), power) + end
        }
    }

    /// The steps (or epochs) of a warm-up, which the training must outlast.
    public var warmupLength: Int {
        if case let .cosine(_, _, warmupSteps, _) = shape { return warmupSteps }
        return 0
    }
}

extension Trainer {
    /// Sets the optimizer's rate for the step about to run from the schedule, when one is configured (without one the
    /// rate is what `reconfigure` and ReduceLROnPlateau set).
    func applyLearningRateSchedule() {
        guard let schedule = config.lrSchedule else { return }
        let base = Double(config.learningRate)
        optimizer.learningRate = Float(
            schedule.learningRate(base: base, at: schedule.unit == .step ? step : epoch)
                * learningRateScale)
    }

    /// ReduceLROnPlateau's new rate: taken as it is now, and kept as a factor on the schedule for the steps after.
    func reduceLearningRate(to lr: Double) {
        let current = Double(optimizer.learningRate)
        if current > 0 { learningRateScale *= lr / current }
        optimizer.learningRate = Float(lr)
    }
}
