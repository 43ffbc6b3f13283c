/// Average precision, the area under the precision–recall curve as scikit-learn's
/// `average_precision_score` defines it: the step sum AP = Σ (R_i − R_{i−1}) · P_i over the distinct score
/// thresholds from the highest down, with R_{−1} = 0. No interpolation (the trapezoid rule overstates the
/// area of a PR curve).
///
/// With no positive sample scikit-learn sets every recall to 1 and so returns the precision at the highest
/// threshold, which is 0; this returns 0 too.
public func averagePrecision(counts: ThresholdCounts) -> Double {
    let p = counts.positives
    var ap = 0.0
    var previousRecall = 0.0
    for (tp, fp) in zip(counts.truePositives, counts.falsePositives) {
        let precision = zeroSafeRatio(tp, tp + fp)
        let recall = p > 0 ? Double(tp) / Double(p) : 1
        ap += (recall - previousRecall) * precision
        previousRecall = recall
    }
    return max(0, ap)
}

/// Average precision of scores and 0/1 labels; see `averagePrecision(counts:)`.
public func averagePrecision<S: BinaryFloatingPoint>(scores: [S], labels: [Int]) throws -> Double {
    averagePrecision(counts: try ThresholdCounts(scores: scores.map(Double.init), labels: labels))
}
