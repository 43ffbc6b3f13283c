import Foundation

/// A training session's position and settings, stored in a checkpoint's metadata (`unet_engine.training`) so that
/// a run resumed from the file repeats, loss for loss, what followed the save.
///
/// Written and read with Foundation's coder, the one metadata entry that does not go through jansson
/// (`JSONValueCoding`): the dropout generators' state words are UInt64 values beyond Int64, which jansson can
/// neither parse nor write exactly, and a resumed run must get them bit for bit.
public struct TrainingState: Codable, Equatable {
    public var config: TrainingConfig
    public var classWeights: [Float]?
    public var epoch: Int
    public var batchInEpoch: Int
    /// The generator state of every Dropout (and DropPath: every `StochasticLayer`), in network order.
    public var dropoutStates: [[UInt64]]

    enum CodingKeys: String, CodingKey {
        case config, classWeights = "class_weights", epoch, batchInEpoch = "batch_in_epoch"
        case dropoutStates = "dropout_states"
    }
}

extension Trainer {
    public static let stateKey = "unet_engine.training"

    public var state: TrainingState {
        TrainingState(
            config: config, classWeights: classWeights, epoch: epoch, batchInEpoch: batchInEpoch,
            dropoutStates: model.network.nodes.compactMap { ($0.layer as? StochasticLayer)?.rng.stateWords })
    }

    /// Saves weights, optimizer state and the training state atomically; returns the bytes written.
    @discardableResult
    public func save(to path: String, extraMetadata: [String: String] = [:]) throws -> Int {
        var meta = extraMetadata
        meta[Trainer.stateKey] = String(decoding: try JSONEncoder.sorted.encode(state), as: UTF8.self)
        return try Checkpoint.save(model: model, optimizer: optimizer, to: path, extraMetadata: meta)
    }

    /// The trainer a checkpoint describes, or nil when it holds no training state (a bare model).
    public static func restore(from contents: Checkpoint.Contents) throws -> Trainer? {
        guard let json = contents.metadata[stateKey] else { return nil }
        guard let s = try? JSONDecoder().decode(TrainingState.self, from: Data(json.utf8)) else {
            throw CheckpointError.invalid("checkpoint", "the training state in the metadata cannot be read")
        }
        let trainer = Trainer(model: contents.model, config: s.config, optimizer: contents.optimizer)
        trainer.classWeights = s.classWeights
        trainer.epoch = s.epoch
        trainer.batchInEpoch = s.batchInEpoch
        let dropouts = contents.model.network.nodes.compactMap { $0.layer as? StochasticLayer }
        for (layer, words) in zip(dropouts, s.dropoutStates) where words.count == 4 {
            layer.rng = RandomGenerator(state: words)
        }
        return trainer
    }

    /// Changes the settings that may change mid-run (learning rate, loss, class weights, batch size, augmentation).
    public func reconfigure(_ new: TrainingConfig) {
        config = new
        optimizer.learningRate = new.learningRate
        learningRateScale = 1
        classWeights = new.classWeights
    }
}
