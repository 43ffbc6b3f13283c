import Foundation
import UNetCore
import UNetData

/// The session's training state: the configuration `train.configure` set, the trainer (model, optimizer,
/// position) built from it on first use, and each dataset's position in its shuffled order.
final class TrainingSession {
    var config = TrainingConfig()
    var trainer: Trainer?
    /// The model generation the trainer was built for; a new model makes a new trainer.
    var generation = -1
    /// Per training dataset: [epoch, next batch] in that dataset's seeded order.
    var positions: [String: [Int]] = [:]

    static let positionsKey = "unet_engine.dataset_positions"

    /// The trainer for the session's current model (made with the session's optimizer state when it has one).
    func trainer(for session: Session) throws -> Trainer {
        let model = try session.requireModel()
        if let t = trainer, generation == session.modelGeneration, t.model === model { return t }
        let t = Trainer(model: model, config: config, optimizer: session.optimizer)
        if session.optimizer != nil { t.reconfigure(config) }
        session.optimizer = t.optimizer
        trainer = t
        generation = session.modelGeneration
        return t
    }

    /// Metadata that makes a checkpoint resumable: the trainer's state and the datasets' positions.
    func checkpointMetadata(_ session: Session) -> [String: String] {
        var meta: [String: String] = [:]
        if let t = trainer, generation == session.modelGeneration, let json = try? JSONEncoder().encode(t.state) { meta[Trainer.stateKey] = String(decoding: json, as: UTF8.self) }
        if let json = try? JSONEncoder().encode(positions) { meta[TrainingSession.positionsKey] = String(decoding: json, as: UTF8.self) }
        return meta
    }

    /// What a checkpoint holds of a training session, read (and validated) before the model is replaced.
    struct Restored {
        let trainer: Trainer?
        let positions: [String: [Int]]

        init(_ contents: Checkpoint.Contents) throws {
            trainer = try Trainer.restore(from: contents)
            positions = contents.metadata[TrainingSession.positionsKey]
                .flatMap { try? JSONDecoder().decode([String: [Int]].self, from: Data($0.utf8)) } ?? [:]
        }
    }

    /// Takes over a restored state, after `model.load` made its model current.
    func apply(_ restored: Restored, session: Session) {
        positions = restored.positions
        trainer = restored.trainer
        if let t = restored.trainer {
            config = t.config
            generation = session.modelGeneration
            session.optimizer = t.optimizer
        }
    }
}

/// A log that stopped being writable during a fit (disk full, folder removed): -32008 with the path.
extension LogFileError: RPCErrorConvertible {
    public var rpcError: RPCError {
        RPCError(code: RPCError.ioErrorCode, message: description, data: ["path": .string(path), "reason": .string(reason)])
    }
}

extension TrainingError: RPCErrorConvertible {
    public var rpcError: RPCError {
        switch self {
        case .diverged(let why):
            return RPCError(code: RPCError.trainingDivergedCode, message: description, data: ["reason": .string(why)])
        case .unusableTargets(let why): return .shapeMismatch(why)
        case .cancelled: return .cancelled
        }
    }
}

/// `train.configure`, `train.step` and `train.fit`.
public enum TrainMethods: MethodGroup {
    public static var methods: [MethodSpec] {
        [
            MethodSpec("train.configure", .numeric, params: ["optimizer", "learning_rate", "weight_decay", "momentum",
                                                            "nesterov", "loss", "class_weights", "batch_size", "seed",
                                                            "augment", "lr_schedule"]) { ctx in try configure(ctx) },
            MethodSpec("train.step", .numeric, params: ["dataset", "images", "labels", "masks", "resize"]) { ctx in
                try step(ctx)
            },
            MethodSpec("train.fit", .numeric, params: ["dataset", "validation", "epochs", "batch_size", "shuffle",
                                                      "callbacks", "threshold"]) { ctx in try fit(ctx) },
        ]
    }

    static func training(_ session: Session) -> TrainingSession { session.attachment(TrainingSession.self) { TrainingSession() } }

    // MARK: train.configure

    static func configure(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params, training = training(ctx.session)
        var c = training.config
        if let kind = try p.enumeration("optimizer", Optimizer.Kind.self) { c.optimizer = kind }
        if let lr = try p.double("learning_rate", in: 0...1e12) {
            guard lr > 0 else { throw p.invalid("learning_rate", "must be positive") }
            c.learningRate = Float(lr)
        }
        if let wd = try p.double("weight_decay", in: 0...1) { c.weightDecay = Float(wd) }
        if let m = try p.double("momentum", in: 0...1) { c.momentum = Float(m) }
        if let n = try p.bool("nesterov") { c.nesterov = n }
        if let loss = try p.string("loss", oneOf: LossKind.allCases.map(\.rawValue)) { c.loss = LossKind(rawValue: loss) }
        if let v = p.value("class_weights") {
            switch v {
            case .string("balanced"): c.balancedClassWeights = true; c.classWeights = nil
            case .null: c.balancedClassWeights = false; c.classWeights = nil
            case .array(let items):
                let weights = try items.map { item -> Float in
                    guard let d = item.doubleValue, d >= 0, d.isFinite else {
                        throw p.invalid("class_weights", "must be \"balanced\" or a list of non-negative numbers")
                    }
                    return Float(d)
                }
                guard !weights.isEmpty else { throw p.invalid("class_weights", "must not be empty") }
                c.balancedClassWeights = false; c.classWeights = weights
            default: throw p.invalid("class_weights", "must be \"balanced\" or a list of non-negative numbers")
            }
        }
        if let b = try p.int("batch_size", in: 1...4096) { c.batchSize = b }
        if let s = try p.int("seed", in: 0...Int.max) { c.seed = UInt64(s) }
        if let a = try p.bool("augment") { c.augment = a }
        if p.has("lr_schedule") { c.lrSchedule = try p.object("lr_schedule").map(LRScheduleParams.read) }
        if let t = training.trainer, t.optimizer.kind != c.optimizer {
            // A different optimizer starts with fresh state, as in PyTorch when one builds a new optimizer.
            ctx.session.optimizer = nil
            training.trainer = nil
        }
        training.config = c
        training.trainer?.reconfigure(c)
        return configJSON(c)
    }

    /// A float32 setting as the short decimal it was given as (1e-4, not 9.99999974e-05).
    static func decimal(_ x: Float) -> JSONValue { JSONValue(Double("\(x)") ?? Double(x)) }

    static func configJSON(_ c: TrainingConfig) -> JSONValue {
        let weights: JSONValue = c.balancedClassWeights ? "balanced" : c.classWeights.map { JSONValue($0) } ?? .null
        return [
            "optimizer": .string(c.optimizer.rawValue), "learning_rate": decimal(c.learningRate),
            "weight_decay": decimal(c.weightDecay ?? (c.optimizer == .adamw ? 0.01 : 0)),
            "momentum": decimal(c.momentum), "nesterov": .bool(c.nesterov),
            "loss": c.loss.map { .string($0.rawValue) } ?? "auto", "class_weights": weights,
            "batch_size": JSONValue(c.batchSize), "seed": JSONValue(Int(truncatingIfNeeded: c.seed)),
            "augment": .bool(c.augment), "lr_schedule": c.lrSchedule.map(LRScheduleParams.json) ?? .null,
        ]
    }

    /// Resolves "balanced" class weights from a dataset's counts.
    static func applyClassWeights(_ trainer: Trainer, _ training: TrainingSession, _ source: BatchSource?) {
        if training.config.balancedClassWeights, let source, !source.classCounts.isEmpty {
            trainer.classWeights = balancedClassWeights(counts: source.classCounts)
        } else {
            trainer.classWeights = training.config.classWeights
        }
    }

    // MARK: train.step

    static func step(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params, training = training(ctx.session)
        let trainer = try training.trainer(for: ctx.session)
        let batch: Batch
        if let name = try p.string("dataset") {
            guard !p.has("images") else { throw p.invalid("images", "give either dataset or images, not both") }
            let source = try DatasetLookup.source(ctx.session, name: name, field: "dataset")
            applyClassWeights(trainer, training, source)
            let bs = max(1, training.config.batchSize)
            var position = training.positions[name] ?? [0, 0]
            let steps = (source.sampleCount + bs - 1) / bs
            guard steps > 0 else { throw p.invalid("dataset", "dataset \(name) is empty") }
            if position[1] >= steps { position = [position[0] + 1, 0] }
            let order = epochOrder(count: source.sampleCount, epoch: position[0], seed: training.config.seed, shuffle: true)
            let indices = Array(order[(position[1] * bs)..<min((position[1] + 1) * bs, order.count)])
            batch = try source.batch(indices: indices, epoch: position[0], augment: training.config.augment)
            trainer.epoch = position[0]  // for a schedule by epoch
            let result = try trainer.trainStep(batch)
            training.positions[name] = [position[0], position[1] + 1]
            return stepJSON(result, extra: ["epoch": JSONValue(position[0]), "batch_in_epoch": JSONValue(position[1] + 1)])
        }
        batch = try InlineBatch.read(p, model: trainer.model, session: ctx.session)
        applyClassWeights(trainer, training, nil)
        return stepJSON(try trainer.trainStep(batch), extra: [:])
    }

    static func stepJSON(_ r: StepResult, extra: JSONObject) -> JSONValue {
        var o: JSONObject = ["step": JSONValue(r.step), "loss": JSONValue(Double(r.loss)),
                             "learning_rate": decimal(r.learningRate),
                             "metrics": .object(JSONObject(r.metrics.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) }))]
        for (k, v) in extra { o[k] = v }
        return .object(o)
    }

    // MARK: train.fit

    static func fit(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params, training = training(ctx.session)
        let name = try p.requiredString("dataset")
        let source = try DatasetLookup.source(ctx.session, name: name, field: "dataset")
        var validation: BatchSource?
        if let v = try p.string("validation") { validation = try DatasetLookup.source(ctx.session, name: v, field: "validation") }
        var options = FitOptions(epochs: try p.int("epochs", default: 1, in: 1...100_000))
        options.shuffle = try p.bool("shuffle", default: true)
        options.threshold = try p.double("threshold", default: 0.5, in: 0...1)
        if let b = try p.int("batch_size", in: 1...4096) { training.config.batchSize = b }
        if let cb = try p.object("callbacks") { try readCallbacks(cb, into: &options) }
        try p.finish()

        let trainer = try training.trainer(for: ctx.session)
        trainer.reconfigure(training.config)
        applyClassWeights(trainer, training, source)
        let position = training.positions[name] ?? [0, 0]
        trainer.epoch = position[0]
        trainer.batchInEpoch = position[1]
        try checkWarmup(trainer, stepsPerEpoch: (source.sampleCount + trainer.config.batchSize - 1) / max(1, trainer.config.batchSize),
                        epochs: options.epochs)
        var lastStepReport = Date.distantPast
        let result = try trainer.fit(train: source, validation: validation, options: options, saveCheckpoint: { path in
            training.positions[name] = [trainer.epoch, trainer.batchInEpoch]
            // Periodic saves go into a folder that may not exist yet, as Keras' ModelCheckpoint allows.
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            try Checkpoint.save(model: trainer.model, optimizer: trainer.optimizer, to: path,
                                extraMetadata: ModelMethods.checkpointMetadata(ctx.session))
        }, progress: { event in
            switch event {
            case .step(let epoch, let step, let steps, let loss, let rate, let eta):
                // At most 10 step notifications a second: a fast tiny model must not flood the host.
                guard step == steps || Date().timeIntervalSince(lastStepReport) >= 0.1 else { return }
                lastStepReport = Date()
                ctx.progress(["kind": "step", "epoch": JSONValue(epoch), "step": JSONValue(step),
                              "steps_per_epoch": JSONValue(steps), "loss": JSONValue(Double(loss)),
                              "learning_rate": decimal(trainer.optimizer.learningRate),
                              "images_per_second": JSONValue(rate), "eta_s": JSONValue(eta)])
            case .epoch(let record):
                var fields: JSONObject = ["kind": "epoch"]
                for (k, v) in epochJSON(record) { fields[k] = v }
                ctx.progress(fields)
            }
        }, isCancelled: { ctx.isCancelled })
        training.positions[name] = [result.epoch, result.batchInEpoch]
        var answer: JSONObject = [
            "history": .array(result.history.map { .object(epochJSON($0)) }),
            "stopped_early": .bool(result.stoppedEarly), "cancelled": .bool(result.cancelled),
            "epoch": JSONValue(result.epoch), "batch_in_epoch": JSONValue(result.batchInEpoch),
            "step": JSONValue(trainer.step),
        ]
        if let e = result.bestEpoch, let v = result.bestValue, let monitor = options.earlyStopping?.monitor {
            answer["best"] = ["epoch": JSONValue(e), "monitor": .string(monitor), "value": JSONValue(v)]
        } else if let v = result.bestValue, let monitor = options.checkpoint?.monitor {
            answer["best"] = ["monitor": .string(monitor), "value": JSONValue(v)]
        } else {
            answer["best"] = .null
        }
        if result.cancelled {
            // A cancelled fit still answers -32800, with where it stopped and the history so far.
            throw RPCError(code: RPCError.cancelledCode, message: "request cancelled: training stopped after step \(trainer.step)",
                           data: .object(answer))
        }
        return .object(answer)
    }

    /// A warm-up that this fit would not finish is refused before any step: it is a schedule for another run.
    static func checkWarmup(_ trainer: Trainer, stepsPerEpoch: Int, epochs: Int) throws {
        guard let schedule = trainer.config.lrSchedule, schedule.warmupLength > 0 else { return }
        let (end, unit) = schedule.unit == .step
            ? (trainer.step + epochs * stepsPerEpoch - trainer.batchInEpoch, "steps")
            : (trainer.epoch + epochs, "epochs")
        guard schedule.warmupLength <= end else {
            throw RPCError.invalidParams(field: "lr_schedule.warmup_steps", reason: "the warm-up of \(schedule.warmupLength) "
                + "\(unit) is longer than the training: this fit ends at \(unit.dropLast()) \(end)")
        }
    }

    static func epochJSON(_ r: EpochRecord) -> JSONObject {
        var o: JSONObject = ["epoch": JSONValue(r.epoch), "learning_rate": decimal(r.learningRate),
                             "seconds": JSONValue(r.seconds)]
        for (k, v) in r.metrics.sorted(by: { $0.key < $1.key }) { o[k] = JSONValue(v) }
        return o
    }

    static func readCallbacks(_ cb: ParamsReader, into options: inout FitOptions) throws {
        func mode(_ r: ParamsReader) throws -> MonitorMode {
            MonitorMode(rawValue: try r.string("mode", default: "auto", oneOf: ["auto", "min", "max"]))!
        }
        if let r = try cb.object("reduce_lr_on_plateau") {
            options.reduceLROnPlateau = ReduceLROnPlateau(
                monitor: try r.string("monitor", default: "val_loss"), factor: try r.double("factor", default: 0.1, in: 0...0.999_999),
                patience: try r.int("patience", default: 10, in: 0...100_000), minDelta: try r.double("min_delta", default: 1e-4, in: 0...1e9),
                cooldown: try r.int("cooldown", default: 0, in: 0...100_000), minLR: try r.double("min_lr", default: 0, in: 0...10),
                mode: try mode(r))
            try r.finish()
        }
        if let r = try cb.object("early_stopping") {
            options.earlyStopping = EarlyStopping(
                monitor: try r.string("monitor", default: "val_loss"), patience: try r.int("patience", default: 0, in: 0...100_000),
                minDelta: try r.double("min_delta", default: 0, in: 0...1e9), mode: try mode(r),
                restoreBestWeights: try r.bool("restore_best_weights", default: false))
            try r.finish()
        }
        if let r = try cb.object("checkpoint") {
            options.checkpoint = ModelCheckpointPolicy(
                path: try r.requiredString("path"), monitor: try r.string("monitor", default: "val_loss"),
                saveBestOnly: try r.bool("save_best_only", default: false), mode: try mode(r))
            try r.finish()
        }
        // The log files are created only once every callback's params are known to be good.
        var openLoggers: [() throws -> EpochLogger] = []
        if let r = try cb.object("csv_logger") {
            let path = try r.requiredString("path")
            let separator = try r.string("separator", default: ",")
            guard separator.count == 1, separator != "\"", !separator.contains(where: \.isNewline) else {
                throw r.invalid("separator", "must be one character other than a quote or a line break")
            }
            let append = try r.bool("append", default: false)
            try r.finish()
            openLoggers.append {
                do { return try CSVLogger(path: path, separator: separator, append: append) } catch let e as LogFileError {
                    throw r.invalid("path", e.description)
                }
            }
        }
        if let r = try cb.object("tensorboard") {
            let logDirectory = try r.requiredString("log_dir")
            try r.finish()
            openLoggers.append {
                do { return try TensorBoardWriter(logDirectory: logDirectory) } catch let e as LogFileError {
                    throw r.invalid("log_dir", e.description)
                }
            }
        }
        try cb.finish()
        options.loggers = try openLoggers.map { try $0() }
    }
}
