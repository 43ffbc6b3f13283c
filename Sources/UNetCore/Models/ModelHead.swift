/// One named output of a model: what it is (`mask`: K channels at the input's size; `class`: K units per
/// image), its size and the activation that turns its logits into probabilities.
///
/// Names: the main mask is `mask`, the image-level classifier `class`; further masks (deep supervision, e.g.
/// UNet++'s heads on inner decoder nodes) are `mask.1`, `mask.2`, ... Training takes one loss per name
/// (`TrainingConfig.headLosses`); metrics, `evaluate`, `predict` and `segment` read the main head of each kind.
public struct ModelHead: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case mask
        case classes = "class"
    }

    public enum Activation: String, Sendable { case sigmoid, softmax }

    public let name: String
    public let kind: Kind
    /// Mask channels or class units.
    public let channels: Int
    public let activation: Activation
    /// The index of this head's tensor in `Network.outputs`.
    public let output: Int

    public init(name: String, kind: Kind, channels: Int, activation: Activation, output: Int) {
        self.name = name; self.kind = kind; self.channels = channels; self.activation = activation
        self.output = output
    }

    /// A mask head over K channels: one sigmoid channel, or a softmax over K > 1 classes.
    public static func mask(_ name: String = "mask", channels: Int, output: Int) -> ModelHead {
        ModelHead(
            name: name, kind: .mask, channels: channels, activation: channels == 1 ? .sigmoid : .softmax,
            output: output)
    }

    /// The main head of `kind` (`mask` or `class`), as the name of a deep-supervision head starts with it.
    public var isMain: Bool { name == kind.rawValue }
}
