import UNetCore
import UNetData

/// The engine's state between requests: the current model and its optimizer, class names, and whatever later
/// method groups keep (datasets, the training configuration) as attachments.
///
/// Only the worker thread touches a session (numeric handlers run one at a time), so it needs no lock.
public final class Session {
    /// The model requests run on; `nil` until `model.create` or `model.load`.
    public private(set) var model: Model?
    /// The optimizer whose state belongs to `model`'s parameters (restored by `model.load`, made by training).
    public var optimizer: Optimizer?
    /// Names of the model's classes when known (from a dataset or a checkpoint), for `predict`'s `label`.
    public var classNames: [String]?
    /// How the model's inputs were prepared in training (set by the dataset and training methods); inference
    /// normalises images the same way. `nil`: 0...255 pixels scaled to [0, 1].
    public var preprocessing: Preprocessing?
    /// Incremented whenever the model is replaced, so attachments can tell that cached state is stale.
    public private(set) var modelGeneration = 0

    private var attachments: [ObjectIdentifier: AnyObject] = [:]

    public init() {}

    /// The current model, or the -32001 answer.
    public func requireModel() throws -> Model {
        guard let model else { throw RPCError.noModel }
        return model
    }

    /// Makes `model` current, with the optimizer state that belongs to it (none for a fresh model).
    public func replaceModel(_ model: Model, optimizer: Optimizer?, classNames: [String]?) {
        self.model = model
        self.optimizer = optimizer
        self.classNames = classNames
        modelGeneration += 1
        // The old model's activations and scratch are free now: hand their pages back, so a small model after a
        // large one does not keep the large one's resident memory (the next step touches what it needs again).
        Workspace.shared.release()
        TensorStorage.trim()
    }

    /// Per-session state of another method group, created on first use: e.g.
    /// `session.attachment(DatasetStore.self) { DatasetStore() }`.
    public func attachment<T: AnyObject>(_ type: T.Type, make: () -> T) -> T {
        if let existing = attachments[ObjectIdentifier(type)] { return existing as! T }
        let made = make()
        attachments[ObjectIdentifier(type)] = made
        return made
    }
}
