/// How a model is trained: what `train.configure` sets.
public struct TrainingConfig: Codable, Equatable, Sendable {
    public var optimizer: Optimizer.Kind = .adam
    /// Adam's usual default (PyTorch's and Keras'), the one value the engine, the client and the docs use. The
    /// reference pipelines trained with 1e-4: pass it explicitly to reproduce them.
    public var learningRate: Float = 1e-3
    public var weightDecay: Float?
    public var momentum: Float = 0.9
    public var nesterov = false
    /// nil ("auto") picks per output (see `LossChoice`): BCE + Dice for a 1-channel mask, CE for a K-class mask,
    /// BCE for sigmoid class outputs (the reference classifier), CE for softmax ones.
    public var loss: LossKind?
    /// One loss and weight per head, by head name (`train.configure`'s object form); nil: `loss` for every head.
    /// See `headLoss(for:)`.
    public var headLosses: [String: HeadLoss]?
    /// Explicit weights per class, or nil. ("balanced" is resolved from the dataset's counts before training.)
    public var classWeights: [Float]?
    public var balancedClassWeights = false
    public var batchSize = 8
    public var seed: UInt64 = 0
    public var augment = true
    /// nil: the rate stays `learningRate` (but for ReduceLROnPlateau).
    public var lrSchedule: LearningRateSchedule?
    /// Data-parallel training: BatchNorm normalises with the global batch's statistics across the ranks (true), or
    /// each rank's own (nil or false, the default). Optional so that checkpoints written before it still decode.
    public var syncBatchNorm: Bool?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case optimizer, learningRate = "learning_rate", weightDecay = "weight_decay", momentum, nesterov, loss
        case headLosses = "head_losses"
        case classWeights = "class_weights", balancedClassWeights = "balanced_class_weights"
        case batchSize = "batch_size", seed, augment, lrSchedule = "lr_schedule", syncBatchNorm = "sync_batch_norm"
    }

    public func makeOptimizer() -> Optimizer {
        Optimizer(
            kind: optimizer, learningRate: learningRate, weightDecay: weightDecay,
            momentum: optimizer == .sgd ? momentum : 0, nesterov: nesterov)
    }
}

/// scikit-learn's "balanced" class weights: n_samples / (n_classes · count_c).
public func balancedClassWeights(counts: [Int]) -> [Float] {
    let total = counts.reduce(0, +)
    return counts.map { $0 > 0 ? Float(total) / Float(counts.count * $0) : 0 }
}
