/// Per-class precision, recall, F1 and support with their averages, the content of scikit-learn's
/// `classification_report(y_true, y_pred, labels=range(K), output_dict=True, zero_division=0)`.
///
/// Every class `0..<K` has a row even when it neither occurs nor is predicted (its row is then all zeros and
/// still counts in the macro average), as scikit-learn does when `labels` is given. That keeps the report's
/// shape fixed by the model, not by the batch that happened to be evaluated.
public struct ClassificationReport: Equatable, Sendable {
    /// One line of the report.
    public struct Row: Equatable, Sendable {
        public let name: String
        public let precision: Double
        public let recall: Double
        public let f1: Double
        public let support: Int
    }

    /// One row per class, in class order.
    public let classes: [Row]
    /// The fraction of samples classified correctly (scikit-learn's "accuracy" entry).
    public let accuracy: Double
    /// The unweighted mean of the class rows; support is the total.
    public let macroAverage: Row
    /// The mean of the class rows weighted by their support; support is the total.
    public let weightedAverage: Row

    /// The report of a confusion matrix.
    /// - Parameters:
    ///   - matrix: the counts, rows true classes.
    ///   - classNames: a name per class; by default the class indices "0", "1", ... as scikit-learn prints them.
    public init(matrix: ConfusionMatrix, classNames: [String]? = nil) {
        let k = matrix.classCount
        precondition(classNames == nil || classNames!.count == k, "\(classNames!.count) names for \(k) classes")
        let names = classNames ?? (0..<k).map { String($0) }
        let rows = (0..<k).map {
            Row(
                name: names[$0], precision: matrix.precision($0), recall: matrix.recall($0), f1: matrix.f1($0),
                support: matrix.support($0))
        }
        let total = matrix.total
        func mean(_ value: (Row) -> Double) -> Double { rows.reduce(0) { $0 + value($1) } / Double(k) }
        func weighted(_ value: (Row) -> Double) -> Double {
            total == 0 ? 0 : rows.reduce(0) { $0 + value($1) * Double($1.support) } / Double(total)
        }
        classes = rows
        accuracy = matrix.accuracy
        macroAverage = Row(
            name: "macro avg", precision: mean(\.precision), recall: mean(\.recall), f1: mean(\.f1),
            support: total)
        weightedAverage = Row(
            name: "weighted avg", precision: weighted(\.precision), recall: weighted(\.recall),
            f1: weighted(\.f1), support: total)
    }
}
