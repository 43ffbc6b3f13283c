/// Everything `evaluate` reports for a binary classifier, from the probability of the positive class and the
/// 0/1 labels of a whole evaluation set.
///
/// The thresholded metrics (confusion matrix, accuracy, precision, recall, specificity, F1, report) predict
/// positive when `score >= threshold`, the same rule the ROC thresholds use, so the Youden threshold applied
/// here reproduces its ROC point. The ranking metrics (ROC curve and AUC, average precision) use no threshold.
/// All of them equal scikit-learn's with `zero_division=0`; see `Tests/fixtures/make_metric_fixtures.py`.
public struct BinaryClassificationMetrics: Sendable {
    /// The threshold the thresholded metrics were taken at.
    public let threshold: Double
    /// `[[tn, fp], [fn, tp]]`.
    public let confusionMatrix: ConfusionMatrix
    public let accuracy: Double
    /// tp / (tp + fp); 0 when nothing is predicted positive.
    public let precision: Double
    /// tp / (tp + fn), the sensitivity; 0 when there is no positive sample.
    public let recall: Double
    /// tn / (tn + fp), the recall of the negative class; 0 when there is no negative sample.
    public let specificity: Double
    /// 2tp / (2tp + fp + fn); 0 when that denominator is 0.
    public let f1: Double
    /// Per-class precision, recall, F1 and support with the averages (rows "0" and "1" unless named).
    public let report: ClassificationReport
    /// The ROC curve (scikit-learn's `roc_curve`, `drop_intermediate=True`).
    public let roc: ROCCurve
    /// Exact ROC AUC, ties counting one half; nil when the labels hold one class only.
    public var rocAUC: Double? { roc.auc }
    /// Average precision (PR AUC), as `average_precision_score`.
    public let averagePrecision: Double
    /// The ROC threshold that maximises tpr − fpr; nil when the labels hold one class only.
    public let youdenThreshold: Double?
    /// Youden's J at `youdenThreshold`.
    public let youdenJ: Double?

    /// Scores all predictions of an evaluation.
    /// - Parameters:
    ///   - scores: the predicted probability of class 1 for each sample (any monotone score works for the
    ///     ranking metrics; the threshold must then be on the same scale).
    ///   - labels: the true class of each sample, 0 or 1.
    ///   - threshold: predict positive when `score >= threshold`.
    ///   - classNames: names of classes 0 and 1 for the report.
    /// - Throws: `MetricsError` for empty or mismatched inputs, labels other than 0/1, NaN or infinite scores.
    public init<S: BinaryFloatingPoint>(
        scores: [S], labels: [Int], threshold: Double = 0.5,
        classNames: [String]? = nil
    ) throws {
        let scores = scores.map(Double.init)
        let counts = try ThresholdCounts(scores: scores, labels: labels)
        if let names = classNames, names.count != 2 {
            throw MetricsError.invalidArgument("\(names.count) class names for a binary classifier")
        }
        let predicted = scores.map { $0 >= threshold ? 1 : 0 }
        let matrix = try ConfusionMatrix(trueLabels: labels, predictedLabels: predicted, classCount: 2)
        self.threshold = threshold
        confusionMatrix = matrix
        accuracy = matrix.accuracy
        precision = matrix.precision(1)
        recall = matrix.recall(1)
        specificity = matrix.recall(0)
        f1 = matrix.f1(1)
        report = ClassificationReport(matrix: matrix, classNames: classNames)
        roc = ROCCurve(counts: counts)
        averagePrecision = UNetCore.averagePrecision(counts: counts)
        let youden = roc.youden
        youdenThreshold = youden?.threshold
        youdenJ = youden?.j
    }
}
