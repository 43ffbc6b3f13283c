/// The metric names a `fit` reports in each epoch's record, worked out from the model and the data before any
/// step, so a callback monitoring a metric the run never produces (a typo, `val_loss` without validation, `dice`
/// on a classifier) is refused up front instead of silently never firing.
///
/// Training: `loss`, `dice` for a mask with mask targets, `accuracy` for a class head with labels. Validation:
/// `val_` + what `evaluate` scores (`Evaluation.scalars`): `loss`; for a 1- or 2-unit class head `accuracy`,
/// `precision`, `recall`, `specificity`, `f1`, `pr_auc`, `auc` (absent in an epoch whose validation has one class);
/// for more classes `accuracy`, `auc`; for a 1-channel mask `dice`, `iou`, `pixel_accuracy`.
public enum FitMetrics {
    /// The names, or nil when a source cannot tell its targets (nothing is checked then).
    public static func names(model: Model, train: BatchSource, validation: BatchSource?) -> [String]? {
        guard let t = train.targets else { return nil }
        var names = ["loss"]
        if model.maskOutput != nil && t.masks { names.append("dice") }
        if model.classOutput != nil && t.labels { names.append("accuracy") }
        guard let validation else { return names }
        guard let v = validation.targets else { return nil }
        var scored = ["loss"]
        let classOutputs = LossChoice.classOutputs(model)
        if model.classOutput != nil && v.labels {
            scored +=
                classOutputs <= 2
                ? ["accuracy", "precision", "recall", "specificity", "f1", "pr_auc", "auc"]
                : ["accuracy", "auc"]
        }
        if model.maskOutput != nil && v.masks && LossChoice.maskChannels(model) == 1 {
            scored += ["dice", "iou", "pixel_accuracy"]
        }
        return names + scored.map { "val_" + $0 }
    }
}
