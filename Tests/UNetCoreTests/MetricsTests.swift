import Foundation
import UNetCore
import XCTest

/// The metrics against scikit-learn (fixtures written by Tests/fixtures/make_metric_fixtures.py: fixed prediction
/// sets with scikit-learn's values), then small cases worked by hand.
final class MetricsTests: XCTestCase {
    // MARK: - Fixture loading

    /// The `cases` of a metrics fixture, parsed with JSONSerialization.
    func fixtureCases(_ name: String) throws -> Any {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let data = try Data(contentsOf: dir.appendingPathComponent(name))
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(doc["cases"])
    }

    /// A JSON number, or nil for JSON null.
    func number(_ value: Any?) -> Double? { value is NSNull ? nil : (value as? NSNumber)?.doubleValue }

    func numbers(_ value: Any?) throws -> [Double?] { try XCTUnwrap(value as? [Any]).map { number($0) } }

    /// Numbers written as strings for exact comparison (nil for null; "inf" is +infinity). swift-corelibs-foundation's
    /// JSONSerialization is off by a few ulps on some decimals; `Double(String)` rounds correctly.
    func exactNumbers(_ value: Any?) throws -> [Double?] {
        try XCTUnwrap(value as? [Any]).map { $0 is NSNull ? nil : Double(try XCTUnwrap($0 as? String)) }
    }

    func integers(_ value: Any?) throws -> [Int] { try XCTUnwrap(value as? [NSNumber]).map(\.intValue) }

    /// `actual` within `tolerance` of `expected`; JSON null stands for NaN or infinity and must meet one.
    func assertNear(
        _ actual: Double?, _ expected: Double?, _ tolerance: Double = 1e-6, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        switch (actual, expected) {
        case (nil, nil): return
        case (let a?, nil):
            XCTAssertFalse(a.isFinite, "\(what): \(a), expected null (NaN/inf)", file: file, line: line)
        case (nil, let e?): XCTFail("\(what): nil, expected \(e)", file: file, line: line)
        case (let a?, let e?):
            XCTAssertEqual(a, e, accuracy: tolerance, "\(what)", file: file, line: line)
        }
    }

    func assertReport(
        _ report: ClassificationReport, _ expected: [String: Any], _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        func check(_ row: ClassificationReport.Row, _ e: [String: Any], _ name: String) {
            assertNear(row.precision, number(e["precision"]), 1e-6, "\(what) \(name) precision", file: file, line: line)
            assertNear(row.recall, number(e["recall"]), 1e-6, "\(what) \(name) recall", file: file, line: line)
            assertNear(row.f1, number(e["f1"]), 1e-6, "\(what) \(name) f1", file: file, line: line)
            XCTAssertEqual(
                row.support, (e["support"] as? NSNumber)?.intValue, "\(what) \(name) support",
                file: file, line: line)
        }
        let rows = try XCTUnwrap(expected["classes"] as? [[String: Any]])
        XCTAssertEqual(report.classes.count, rows.count, "\(what): classes", file: file, line: line)
        for (i, (row, e)) in zip(report.classes, rows).enumerated() { check(row, e, "class \(i)") }
        assertNear(report.accuracy, number(expected["accuracy"]), 1e-6, "\(what) accuracy", file: file, line: line)
        check(report.macroAverage, try XCTUnwrap(expected["macro"] as? [String: Any]), "macro avg")
        check(report.weightedAverage, try XCTUnwrap(expected["weighted"] as? [String: Any]), "weighted avg")
    }

    // MARK: - Against scikit-learn

    func testBinaryClassificationMatchesScikitLearn() throws {
        let cases = try XCTUnwrap(try fixtureCases("metrics_binary.json") as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for c in cases {
            let name = try XCTUnwrap(c["name"] as? String)
            // The network's probabilities are Float; the fixture's numbers are float32 values.
            let scores = try numbers(c["scores"]).map { Float(try XCTUnwrap($0)) }
            let labels = try integers(c["labels"])
            let threshold = try XCTUnwrap(number(c["threshold"]))
            let e = try XCTUnwrap(c["expected"] as? [String: Any])
            let m = try BinaryClassificationMetrics(scores: scores, labels: labels, threshold: threshold)

            let cm = try XCTUnwrap(e["confusion_matrix"] as? [[NSNumber]]).map { $0.map(\.intValue) }
            XCTAssertEqual(m.confusionMatrix.counts, cm, "\(name): confusion matrix")
            assertNear(m.accuracy, number(e["accuracy"]), 1e-6, "\(name): accuracy")
            assertNear(m.precision, number(e["precision"]), 1e-6, "\(name): precision")
            assertNear(m.recall, number(e["recall"]), 1e-6, "\(name): recall")
            assertNear(m.specificity, number(e["specificity"]), 1e-6, "\(name): specificity")
            assertNear(m.f1, number(e["f1"]), 1e-6, "\(name): f1")
            // Exact counts against scikit-learn's floating trapezoids: equal to rounding.
            assertNear(m.rocAUC, number(e["roc_auc"]), 1e-12, "\(name): ROC AUC")
            assertNear(m.averagePrecision, number(e["average_precision"]), 1e-6, "\(name): average precision")

            // ROC points: the same divisions of the same integers, so equal bit for bit (null = NaN or +inf).
            let roc = try XCTUnwrap(e["roc"] as? [String: Any])
            XCTAssertEqual(m.roc.jsonFPR, try exactNumbers(roc["fpr"]), "\(name): fpr")
            XCTAssertEqual(m.roc.jsonTPR, try exactNumbers(roc["tpr"]), "\(name): tpr")
            XCTAssertEqual(m.roc.jsonThresholds, try exactNumbers(roc["thresholds"]), "\(name): thresholds")
            XCTAssertEqual(m.roc.thresholds.first, .infinity, "\(name): first threshold")

            let youdenDefined = try XCTUnwrap(e["youden_defined"] as? Bool)
            XCTAssertEqual(m.youdenThreshold != nil, youdenDefined, "\(name): Youden defined")
            if youdenDefined {
                XCTAssertEqual(
                    m.youdenThreshold, try exactNumbers([e["youden_threshold"] as Any])[0],
                    "\(name): Youden threshold")
                assertNear(m.youdenJ, number(e["youden_j"]), 1e-12, "\(name): Youden J")
            }
            try assertReport(m.report, try XCTUnwrap(e["report"] as? [String: Any]), name)
        }
    }

    func testMulticlassClassificationMatchesScikitLearn() throws {
        let cases = try XCTUnwrap(try fixtureCases("metrics_multiclass.json") as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 4)
        for c in cases {
            let name = try XCTUnwrap(c["name"] as? String)
            let k = try XCTUnwrap((c["class_count"] as? NSNumber)?.intValue)
            let probabilities = try numbers(c["probabilities"]).map { Float(try XCTUnwrap($0)) }
            let labels = try integers(c["labels"])
            let e = try XCTUnwrap(c["expected"] as? [String: Any])
            let tensor = Tensor(shape: [labels.count, k], values: probabilities)
            let m = try MulticlassClassificationMetrics(probabilities: tensor, labels: labels)

            let cm = try XCTUnwrap(e["confusion_matrix"] as? [[NSNumber]]).map { $0.map(\.intValue) }
            XCTAssertEqual(m.confusionMatrix.counts, cm, "\(name): confusion matrix")
            assertNear(m.accuracy, number(e["accuracy"]), 1e-6, "\(name): accuracy")
            try assertReport(m.report, try XCTUnwrap(e["report"] as? [String: Any]), name)
            let auc = try numbers(e["ovr_auc"])
            XCTAssertEqual(m.oneVsRestAUC.count, k)
            for (i, (a, x)) in zip(m.oneVsRestAUC, auc).enumerated() {
                assertNear(a, x, 1e-12, "\(name): AUC of class \(i)")
            }
            assertNear(m.macroAUC, number(e["macro_auc"]), 1e-12, "\(name): macro AUC")
        }
    }

    func testSegmentationMatchesScikitLearnWhenStreamedInBatches() throws {
        let all = try XCTUnwrap(try fixtureCases("metrics_segmentation.json") as? [String: Any])
        let c = try XCTUnwrap((all["binary"] as? [[String: Any]])?.first)
        let shape = try integers(c["shape"])
        let probabilities = try numbers(c["probabilities"]).map { Float(try XCTUnwrap($0)) }
        let masks = try numbers(c["masks"]).map { Float(try XCTUnwrap($0)) }
        let e = try XCTUnwrap(c["expected"] as? [String: Any])
        let plane = shape[1...].reduce(1, *)

        // Two batches of 4 and 5 images: the accumulator must give what one pass over all of them gives.
        var acc = SegmentationAccumulator(threshold: Float(try XCTUnwrap(number(c["threshold"]))))
        for range in [0..<4, 4..<shape[0]] {
            let n = range.count
            let slice = (range.lowerBound * plane)..<(range.upperBound * plane)
            try acc.add(
                probabilities: Tensor(shape: [n] + shape[1...], values: Array(probabilities[slice])),
                masks: Tensor(shape: [n] + shape[1...], values: Array(masks[slice])))
        }
        let s = try acc.summary()
        let perImage = try XCTUnwrap(e["per_image"] as? [[String: Any]])
        XCTAssertEqual(s.imageCount, perImage.count)
        for (i, (counts, x)) in zip(s.perImage, perImage).enumerated() {
            assertNear(counts.dice, number(x["dice"]), 1e-12, "image \(i) Dice")
            assertNear(counts.iou, number(x["iou"]), 1e-12, "image \(i) IoU")
            assertNear(counts.pixelAccuracy, number(x["pixel_accuracy"]), 1e-12, "image \(i) pixel accuracy")
        }
        assertNear(s.meanDice, number(e["mean_dice"]), 1e-6, "mean Dice")
        assertNear(s.meanIoU, number(e["mean_iou"]), 1e-6, "mean IoU")
        assertNear(s.meanPixelAccuracy, number(e["mean_pixel_accuracy"]), 1e-6, "mean pixel accuracy")
        assertNear(s.pooledDice, number(e["pooled_dice"]), 1e-6, "pooled Dice")
        assertNear(s.pooledIoU, number(e["pooled_iou"]), 1e-6, "pooled IoU")
    }

    func testMulticlassSegmentationMatchesScikitLearn() throws {
        let all = try XCTUnwrap(try fixtureCases("metrics_segmentation.json") as? [String: Any])
        let c = try XCTUnwrap((all["multiclass"] as? [[String: Any]])?.first)
        let shape = try integers(c["shape"])
        let probabilities = try numbers(c["probabilities"]).map { Float(try XCTUnwrap($0)) }
        let labels = try numbers(c["labels"]).map { Float(try XCTUnwrap($0)) }
        let e = try XCTUnwrap(c["expected"] as? [String: Any])
        var acc = MulticlassSegmentationAccumulator(classCount: shape[1])
        try acc.add(
            probabilities: Tensor(shape: shape, values: probabilities),
            labels: Tensor(shape: [shape[0], 1, shape[2], shape[3]], values: labels))
        let s = try acc.summary()
        for (k, (a, x)) in zip(s.classDice, try numbers(e["class_dice"])).enumerated() {
            assertNear(a, x, 1e-6, "class \(k) Dice")
        }
        for (k, (a, x)) in zip(s.classIoU, try numbers(e["class_iou"])).enumerated() {
            assertNear(a, x, 1e-6, "class \(k) IoU")
        }
        assertNear(s.meanDice, number(e["mean_dice"]), 1e-6, "mean Dice")
        assertNear(s.meanForegroundDice, number(e["mean_foreground_dice"]), 1e-6, "mean foreground Dice")
        assertNear(s.meanIoU, number(e["mean_iou"]), 1e-6, "mean IoU")
        assertNear(s.meanPixelAccuracy, number(e["mean_pixel_accuracy"]), 1e-6, "mean pixel accuracy")
    }

    // MARK: - Worked by hand

    func testBinaryMetricsOfFourSamplesWorkedByHand() throws {
        // Sorted by score: 0.8 (1), 0.4 (0), 0.35 (1), 0.1 (0). At 0.5 only 0.8 is positive: tn 2, fp 0, fn 1, tp 1.
        let m = try BinaryClassificationMetrics(scores: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1])
        XCTAssertEqual(m.confusionMatrix.counts, [[2, 0], [1, 1]])
        XCTAssertEqual(m.accuracy, 0.75)
        XCTAssertEqual(m.precision, 1)
        XCTAssertEqual(m.recall, 0.5)
        XCTAssertEqual(m.specificity, 1)
        XCTAssertEqual(m.f1, 2.0 / 3, accuracy: 1e-15)
        // Pairs (positive, negative) ranked right: 0.35 > 0.1, 0.8 > 0.4, 0.8 > 0.1; 0.35 < 0.4. AUC = 3/4.
        XCTAssertEqual(m.rocAUC, 0.75)
        // Every point is a corner here, so none is dropped.
        XCTAssertEqual(m.roc.falsePositiveRates, [0, 0, 0.5, 0.5, 1])
        XCTAssertEqual(m.roc.truePositiveRates, [0, 0.5, 0.5, 1, 1])
        XCTAssertEqual(m.roc.thresholds, [.infinity, 0.8, 0.4, 0.35, 0.1])
        // AP = Σ ΔR·P = 0.5·1 + 0·(1/2) + 0.5·(2/3) + 0·(1/2).
        XCTAssertEqual(m.averagePrecision, 0.5 + 0.5 * 2 / 3, accuracy: 1e-15)
        // J = tpr − fpr = 0, 0.5, 0, 0.5, 0: the first maximum is at threshold 0.8.
        XCTAssertEqual(m.youdenThreshold, 0.8)
        XCTAssertEqual(m.youdenJ, 0.5)
    }

    func testTiedScoresCountOneHalfInTheAUC() throws {
        XCTAssertEqual(try ROCCurve(scores: [0.5, 0.5], labels: [1, 0]).auc, 0.5)
        // Pairs: 0.9 beats both negatives, 0.5 beats 0.1 and ties 0.5: (1 + 1 + 1 + 0.5) / 4.
        XCTAssertEqual(try ROCCurve(scores: [0.9, 0.5, 0.5, 0.1], labels: [1, 1, 0, 0]).auc, 0.875)
        // All scores equal: one step from (0, 0) to (1, 1).
        let flat = try ROCCurve(scores: [Float](repeating: 0.3, count: 5), labels: [1, 0, 1, 0, 0])
        XCTAssertEqual(flat.auc, 0.5)
        XCTAssertEqual(flat.falsePositiveRates, [0, 1])
        XCTAssertEqual(flat.thresholds, [.infinity, Double(Float(0.3))])
    }

    func testCollinearROCPointsAreDropped() throws {
        // Distinct scores, three positives above three negatives: tps 1 2 3 3 3 3, fps 0 0 0 1 2 3. Only the
        // ends and the corner at (0, 1) survive.
        let roc = try ROCCurve(scores: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], labels: [1, 1, 1, 0, 0, 0])
        XCTAssertEqual(roc.falsePositiveRates, [0, 0, 0, 1])
        XCTAssertEqual(roc.truePositiveRates, [0, 1.0 / 3, 1, 1])
        XCTAssertEqual(roc.thresholds, [.infinity, 0.9, 0.7, 0.4])
        XCTAssertEqual(roc.auc, 1)
    }

    func testThresholdIsInclusive() throws {
        let m = try BinaryClassificationMetrics(scores: [0.5, 0.49999, 0.5], labels: [1, 1, 0], threshold: 0.5)
        XCTAssertEqual(m.confusionMatrix.counts, [[0, 1], [1, 1]])
    }

    func testOneClassLeavesRankingMetricsUndefined() throws {
        let positives = try BinaryClassificationMetrics(scores: [0.2, 0.7, 0.9], labels: [1, 1, 1])
        XCTAssertNil(positives.rocAUC)
        XCTAssertNil(positives.youdenThreshold)
        XCTAssertTrue(positives.roc.falsePositiveRates.allSatisfy(\.isNaN))
        // The middle point (tpr 2/3) lies on the segment from 1/3 to 1 and is dropped.
        XCTAssertEqual(positives.roc.jsonFPR, [nil, nil, nil])
        XCTAssertEqual(positives.roc.truePositiveRates, [0, 1.0 / 3, 1])
        XCTAssertEqual(positives.averagePrecision, 1)
        XCTAssertEqual(positives.specificity, 0)  // zero division: no negative sample
        let negatives = try BinaryClassificationMetrics(scores: [0.2, 0.7, 0.9], labels: [0, 0, 0])
        XCTAssertNil(negatives.rocAUC)
        XCTAssertEqual(negatives.averagePrecision, 0)
        XCTAssertEqual(negatives.precision, 0)
        XCTAssertEqual(negatives.recall, 0)
        XCTAssertEqual(negatives.f1, 0)
    }

    func testJSONFormOfTheCurveHasNoInfinity() throws {
        let roc = try ROCCurve(scores: [0.1, 0.9], labels: [0, 1])
        XCTAssertEqual(roc.thresholds.first, .infinity)
        XCTAssertEqual(roc.jsonThresholds, [nil, 0.9, 0.1])
        XCTAssertEqual(roc.jsonFPR, [0, 0, 1])
    }

    func testInvalidInputsThrowInsteadOfTrapping() {
        XCTAssertThrowsError(try BinaryClassificationMetrics(scores: [0.1, 0.2], labels: [1])) {
            XCTAssertEqual($0 as? MetricsError, .lengthMismatch("2 scores, 1 labels"))
        }
        XCTAssertThrowsError(try BinaryClassificationMetrics(scores: [Float](), labels: [])) {
            XCTAssertEqual($0 as? MetricsError, .empty)
        }
        XCTAssertThrowsError(try BinaryClassificationMetrics(scores: [0.1, 0.2], labels: [0, 2])) {
            XCTAssertEqual($0 as? MetricsError, .invalidLabel(index: 1, label: 2))
        }
        XCTAssertThrowsError(try BinaryClassificationMetrics(scores: [0.1, .nan], labels: [0, 1])) {
            XCTAssertEqual($0 as? MetricsError, .nonFiniteScore(index: 1))
        }
        XCTAssertThrowsError(
            try MulticlassClassificationMetrics(probabilities: [0.5, 0.5], labels: [0], classCount: 1))
        XCTAssertThrowsError(
            try MulticlassClassificationMetrics(
                probabilities: [0.5, 0.5], labels: [2],
                classCount: 2)
        ) {
            XCTAssertEqual($0 as? MetricsError, .invalidLabel(index: 0, label: 2))
        }
    }

    func testClassificationReportOfThreeClassesWorkedByHand() throws {
        // Rows true class, columns predicted:
        //   [[3, 1, 0],     class 0: precision 3/4, recall 3/4, f1 3/4, support 4
        //    [1, 2, 0],     class 1: precision 2/3, recall 2/3, f1 2/3, support 3
        //    [0, 0, 0]]     class 2: never occurs, never predicted: all 0 (zero_division=0), support 0
        let truth = [0, 0, 0, 0, 1, 1, 1]
        let predicted = [0, 0, 0, 1, 0, 1, 1]
        let matrix = try ConfusionMatrix(trueLabels: truth, predictedLabels: predicted, classCount: 3)
        XCTAssertEqual(matrix.counts, [[3, 1, 0], [1, 2, 0], [0, 0, 0]])
        let r = ClassificationReport(matrix: matrix, classNames: ["normal", "pneumonia", "other"])
        XCTAssertEqual(r.classes.map(\.name), ["normal", "pneumonia", "other"])
        XCTAssertEqual(r.classes.map(\.precision), [0.75, 2.0 / 3, 0])
        XCTAssertEqual(r.classes.map(\.recall), [0.75, 2.0 / 3, 0])
        XCTAssertEqual(r.classes.map(\.f1), [0.75, 2.0 / 3, 0])
        XCTAssertEqual(r.classes.map(\.support), [4, 3, 0])
        XCTAssertEqual(r.accuracy, 5.0 / 7)
        XCTAssertEqual(r.macroAverage.f1, (0.75 + 2.0 / 3) / 3, accuracy: 1e-15)
        XCTAssertEqual(r.weightedAverage.f1, (4 * 0.75 + 3 * 2.0 / 3) / 7, accuracy: 1e-15)
        XCTAssertEqual(r.macroAverage.support, 7)
    }

    func testMulticlassArgmaxTakesTheFirstOfTiedClasses() throws {
        // Row 0 ties classes 1 and 2 → 1; row 1 → 2; row 2 → 0.
        let m = try MulticlassClassificationMetrics(
            probabilities: [0.2, 0.4, 0.4, 0.1, 0.2, 0.7, 0.5, 0.3, 0.2],
            labels: [1, 2, 0], classCount: 3)
        XCTAssertEqual(m.accuracy, 1)
        XCTAssertEqual(m.oneVsRestAUC, [1, 1, 1])
        XCTAssertEqual(m.macroAUC, 1)
    }

    func testDiceIoUAndPixelAccuracyWorkedByHand() throws {
        // Truth 1 1 0 0 0 0, prediction (>= 0.5) 1 0 1 0 0 0: tp 1, fp 1, fn 1, tn 3.
        var acc = SegmentationAccumulator()
        try acc.add(probabilities: [0.9, 0.2, 0.5, 0.1, 0, 0.3], mask: [1, 1, 0, 0, 0, 0])
        // Both empty: a perfect prediction, Dice = IoU = 1.
        try acc.add(probabilities: [0.1, 0.2, 0.3, 0.4, 0, 0.3], mask: [0, 0, 0, 0, 0, 0])
        // Empty truth with a false alarm: 0.
        try acc.add(probabilities: [0.1, 0.2, 0.3, 0.4, 0, 0.6], mask: [0, 0, 0, 0, 0, 0])
        let s = try acc.summary()
        XCTAssertEqual(
            s.perImage[0],
            {
                var c = PixelCounts(); c.truePositives = 1; c.falsePositives = 1; c.falseNegatives = 1;
                c.trueNegatives = 3
                return c
            }())
        XCTAssertEqual(s.perImage.map(\.dice), [0.5, 1, 0])
        XCTAssertEqual(s.perImage.map(\.iou), [1.0 / 3, 1, 0])
        XCTAssertEqual(s.perImage.map(\.pixelAccuracy), [4.0 / 6, 1, 5.0 / 6])
        XCTAssertEqual(s.meanDice, 0.5)
        XCTAssertEqual(s.meanIoU, (1.0 / 3 + 1) / 3, accuracy: 1e-15)
        XCTAssertEqual(s.meanPixelAccuracy, 15.0 / 18, accuracy: 1e-15)
        // Pooled: tp 1, fp 2, fn 1 → Dice 2/5, IoU 1/4.
        XCTAssertEqual(s.pooledDice, 0.4)
        XCTAssertEqual(s.pooledIoU, 0.25)
        acc.reset()
        XCTAssertThrowsError(try acc.summary()) { XCTAssertEqual($0 as? MetricsError, .empty) }
    }

    func testSegmentationAccumulatorIsTheSameInOneBatchOrMany() throws {
        var rng = RandomGenerator(seed: 5)
        let p = Tensor(zeros: [6, 1, 9, 7])
        let m = Tensor(zeros: [6, 1, 9, 7])
        for i in 0..<p.count {
            p[i] = rng.uniform(0, 1)
            m[i] = rng.uniform(0, 1) < 0.3 ? 1 : 0
        }
        var whole = SegmentationAccumulator()
        try whole.add(probabilities: p, masks: m)
        var parts = SegmentationAccumulator()
        let plane = 63
        for i in 0..<6 {
            let pi = Tensor(shape: [1, 1, 9, 7], values: Array(p.array[(i * plane)..<((i + 1) * plane)]))
            let mi = Tensor(shape: [1, 9, 7], values: Array(m.array[(i * plane)..<((i + 1) * plane)]))
            try parts.add(probabilities: pi, masks: mi)
        }
        XCTAssertEqual(whole.perImage, parts.perImage)
        XCTAssertEqual(try whole.summary().meanDice, try parts.summary().meanDice)
        XCTAssertThrowsError(try whole.add(probabilities: p, masks: Tensor(zeros: [5, 1, 9, 7])))
    }

    func testMulticlassSegmentationRejectsLabelsThatAreNotClasses() {
        var acc = MulticlassSegmentationAccumulator(classCount: 2)
        let p = Tensor(zeros: [1, 2, 1, 2])
        XCTAssertThrowsError(try acc.add(probabilities: p, labels: Tensor(shape: [1, 1, 1, 2], values: [0, 2]))) {
            XCTAssertEqual($0 as? MetricsError, .invalidLabel(index: 1, label: 2))
        }
        XCTAssertThrowsError(try acc.add(probabilities: p, labels: Tensor(shape: [1, 1, 1, 2], values: [0.5, 1])))
        XCTAssertThrowsError(try acc.add(probabilities: p, labels: Tensor(shape: [1, 1, 1, 2], values: [.nan, 1])))
        XCTAssertEqual(acc.perImage.count, 0)
    }
}
