/// The true- and false-positive counts at every distinct score, highest score first: the table that the ROC
/// curve, ROC AUC and average precision are all read from (scikit-learn's `confusion_matrix_at_thresholds`,
/// formerly `_binary_clf_curve`, without sample weights).
///
/// Entry `i` says: predicting positive every sample with `score >= thresholds[i]` gives `truePositives[i]`
/// true and `falsePositives[i]` false positives. Tied scores share one entry, which is what makes ties count
/// half in the AUC, exactly as in scikit-learn. Counts are integers, so nothing here is rounded.
public struct ThresholdCounts: Equatable, Sendable {
    /// The distinct scores, strictly decreasing.
    public let thresholds: [Double]
    /// Cumulative positives with score >= `thresholds[i]`.
    public let truePositives: [Int]
    /// Cumulative negatives with score >= `thresholds[i]`.
    public let falsePositives: [Int]

    /// All positives (the last cumulative count).
    public var positives: Int { truePositives.last ?? 0 }
    /// All negatives.
    public var negatives: Int { falsePositives.last ?? 0 }

    /// The table for scores (any real values, higher meaning "more positive") and 0/1 labels.
    /// - Throws: `MetricsError` for empty or mismatched inputs, a label other than 0/1, a NaN or infinite score.
    public init(scores: [Double], labels: [Int]) throws {
        try validateBinary(scores: scores, labels: labels)
        // Sort by descending score; the order inside a run of ties does not matter because only the counts at
        // the end of each run are kept.
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var thresholds: [Double] = []
        var tps: [Int] = []
        var fps: [Int] = []
        var tp = 0
        var fp = 0
        for (rank, i) in order.enumerated() {
            if labels[i] == 1 { tp += 1 } else { fp += 1 }
            // Close the run when the next score differs (or at the end).
            if rank == order.count - 1 || scores[order[rank + 1]] != scores[i] {
                thresholds.append(scores[i])
                tps.append(tp)
                fps.append(fp)
            }
        }
        self.thresholds = thresholds
        self.truePositives = tps
        self.falsePositives = fps
    }
}

/// Checks what every binary ranking metric needs: as many scores as labels, at least one, labels 0/1, finite
/// scores.
func validateBinary(scores: [Double], labels: [Int]) throws {
    guard scores.count == labels.count else {
        throw MetricsError.lengthMismatch("\(scores.count) scores, \(labels.count) labels")
    }
    guard !scores.isEmpty else { throw MetricsError.empty }
    for i in labels.indices where labels[i] != 0 && labels[i] != 1 {
        throw MetricsError.invalidLabel(index: i, label: labels[i])
    }
    for i in scores.indices where !scores[i].isFinite { throw MetricsError.nonFiniteScore(index: i) }
}
