/// What `evaluate` measures on a dataset.
public struct Evaluation {
    /// The mean training loss over the dataset (the same objective as training, without augmentation).
    public var loss: Double
    public var count: Int
    /// Two-class image-level metrics (the positive class is class 1).
    public var binary: BinaryClassificationMetrics?
    /// K > 2 classes.
    public var multiclass: MulticlassClassificationMetrics?
    public var segmentation: SegmentationSummary?
    /// Per image, in dataset order, when the model has a class head and the data labels: where the image came
    /// from, its label and the class probabilities (what scikit-learn's metrics take).
    public var classRows: [ClassRow] = []

    public struct ClassRow: Equatable {
        public var id: String
        public var label: Int
        public var probabilities: [Float]
    }

    /// The headline numbers, named as Keras' history names them (`loss`, `accuracy`, `auc`, `dice`, ...).
    public var scalars: [String: Double] {
        var m: [String: Double] = ["loss": loss]
        if let b = binary {
            m["accuracy"] = b.accuracy; m["precision"] = b.precision; m["recall"] = b.recall
            m["specificity"] = b.specificity; m["f1"] = b.f1; m["pr_auc"] = b.averagePrecision
            if let auc = b.rocAUC { m["auc"] = auc }
        }
        if let mc = multiclass {
            m["accuracy"] = mc.accuracy
            if let auc = mc.macroAUC { m["auc"] = auc }
        }
        if let s = segmentation {
            m["dice"] = s.meanDice; m["iou"] = s.meanIoU; m["pixel_accuracy"] = s.meanPixelAccuracy
        }
        return m
    }
}

extension Trainer {
    /// Runs the model over every sample of `source` (no augmentation) and scores it.
    ///
    /// Under a `DataParallel.group` the batches are dealt out to the ranks (batch b to rank b mod size), and the
    /// ranks then gather every batch's contribution (`EvaluationBatch`), so that every rank sums them in batch
    /// order exactly as one process does: the metrics equal the single-process ones to the last digit (not merely
    /// within rounding), the scores behind ROC and PR AUC included, for the same `batchSize` and thread count.
    /// Every rank first takes rank 0's BatchNorm running statistics.
    /// - Parameters:
    ///   - threshold: the decision threshold on the positive-class probability and on mask probabilities.
    ///   - postprocessing: applied to each thresholded one-channel mask before it is scored, as `segment` does.
    ///   - isCancelled: polled between batches; a cancelled evaluation throws `TrainingError.cancelled` (under a
    ///     group, on every rank after the same batch: the ranks agree after each round of batches).
    public func evaluate(
        _ source: BatchSource, batchSize: Int, threshold: Double = 0.5,
        postprocessing: MaskPostprocessing = MaskPostprocessing(),
        isCancelled: () -> Bool = { false }
    ) throws -> Evaluation {
        let batchCount = (source.sampleCount + batchSize - 1) / batchSize
        func score(_ b: Int) throws -> EvaluationBatch {
            let indices = Array((b * batchSize)..<min((b + 1) * batchSize, source.sampleCount))
            return try scoreBatch(source, indices: indices, threshold: threshold, postprocessing: postprocessing)
        }
        var batches: [EvaluationBatch] = []
        if let group = DataParallel.group {
            // With local BatchNorm statistics the ranks' running statistics differ: all score with rank 0's, those a
            // checkpoint saves (as PyTorch DDP broadcasts its buffers from rank 0).
            for buffer in model.network.buffers {
                group.broadcast(UnsafeMutableBufferPointer(start: buffer.data, count: buffer.count), root: 0)
            }
            batches = try DataParallel.scoreAcrossRanks(
                batchCount: batchCount, group: group, isCancelled: isCancelled,
                score: score)
        } else {
            for b in 0..<batchCount {
                if isCancelled() { throw TrainingError.cancelled }
                batches.append(try score(b))
            }
        }
        return try summarize(batches, source: source, threshold: threshold)
    }

    /// One batch's contribution to an evaluation.
    private func scoreBatch(
        _ source: BatchSource, indices: [Int], threshold: Double,
        postprocessing: MaskPostprocessing
    ) throws -> EvaluationBatch {
        let batch = try source.batch(indices: indices, epoch: 0, augment: false)
        let out = try model.forward(batch.images, training: false, heads: heads(for: batch))
        let objective = try computeObjective(out, batch)
        var scored = EvaluationBatch(lossTimesCount: Double(objective.loss) * Double(batch.count), count: batch.count)
        if let logits = out.classLogits, let l = batch.labels, let act = model.classActivation {
            let p = Model.activate(logits, act)
            let columns = p.shape[1]
            scored.classColumns = columns
            let values = p.array
            for (i, label) in l.enumerated() {
                scored.rows.append(
                    Evaluation.ClassRow(
                        id: batch.ids[i], label: label,
                        probabilities: Array(values[(i * columns)..<((i + 1) * columns)])))
            }
        }
        if let logits = out.mask, let masks = batch.masks, logits.shape[1] == 1 {
            let probabilities = Model.activate(logits, .sigmoid)
            var segmentation = SegmentationAccumulator(threshold: Float(threshold))
            if postprocessing.isIdentity {
                try segmentation.add(probabilities: probabilities, masks: masks)
            } else {
                let (h, w) = (probabilities.shape[2], probabilities.shape[3])
                for i in 0..<probabilities.shape[0] {
                    // Foreground as PixelCounts decides it (>= threshold), then cleaned up.
                    let predicted = UnsafeBufferPointer(start: probabilities.image(i), count: h * w)
                        .map { $0 >= Float(threshold) }
                    try segmentation.add(
                        prediction: postprocessing.apply(predicted, height: h, width: w),
                        mask: UnsafeBufferPointer(start: masks.image(i), count: h * w))
                }
            }
            scored.pixelCounts = segmentation.perImage
        }
        return scored
    }

    /// The metrics of the batches' contributions, summed in batch order.
    private func summarize(_ batches: [EvaluationBatch], source: BatchSource, threshold: Double) throws -> Evaluation {
        var lossSum = 0.0, count = 0
        var scores: [Float] = [], labels: [Int] = []
        var classColumns = 0
        var rows: [Evaluation.ClassRow] = []
        var perImage: [PixelCounts] = []
        for b in batches {
            lossSum += b.lossTimesCount
            count += b.count
            if !b.rows.isEmpty { classColumns = b.classColumns }
            for row in b.rows {
                scores += row.probabilities
                labels.append(row.label)
            }
            rows += b.rows
            perImage += b.pixelCounts
        }
        var result = Evaluation(loss: count > 0 ? lossSum / Double(count) : 0, count: count)
        result.classRows = rows
        if !labels.isEmpty {
            let names = source.classNames.isEmpty ? nil : source.classNames
            if classColumns <= 2 {
                // The positive-class score: the single sigmoid, or column 1 of two.
                let positive = classColumns == 1 ? scores : stride(from: 1, to: scores.count, by: 2).map { scores[$0] }
                result.binary = try BinaryClassificationMetrics(
                    scores: positive, labels: labels, threshold: threshold,
                    classNames: names?.count == 2 ? names : nil)
            } else {
                result.multiclass = try MulticlassClassificationMetrics(
                    probabilities: scores, labels: labels,
                    classCount: classColumns, classNames: names)
            }
        }
        if !perImage.isEmpty { result.segmentation = SegmentationSummary(perImage: perImage) }
        return result
    }
}

/// What one batch adds to an evaluation: its loss times its image count, and per image the class scores and the
/// mask's pixel counts. Kept until every batch is in, so the sums run in batch order whichever rank scored it.
struct EvaluationBatch: Equatable {
    var lossTimesCount: Double
    var count: Int
    /// Columns of the class probabilities (0 without a class head or labels).
    var classColumns = 0
    var rows: [Evaluation.ClassRow] = []
    var pixelCounts: [PixelCounts] = []
}
