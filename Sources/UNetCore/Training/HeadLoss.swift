/// One head's part of the training objective: which loss (nil: the head's automatic choice) and the weight of
/// its term in the sum. `TrainingConfig.headLosses` maps head names (`mask`, `class`, `mask.1`, ...) to these.
public struct HeadLoss: Codable, Equatable, Sendable {
    public var loss: LossKind?
    public var weight: Float

    public init(_ loss: LossKind? = nil, weight: Float = 1) { self.loss = loss; self.weight = weight }
}

extension TrainingConfig {
    /// The loss and weight of `head`'s term. With per-head losses: the head's own entry, else (for a deep-
    /// supervision mask `mask.N`) the main `mask` entry, else automatic with weight 1; weight 0 leaves the head
    /// out. With the single `loss`: that loss with weight 1 for every head, where `LossChoice` applies it to the
    /// heads it fits and the automatic loss to the others (what it meant before heads had names).
    public func headLoss(for head: ModelHead) -> HeadLoss {
        guard let perHead = headLosses else { return HeadLoss(loss) }
        return perHead[head.name] ?? (head.kind == .mask ? perHead[ModelHead.Kind.mask.rawValue] : nil) ?? HeadLoss()
    }

    /// Checks the per-head losses against a model's heads: each name must be one of its heads and each explicit
    /// loss fit its head (`LossChoice.losses(for:)`). The error's field is `loss.<name>`.
    public func checkHeadLosses(for model: Model) throws {
        for (name, entry) in (headLosses ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let head = model.head(name) else {
                throw ConfigError(
                    field: "loss.\(name)",
                    reason: "is not a head of this model (its heads: "
                        + model.heads.map(\.name).joined(separator: ", ") + ")")
            }
            if let loss = entry.loss, !LossChoice.losses(for: head).contains(loss) {
                let valid = ParameterSpec.quoted(["auto"] + LossChoice.losses(for: head).map(\.rawValue))
                throw ConfigError(
                    field: "loss.\(name)",
                    reason: "\"\(loss.rawValue)\" does not fit the \(head.channels)-"
                        + "channel \(head.kind.rawValue) head; use one of \(valid)")
            }
        }
    }
}
