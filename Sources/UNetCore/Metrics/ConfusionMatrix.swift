/// A K x K confusion matrix in scikit-learn's layout: `counts[t][p]` is the number of samples of true class `t`
/// predicted as class `p` (rows are the truth, columns the prediction). For two classes this is
/// `[[tn, fp], [fn, tp]]`, class 1 being the positive class.
///
/// Per-class precision, recall and F1 follow `sklearn.metrics.precision_recall_fscore_support` with
/// `zero_division=0`: a ratio whose denominator is zero is 0, never NaN, so a class the model never predicts
/// (or that never occurs) scores 0 instead of poisoning the averages.
public struct ConfusionMatrix: Equatable, Sendable {
    public let classCount: Int
    /// `counts[trueClass][predictedClass]`.
    public private(set) var counts: [[Int]]

    /// An all-zero matrix, to be filled with `add(trueLabel:predictedLabel:)`.
    public init(classCount: Int) {
        precondition(classCount >= 1, "a confusion matrix needs at least one class")
        self.classCount = classCount
        self.counts = Array(repeating: Array(repeating: 0, count: classCount), count: classCount)
    }

    /// The matrix of paired true and predicted labels, each in `0..<classCount`.
    public init(trueLabels: [Int], predictedLabels: [Int], classCount: Int) throws {
        guard classCount >= 1 else { throw MetricsError.invalidArgument("class count \(classCount)") }
        guard trueLabels.count == predictedLabels.count else {
            throw MetricsError.lengthMismatch("\(trueLabels.count) labels, \(predictedLabels.count) predictions")
        }
        self.init(classCount: classCount)
        for (i, (t, p)) in zip(trueLabels, predictedLabels).enumerated() {
            guard (0..<classCount).contains(t) else { throw MetricsError.invalidLabel(index: i, label: t) }
            guard (0..<classCount).contains(p) else { throw MetricsError.invalidLabel(index: i, label: p) }
            counts[t][p] += 1
        }
    }

    /// Counts one sample. Both labels must be in `0..<classCount`.
    public mutating func add(trueLabel: Int, predictedLabel: Int) {
        counts[trueLabel][predictedLabel] += 1
    }

    /// Adds another matrix of the same size (e.g. the counts of the next batch).
    public mutating func merge(_ other: ConfusionMatrix) {
        precondition(other.classCount == classCount, "merging \(other.classCount) classes into \(classCount)")
        for t in 0..<classCount { for p in 0..<classCount { counts[t][p] += other.counts[t][p] } }
    }

    /// The number of samples.
    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }

    /// The samples whose true class is `c` (scikit-learn's "support"): row `c`'s sum.
    public func support(_ c: Int) -> Int { counts[c].reduce(0, +) }

    /// The samples predicted as class `c`: column `c`'s sum.
    public func predicted(_ c: Int) -> Int { counts.reduce(0) { $0 + $1[c] } }

    /// tp / (tp + fp) for class `c`; 0 when nothing was predicted as `c`.
    public func precision(_ c: Int) -> Double { zeroSafeRatio(counts[c][c], predicted(c)) }

    /// tp / (tp + fn) for class `c` (sensitivity); 0 when class `c` never occurs.
    public func recall(_ c: Int) -> Double { zeroSafeRatio(counts[c][c], support(c)) }

    /// The harmonic mean of precision and recall, computed as 2tp / (2tp + fp + fn) as scikit-learn does;
    /// 0 when that denominator is 0.
    public func f1(_ c: Int) -> Double { zeroSafeRatio(2 * counts[c][c], support(c) + predicted(c)) }

    /// The fraction of samples on the diagonal; 0 for an empty matrix.
    public var accuracy: Double { zeroSafeRatio((0..<classCount).reduce(0) { $0 + counts[$1][$1] }, total) }
}

/// `a / b` in Double, or 0 when `b` is 0 (scikit-learn's `zero_division=0`).
@inline(__always)
func zeroSafeRatio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }
