import UNetCore

/// `evaluate`: the model scored on a dataset, with the metrics of the reference pipelines.
public enum EvaluateMethods: MethodGroup {
    static let dataset = Param.string("dataset", "an open dataset's name (dataset.open)").required
    static let threshold = Param.number(
        "threshold", in: 0...1, default: 0.5,
        "a probability at or above it counts as positive (masks and one-unit heads)")
    static let batchSize = Param.integer(
        "batch_size", in: 1...4096, "images per forward (default: train.configure's batch_size)")
    static let perImage = Param.boolean(
        "per_image", default: false,
        "per image: dice/iou/pixel_accuracy for a mask; id, label, class, probabilities, predicted for a class head")
    static let postprocess = SharedParams.postprocess(
        "cleans each thresholded mask at the input size before Dice, IoU and pixel accuracy are counted, as segment "
            + "does")

    public static var methods: [MethodSpec] {
        [
            MethodSpec(
                "evaluate", .numeric, summary: "Scores the model on a dataset.", cancellable: true,
                params: [dataset, threshold, batchSize, perImage, postprocess], result: evaluateResult,
                errors: [.noModel, .invalidParams, .cancelled, .imageDecodeFailed]
            ) { ctx in try evaluate(ctx) }
        ]
    }

    static func evaluate(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params
        let name = try p[dataset]
        let threshold = try p[Self.threshold]
        let training = TrainMethods.training(ctx.session)
        let batchSize = try p[Self.batchSize] ?? training.config.batchSize
        let perImage = try p[Self.perImage]
        let post = try p[postprocess]
        try p.finish()
        let source = try DatasetLookup.source(ctx.session, name: name, field: "dataset")
        let trainer = try training.trainer(for: ctx.session)
        try PostprocessParams.requireOneChannel(post, p, channels: trainer.model.maskHead?.channels ?? 1)
        TrainMethods.applyClassWeights(trainer, training, source)
        let e = try trainer.evaluate(
            source, batchSize: batchSize, threshold: threshold, postprocessing: post,
            isCancelled: { ctx.isCancelled })
        var o: JSONObject = [
            "dataset": .string(name), "count": JSONValue(e.count), "loss": JSONValue(e.loss),
            "threshold": JSONValue(threshold),
        ]
        if let b = e.binary {
            o["accuracy"] = JSONValue(b.accuracy); o["precision"] = JSONValue(b.precision)
            o["recall"] = JSONValue(b.recall); o["specificity"] = JSONValue(b.specificity); o["f1"] = JSONValue(b.f1)
            o["auc"] = b.rocAUC.map { JSONValue($0) } ?? .null
            o["pr_auc"] = JSONValue(b.averagePrecision)
            o["confusion_matrix"] = matrixJSON(b.confusionMatrix)
            o["roc"] = [
                "fpr": nullable(b.roc.falsePositiveRates), "tpr": nullable(b.roc.truePositiveRates),
                "thresholds": nullable(b.roc.thresholds),
            ]
            o["youden"] = [
                "threshold": b.youdenThreshold.flatMap { $0.isFinite ? JSONValue($0) : nil } ?? .null,
                "j": b.youdenJ.map { JSONValue($0) } ?? .null,
            ]
            o["report"] = reportJSON(b.report)
        }
        if let m = e.multiclass {
            o["accuracy"] = JSONValue(m.accuracy)
            o["auc"] = m.macroAUC.map { JSONValue($0) } ?? .null
            o["confusion_matrix"] = matrixJSON(m.confusionMatrix)
            o["report"] = reportJSON(m.report)
        }
        if let s = e.segmentation {
            o["dice"] = JSONValue(s.meanDice); o["iou"] = JSONValue(s.meanIoU)
            o["pixel_accuracy"] = JSONValue(s.meanPixelAccuracy)
            o["pooled_dice"] = JSONValue(s.pooledDice); o["pooled_iou"] = JSONValue(s.pooledIoU)
        }
        if perImage { o["per_image"] = perImageJSON(e, classNames: source.classNames, threshold: Float(threshold)) }
        return .object(o)
    }

    /// One row per image in dataset order: `dice`, `iou`, `pixel_accuracy` for a 1-channel mask; `id`, `label`,
    /// `class` (when the classes have names), `probabilities` and `predicted` (at `threshold` for one or two
    /// outputs, as the confusion matrix counts) for a class head, so scikit-learn's
    /// metrics can be fed (`y_true` = labels, `y_score` = probabilities).
    static func perImageJSON(_ e: Evaluation, classNames: [String], threshold: Float) -> JSONValue {
        var rows = [JSONObject](repeating: [:], count: max(e.segmentation?.perImage.count ?? 0, e.classRows.count))
        for (i, s) in (e.segmentation?.perImage ?? []).enumerated() {
            rows[i]["dice"] = JSONValue(s.dice); rows[i]["iou"] = JSONValue(s.iou)
            rows[i]["pixel_accuracy"] = JSONValue(s.pixelAccuracy)
        }
        for (i, c) in e.classRows.enumerated() {
            rows[i]["id"] = .string(c.id)
            rows[i]["label"] = JSONValue(c.label)
            if c.label < classNames.count { rows[i]["class"] = .string(classNames[c.label]) }
            rows[i]["probabilities"] = JSONValue(c.probabilities)
            // As the confusion matrix decides: the positive class's probability (the single sigmoid, or column 1
            // of two) at the threshold, else the most probable class.
            let p = c.probabilities
            let predicted = p.count <= 2 ? (p[p.count - 1] >= threshold ? 1 : 0) : p.indices.max { p[$0] < p[$1] } ?? 0
            rows[i]["predicted"] = JSONValue(predicted)
        }
        return .array(rows.map { .object($0) })
    }

    /// Infinite and NaN values (the ROC's first threshold, rates of a one-class set) become null.
    static func nullable(_ values: [Double]) -> JSONValue { .array(values.map { $0.isFinite ? JSONValue($0) : .null }) }

    static func matrixJSON(_ m: ConfusionMatrix) -> JSONValue {
        .array((0..<m.classCount).map { r in JSONValue((0..<m.classCount).map { m.counts[r][$0] }) })
    }

    static func reportJSON(_ r: ClassificationReport) -> JSONValue {
        func row(_ x: ClassificationReport.Row) -> JSONValue {
            [
                "precision": JSONValue(x.precision), "recall": JSONValue(x.recall), "f1": JSONValue(x.f1),
                "support": JSONValue(x.support),
            ]
        }
        var o: JSONObject = [:]
        for c in r.classes { o[c.name] = row(c) }
        o["accuracy"] = JSONValue(r.accuracy)
        o["macro avg"] = row(r.macroAverage)
        o["weighted avg"] = row(r.weightedAverage)
        return .object(o)
    }
}
