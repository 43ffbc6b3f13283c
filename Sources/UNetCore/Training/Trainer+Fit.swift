import Dispatch
import Foundation

/// Settings of one `fit` call.
public struct FitOptions {
    public var epochs = 1
    public var shuffle = true
    public var threshold = 0.5
    public var reduceLROnPlateau: ReduceLROnPlateau?
    public var earlyStopping: EarlyStopping?
    public var checkpoint: ModelCheckpointPolicy?
    /// CSVLogger, TensorBoard: each gets every finished epoch.
    public var loggers: [EpochLogger] = []
    public init(epochs: Int = 1) { self.epochs = epochs }
}

/// One finished epoch: training metrics (`loss`, `accuracy` or `dice`), validation metrics (`val_` prefixed),
/// the learning rate it ran with, and how long it took.
public struct EpochRecord: Equatable {
    public var epoch: Int
    public var metrics: [String: Double]
    public var learningRate: Float
    public var seconds: Double
}

/// What a `fit` reports while it runs.
public enum FitEvent {
    case step(epoch: Int, step: Int, stepsPerEpoch: Int, loss: Float, imagesPerSecond: Double, etaSeconds: Double)
    case epoch(EpochRecord)
}

public struct FitResult {
    public var history: [EpochRecord] = []
    public var stoppedEarly = false
    public var cancelled = false
    /// The best epoch by the early-stopping (or checkpoint) monitor, when one was configured.
    public var bestEpoch: Int?
    public var bestValue: Double?
    /// Where training stands now: the next batch is `batchInEpoch` of `epoch`.
    public var epoch = 0
    public var batchInEpoch = 0
}

extension Trainer {
    /// Trains for `options.epochs` epochs (finishing a partly done one first), validating after each, applying the
    /// callbacks. Batches are loaded one ahead on a background queue so decoding overlaps computing.
    /// Cancellation is polled between batches: the weights are those of the last finished step and the result
    /// says where training stopped (`cancelled` true).
    public func fit(
        train: BatchSource, validation: BatchSource?, options: FitOptions,
        saveCheckpoint: (String) throws -> Void = { _ in },
        progress: (FitEvent) -> Void = { _ in }, isCancelled: () -> Bool = { false }
    ) throws -> FitResult {
        var result = FitResult()
        var options = options
        var bestWeights: [Tensor]?
        let batchSize = max(1, config.batchSize)
        // Data-parallel: `batchSize` per rank, each global batch split across the ranks (`DataParallel.shard`).
        let group = DataParallel.group
        let globalBatchSize = batchSize * (group?.size ?? 1)
        let stepsPerEpoch =
            group.map {
                DataParallel.stepsPerEpoch(
                    count: train.sampleCount, batchSize: batchSize,
                    size: $0.size)
            }
            ?? (train.sampleCount + batchSize - 1) / batchSize
        // Only the host's rank sees `cancel`: the ranks stop together, after the same step (or, in validation,
        // after the same round of batches: `evaluate` agrees on it).
        func stopNow() -> Bool { group.map { $0.anyRank(isCancelled()) } ?? isCancelled() }
        guard stepsPerEpoch > 0 else { throw TrainingError.unusableTargets("the training dataset is empty") }
        let prefetcher = Prefetcher()

        epochs: for _ in 0..<options.epochs {
            // A position past the end (reached at another batch size, or from a checkpoint of another dataset) is
            // the start of the next epoch: its prefetch would slice past the order. At the end exactly, the epoch's
            // steps are done and it is validated and recorded (a fit cancelled during validation resumes so).
            if batchInEpoch > stepsPerEpoch || batchInEpoch < 0 { epoch += 1; batchInEpoch = 0 }
            let order = epochOrder(count: train.sampleCount, epoch: epoch, seed: config.seed, shuffle: options.shuffle)
            let globalIndices = { (b: Int) in order[(b * globalBatchSize)..<min((b + 1) * globalBatchSize, order.count)]
            }
            let indicesOf = { (b: Int) -> [Int] in
                guard let group else { return Array(globalIndices(b)) }
                return Array(DataParallel.shard(globalIndices(b), rank: group.rank, size: group.size))
            }
            let started = Date()
            var lossSum = 0.0, seen = 0
            var metricSums: [String: Double] = [:]
            let (currentEpoch, augment) = (epoch, config.augment)
            if batchInEpoch < stepsPerEpoch {
                prefetcher.load {
                    try train.batch(indices: indicesOf(self.batchInEpoch), epoch: currentEpoch, augment: augment)
                }
            }
            while batchInEpoch < stepsPerEpoch {
                let batch = try prefetcher.take()
                let next = batchInEpoch + 1
                if next < stepsPerEpoch {
                    prefetcher.load { try train.batch(indices: indicesOf(next), epoch: currentEpoch, augment: augment) }
                }
                let globalCount = globalIndices(batchInEpoch).count
                let r = try trainStep(batch, globalCount: globalCount)
                batchInEpoch = next
                lossSum += Double(r.loss) * Double(globalCount)
                seen += globalCount
                for (k, v) in r.metrics { metricSums[k, default: 0] += v * Double(globalCount) }
                let elapsed = Date().timeIntervalSince(started)
                let rate = Double(seen) / max(elapsed, 1e-9)
                progress(
                    .step(
                        epoch: epoch, step: batchInEpoch, stepsPerEpoch: stepsPerEpoch, loss: r.loss,
                        imagesPerSecond: rate,
                        etaSeconds: Double(train.sampleCount - min(seen, train.sampleCount)) / rate))
                if stopNow() {
                    prefetcher.drain()
                    result.cancelled = true
                    break epochs
                }
            }
            // The epoch is complete.
            var metrics = metricSums.mapValues { $0 / Double(max(seen, 1)) }
            if seen > 0 { metrics["loss"] = lossSum / Double(seen) }
            if let validation {
                // A cancel that lands during validation stops here like one between batches: the finished epochs'
                // history is kept (it used to be lost with the thrown error, and a time-budgeted run reported none).
                let v: Evaluation
                do {
                    v = try evaluate(
                        validation, batchSize: batchSize, threshold: options.threshold,
                        isCancelled: isCancelled)
                } catch TrainingError.cancelled {
                    result.cancelled = true
                    break epochs
                }
                for (k, value) in v.scalars { metrics["val_" + k] = value }
            }
            let record = EpochRecord(
                epoch: epoch, metrics: metrics, learningRate: optimizer.learningRate,
                seconds: Date().timeIntervalSince(started))
            result.history.append(record)
            epoch += 1
            batchInEpoch = 0
            progress(.epoch(record))
            for logger in options.loggers { try logger.epochEnded(record) }

            if var cb = options.reduceLROnPlateau, let value = metrics[cb.monitor] {
                if let lr = cb.epochEnded(value: value, learningRate: Double(optimizer.learningRate)) {
                    reduceLearningRate(to: lr)
                }
                options.reduceLROnPlateau = cb
            }
            if var cb = options.checkpoint {
                if let path = cb.epochEnded(record.epoch, value: metrics[cb.monitor]) { try saveCheckpoint(path) }
                options.checkpoint = cb
                if cb.saveBestOnly { result.bestValue = cb.best }
            }
            if var cb = options.earlyStopping, let value = metrics[cb.monitor] {
                let d = cb.epochEnded(record.epoch, value: value)
                options.earlyStopping = cb
                result.bestEpoch = cb.bestEpoch
                result.bestValue = cb.best
                if d.isBest && cb.restoreBestWeights { bestWeights = modelState.map { $0.copy() } }
                if d.stop {
                    result.stoppedEarly = true
                    if let best = bestWeights {
                        for (t, b) in zip(modelState, best) { t.assign(b) }
                        model.network.noteWeightsChanged()
                    }
                    break epochs
                }
            }
        }
        result.epoch = epoch
        result.batchInEpoch = batchInEpoch
        return result
    }

    /// Weights and BatchNorm statistics.
    var modelState: [Tensor] {
        model.network.namedParameters.map(\.parameter.value) + model.network.namedBuffers.map(\.value)
    }
}

/// Loads one batch ahead on a background queue.
final class Prefetcher: @unchecked Sendable {
    private let queue = DispatchQueue(label: "unet.prefetch")
    private let ready = DispatchSemaphore(value: 0)
    private var result: Result<Batch, Error>?
    private var pending = false

    func load(_ work: @escaping () throws -> Batch) {
        precondition(!pending, "one batch at a time")
        pending = true
        let job = Job(work: work)
        queue.async {
            self.result = Result { try job.work() }
            self.ready.signal()
        }
    }

    /// One batch's loading, handed to the queue. Unchecked: what `work` captures (the data source and its
    /// decoders) is used by the queue's thread alone from `load` until `take` returns, one batch at a time.
    private struct Job: @unchecked Sendable {
        let work: () throws -> Batch
    }

    func take() throws -> Batch {
        precondition(pending, "take without load")
        ready.wait()
        pending = false
        defer { result = nil }
        return try result!.get()
    }

    /// Waits for a batch in flight and drops it.
    func drain() { if pending { ready.wait(); pending = false; result = nil } }
}
