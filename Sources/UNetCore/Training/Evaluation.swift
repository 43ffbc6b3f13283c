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
        if let s = segmentation { m["dice"] = s.meanDice; m["iou"] = s.meanIoU; m["pixel_accuracy"] = s.meanPixelAccuracy }
        return m
    }
}

extension Trainer {
    /// Runs the model over every sample of `source` (no augmentation) and scores it.
    /// - Parameters:
    ///   - threshold: the decision threshold on the positive-class probability and on mask probabilities.
    ///   - postprocessing: applied to each thresholded one-channel mask before it is scored, as `segment` does.
    ///   - isCancelled: polled between batches; a cancelled evaluation throws `TrainingError.cancelled`.
    public func evaluate(_ source: BatchSource, batchSize: Int, threshold: Double = 0.5,
                         postprocessing: MaskPostprocessing = MaskPostprocessing(),
                         isCancelled: () -> Bool = { false }) throws -> Evaluation {
        var lossSum = 0.0, count = 0
        var scores: [Float] = [], labels: [Int] = []
        var segmentation = SegmentationAccumulator(threshold: Float(threshold))
        var classColumns = 0
        var rows: [Evaluation.ClassRow] = []
        let order = Array(0..<source.sampleCount)
        var start = 0
        while start < order.count {
            if isCancelled() { throw TrainingError.cancelled }
            let indices = Array(order[start..<min(start + batchSize, order.count)])
            start += indices.count
            let batch = try source.batch(indices: indices, epoch: 0, augment: false)
            let out = try model.forward(batch.images, training: false, heads: heads(for: batch))
            let objective = try computeObjective(out, batch)
            lossSum += Double(objective.loss) * Double(batch.count)
            count += batch.count
            if let logits = out.classLogits, let l = batch.labels, let act = model.classActivation {
                let p = Model.activate(logits, act)
                classColumns = p.shape[1]
                let values = p.array
                for (i, label) in l.enumerated() {
                    rows.append(Evaluation.ClassRow(id: batch.ids[i], label: label,
                                                    probabilities: Array(values[(i * classColumns)..<((i + 1) * classColumns)])))
                }
                scores += values
                labels += l
            }
            if let logits = out.mask, let masks = batch.masks, logits.shape[1] == 1 {
                let probabilities = Model.activate(logits, .sigmoid)
                if postprocessing.isIdentity {
                    try segmentation.add(probabilities: probabilities, masks: masks)
                } else {
                    let (h, w) = (probabilities.shape[2], probabilities.shape[3])
                    for i in 0..<probabilities.shape[0] {
                        // Foreground as PixelCounts decides it (>= threshold), then cleaned up.
                        let predicted = UnsafeBufferPointer(start: probabilities.image(i), count: h * w)
                            .map { $0 >= Float(threshold) }
                        try segmentation.add(prediction: postprocessing.apply(predicted, height: h, width: w),
                                             mask: UnsafeBufferPointer(start: masks.image(i), count: h * w))
                    }
                }
            }
        }
        var result = Evaluation(loss: count > 0 ? lossSum / Double(count) : 0, count: count)
        result.classRows = rows
        if !labels.isEmpty {
            let names = source.classNames.isEmpty ? nil : source.classNames
            if classColumns <= 2 {
                // The positive-class score: the single sigmoid, or column 1 of two.
                let positive = classColumns == 1 ? scores : stride(from: 1, to: scores.count, by: 2).map { scores[$0] }
                result.binary = try BinaryClassificationMetrics(scores: positive, labels: labels, threshold: threshold,
                                                                classNames: names?.count == 2 ? names : nil)
            } else {
                result.multiclass = try MulticlassClassificationMetrics(probabilities: scores, labels: labels,
                                                                        classCount: classColumns, classNames: names)
            }
        }
        if !segmentation.perImage.isEmpty { result.segmentation = try segmentation.summary() }
        return result
    }
}
