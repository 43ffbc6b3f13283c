import Foundation

/// Updates parameters from their accumulated gradients. Semantics follow PyTorch's `torch.optim` exactly
/// (bias-corrected Adam, L2 `weight_decay` for SGD and Adam, decoupled decay for AdamW), so that the golden
/// tests can compare step for step.
public final class Optimizer {
    public enum Kind: String, CaseIterable, Sendable, Codable { case sgd, adam, adamw }

    public let kind: Kind
    public var learningRate: Float
    public var weightDecay: Float
    public var momentum: Float
    public var nesterov: Bool
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// Steps taken so far (Adam's t).
    public internal(set) var stepCount = 0
    /// Per-parameter state: SGD's momentum buffer in `first`; Adam's exp_avg and exp_avg_sq.
    public private(set) var first: [Tensor] = []
    public private(set) var second: [Tensor] = []

    public init(
        kind: Kind, learningRate: Float, weightDecay: Float? = nil, momentum: Float = 0, nesterov: Bool = false,
        beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    ) {
        self.kind = kind; self.learningRate = learningRate
        // PyTorch's defaults: no decay for SGD and Adam, 0.01 for AdamW.
        self.weightDecay = weightDecay ?? (kind == .adamw ? 0.01 : 0)
        self.momentum = momentum; self.nesterov = nesterov
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
    }

    /// One update of every parameter from its gradient. Gradients are left as they are.
    public func step(_ parameters: [Parameter]) {
        if first.isEmpty {
            first = parameters.map { Tensor(zeros: $0.value.shape) }
            if kind != .sgd { second = parameters.map { Tensor(zeros: $0.value.shape) } }
        }
        precondition(first.count == parameters.count, "optimizer state is for \(first.count) parameters")
        _ = update(parameters, commit: true)
        for p in parameters { p.noteValueChanged() }
        stepCount += 1
    }

    /// What `step` would do, without doing it: whether every new weight would be finite, and the change of the
    /// weights relative to their norm, ‖θ_new − θ_old‖ / ‖θ_old‖. The trainer checks this before it commits, so
    /// a step it refuses leaves weights and moments untouched without keeping a copy of them.
    public func proposedStep(_ parameters: [Parameter]) -> (finite: Bool, relativeChange: Double) {
        precondition(
            first.isEmpty || first.count == parameters.count, "optimizer state is for \(first.count) parameters")
        let r = update(parameters, commit: false)
        return (r.finite, (r.squaredChange / max(r.squaredNorm, 1e-30)).squareRoot())
    }

    /// The update of step `stepCount + 1`, element by element: with `commit` the new weights and moments are
    /// written; without, only measured. One loop for both, so what is checked is exactly what is written.
    private func update(_ parameters: [Parameter], commit: Bool) -> (
        finite: Bool, squaredChange: Double, squaredNorm: Double
    ) {
        let (lr, wd) = (learningRate, weightDecay)
        var finite = true, change = 0.0, norm = 0.0
        // Moments not yet made (before the first step) read as zeros.
        func state(_ list: [Tensor], _ k: Int) -> UnsafeMutablePointer<Float>? { list.isEmpty ? nil : list[k].data }
        switch kind {
        case .sgd:
            let firstStep = stepCount == 0
            for (k, p) in parameters.enumerated() {
                let (w, g, b) = (p.value.data, p.grad.data, state(first, k))
                for i in 0..<p.value.count {
                    var d = g[i] + wd * w[i]
                    var b1: Float = 0
                    if momentum != 0 {
                        b1 = firstStep ? d : momentum * (b?[i] ?? 0) + d
                        d = nesterov ? d + momentum * b1 : b1
                    }
                    let w1 = w[i] - lr * d
                    if commit {
                        if momentum != 0 { b![i] = b1 }
                        w[i] = w1
                    } else {
                        finite = finite && w1.isFinite
                        let delta = Double(w1 - w[i])
                        change += delta * delta
                        norm += Double(w[i]) * Double(w[i])
                    }
                }
            }
        case .adam, .adamw:
            let t = Float(stepCount + 1)
            let bc1 = 1 - powf(beta1, t)
            let bc2 = 1 - powf(beta2, t)
            let k = AdamCoefficients(
                learningRate: lr, weightDecay: wd, beta1: beta1, beta2: beta2, epsilon: epsilon,
                stepSize: lr / bc1, bc2Sqrt: bc2.squareRoot(), decoupled: kind == .adamw)
            for (i, p) in parameters.enumerated() {
                let r = adamUpdate(
                    k, count: p.value.count, w: p.value.data, g: p.grad.data, m: state(first, i),
                    v: state(second, i), commit: commit)
                finite = finite && r.finite
                change += r.squaredChange
                norm += r.squaredNorm
            }
        }
        return (finite, change, norm)
    }

    /// Forgets the moments and the step count (the next step starts afresh, as a new optimizer would).
    public func resetState() {
        first = []; second = []; stepCount = 0
    }

    /// Named state tensors for a checkpoint, under PyTorch's names (`momentum_buffer`, `exp_avg`, `exp_avg_sq`).
    public func stateTensors(names: [String]) -> [(String, Tensor)] {
        guard !first.isEmpty else { return [] }
        var out: [(String, Tensor)] = []
        for (i, n) in names.enumerated() {
            if kind == .sgd {
                out.append(("\(n).momentum_buffer", first[i]))
            } else {
                out.append(("\(n).exp_avg", first[i]))
                out.append(("\(n).exp_avg_sq", second[i]))
            }
        }
        return out
    }

    /// Restores state written by `stateTensors`; `lookup` finds a tensor by name.
    public func restore(stepCount: Int, names: [String], shapes: [[Int]], lookup: (String) -> Tensor?) throws {
        if stepCount == 0 { self.stepCount = 0; first = []; second = []; return }
        var f: [Tensor] = [], s: [Tensor] = []
        for (n, shape) in zip(names, shapes) {
            let keys = kind == .sgd ? ["\(n).momentum_buffer"] : ["\(n).exp_avg", "\(n).exp_avg_sq"]
            for (j, key) in keys.enumerated() {
                guard let t = lookup(key), t.shape == shape else {
                    throw ShapeError("optimizer state \(key) is missing or has the wrong shape")
                }
                if j == 0 { f.append(t) } else { s.append(t) }
            }
        }
        self.stepCount = stepCount; first = f; second = s
    }
}
