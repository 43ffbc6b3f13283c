import Foundation
import UNetCore
import UNetData

/// `model.create`, `model.summary`, `model.save` and `model.load`.
///
/// A new model replaces the session's only when it was built (or loaded) completely, so a bad request or a bad
/// file leaves the current model as it was.
public enum ModelMethods: MethodGroup {
    static let unetOnly = ["depth", "filters", "batch_norm", "upsampling", "classification_head", "dropout"]
    /// Checkpoint metadata keys this layer adds to UNetCore's.
    static let classNamesKey = "unet_engine.class_names"
    static let preprocessingKey = "unet_engine.preprocessing"

    public static var methods: [MethodSpec] {
        [
            MethodSpec("model.create", .numeric,
                       params: ["architecture", "input_shape", "classes", "seed"] + unetOnly) { ctx in
                let model = try Model.build(try config(ctx.params))
                // Class names from an open dataset stay: opening the data before creating the model is the usual order.
                ctx.session.replaceModel(model, optimizer: nil, classNames: ctx.session.classNames)
                return summary(model)
            },
            MethodSpec("model.summary", .numeric) { ctx in summary(try ctx.session.requireModel()) },
            MethodSpec("model.save", .numeric, params: ["path"]) { ctx in
                let path = try ctx.params.requiredPath("path")
                let model = try ctx.session.requireModel()
                let bytes = try Checkpoint.save(model: model, optimizer: ctx.session.optimizer, to: path,
                                                extraMetadata: checkpointMetadata(ctx.session))
                return ["path": .string(path), "bytes": JSONValue(bytes)]
            },
            MethodSpec("model.load", .numeric, params: ["path"]) { ctx in
                let path = try ctx.params.requiredPath("path")
                if KerasWeights.handles(path) {
                    // Keras weights go into a new model of the current one's architecture and input shape.
                    let config = try ctx.session.requireModel().config
                    guard config.architecture == .unetClassifier else {
                        throw RPCError.unsupportedByModel("Keras weights load into a unet-classifier (the seed's "
                                                          + "classifier); create one with the Keras model's input shape first")
                    }
                    let model = try KerasWeights.load(path: path, config: config)
                    ctx.session.replaceModel(model, optimizer: nil, classNames: ctx.session.classNames)
                    return summary(model)
                }
                let contents = try Checkpoint.load(path: path, current: ctx.session.model)
                let names = contents.metadata[classNamesKey].flatMap { try? JSONCodec.decode($0) }?.arrayValue?
                    .compactMap(\.stringValue)
                // Read the training state before anything changes, so a bad one leaves the session as it was.
                let resumed = try TrainingSession.Restored(contents)
                ctx.session.replaceModel(contents.model, optimizer: contents.optimizer, classNames: names)
                if let json = contents.metadata[preprocessingKey] {
                    ctx.session.preprocessing = try? JSONDecoder().decode(Preprocessing.self, from: Data(json.utf8))
                }
                TrainMethods.training(ctx.session).apply(resumed, session: ctx.session)
                return summary(contents.model)
            },
        ]
    }

    /// Everything a checkpoint stores beside the weights: class names, preprocessing, and the training session's
    /// state (optimizer settings, position, RNG), so `model.load` resumes a run exactly.
    static func checkpointMetadata(_ session: Session) -> [String: String] {
        var extra = TrainMethods.training(session).checkpointMetadata(session)
        if let names = session.classNames { extra[classNamesKey] = JSONCodec.encodeString(JSONValue(names)) }
        if let prep = session.preprocessing, let data = try? JSONEncoder().encode(prep) {
            extra[preprocessingKey] = String(decoding: data, as: UTF8.self)
        }
        return extra
    }

    /// Reads `model.create`'s params into a configuration; `Model.build` validates the ranges.
    static func config(_ p: ParamsReader) throws -> ModelConfig {
        guard let arch = try p.enumeration("architecture", ModelConfig.Architecture.self) else {
            throw p.invalid("architecture", "is required")
        }
        guard let shape = try p.intArray("input_shape", count: 3...3) else {
            throw p.invalid("input_shape", "is required")
        }
        try ChannelsLastShape.refuse(shape, p, key: "input_shape")
        if arch != .unet, let given = unetOnly.first(where: { p.has($0) }) {
            throw p.invalid(given, "applies only to architecture \"unet\"")
        }
        let seed = try p.int("seed", default: 0, in: 0...Int.max)
        var c = ModelConfig(architecture: arch, inputShape: shape, classes: try p.int("classes"), seed: UInt64(seed))
        c.depth = try p.int("depth", default: c.depth)
        c.filters = try p.int("filters", default: c.filters)
        c.batchNorm = try p.bool("batch_norm", default: c.batchNorm)
        c.upsampling = try p.enumeration("upsampling", ModelConfig.Upsampling.self) ?? c.upsampling
        c.classificationHead = try p.int("classification_head", default: c.classificationHead)
        c.dropout = Float(try p.double("dropout", default: Double(c.dropout)))
        return c
    }

    /// `model.summary`'s result: Keras-style rows (output shapes per image, batch axis omitted) and the
    /// configuration that rebuilds the model.
    static func summary(_ model: Model) -> JSONValue {
        let s = ModelSummary(model)
        let c = model.config
        let layers: [JSONValue] = s.rows.map {
            ["name": .string($0.name), "type": .string($0.type), "output_shape": JSONValue($0.outputShape),
             "params": JSONValue($0.params)]
        }
        var config: JSONObject = ["architecture": .string(c.architecture.rawValue),
                                  "input_shape": JSONValue(c.inputShape),
                                  "classes": JSONValue(c.classes), "seed": .int(Int64(truncatingIfNeeded: c.seed))]
        if c.architecture == .unet {
            config["depth"] = JSONValue(c.depth)
            config["filters"] = JSONValue(c.filters)
            config["batch_norm"] = .bool(c.batchNorm)
            config["upsampling"] = .string(c.upsampling.rawValue)
            config["classification_head"] = JSONValue(c.classificationHead)
            config["dropout"] = JSONValue(c.dropout)
        }
        return ["architecture": .string(s.architecture), "input_shape": JSONValue(s.inputShape),
                "layers": .array(layers), "total_params": JSONValue(s.totalParams),
                "trainable_params": JSONValue(s.trainableParams), "config": .object(config)]
    }
}

/// A Keras file that is not HDF5, truncated, or of another topology: -32007 like a bad checkpoint, with the
/// first layer that does not fit.
extension KerasImportError: RPCErrorConvertible {
    public var rpcError: RPCError {
        var data: JSONObject = ["path": .string(path), "reason": .string(description)]
        if let layer { data["layer"] = .string(layer) }
        return RPCError(code: RPCError.checkpointInvalidCode, message: description, data: .object(data))
    }
}
