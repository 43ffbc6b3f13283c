/// Which losses fit a model's outputs, and what `"auto"` (no explicit loss) picks for each.
///
/// Deciding this from the model alone, before any batch, lets `train.configure` (and the first step or fit after a
/// new model) refuse a loss that cannot train the model with the choices that can, instead of failing deep inside a
/// step. The rule per output:
/// - a 1-channel (sigmoid) mask: `bce`, `dice`, `bce+dice`; auto is `bce+dice`;
/// - a K-class (softmax) mask: `ce`, `dice`; auto is `ce`;
/// - an image-level class head: `bce` (one-hot for C outputs), and `ce` when it has 2 or more outputs; auto is `ce`
///   for softmax heads and `bce` for sigmoid ones (the reference classifier's Dense(2, sigmoid)).
/// An explicit loss applies to every output it fits and must fit at least one; the other outputs keep their
/// automatic loss (a unet with a mask and a class head trained with "ce" on labels: CE for the head, BCE + Dice for
/// the mask when masks come too).
public enum LossChoice {
    /// The losses a 1-channel or K-class mask can train with.
    public static func maskLosses(channels: Int) -> [LossKind] {
        channels == 1 ? [.bce, .dice, .bceDice] : [.ce, .dice]
    }

    /// The losses an image-level head with `outputs` units can train with.
    public static func classLosses(outputs: Int) -> [LossKind] { outputs > 1 ? [.bce, .ce] : [.bce] }

    public static func automaticMaskLoss(channels: Int) -> LossKind { channels == 1 ? .bceDice : .ce }

    public static func automaticClassLoss(_ activation: Model.Activation?) -> LossKind {
        activation == .softmax ? .ce : .bce
    }

    /// Units of the model's image-level head (0 without one).
    static func classOutputs(_ model: Model) -> Int { model.classHead?.channels ?? 0 }

    /// Channels of the model's main mask (0 without one).
    static func maskChannels(_ model: Model) -> Int { model.maskHead?.channels ?? 0 }

    /// The losses `head` can train with.
    public static func losses(for head: ModelHead) -> [LossKind] {
        head.kind == .mask ? maskLosses(channels: head.channels) : classLosses(outputs: head.channels)
    }

    /// What an explicit `loss` may name for `model`: what fits any of its outputs.
    public static func valid(for model: Model) -> [LossKind] {
        let mask = model.maskOutput != nil ? maskLosses(channels: maskChannels(model)) : []
        let head = model.classOutput != nil ? classLosses(outputs: classOutputs(model)) : []
        return LossKind.allCases.filter { mask.contains($0) || head.contains($0) }
    }

    /// The loss `loss` gives a mask of `channels`: itself when it fits, else the automatic one.
    public static func maskLoss(_ loss: LossKind?, channels: Int) -> LossKind {
        loss.flatMap { maskLosses(channels: channels).contains($0) ? $0 : nil } ?? automaticMaskLoss(channels: channels)
    }

    /// The loss `loss` gives a class head: itself when it fits, else the automatic one.
    public static func classLoss(_ loss: LossKind?, outputs: Int, activation: Model.Activation?) -> LossKind {
        loss.flatMap { classLosses(outputs: outputs).contains($0) ? $0 : nil } ?? automaticClassLoss(activation)
    }

    /// Throws a `loss` field error naming the valid choices when `loss` cannot train `model`.
    public static func check(_ loss: LossKind?, model: Model) throws {
        guard let loss else { return }
        let valid = valid(for: model)
        guard !valid.contains(loss) else { return }
        var outputs: [String] = []
        if model.maskOutput != nil {
            outputs.append(maskChannels(model) == 1 ? "1-channel mask" : "\(maskChannels(model))-class mask")
        }
        if model.classOutput != nil { outputs.append("\(classOutputs(model))-unit class head") }
        let what = "this model's " + outputs.joined(separator: " or its ")
        let choices = (["auto"] + valid.map(\.rawValue)).map { "\"\($0)\"" }.joined(separator: ", ")
        throw ConfigError(field: "loss", reason: "\"\(loss.rawValue)\" does not fit \(what); choose one of \(choices)")
    }
}
