import Foundation
import UNetCore
import UNetData

/// `model.create`, `model.architectures`, `model.summary`, `model.save` and `model.load`.
///
/// A new model replaces the session's only when it was built (or loaded) completely, so a bad request or a bad
/// file leaves the current model as it was. `model.create`'s parameters beyond the common ones come from the
/// architecture registry (`ArchitectureRegistry`): its validation, its errors and its `openrpc.json` entry.
public enum ModelMethods: MethodGroup {
    /// The parameters every architecture takes.
    static let commonParams = ["architecture", "input_shape", "seed"]
    /// Every name any architecture declares, in registry order.
    static var architectureParams: [String] {
        var seen = Set<String>()
        return ArchitectureRegistry.all.flatMap { $0.parameters.map(\.name) }.filter { seen.insert($0).inserted }
    }
    /// Checkpoint metadata keys this layer adds to UNetCore's.
    static let classNamesKey = "unet_engine.class_names"
    static let preprocessingKey = "unet_engine.preprocessing"

    static let path = Param.path("path").required

    public static var methods: [MethodSpec] {
        [
            MethodSpec(
                "model.create", .numeric,
                summary: "Build a new model; replaces the current one on success. The architecture's own "
                    + "parameters are declared by the architecture registry (see model.architectures); giving "
                    + "one the chosen architecture does not declare is -32602 listing the ones it does.",
                params: (createParamsSchema.arrayValue ?? []).map(DescribedParam.init(descriptor:)),
                result: modelCreateResult, errors: [.invalidParams]
            ) { ctx in
                let model = try Model.build(try config(ctx.params))
                // Class names from an open dataset stay: opening the data before creating the model is the usual order.
                ctx.session.replaceModel(model, optimizer: nil, classNames: ctx.session.classNames)
                return summary(model)
            },
            MethodSpec(
                "model.architectures", .immediate,
                summary: "Every architecture model.create builds: name, description, and each parameter with "
                    + "its type, default, range or choices and description. Answered at once.",
                result: modelArchitecturesResult
            ) { _ in architectures },
            MethodSpec(
                "model.summary", .numeric, summary: "Layers, shapes and parameter counts.",
                result: modelSummaryResult, errors: [.noModel]
            ) { ctx in
                summary(try ctx.session.requireModel())
            },
            MethodSpec(
                "model.save", .numeric, summary: "Write a safetensors checkpoint.", params: [path],
                result: modelSaveResult, errors: [.noModel, .ioError]
            ) { ctx in
                let path = try ctx.params[Self.path]
                let model = try ctx.session.requireModel()
                // Under MPI the ranks' weights are identical: only rank 0 (whose answer the host reads) writes.
                guard DataParallel.isLeader else { return ["path": .string(path), "bytes": 0] }
                let bytes = try Checkpoint.save(
                    model: model, optimizer: ctx.session.optimizer, to: path,
                    extraMetadata: checkpointMetadata(ctx.session))
                return ["path": .string(path), "bytes": JSONValue(bytes)]
            },
            MethodSpec(
                "model.load", .numeric, summary: "Load a checkpoint; the current model is kept if it fails.",
                params: [path], result: modelLoadResult, errors: [.fileNotFound, .checkpointInvalid]
            ) { ctx in
                let path = try ctx.params[Self.path]
                if KerasWeights.handles(path) {
                    // Keras weights go into a new model of the current one's architecture and input shape.
                    let config = try ctx.session.requireModel().config
                    guard config.architecture == .unetClassifier else {
                        throw RPCError.unsupportedByModel(
                            "Keras weights load into a unet-classifier (the seed's "
                                + "classifier); create one with the Keras model's input shape first")
                    }
                    let model = try KerasWeights.load(path: path, config: config)
                    ctx.session.replaceModel(model, optimizer: nil, classNames: ctx.session.classNames)
                    return summary(model)
                }
                let contents = try Checkpoint.load(path: path, current: ctx.session.model)
                // Read the metadata and the training state before anything changes, so a bad one (-32007) leaves
                // the session as it was.
                let names = try classNames(contents.metadata, path: path)
                let preprocessing = try preprocessing(contents.metadata, path: path)
                let resumed = try TrainingSession.Restored(contents)
                ctx.session.replaceModel(contents.model, optimizer: contents.optimizer, classNames: names)
                if let preprocessing { ctx.session.preprocessing = preprocessing }
                TrainMethods.training(ctx.session).apply(resumed, session: ctx.session)
                return summary(contents.model)
            },
        ]
    }

    /// The class names a checkpoint stores (nil when it has none); anything but a list of strings is -32007.
    static func classNames(_ metadata: [String: String], path: String) throws -> [String]? {
        guard let text = metadata[classNamesKey] else { return nil }
        guard let list = (try? JSONCodec.decode(text))?.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
            throw CheckpointError.invalid(path, "its \(classNamesKey) metadata is not a list of strings")
        }
        return list.compactMap(\.stringValue)
    }

    /// The preprocessing a checkpoint stores (nil when it has none). Metadata that does not decode is -32007
    /// rather than a silent default normalisation, which would feed the model inputs it was not trained on.
    static func preprocessing(_ metadata: [String: String], path: String) throws -> Preprocessing? {
        guard let text = metadata[preprocessingKey] else { return nil }
        do {
            return try JSONValueCoding.decode(Preprocessing.self, fromText: text)
        } catch {
            throw CheckpointError.invalid(path, "its \(preprocessingKey) metadata cannot be read (\(error))")
        }
    }

    /// Everything a checkpoint stores beside the weights: class names, preprocessing, and the training session's
    /// state (optimizer settings, position, RNG), so `model.load` resumes a run exactly.
    static func checkpointMetadata(_ session: Session) throws -> [String: String] {
        var extra = try TrainMethods.training(session).checkpointMetadata(session)
        if let names = session.classNames { extra[classNamesKey] = JSONCodec.encodeString(JSONValue(names)) }
        if let prep = session.preprocessing { extra[preprocessingKey] = try JSONValueCoding.text(prep) }
        return extra
    }

    /// Reads `model.create`'s params into a configuration: the architecture by name, then each parameter it
    /// declares, checked against its declaration; `Model.build` checks the rules between them.
    static func config(_ p: ParamsReader) throws -> ModelConfig {
        let name = try p.requiredString("architecture", oneOf: ArchitectureRegistry.names)
        let spec = try ArchitectureRegistry.lookup(ModelConfig.Architecture(rawValue: name))
        guard let shape = try p.intArray("input_shape", count: 3...3) else {
            throw p.invalid("input_shape", "is required")
        }
        try ChannelsLastShape.refuse(shape, p, key: "input_shape")
        if let given = p.object.keys.first(where: { !commonParams.contains($0) && spec.parameter($0) == nil }) {
            throw p.invalid(given, spec.unknownParameterReason)
        }
        let seed = try p.int("seed", default: 0, in: 0...Int.max)
        var parameters: [String: ParameterValue] = [:]
        for declared in spec.parameters { parameters[declared.name] = try declared.read(from: p) }
        return ModelConfig(architecture: spec.name, inputShape: shape, seed: UInt64(seed), parameters: parameters)
    }

    /// `model.architectures`' result: every architecture's name, description and parameters, from the registry.
    static var architectures: JSONValue {
        [
            "architectures": .array(
                ArchitectureRegistry.all.map { spec in
                    [
                        "name": .string(spec.name.rawValue), "description": .string(spec.summary),
                        "parameters": .array(spec.parameters.map(\.json)),
                    ]
                })
        ]
    }

    /// The `params` of `model.create`'s entry in `Protocol/openrpc.json`, generated from the registry (a test
    /// checks the committed file against it). A parameter several architectures declare has one schema, or
    /// `anyOf` their schemas where the types differ (`classification_head`: unet's count, eff-unet's object); its
    /// description names the architectures and their defaults.
    public static var createParamsSchema: JSONValue {
        var params: [JSONValue] = [
            [
                "name": "architecture", "required": true,
                "schema": ["type": "string", "enum": JSONValue(ArchitectureRegistry.names)],
            ],
            [
                "name": "input_shape", "required": true,
                "schema": [
                    "type": "array", "items": ["type": "integer", "minimum": 1], "minItems": 3, "maxItems": 3,
                    "description": .string(
                        "[C, H, W], channels first; a channels-last shape such as [256, 256, 1] "
                            + "(last 1 or 3, first above 4) is -32602 with \"did you mean [1, 256, 256]?\""),
                ],
            ],
            ["name": "seed", "required": false, "schema": ["type": "integer", "minimum": 0, "default": 0]],
        ]
        for name in architectureParams {
            let declaring = ArchitectureRegistry.all.compactMap { spec in spec.parameter(name).map { (spec, $0) } }
            var distinct: [JSONObject] = []
            for (_, p) in declaring where !distinct.contains(p.typeSchema) { distinct.append(p.typeSchema) }
            var schema: JSONObject =
                distinct.count == 1 ? distinct[0] : ["anyOf": .array(distinct.map(JSONValue.object))]
            let defaults = Set(declaring.map(\.1.defaultValue))
            if defaults.count == 1 { schema["default"] = declaring[0].1.defaultValue.json }
            let uses = declaring.map { "\($0.0.name) (default \(JSONCodec.encodeString($0.1.defaultValue.json)))" }
            if distinct.count == 1 {
                schema["description"] = .string("\(declaring[0].1.doc); for " + uses.joined(separator: ", "))
            } else {
                schema["description"] = .string(
                    zip(declaring, uses).map { "\($1): \($0.1.doc)" }.joined(separator: "; "))
            }
            params.append(["name": .string(name), "required": false, "schema": .object(schema)])
        }
        return .array(params)
    }

    /// `model.summary`'s result: Keras-style rows (output shapes per image, batch axis omitted) and the
    /// configuration that rebuilds the model.
    static func summary(_ model: Model) -> JSONValue {
        let s = ModelSummary(model)
        let c = model.config
        let layers: [JSONValue] = s.rows.map {
            [
                "name": .string($0.name), "type": .string($0.type), "output_shape": JSONValue($0.outputShape),
                "params": JSONValue($0.params),
            ]
        }
        var config: JSONObject = [
            "architecture": .string(c.architecture.rawValue),
            "input_shape": JSONValue(c.inputShape), "seed": .int(Int64(truncatingIfNeeded: c.seed)),
        ]
        for p in ArchitectureRegistry.spec(c.architecture)?.parameters ?? [] {
            config[p.name] = c.parameters[p.name]?.json
        }
        return [
            "architecture": .string(s.architecture), "input_shape": JSONValue(s.inputShape),
            "layers": .array(layers), "total_params": JSONValue(s.totalParams),
            "trainable_params": JSONValue(s.trainableParams), "config": .object(config),
            "outputs": .array(model.heads.map(outputJSON)),
        ]
    }

    /// One named output of `model.summary`: name, kind, channels (mask channels or class units), activation.
    static func outputJSON(_ h: ModelHead) -> JSONValue {
        [
            "name": .string(h.name), "kind": .string(h.kind.rawValue), "channels": JSONValue(h.channels),
            "activation": .string(h.activation.rawValue),
        ]
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
