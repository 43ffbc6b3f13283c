/// What `evaluate` reports for a K-class classifier, from the class probabilities of a whole evaluation set and
/// the integer labels.
///
/// The predicted class is the argmax of each row, the first one on a tie (numpy's `argmax`). Per-class and
/// averaged precision/recall/F1 equal scikit-learn's with `labels=range(K)` and `zero_division=0`; the ROC AUC is
/// `roc_auc_score(y, P, multi_class="ovr", average="macro")`: each class against the rest on its own column,
/// then the plain mean.
public struct MulticlassClassificationMetrics: Sendable {
    public let classCount: Int
    /// K x K, rows the true class.
    public let confusionMatrix: ConfusionMatrix
    public let accuracy: Double
    /// Per-class rows, accuracy, macro and weighted averages.
    public let report: ClassificationReport
    /// One-vs-rest ROC AUC of each class; nil for a class that is absent from the labels, or present in all.
    public let oneVsRestAUC: [Double?]
    /// The mean of `oneVsRestAUC`; nil when any class's AUC is undefined (scikit-learn returns NaN then).
    public let macroAUC: Double?

    /// Scores an evaluation.
    /// - Parameters:
    ///   - probabilities: N x K, row-major: `probabilities[i * classCount + k]` is P(class k | sample i).
    ///     The AUC only ranks each column, so softmax outputs and logits give the same AUC; scikit-learn also
    ///     checks that rows sum to 1, which this does not.
    ///   - labels: N true classes in `0..<classCount`.
    ///   - classCount: K >= 2.
    ///   - classNames: K names for the report.
    /// - Throws: `MetricsError` for empty or mismatched inputs, out-of-range labels, non-finite probabilities.
    public init<S: BinaryFloatingPoint>(
        probabilities: [S], labels: [Int], classCount: Int,
        classNames: [String]? = nil
    ) throws {
        guard classCount >= 2 else { throw MetricsError.invalidArgument("class count \(classCount) < 2") }
        guard probabilities.count == labels.count * classCount else {
            throw MetricsError.lengthMismatch(
                "\(probabilities.count) probabilities for \(labels.count) samples x "
                    + "\(classCount) classes")
        }
        guard !labels.isEmpty else { throw MetricsError.empty }
        if let names = classNames, names.count != classCount {
            throw MetricsError.invalidArgument("\(names.count) class names for \(classCount) classes")
        }
        let k = classCount
        let n = labels.count
        let p = probabilities.map(Double.init)
        for i in p.indices where !p[i].isFinite { throw MetricsError.nonFiniteScore(index: i) }
        // Row argmax, first maximum wins.
        let predicted = (0..<n).map { i in
            var best = 0
            for c in 1..<k where p[i * k + c] > p[i * k + best] { best = c }
            return best
        }
        let matrix = try ConfusionMatrix(trueLabels: labels, predictedLabels: predicted, classCount: k)
        self.classCount = k
        confusionMatrix = matrix
        accuracy = matrix.accuracy
        report = ClassificationReport(matrix: matrix, classNames: classNames)
        oneVsRestAUC = try (0..<k).map { c in
            let column = (0..<n).map { p[$0 * k + c] }
            let isClass = labels.map { $0 == c ? 1 : 0 }
            return rocArea(counts: try ThresholdCounts(scores: column, labels: isClass))
        }
        let defined = oneVsRestAUC.compactMap { $0 }
        macroAUC = defined.count == k ? defined.reduce(0, +) / Double(k) : nil
    }

    /// Scores a (N, K) tensor of probabilities.
    public init(probabilities: Tensor, labels: [Int], classNames: [String]? = nil) throws {
        guard probabilities.rank == 2 else {
            throw MetricsError.invalidArgument("probabilities of shape \(probabilities.shape), expected (N, K)")
        }
        try self.init(
            probabilities: probabilities.array, labels: labels, classCount: probabilities.shape[1],
            classNames: classNames)
    }
}
