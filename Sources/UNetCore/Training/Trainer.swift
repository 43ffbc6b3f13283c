import Foundation

/// Why a training request failed.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// The loss, a gradient or an updated weight was NaN or infinite; the weights are those before the step.
    case diverged(String)
    /// The batch has no targets the model's outputs can learn from, or the loss does not fit the outputs.
    case unusableTargets(String)
    case cancelled

    public var description: String {
        switch self {
        case .diverged(let why): return "training diverged: \(why); the weights are those before the step"
        case .unusableTargets(let why): return why
        case .cancelled: return "cancelled"
        }
    }
}

/// The outcome of one optimisation step.
public struct StepResult: Equatable {
    public var step: Int
    public var loss: Float
    public var learningRate: Float
    /// Batch metrics: `accuracy` for class outputs, `dice` for masks.
    public var metrics: [String: Double]
}

/// A model, its optimizer and the training configuration: one training session's numeric state.
///
/// `trainStep` is transactional: the weights, BatchNorm statistics and optimizer state are restored when the loss,
/// a gradient or an updated weight turns out non-finite, and the step answers `TrainingError.diverged`.
public final class Trainer {
    public let model: Model
    public let optimizer: Optimizer
    public internal(set) var config: TrainingConfig
    /// Resolved class weights (explicit, or "balanced" from a dataset's counts).
    public var classWeights: [Float]?
    /// Where an epoch-based run is: the next batch is batch `batchInEpoch` of epoch `epoch`.
    public var epoch = 0
    public var batchInEpoch = 0
    /// The product of ReduceLROnPlateau's reductions since the last `reconfigure`, applied to the schedule.
    public internal(set) var learningRateScale = 1.0

    private var snapshot: [Tensor] = []
    /// Data-parallel training's staging buffer for gradient buckets (unused by a single process).
    let gradientAverager = GradientAverager()
    /// The batch metrics of the last step, refilled in place each step (a dictionary made per step was a heap
    /// allocation; a caller that keeps a `StepResult` keeps its own copy).
    private var stepMetrics: [String: Double] = [:]
    /// The deep-supervision heads' loss gradients of the current step, in `Model.deepSupervisionHeads` order: a
    /// member emptied after each backward (keeping its storage), not an array per step.
    private(set) var deepSupervisionGradients: [Tensor?] = []

    public init(model: Model, config: TrainingConfig, optimizer: Optimizer? = nil) {
        self.model = model
        self.config = config
        self.optimizer = optimizer ?? config.makeOptimizer()
        classWeights = config.classWeights
    }

    public var step: Int { optimizer.stepCount }

    // MARK: One step

    /// One optimisation step on `batch`. Transactional: a step that fails (non-finite loss, gradient or weights,
    /// or an absurdly large update) leaves weights, BatchNorm statistics and optimizer state as they were.
    ///
    /// Under a `DataParallel.group`, `batch` is this rank's shard of a global batch of `globalCount` images (by
    /// default every rank's batch is as large as this one): the ranks agree on whether every loss and gradient is
    /// finite (one small allreduce; any rank's failure rolls every rank back), then average their gradients
    /// weighted by their shares, so every rank takes the same step as one process on the whole global batch.
    public func trainStep(_ batch: Batch, globalCount: Int? = nil) throws -> StepResult {
        try model.validateInput(batch.images.shape)
        applyLearningRateSchedule()
        takeSnapshot()
        let params = model.network.parameters
        model.network.zeroGradients()
        let group = DataParallel.group
        let share = group.map { Double(batch.count) / Double(globalCount ?? batch.count * $0.size) } ?? 1
        if let group { synchronizeBatchNorm(config.syncBatchNorm == true ? (group, share) : nil) }
        let out = try model.forward(batch.images, training: true, heads: heads(for: batch))
        var objective: Objective
        do { objective = try computeObjective(out, batch) } catch {
            model.network.releaseCaches(); restoreSnapshot(); throw error
        }
        if let group {
            objective.loss = try averageAcrossRanks(objective, share: share, group: group)
        } else {
            guard objective.loss.isFinite else {
                model.network.releaseCaches()
                restoreSnapshot()
                throw TrainingError.diverged("the loss is \(objective.loss)")
            }
            model.backwardParameters(
                maskGradient: objective.maskGradient, classGradient: objective.classGradient,
                deepSupervision: deepSupervisionGradients)
        }
        deepSupervisionGradients.removeAll(keepingCapacity: true)
        guard params.allSatisfy({ $0.grad.isFinite }) else {
            restoreSnapshot()
            throw TrainingError.diverged("a gradient is not finite")
        }
        // The update is measured before it is written: weights and moments change only if it passes.
        let proposal = optimizer.proposedStep(params)
        guard proposal.finite else {
            restoreSnapshot()
            throw TrainingError.diverged(
                "the update would make a weight non-finite (learning rate \(optimizer.learningRate))")
        }
        // A finite but absurd update (a learning rate of 1e12, say) would leave a model that only produces NaN from
        // the next step on. Refuse an update larger than `maximumRelativeUpdate` times the weights' norm.
        guard proposal.relativeChange <= Trainer.maximumRelativeUpdate else {
            restoreSnapshot()
            throw TrainingError.diverged(
                String(
                    format: "the update would change the weights by %.3g times their norm "
                        + "(learning rate %g too high)", proposal.relativeChange, optimizer.learningRate))
        }
        optimizer.step(params)
        return StepResult(
            step: optimizer.stepCount, loss: objective.loss, learningRate: optimizer.learningRate,
            metrics: stepMetrics)
    }

    /// What a step changes before its checks pass: only the BatchNorm statistics (the training forward updates
    /// them). Weights and moments are not written until the update has been checked (`Optimizer.proposedStep`),
    /// so they need no copy: for Ronneberger's U-Net with Adam that copy was 372 MB held for the whole step.
    private var forwardState: [Tensor] { model.network.buffers }

    private func takeSnapshot() {
        let state = forwardState
        if snapshot.count != state.count || zip(snapshot, state).contains(where: { $0.count != $1.count }) {
            snapshot = state.map { Tensor(zeros: $0.shape) }
        }
        for (s, t) in zip(snapshot, state) { s.assign(t) }
    }

    func restoreSnapshot() {
        for (s, t) in zip(snapshot, forwardState) { t.assign(s) }
        model.network.zeroGradients()
    }

    /// No sane step changes the weights by more than this multiple of their norm; normal steps change them by
    /// well under 1.
    public static let maximumRelativeUpdate = 100.0

    /// The outputs a batch has targets for and whose loss weight is not 0 (all of them when none is left, so
    /// the error names them).
    func heads(for batch: Batch) -> Model.Heads {
        var h: Model.Heads = []
        if batch.masks != nil, let m = model.maskHead, config.headLoss(for: m).weight != 0 { h.insert(.mask) }
        if batch.labels != nil, let c = model.classHead, config.headLoss(for: c).weight != 0 { h.insert(.classes) }
        return h.isEmpty ? .all : h
    }

    // MARK: Losses

    struct Objective {
        var loss: Float = 0
        var maskGradient: Tensor?
        var classGradient: Tensor?
    }

    /// The weighted sum of each head's loss over the heads that have a target in the batch (`TrainingConfig.
    /// headLoss(for:)` gives each head's loss and weight), and its gradients (the deep-supervision heads' into
    /// `deepSupervisionGradients`); the batch metrics (of the main heads) go to `stepMetrics`.
    func computeObjective(_ out: Model.Output, _ batch: Batch) throws -> Objective {
        var objective = Objective()
        stepMetrics.removeAll(keepingCapacity: true)
        deepSupervisionGradients.removeAll(keepingCapacity: true)
        var used = false
        if let logits = out.mask, let masks = batch.masks, let head = model.maskHead {
            guard masks.count == logits.shape[0] * logits.shape[2] * logits.shape[3] else {
                throw TrainingError.unusableTargets("masks \(masks.shape) do not fit mask logits \(logits.shape)")
            }
            objective.maskGradient = try addTerm(
                segmentationLoss(logits, masks, config.headLoss(for: head).loss),
                weight: config.headLoss(for: head).weight, to: &objective.loss)
            stepMetrics["dice"] = batchDice(logits, masks)
            used = true
            for (head, logits) in zip(model.deepSupervisionHeads, out.deepSupervision) {
                let setting = config.headLoss(for: head)
                deepSupervisionGradients.append(
                    setting.weight == 0
                        ? nil
                        : try addTerm(
                            segmentationLoss(logits, masks, setting.loss), weight: setting.weight, to: &objective.loss))
            }
        }
        if let logits = out.classLogits, let labels = batch.labels, let head = model.classHead {
            guard labels.count == logits.shape[0] else {
                throw TrainingError.unusableTargets("\(labels.count) labels for \(logits.shape[0]) images")
            }
            let classes = logits.shape[1]
            guard labels.allSatisfy({ $0 >= 0 && $0 < max(classes, 2) }) else {
                throw TrainingError.unusableTargets("labels must be class indices in 0..<\(max(classes, 2))")
            }
            objective.classGradient = try addTerm(
                classificationLoss(logits, labels, config.headLoss(for: head).loss),
                weight: config.headLoss(for: head).weight, to: &objective.loss)
            stepMetrics["accuracy"] = batchAccuracy(logits, labels)
            used = true
        }
        guard used else {
            throw TrainingError.unusableTargets(
                "the batch has no targets for this model's outputs (\(out.mask != nil ? "mask" : "")"
                    + "\(out.mask != nil && out.classLogits != nil ? " and " : "")\(out.classLogits != nil ? "class" : ""))"
            )
        }
        return objective
    }

    /// Adds `weight` times the term's loss to `total` and returns its gradient scaled alike (in place; a weight
    /// of 1 leaves both exactly as they were).
    func addTerm(_ term: LossResult, weight: Float, to total: inout Float) -> Tensor {
        total += weight * term.loss
        if weight != 1 { for i in 0..<term.gradient.count { term.gradient.data[i] *= weight } }
        return term.gradient
    }

    /// `loss` (the head's, or the single one) where it fits the mask, else the automatic one (`LossChoice`).
    func segmentationLoss(_ logits: Tensor, _ masks: Tensor, _ loss: LossKind?) throws -> LossResult {
        let classes = logits.shape[1]
        // A class-index mask on a 1-channel model (or an index past K) would train on nonsense targets.
        var largest: Float = 0
        for i in 0..<masks.count where masks[i] > largest { largest = masks[i] }
        if largest >= Float(max(classes, 2)) {
            throw TrainingError.unusableTargets(
                "the masks hold class index \(Int(largest)) but the model's mask has \(classes) channel\(classes == 1 ? "" : "s")"
                    + " (create it with classes \(Int(largest) + 1) for class-index masks)")
        }
        if classes == 1 {
            let t = masks.shape == logits.shape ? masks : TensorRecycler.view(of: masks, shape: logits.shape)
            switch LossChoice.maskLoss(loss, channels: 1) {
            case .bce: return binaryCrossEntropy(logits: logits, targets: t, classWeights: classWeights)
            case .dice: return diceLoss(logits: logits, targets: t)
            case .bceDice: return bceDiceLoss(logits: logits, targets: t, classWeights: classWeights)
            case .ce:
                throw TrainingError.unusableTargets("loss \"ce\" needs a K-class mask; this model's mask has 1 channel")
            }
        }
        let labels =
            masks.rank == 3 ? masks : TensorRecycler.view(of: masks, logits.shape[0], logits.shape[2], logits.shape[3])
        switch LossChoice.maskLoss(loss, channels: classes) {
        case .ce: return softmaxCrossEntropy(logits: logits, labels: labels, classWeights: classWeights)
        case .dice:
            return diceLoss(logits: logits, targets: oneHot(labels, classes: classes), classWeights: classWeights)
        case .bce, .bceDice:
            throw TrainingError.unusableTargets("bce losses need a 1-channel mask; use \"ce\" or \"dice\"")
        }
    }

    /// `loss` (the head's, or the single one) where it fits the head, else the automatic one (`LossChoice`).
    func classificationLoss(_ logits: Tensor, _ labels: [Int], _ loss: LossKind?) throws -> LossResult {
        let (n, classes) = (logits.shape[0], logits.shape[1])
        // A loss named for the mask (dice, say) leaves a class head beside it on its automatic loss.
        let loss = LossChoice.classLoss(loss, outputs: classes, activation: model.classActivation)
        if loss == .ce {
            guard classes > 1 else { throw TrainingError.unusableTargets("loss \"ce\" needs at least 2 class outputs") }
            let indices = TensorRecycler.tensor(n)
            for i in 0..<n { indices[i] = Float(labels[i]) }
            return softmaxCrossEntropy(logits: logits, labels: indices, classWeights: classWeights)
        }
        // BCE: a single sigmoid output learns the label itself; C outputs learn the one-hot label (the reference).
        let targets = TensorRecycler.zeros(logits.shape)
        for i in 0..<n {
            if classes == 1 { targets[i] = Float(labels[i]) } else { targets[i * classes + labels[i]] = 1 }
        }
        return binaryCrossEntropy(logits: logits, targets: targets, classWeights: classWeights)
    }

    func oneHot(_ labels: Tensor, classes: Int) -> Tensor {
        let (n, plane) = (labels.shape[0], labels.count / labels.shape[0])
        let t =
            labels.rank == 3
            ? TensorRecycler.tensor(n, classes, labels.shape[1], labels.shape[2])
            : TensorRecycler.tensor([n, classes] + Array(labels.shape.dropFirst()))
        t.zero()
        for i in 0..<n {
            for p in 0..<plane {
                let k = min(max(Int(labels[i * plane + p]), 0), classes - 1)
                t[(i * classes + k) * plane + p] = 1
            }
        }
        return t
    }

    /// Dice of the thresholded (or argmax) prediction over the whole batch.
    func batchDice(_ logits: Tensor, _ masks: Tensor) -> Double {
        let classes = logits.shape[1]
        var inter = 0.0, total = 0.0
        if classes == 1 {
            for i in 0..<logits.count {
                let p: Double = logits[i] > 0 ? 1 : 0
                let t = Double(masks[i])
                inter += p * t; total += p + t
            }
        } else {
            // Foreground Dice: every class but 0.
            let (n, plane) = (logits.shape[0], logits.shape[2] * logits.shape[3])
            for i in 0..<n {
                for p in 0..<plane {
                    var best = 0
                    for k in 1..<classes
                    where logits[(i * classes + k) * plane + p] > logits[(i * classes + best) * plane + p] { best = k }
                    let t = Int(masks[i * plane + p])
                    if best > 0 { total += 1 }
                    if t > 0 { total += 1 }
                    if best > 0 && best == t { inter += 1 }
                }
            }
        }
        return total > 0 ? 2 * inter / total : 1
    }

    func batchAccuracy(_ logits: Tensor, _ labels: [Int]) -> Double {
        var right = 0
        for (i, label) in labels.enumerated() where Trainer.predictedClass(logits, row: i) == label { right += 1 }
        return Double(right) / Double(max(labels.count, 1))
    }

    static func predictedClass(_ logits: Tensor, row i: Int) -> Int {
        let c = logits.shape[1]
        if c == 1 { return logits[i] > 0 ? 1 : 0 }
        var best = 0
        for k in 1..<c where logits[i * c + k] > logits[i * c + best] { best = k }
        return best
    }
}
