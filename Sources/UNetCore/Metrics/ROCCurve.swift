/// A receiver operating characteristic curve as scikit-learn's `roc_curve(y_true, y_score)` with its default
/// `drop_intermediate=True`, and the area under it.
///
/// Point `i` is (fpr[i], tpr[i]) for the rule "positive when score >= thresholds[i]". The first point is
/// (0, 0) with threshold `+infinity` (nothing predicted positive), as scikit-learn >= 1.3 writes it.
/// Points that lie on a straight segment between their neighbours are dropped; they change neither the
/// plot nor the area.
///
/// Undefined cases follow scikit-learn: with no negative sample every fpr is NaN, with no positive sample every
/// tpr is NaN, and `auc` is nil (scikit-learn returns NaN with a warning).
///
/// JSON has neither infinity nor NaN. The Swift values stay `Double.infinity` / `Double.nan` so the curve
/// compares exactly with scikit-learn's; `jsonThresholds`, `jsonFPR` and `jsonTPR` give the representation for
/// the wire, where every non-finite value becomes `nil` (JSON `null`). A reader knows that a `null` first
/// threshold means "above every score".
public struct ROCCurve: Equatable, Sendable {
    public let falsePositiveRates: [Double]
    public let truePositiveRates: [Double]
    public let thresholds: [Double]
    /// The area under the curve, exact (computed from integer counts), or nil when one class is absent.
    public let auc: Double?

    /// The curve of a threshold table.
    public init(counts: ThresholdCounts) {
        var fps = counts.falsePositives
        var tps = counts.truePositives
        var thresholds = counts.thresholds
        // Keep the ends and every corner: a point whose second difference is zero in both fps and tps lies on
        // the segment joining its neighbours.
        if fps.count > 2 {
            var keep = [0]
            for i in 1..<(fps.count - 1) {
                let corner = fps[i - 1] - 2 * fps[i] + fps[i + 1] != 0 || tps[i - 1] - 2 * tps[i] + tps[i + 1] != 0
                if corner { keep.append(i) }
            }
            keep.append(fps.count - 1)
            fps = keep.map { fps[$0] }
            tps = keep.map { tps[$0] }
            thresholds = keep.map { thresholds[$0] }
        }
        fps.insert(0, at: 0)
        tps.insert(0, at: 0)
        thresholds.insert(.infinity, at: 0)
        let (n, p) = (counts.negatives, counts.positives)
        falsePositiveRates = fps.map { n > 0 ? Double($0) / Double(n) : .nan }
        truePositiveRates = tps.map { p > 0 ? Double($0) / Double(p) : .nan }
        self.thresholds = thresholds
        auc = rocArea(counts: counts)
    }

    /// The curve of scores and 0/1 labels.
    public init<S: BinaryFloatingPoint>(scores: [S], labels: [Int]) throws {
        self.init(counts: try ThresholdCounts(scores: scores.map(Double.init), labels: labels))
    }

    /// The threshold that maximises Youden's J = tpr − fpr over the curve's points, with its J; the first such
    /// point when several tie (numpy's `argmax`). Nil when the curve is undefined (one class absent).
    /// A classifier no better than chance anywhere gets the first point, whose threshold is +infinity.
    public var youden: (threshold: Double, j: Double)? {
        guard auc != nil else { return nil }
        var best = 0
        for i in thresholds.indices
        where truePositiveRates[i] - falsePositiveRates[i] > truePositiveRates[best] - falsePositiveRates[best] {
            best = i
        }
        return (thresholds[best], truePositiveRates[best] - falsePositiveRates[best])
    }

    /// `thresholds` for JSON: the leading +infinity becomes nil (`null`).
    public var jsonThresholds: [Double?] { thresholds.map { $0.isFinite ? $0 : nil } }
    /// `falsePositiveRates` for JSON: NaN (no negative samples) becomes nil.
    public var jsonFPR: [Double?] { falsePositiveRates.map { $0.isFinite ? $0 : nil } }
    /// `truePositiveRates` for JSON: NaN (no positive samples) becomes nil.
    public var jsonTPR: [Double?] { truePositiveRates.map { $0.isFinite ? $0 : nil } }
}

/// The exact ROC AUC of a threshold table: the trapezoids between consecutive points summed in integers,
/// Σ (fp_i − fp_{i−1})·(tp_i + tp_{i−1}) / (2·P·N). That is the Mann–Whitney probability that a random positive
/// outscores a random negative, a tie counting one half, which is the value scikit-learn's `roc_auc_score`
/// computes with floating-point trapezoids. Nil when P or N is zero.
public func rocArea(counts: ThresholdCounts) -> Double? {
    let (p, n) = (counts.positives, counts.negatives)
    guard p > 0, n > 0 else { return nil }
    var twiceArea = 0
    var (fp0, tp0) = (0, 0)
    for (fp, tp) in zip(counts.falsePositives, counts.truePositives) {
        twiceArea += (fp - fp0) * (tp + tp0)
        (fp0, tp0) = (fp, tp)
    }
    return Double(twiceArea) / (2 * Double(p) * Double(n))
}
