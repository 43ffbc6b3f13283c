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

    public init(kind: Kind, learningRate: Float, weightDecay: Float? = nil, momentum: Float = 0, nesterov: Bool = false,
                beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
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
        stepCount += 1
        let (lr, wd) = (learningRate, weightDecay)
        switch kind {
        case .sgd:
            for (p, buf) in zip(parameters, first) {
                let (w, g, b) = (p.value.data, p.grad.data, buf.data)
                let firstStep = stepCount == 1
                for i in 0..<p.value.count {
                    var d = g[i] + wd * w[i]
                    if momentum != 0 {
                        b[i] = firstStep ? d : momentum * b[i] + d
                        d = nesterov ? d + momentum * b[i] : b[i]
                    }
                    w[i] -= lr * d
                }
            }
        case .adam, .adamw:
            let t = Float(stepCount)
            let bc1 = 1 - powf(beta1, t)
            let bc2 = 1 - powf(beta2, t)
            let stepSize = lr / bc1
            let bc2Sqrt = bc2.squareRoot()
            for (k, p) in parameters.enumerated() {
                let (w, g, m, v) = (p.value.data, p.grad.data, first[k].data, second[k].data)
                for i in 0..<p.value.count {
                    var gi = g[i]
                    if kind == .adamw { w[i] *= 1 - lr * wd } else if wd != 0 { gi += wd * w[i] }
                    m[i] += (1 - beta1) * (gi - m[i])  // PyTorch's lerp form
                    v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
                    // PyTorch: p -= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)
                    w[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2Sqrt + epsilon)
                }
            }
        }
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
            if kind == .sgd { out.append(("\(n).momentum_buffer", first[i])) } else {
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
