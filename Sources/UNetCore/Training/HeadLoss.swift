/// One head's part of the training objective: which loss (nil: the head's automatic choice) and the weight of
/// its term in the sum. `TrainingConfig.headLosses` maps head names (`mask`, `class`, `mask.1`, ...) to these.
public struct HeadLoss: Codable, Equatable, Sendable {
    public var loss: LossKind?
    public var weight: Float

    public init(_ loss: LossKind? = nil, weight: Float = 1) { self.loss = loss; self.weight = weight }

    /// The losses a head of `kind` can train with: masks take all four, image-level classes BCE or CE.
    public static func losses(for kind: ModelHead.Kind) -> [LossKind] {
        LossKind.allCases.filter { applies($0, to: kind) }
    }

    /// Whether `loss` can train a head of `kind`. A switch, not a look-up in `losses(for:)`: it runs every
    /// training step, which allocates nothing.
    public static func applies(_ loss: LossKind, to kind: ModelHead.Kind) -> Bool {
        switch (kind, loss) {
        case (.mask, _), (.classes, .bce), (.classes, .ce): return true
        case (.classes, .dice), (.classes, .bceDice): return false
        }
    }
}

extension TrainingConfig {
    /// The loss and weight of `head`'s term. With per-head losses: the head's own entry, else (for a deep-
    /// supervision mask `mask.N`) the main `mask` entry, else automatic with weight 1; weight 0 leaves the head
    /// out. With the single `loss`: that loss for every head it fits, weight 1 (what it meant before heads had
    /// names).
    public func headLoss(for head: ModelHead) -> HeadLoss {
        guard let perHead = headLosses else {
            let fits = loss.map { HeadLoss.applies($0, to: head.kind) } ?? false
            return HeadLoss(fits ? loss : nil)
        }
        return perHead[head.name] ?? (head.kind == .mask ? perHead[ModelHead.Kind.mask.rawValue] : nil) ?? HeadLoss()
    }

    /// Checks the per-head losses against a model's heads: each name must be one of its heads and each loss fit
    /// the head's kind. The error's field is `loss.<name>`.
    public func checkHeadLosses(for model: Model) throws {
        for (name, entry) in (headLosses ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let head = model.head(name) else {
                throw ConfigError(field: "loss.\(name)", reason: "is not a head of this model (its heads: "
                                  + model.heads.map(\.name).joined(separator: ", ") + ")")
            }
            if let loss = entry.loss, !HeadLoss.applies(loss, to: head.kind) {
                let valid = ParameterSpec.quoted(["auto"] + HeadLoss.losses(for: head.kind).map(\.rawValue))
                throw ConfigError(field: "loss.\(name)",
                                  reason: "\"\(loss.rawValue)\" does not apply to a \(head.kind.rawValue) head; use one of \(valid)")
            }
        }
    }
}
