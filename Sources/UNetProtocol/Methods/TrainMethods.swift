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
    /// Per training dataset: [epoch, next batch, batch size] in that dataset's seeded order (positions saved
    /// before the batch size was recorded have two elements and count in the current batch size).
    var positions: [String: [Int]] = [:]
    /// The model generation the positions belong to. A new model (`model.create`, or `model.load` of a checkpoint
    /// without saved positions) starts every dataset at epoch 0, batch 0: the same calls then give the same
    /// numbers, and History numbers a new model's epochs from 0.
    private var positionsGeneration = 0

    /// Where dataset `name` stands for batches of `batchSize`: the epoch and its next batch. At the batch size it
    /// was saved at, the position is kept (a fit cancelled during validation resumes by validating that epoch).
    /// At another batch size it is converted to the images its epoch has seen, rounded down to a whole batch of the
    /// new size (no image of the epoch is skipped, fewer than one batch is seen twice), and a position at or past
    /// the end of its epoch is the start of the next one: no epoch is reported whose steps ran at another size.
    func position(of name: String, batchSize: Int, sampleCount: Int) -> (epoch: Int, batch: Int) {
        guard let p = positions[name], p.count >= 2 else { return (0, 0) }
        let epoch = min(max(0, p[0]), Int(Int32.max))  // checkpoint metadata is outside input too
        let savedBatchSize = p.count >= 3 && p[2] > 0 ? p[2] : batchSize
        if savedBatchSize == batchSize { return (epoch, max(0, p[1])) }
        let seen = max(0, p[1]).multipliedReportingOverflow(by: savedBatchSize)
        if seen.overflow || seen.partialValue >= sampleCount { return (epoch + 1, 0) }
        return (epoch, seen.partialValue / batchSize)
    }

    func setPosition(of name: String, epoch: Int, batch: Int, batchSize: Int) {
        positions[name] = [epoch, batch, batchSize]
    }

    static let positionsKey = "unet_engine.dataset_positions"

    /// The trainer for the session's current model (made with the session's optimizer state when it has one).
    func trainer(for session: Session) throws -> Trainer {
        let model = try session.requireModel()
        startPositionsIfModelChanged(session)
        try LossChoice.check(config.loss, model: model)
        if let t = trainer, generation == session.modelGeneration, t.model === model { return t }
        try config.checkHeadLosses(for: model)  // per-head losses set before this model existed
        let t = Trainer(model: model, config: config, optimizer: session.optimizer)
        if session.optimizer != nil { t.reconfigure(config) }
        session.optimizer = t.optimizer
        trainer = t
        generation = session.modelGeneration
        return t
    }

    /// Forgets the positions of an earlier model's run.
    func startPositionsIfModelChanged(_ session: Session) {
        guard positionsGeneration != session.modelGeneration else { return }
        positions = [:]
        positionsGeneration = session.modelGeneration
    }

    /// Metadata that makes a checkpoint resumable: the trainer's state and the datasets' positions.
    /// A state that does not encode is an error, not a checkpoint that silently cannot resume.
    func checkpointMetadata(_ session: Session) throws -> [String: String] {
        startPositionsIfModelChanged(session)
        var meta: [String: String] = [:]
        if let t = trainer, generation == session.modelGeneration {
            meta[Trainer.stateKey] = try t.state.text
        }
        meta[TrainingSession.positionsKey] = JSONCodec.encodeForFile(
            .object(JSONObject(positions.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) })))
        return meta
    }

    /// What a checkpoint holds of a training session, read (and validated) before the model is replaced.
    struct Restored {
        let trainer: Trainer?
        let positions: [String: [Int]]

        init(_ contents: Checkpoint.Contents) throws {
            trainer = try Trainer.restore(from: contents)
            // Positions that do not decode are refused rather than silently reset to the start of every dataset.
            if let text = contents.metadata[TrainingSession.positionsKey] {
                do {
                    positions = try JSONValueCoding.decode([String: [Int]].self, fromText: text)
                } catch {
                    throw CheckpointError.invalid(
                        "checkpoint", "the dataset positions in the metadata cannot be read (\(error))")
                }
            } else {
                positions = [:]
            }
        }
    }

    /// Takes over a restored state, after `model.load` made its model current.
    func apply(_ restored: Restored, session: Session) {
        positions = restored.positions
        positionsGeneration = session.modelGeneration
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
        RPCError(
            code: RPCError.ioErrorCode, message: description, data: ["path": .string(path), "reason": .string(reason)])
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
    /// `train.configure`'s parameters: each one given changes that setting, the others stay as they are.
    enum Configure {
        static let optimizer = Param.choice("optimizer", Optimizer.Kind.self, "default adam")
        static let learningRate = Param.number(
            "learning_rate", in: 0...1e12, "positive; default 1e-3 (Adam's in PyTorch and Keras)")
        static let weightDecay = Param.number(
            "weight_decay", in: 0...1, "L2 for adam and sgd, decoupled for adamw (default 0, adamw 0.01)")
        static let momentum = Param.number("momentum", in: 0...1, "sgd's momentum (default 0)")
        static let nesterov = Param.boolean("nesterov", "sgd's Nesterov momentum (default false)")
        /// Read by `LossParam.read`, which checks each head's loss against the model.
        static let loss = Param.json("loss", fragment: ParamSchemas.loss, "the loss, for every head or per head")
        /// Read below: "balanced", a list of non-negative numbers, or null for none.
        static let classWeights = Param.json(
            "class_weights", fragment: ParamSchemas.classWeights,
            "per-class weights of the class loss: \"balanced\" (from the dataset's counts), a list, or null for none")
        static let batchSize = Param.integer("batch_size", in: 1...4096, "images per step (default 8)")
        static let seed = Param.integer("seed", in: 0...Int.max, "shuffling and augmentation draws (default 0)")
        static let augment = Param.boolean(
            "augment", "apply the dataset's augmentation to training batches (default true)")
        static let lrSchedule = Param.json(
            "lr_schedule", fragment: ParamSchemas.lrSchedule, "a learning-rate schedule, or null for a constant rate")
        static let syncBatchNorm = Param.boolean(
            "sync_batch_norm",
            "Under --mpi: BatchNorm normalises with the global batch's statistics across the ranks (default false: "
                + "each rank's own).")
        static let all: [ParamDeclaration] = [
            optimizer, learningRate, weightDecay, momentum, nesterov, loss, classWeights, batchSize, seed, augment,
            lrSchedule, syncBatchNorm,
        ]
    }

    enum Step {
        static let dataset = Param.string("dataset", "an open dataset's name: the step takes its next batch")
        static let images = Param.json(
            "images", schema: ["type": "array", "items": .object(Param<JSONValue>.ref("Image"))],
            "inline images instead of a dataset (with labels or masks)")
        static let labels = Param.json(
            "labels", schema: ["type": "array", "items": ["type": "integer", "minimum": 0]],
            "a class index per inline image")
        static let masks = Param.json(
            "masks", fragment: ParamSchemas.masks, "a mask per inline image: {array}, {png} or {path}")
        static let resize = Param.boolean("resize", default: true, "bring inline images to the model's input size")
    }

    enum Fit {
        static let dataset = Param.string("dataset", "an open dataset's name").required
        static let validation = Param.string("validation", "a dataset scored after every epoch (e.g. NAME.val)")
        static let epochs = Param.integer("epochs", in: 1...100_000, default: 1, "passes over the dataset")
        static let batchSize = Param.integer(
            "batch_size", in: 1...4096, "images per step; sets train.configure's batch_size")
        static let shuffle = Param.boolean("shuffle", default: true, "a new order every epoch")
        static let threshold = Param.number(
            "threshold", in: 0...1, default: 0.5, "the threshold of the validation metrics")
        /// Read by `callbackLoggers` and the callbacks reader.
        static let callbacks = Param.json(
            "callbacks", fragment: ParamSchemas.callbacks,
            "by kind, or a Keras-style list naming each kind in name; monitors must be metrics the fit reports")
    }

    public static var methods: [MethodSpec] {
        [
            MethodSpec(
                "train.configure", .numeric,
                summary: "Set how the model trains; answers the whole configuration in force.",
                params: Configure.all, result: trainConfigureResult, errors: [.invalidParams]
            ) { ctx in
                try configure(ctx)
            },
            MethodSpec(
                "train.step", .numeric,
                summary: "One optimisation step on a dataset's next batch or on inline images.",
                params: [Step.dataset, Step.images, Step.labels, Step.masks, Step.resize],
                result: trainStepResult,
                errors: [
                    .noModel, .invalidParams, .shapeMismatch, .trainingDiverged, .imageDecodeFailed,
                    .fileNotFound,
                ]
            ) { ctx in
                try step(ctx)
            },
            MethodSpec(
                "train.fit", .numeric,
                summary: "Epochs over a dataset with validation and callbacks; streams progress.",
                cancellable: true,
                params: [
                    Fit.dataset, Fit.validation, Fit.epochs, Fit.batchSize, Fit.shuffle, Fit.threshold,
                    Fit.callbacks,
                ],
                result: trainFitResult,
                errors: [.noModel, .invalidParams, .shapeMismatch, .trainingDiverged, .cancelled, .ioError]
            ) {
                ctx in try fit(ctx)
            },
        ]
    }

    static func training(_ session: Session) -> TrainingSession {
        session.attachment(TrainingSession.self) { TrainingSession() }
    }

    // MARK: train.configure

    static func configure(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params, training = training(ctx.session)
        var c = training.config
        if let kind = try p[Configure.optimizer] { c.optimizer = kind }
        if let lr = try p[Configure.learningRate] {
            guard lr > 0 else { throw p.invalid("learning_rate", "must be positive") }
            c.learningRate = Float(lr)
        }
        if let wd = try p[Configure.weightDecay] { c.weightDecay = Float(wd) }
        if let m = try p[Configure.momentum] { c.momentum = Float(m) }
        if let n = try p[Configure.nesterov] { c.nesterov = n }
        try LossParam.read(p, into: &c, model: ctx.session.model)
        if let v = try p[Configure.classWeights] {
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
        if let b = try p[Configure.batchSize] { c.batchSize = b }
        if let s = try p[Configure.seed] { c.seed = UInt64(s) }
        if let a = try p[Configure.augment] { c.augment = a }
        if let sync = try p[Configure.syncBatchNorm] { c.syncBatchNorm = sync }
        // null (unlike absent) removes the schedule.
        let schedule = Configure.lrSchedule.name
        if p.has(schedule) { c.lrSchedule = try p.object(schedule).map(LRScheduleParams.read) }
        // A loss the current model cannot train with is refused now, with the choices, and changes nothing.
        if let model = ctx.session.model { try LossChoice.check(c.loss, model: model) }
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
            "loss": LossParam.json(c), "class_weights": weights,
            "batch_size": JSONValue(c.batchSize), "seed": JSONValue(Int(truncatingIfNeeded: c.seed)),
            "augment": .bool(c.augment), "lr_schedule": c.lrSchedule.map(LRScheduleParams.json) ?? .null,
            "sync_batch_norm": .bool(c.syncBatchNorm ?? false),
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
        if let name = try p[Step.dataset] {
            guard !p.has("images") else { throw p.invalid("images", "give either dataset or images, not both") }
            let source = try DatasetLookup.source(ctx.session, name: name, field: "dataset")
            applyClassWeights(trainer, training, source)
            let bs = max(1, training.config.batchSize)
            guard source.sampleCount > 0 else { throw p.invalid("dataset", "dataset \(name) is empty") }
            var (epoch, b) = training.position(of: name, batchSize: bs, sampleCount: source.sampleCount)
            // Under MPI each rank takes its shard of the global batch of bs images per rank (DataParallel.shard).
            let group = DataParallel.group, ranks = DataParallel.group?.size ?? 1
            let steps =
                group == nil
                ? (source.sampleCount + bs - 1) / bs
                : DataParallel.stepsPerEpoch(count: source.sampleCount, batchSize: bs, size: ranks)
            if b >= steps { (epoch, b) = (epoch + 1, 0) }  // the epoch is done
            let order = epochOrder(count: source.sampleCount, epoch: epoch, seed: training.config.seed, shuffle: true)
            let global = order[(b * bs * ranks)..<min((b + 1) * bs * ranks, order.count)]
            let indices = group.map { Array(DataParallel.shard(global, rank: $0.rank, size: ranks)) } ?? Array(global)
            batch = try source.batch(indices: indices, epoch: epoch, augment: training.config.augment)
            trainer.epoch = epoch  // for a schedule by epoch
            let result = try trainer.trainStep(batch, globalCount: global.count)
            training.setPosition(of: name, epoch: epoch, batch: b + 1, batchSize: bs)
            return stepJSON(result, extra: ["epoch": JSONValue(epoch), "batch_in_epoch": JSONValue(b + 1)])
        }
        batch = try InlineBatch.read(p, model: trainer.model, session: ctx.session)
        applyClassWeights(trainer, training, nil)
        return stepJSON(try trainer.trainStep(batch), extra: [:])
    }

    static func stepJSON(_ r: StepResult, extra: JSONObject) -> JSONValue {
        var o: JSONObject = [
            "step": JSONValue(r.step), "loss": JSONValue(Double(r.loss)),
            "learning_rate": decimal(r.learningRate),
            "metrics": .object(JSONObject(r.metrics.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) })),
        ]
        for (k, v) in extra { o[k] = v }
        return .object(o)
    }

    // MARK: train.fit

    static func fit(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params, training = training(ctx.session)
        let name = try p[Fit.dataset]
        let source = try DatasetLookup.source(ctx.session, name: name, field: "dataset")
        var validation: BatchSource?
        if let v = try p[Fit.validation] {
            validation = try DatasetLookup.source(ctx.session, name: v, field: "validation")
        }
        var options = FitOptions(epochs: try p[Fit.epochs])
        options.shuffle = try p[Fit.shuffle]
        options.threshold = try p[Fit.threshold]
        if let b = try p[Fit.batchSize] { training.config.batchSize = b }
        let metrics = FitMetrics.names(model: try ctx.session.requireModel(), train: source, validation: validation)
        let openLoggers = try readCallbacks(p, metrics: metrics, into: &options)
        try p.finish()

        let trainer = try training.trainer(for: ctx.session)
        trainer.reconfigure(training.config)
        applyClassWeights(trainer, training, source)
        let batchSize = max(1, training.config.batchSize)
        (trainer.epoch, trainer.batchInEpoch) = training.position(
            of: name, batchSize: batchSize,
            sampleCount: source.sampleCount)
        try checkWarmup(
            trainer, stepsPerEpoch: (source.sampleCount + batchSize - 1) / batchSize, epochs: options.epochs)
        // The log files are created only once everything about this fit is known to be good.
        // Under MPI only rank 0 writes logs and checkpoints; the ranks agree on whether its logs opened, so that
        // none of them starts training alone.
        var loggerError: Error?
        if DataParallel.isLeader {
            do { options.loggers = try openLoggers.map { try $0() } } catch { loggerError = error }
        }
        if let group = DataParallel.group, group.anyRank(loggerError != nil) {
            throw loggerError ?? RPCError.internalError("rank 0 could not open the fit's log files")
        }
        if let loggerError { throw loggerError }
        var lastStepReport = Date.distantPast
        let result = try trainer.fit(
            train: source, validation: validation, options: options,
            saveCheckpoint: { path in
                guard DataParallel.isLeader else { return }
                training.setPosition(of: name, epoch: trainer.epoch, batch: trainer.batchInEpoch, batchSize: batchSize)
                // Periodic saves go into a folder that may not exist yet, as Keras' ModelCheckpoint allows.
                let folder = PathNames.parent(of: path)
                if !folder.isEmpty {
                    do {
                        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                    } catch {
                        throw CheckpointError.io(
                            path, "cannot create the folder \(folder): \(error.localizedDescription)")
                    }
                }
                try Checkpoint.save(
                    model: trainer.model, optimizer: trainer.optimizer, to: path,
                    extraMetadata: ModelMethods.checkpointMetadata(ctx.session))
            },
            progress: { event in
                switch event {
                case .step(let epoch, let step, let steps, let loss, let rate, let eta):
                    // At most 10 step notifications a second: a fast tiny model must not flood the host.
                    guard step == steps || Date().timeIntervalSince(lastStepReport) >= 0.1 else { return }
                    lastStepReport = Date()
                    ctx.progress([
                        "kind": "step", "epoch": JSONValue(epoch), "step": JSONValue(step),
                        "steps_per_epoch": JSONValue(steps), "loss": JSONValue(Double(loss)),
                        "learning_rate": decimal(trainer.optimizer.learningRate),
                        "images_per_second": JSONValue(rate), "eta_s": JSONValue(eta),
                    ])
                case .epoch(let record):
                    var fields: JSONObject = ["kind": "epoch"]
                    for (k, v) in epochJSON(record) { fields[k] = v }
                    ctx.progress(fields)
                }
            }, isCancelled: { ctx.isCancelled })
        training.setPosition(of: name, epoch: result.epoch, batch: result.batchInEpoch, batchSize: batchSize)
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
            throw RPCError(
                code: RPCError.cancelledCode, message: "request cancelled: training stopped after step \(trainer.step)",
                data: .object(answer))
        }
        return .object(answer)
    }

    /// A warm-up that this fit would not finish is refused before any step: it is a schedule for another run.
    static func checkWarmup(_ trainer: Trainer, stepsPerEpoch: Int, epochs: Int) throws {
        guard let schedule = trainer.config.lrSchedule, schedule.warmupLength > 0 else { return }
        let (end, unit) =
            schedule.unit == .step
            ? (trainer.step + epochs * stepsPerEpoch - trainer.batchInEpoch, "steps")
            : (trainer.epoch + epochs, "epochs")
        guard schedule.warmupLength <= end else {
            throw RPCError.invalidParams(
                field: "lr_schedule.warmup_steps",
                reason: "the warm-up of \(schedule.warmupLength) "
                    + "\(unit) is longer than the training: this fit ends at \(unit.dropLast()) \(end)")
        }
    }

    static func epochJSON(_ r: EpochRecord) -> JSONObject {
        var o: JSONObject = [
            "epoch": JSONValue(r.epoch), "learning_rate": decimal(r.learningRate),
            "seconds": JSONValue(r.seconds),
        ]
        for (k, v) in r.metrics.sorted(by: { $0.key < $1.key }) { o[k] = JSONValue(v) }
        return o
    }

    /// The callback kinds `callbacks` takes, by the engine's name and by Keras' class name (for the list form).
    static let callbackNames: [String: String] = [
        "reduce_lr_on_plateau": "reduce_lr_on_plateau", "early_stopping": "early_stopping", "checkpoint": "checkpoint",
        "ReduceLROnPlateau": "reduce_lr_on_plateau", "EarlyStopping": "early_stopping", "ModelCheckpoint": "checkpoint",
        "csv_logger": "csv_logger", "tensorboard": "tensorboard", "CSVLogger": "csv_logger",
        "TensorBoard": "tensorboard",
    ]
    /// A log callback's file, opened once the whole fit request has been checked.
    typealias LoggerOpener = () throws -> EpochLogger

    /// Reads `callbacks`: a dict by kind (`{"early_stopping": {...}}`) or, as Keras lists them, an array of objects
    /// each naming its kind (`[{"name": "early_stopping", "patience": 3}, ...]`; Keras' class names work too). A
    /// monitor must be one of `metrics`, the names this fit reports (nil: not checked).
    static func readCallbacks(_ p: ParamsReader, metrics: [String]?, into options: inout FitOptions) throws
        -> [LoggerOpener]
    {
        var loggers: [LoggerOpener] = []
        guard let v = p.value("callbacks") else { return loggers }
        if let list = v.arrayValue {
            var seen = Set<String>()
            for i in list.indices {
                let r = try p.element("callbacks", i, of: list)
                let given = try r.requiredString("name", oneOf: callbackNames.keys.sorted())
                let kind = callbackNames[given]!
                guard seen.insert(kind).inserted else { throw r.invalid("name", "\(kind) is given twice") }
                try readCallback(kind, r, metrics: metrics, into: &options, loggers: &loggers)
            }
        } else if v.objectValue != nil, let cb = try p.object("callbacks") {
            for kind in ["reduce_lr_on_plateau", "early_stopping", "checkpoint", "csv_logger", "tensorboard"] {
                if let r = try cb.object(kind) {
                    try readCallback(kind, r, metrics: metrics, into: &options, loggers: &loggers)
                }
            }
            try cb.finish()
        } else {
            throw p.invalid("callbacks", "must be an object by kind or a list of callbacks, got \(v.typeName)")
        }
        return loggers
    }

    /// One callback of `kind` from `r`, into `options`.
    static func readCallback(
        _ kind: String, _ r: ParamsReader, metrics: [String]?, into options: inout FitOptions,
        loggers: inout [LoggerOpener]
    ) throws {
        func mode() throws -> MonitorMode {
            MonitorMode(rawValue: try r.string("mode", default: "auto", oneOf: ["auto", "min", "max"]))!
        }
        /// The monitored metric, one this fit reports. Checked for the default too: `val_loss` without
        /// validation would never fire.
        func monitor(used: Bool = true) throws -> String {
            let name = try r.string("monitor", default: "val_loss")
            if used || r.has("monitor"), let metrics, !metrics.contains(name) {
                let hint =
                    name.hasPrefix("val_") && !metrics.contains("val_loss") ? " (val_ metrics need validation)" : ""
                throw r.invalid(
                    "monitor",
                    "\"\(name)\" is not a metric this fit reports\(hint); choose one of "
                        + metrics.map { "\"\($0)\"" }.joined(separator: ", "))
            }
            return name
        }
        switch kind {
        case "reduce_lr_on_plateau":
            options.reduceLROnPlateau = ReduceLROnPlateau(
                monitor: try monitor(), factor: try r.double("factor", default: 0.1, in: 0...0.999_999),
                patience: try r.int("patience", default: 10, in: 0...100_000),
                minDelta: try r.double("min_delta", default: 1e-4, in: 0...1e9),
                cooldown: try r.int("cooldown", default: 0, in: 0...100_000),
                minLR: try r.double("min_lr", default: 0, in: 0...10),
                mode: try mode())
        case "early_stopping":
            options.earlyStopping = EarlyStopping(
                monitor: try monitor(), patience: try r.int("patience", default: 0, in: 0...100_000),
                minDelta: try r.double("min_delta", default: 0, in: 0...1e9), mode: try mode(),
                restoreBestWeights: try r.bool("restore_best_weights", default: false))
        case "csv_logger":
            let path = try r.requiredPath("path")
            let separator = try r.string("separator", default: ",")
            guard separator.count == 1, separator != "\"", !separator.contains(where: \.isNewline) else {
                throw r.invalid("separator", "must be one character other than a quote or a line break")
            }
            let append = try r.bool("append", default: false)
            loggers.append {
                do { return try CSVLogger(path: path, separator: separator, append: append) } catch let e
                    as LogFileError
                {
                    throw r.invalid("path", e.description)
                }
            }
        case "tensorboard":
            let logDirectory = try r.requiredPath("log_dir")
            loggers.append {
                do { return try TensorBoardWriter(logDirectory: logDirectory) } catch let e as LogFileError {
                    throw r.invalid("log_dir", e.description)
                }
            }
        default:
            // Saving every epoch uses no monitor: only a named one or save_best_only's is checked.
            let best = try r.bool("save_best_only", default: false)
            options.checkpoint = ModelCheckpointPolicy(
                path: try r.requiredPath("path"), monitor: try monitor(used: best), saveBestOnly: best, mode: try mode()
            )
        }
        try r.finish(known: r.has("name") ? ["name"] : [])
    }
}
