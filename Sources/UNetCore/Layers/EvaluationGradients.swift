/// A layer whose training forward computes a different function from its evaluation forward, not just one that
/// caches for the backward: BatchNorm (batch statistics, and it moves its running ones), Dropout and DropPath
/// (random units, and they advance their generators).
///
/// Explanations (Grad-CAM, saliency, integrated gradients) need the gradient of the *evaluation* function: with
/// `evaluatesInTraining` set, a training forward computes what an evaluation forward does and caches what the
/// backward needs, the backward is that function's gradient, and the layer's state (running statistics, batch
/// counter, random generator) is left exactly as it was. `Network.withEvaluationGradients` sets it.
public protocol TrainingDependentLayer: AnyObject {
    var evaluatesInTraining: Bool { get set }
}

extension Network {
    /// Runs `body` with every `TrainingDependentLayer` computing its evaluation function in training forwards,
    /// and restores the parameters' accumulated gradients afterwards: a training forward and backward inside
    /// `body` then give gradients of the evaluation-mode model and change nothing a training step or a checkpoint
    /// reads (weights, running statistics, random generators, gradients).
    public func withEvaluationGradients<T>(_ body: () throws -> T) rethrows -> T {
        let layers = nodes.compactMap { $0.layer as? TrainingDependentLayer }
        let savedGradients = parameters.map { $0.grad.copy() }
        for layer in layers { layer.evaluatesInTraining = true }
        defer {
            for layer in layers { layer.evaluatesInTraining = false }
            for (p, saved) in zip(parameters, savedGradients) { p.grad.assign(saved) }
            releaseCaches()
        }
        return try body()
    }
}
