import UNetCore

/// `train.configure`'s `loss`, in either form:
/// - a string: one loss for every head ("bce", "ce", "dice", "bce+dice", or "auto": each head's own choice), as
///   before heads had names;
/// - an object by head name: `{"mask": "bce+dice", "class": {"name": "ce", "weight": 0.5}}`, each entry a loss
///   name or {`name` ("auto"), `weight` (1, finite and >= 0)}. Heads left out train with "auto" and weight 1.
enum LossParam {
    static var names: [String] { ["auto"] + LossKind.allCases.map(\.rawValue) }

    /// Reads `loss` (if given) into `config`; with `model`, the per-head form is checked against its heads.
    static func read(_ p: ParamsReader, into config: inout TrainingConfig, model: Model?) throws {
        guard let raw = p.value("loss") else { return }
        if raw.stringValue != nil {
            config.loss = try kind(try p.requiredString("loss", oneOf: names))
            config.headLosses = nil
            return
        }
        guard raw.objectValue != nil, let heads = try p.object("loss") else {
            throw p.invalid(
                "loss",
                "must be one of \(ParameterSpec.quoted(names)) or an object of losses by head name, "
                    + "got \(raw.typeName)")
        }
        var losses: [String: HeadLoss] = [:]
        for name in heads.object.keys {
            guard name == "mask" || name == "class" || isDeepSupervisionName(name) else {
                throw heads.invalid(name, "is not a head name (\"mask\", \"class\", \"mask.1\", \"mask.2\", ...)")
            }
            if heads.object[name]?.stringValue != nil {
                losses[name] = HeadLoss(try kind(try heads.requiredString(name, oneOf: names)))
                continue
            }
            guard let entry = try heads.object(name) else { throw heads.invalid(name, "is required") }
            let weight = try entry.double("weight", default: 1)
            guard weight.isFinite, weight >= 0 else {
                throw entry.invalid("weight", "must be a finite number >= 0, got \(weight)")
            }
            losses[name] = HeadLoss(
                try kind(try entry.string("name", default: "auto", oneOf: names)), weight: Float(weight))
            try entry.finish()
        }
        var updated = config
        updated.loss = nil
        updated.headLosses = losses
        if let model {
            do { try updated.checkHeadLosses(for: model) } catch let e as ConfigError {
                throw RPCError.invalidParams(field: e.field, reason: e.reason)
            }
        }
        config = updated
    }

    /// `loss` as `train.configure` answers it: the string form, or the per-head object in the long form.
    static func json(_ c: TrainingConfig) -> JSONValue {
        guard let perHead = c.headLosses else { return c.loss.map { .string($0.rawValue) } ?? "auto" }
        return .object(
            JSONObject(
                perHead.sorted { $0.key < $1.key }.map { name, entry in
                    (
                        name,
                        ["name": .string(entry.loss?.rawValue ?? "auto"), "weight": TrainMethods.decimal(entry.weight)]
                    )
                }))
    }

    static func kind(_ name: String) -> LossKind? { LossKind(rawValue: name) }

    static func isDeepSupervisionName(_ name: String) -> Bool {
        name.hasPrefix("mask.") && Int(name.dropFirst("mask.".count)).map { $0 >= 1 } == true
    }
}
