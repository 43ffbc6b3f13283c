import Foundation
import UNetJSON

/// Saving and restoring a model (and its optimizer) as safetensors.
///
/// Layout of a checkpoint file:
/// - weights and buffers under the model's PyTorch-style names (`enc1.conv1.weight`, `enc1.bn1.running_mean`,
///   ...), weights (out, in, kh, kw), so `torch` modules with the same attribute names `load_state_dict` it
///   after dropping the `optimizer.` entries;
/// - optimizer state under `optimizer.<parameter name>.exp_avg` / `.exp_avg_sq` / `.momentum_buffer`;
/// - `__metadata__`: `format` = `pt`, `unet_engine.config` (the model configuration as JSON),
///   `unet_engine.optimizer` (kind and hyper-parameters as JSON), `unet_engine.step`, and any extra entries
///   a caller adds (the training session stores its RNG and dataset positions there).
public enum Checkpoint {
    public static let optimizerPrefix = "optimizer."
    public static let configKey = "unet_engine.config"
    public static let optimizerKey = "unet_engine.optimizer"
    public static let stepKey = "unet_engine.step"

    /// What a checkpoint restores.
    public struct Contents {
        public let model: Model
        public let optimizer: Optimizer?
        public let metadata: [String: String]
    }

    /// The file contents for `model` and (optionally) its optimizer.
    public static func make(model: Model, optimizer: Optimizer?, extraMetadata: [String: String] = [:]) throws
        -> SafeTensors
    {
        var st = SafeTensors()
        for (name, p) in model.network.namedParameters { st.tensors[name] = p.value }
        for (name, t) in model.network.namedBuffers {
            st.tensors[name] = t
            if name.hasSuffix("num_batches_tracked") { st.integerNames.insert(name) }
        }
        st.metadata = extraMetadata
        st.metadata["format"] = "pt"
        st.metadata[configKey] = try JSONValueCoding.text(model.config)
        if let opt = optimizer {
            let names = model.network.namedParameters.map(\.name)
            for (name, t) in opt.stateTensors(names: names) { st.tensors[optimizerPrefix + name] = t }
            st.metadata[optimizerKey] = try JSONValueCoding.text(OptimizerSettings(opt))
            st.metadata[stepKey] = String(opt.stepCount)
        }
        return st
    }

    /// Saves atomically; returns the bytes written.
    @discardableResult
    public static func save(
        model: Model, optimizer: Optimizer?, to path: String,
        extraMetadata: [String: String] = [:]
    ) throws -> Int {
        try make(model: model, optimizer: optimizer, extraMetadata: extraMetadata).write(path: path)
    }

    /// Reads a checkpoint into a new model (and optimizer). A file with our configuration metadata rebuilds its
    /// own model; a bare state_dict (as PyTorch writes it) loads into a fresh copy of `current`'s configuration.
    /// Nothing is shared with `current`, so on any error the caller's model is untouched.
    public static func load(path: String, current: Model?) throws -> Contents {
        let st = try SafeTensors.read(path: path)
        let config: ModelConfig
        let ownConfiguration = st.metadata[configKey] != nil
        if let json = st.metadata[configKey] {
            do { config = try JSONValueCoding.decode(ModelConfig.self, fromText: json) } catch let e as ConfigError {
                // An architecture the registry does not know, or a parameter outside its declared range.
                throw CheckpointError.invalid(path, "its model configuration is invalid: \(e)")
            } catch {
                throw CheckpointError.invalid(path, "the model configuration in the metadata cannot be read")
            }
        } else if SmpStateDict.handles(st) {
            config = try SmpStateDict.configuration(of: st, current: current?.config, path: path)
        } else if let current {
            config = current.config
        } else {
            throw CheckpointError.mismatch(
                path, "it has no unet_engine.config metadata and no model exists to load it into")
        }
        // Before building anything: the configuration must be buildable within the limit, and a file that brings
        // its own configuration must hold as many weight and buffer values as it needs (a hostile header cannot
        // make us allocate a huge model only to find the tensors missing). A bare state_dict loads into the current
        // model's configuration, already built once; `copyWeights` then names any tensor whose shape differs.
        let estimate: ModelSizeEstimate
        do {
            try config.validate()
            estimate = ModelSizeEstimate(config)
            try estimate.check(config)
        } catch {
            throw CheckpointError.invalid(path, "its model configuration is invalid: \(error)")
        }
        let stored = st.tensors.filter { !$0.key.hasPrefix(optimizerPrefix) }.values.reduce(0) { $0 + $1.count }
        guard !ownConfiguration || stored == estimate.parameters + estimate.buffers else {
            throw CheckpointError.mismatch(
                path,
                "it holds \(stored) weight and buffer values, its configuration needs "
                    + "\(estimate.parameters) parameters and \(estimate.buffers) buffer values")
        }
        let model: Model
        do { model = try Model.build(config) } catch {
            throw CheckpointError.invalid(path, "its model configuration is invalid: \(error)")
        }
        try copyWeights(
            from: SmpStateDict.handles(st) ? SmpStateDict.adapted(st, for: model, current: current) : st,
            into: model, path: path)
        var optimizer: Optimizer?
        if let json = st.metadata[optimizerKey] {
            guard let settings = try? JSONValueCoding.decode(OptimizerSettings.self, fromText: json) else {
                throw CheckpointError.invalid(path, "the optimizer settings in the metadata cannot be read")
            }
            let opt = settings.make()
            let params = model.network.namedParameters
            do {
                try opt.restore(
                    stepCount: Int(st.metadata[stepKey] ?? "0") ?? 0, names: params.map(\.name),
                    shapes: params.map(\.parameter.value.shape)
                ) { st.tensors[optimizerPrefix + $0] }
            } catch {
                throw CheckpointError.mismatch(path, "\(error)")
            }
            optimizer = opt
        }
        return Contents(model: model, optimizer: optimizer, metadata: st.metadata)
    }

    /// Copies every weight and buffer of `st` into `model`, strictly: each of the model's names must be present
    /// with its shape, and no weight name may be left over (as PyTorch's `strict=True`). The error lists the first
    /// missing, unexpected and mismatched names, as PyTorch's does, so one look shows how two layouts differ.
    static func copyWeights(from st: SafeTensors, into model: Model, path: String) throws {
        let targets = model.network.namedParameters.map { ($0.name, $0.parameter.value) } + model.network.namedBuffers
        var missing: [String] = [], mismatched: [String] = []
        for (name, t) in targets {
            guard let src = st.tensors[name] else { missing.append(name); continue }
            if src.shape != t.shape && !(src.count == 1 && t.count == 1) {
                mismatched.append("\(name) has shape \(src.shape), the model needs \(t.shape)")
            }
        }
        let expected = Set(targets.map(\.0))
        let unexpected = st.tensors.keys.filter { !$0.hasPrefix(optimizerPrefix) && !expected.contains($0) }.sorted()
        let problems = [("missing tensors", missing), ("unexpected tensors", unexpected), ("mismatched", mismatched)]
            .filter { !$0.1.isEmpty }
            .map {
                "\($0.0) (\($0.1.count)): " + $0.1.prefix(5).joined(separator: ", ") + ($0.1.count > 5 ? ", ..." : "")
            }
        guard problems.isEmpty else { throw CheckpointError.mismatch(path, problems.joined(separator: "; ")) }
        for (name, t) in targets { t.assign(st.tensors[name]!) }
        model.network.noteWeightsChanged()
    }
}

/// The optimizer's kind and hyper-parameters, as stored in checkpoint metadata.
public struct OptimizerSettings: Codable, Equatable {
    public var kind: Optimizer.Kind
    public var learningRate: Float
    public var weightDecay: Float
    public var momentum: Float
    public var nesterov: Bool
    public var beta1, beta2, epsilon: Float

    enum CodingKeys: String, CodingKey {
        case kind, learningRate = "learning_rate", weightDecay = "weight_decay", momentum, nesterov
        case beta1, beta2, epsilon
    }

    public init(_ o: Optimizer) {
        kind = o.kind; learningRate = o.learningRate; weightDecay = o.weightDecay; momentum = o.momentum
        nesterov = o.nesterov; beta1 = o.beta1; beta2 = o.beta2; epsilon = o.epsilon
    }

    public func make() -> Optimizer {
        Optimizer(
            kind: kind, learningRate: learningRate, weightDecay: weightDecay, momentum: momentum,
            nesterov: nesterov, beta1: beta1, beta2: beta2, epsilon: epsilon)
    }
}
