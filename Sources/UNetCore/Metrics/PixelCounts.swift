/// The pixel confusion counts of one thresholded mask against its ground truth, and the overlap scores read
/// from them.
///
/// Rules (the same everywhere in the engine):
/// - a predicted pixel is foreground when its probability is `>= threshold` (default 0.5);
/// - a ground-truth pixel is foreground when its value is `>= 0.5` (masks are stored as 0/1 floats);
/// - **empty case**: when the prediction and the truth are both empty (no foreground at all) the prediction
///   is perfect, so Dice = IoU = 1 (scikit-learn's `f1_score`/`jaccard_score` with `zero_division=1`).
///   Predicting anything on an empty truth, or nothing on a non-empty one, gives 0.
public struct PixelCounts: Equatable, Sendable {
    public var truePositives = 0
    public var falsePositives = 0
    public var falseNegatives = 0
    public var trueNegatives = 0

    public init() {}

    /// Counts a probability map against a mask of the same length.
    /// - Parameters:
    ///   - probabilities: the predicted foreground probability of each pixel (one image, any layout).
    ///   - mask: the ground truth of the same pixels, 0 or 1.
    ///   - threshold: foreground when `probability >= threshold`.
    public init(probabilities: UnsafeBufferPointer<Float>, mask: UnsafeBufferPointer<Float>, threshold: Float = 0.5) {
        precondition(
            probabilities.count == mask.count,
            "\(probabilities.count) probabilities, \(mask.count) mask pixels")
        // Counting in four integers keeps the loop branch-light: tp + fp is the predicted area, tp + fn the true.
        var predictedArea = 0
        var trueArea = 0
        var overlap = 0
        for i in 0..<mask.count {
            let p = probabilities[i] >= threshold ? 1 : 0
            let t = mask[i] >= 0.5 ? 1 : 0
            predictedArea += p
            trueArea += t
            overlap += p & t
        }
        truePositives = overlap
        falsePositives = predictedArea - overlap
        falseNegatives = trueArea - overlap
        trueNegatives = mask.count - predictedArea - trueArea + overlap
    }

    /// All pixels counted.
    public var total: Int { truePositives + falsePositives + falseNegatives + trueNegatives }

    /// 2|P ∩ T| / (|P| + |T|); 1 when both are empty.
    public var dice: Double {
        let denominator = 2 * truePositives + falsePositives + falseNegatives
        return denominator == 0 ? 1 : Double(2 * truePositives) / Double(denominator)
    }

    /// |P ∩ T| / |P ∪ T| (Jaccard); 1 when both are empty.
    public var iou: Double {
        let union = truePositives + falsePositives + falseNegatives
        return union == 0 ? 1 : Double(truePositives) / Double(union)
    }

    /// The fraction of pixels labelled correctly, background included; 0 for no pixels.
    public var pixelAccuracy: Double { zeroSafeRatio(truePositives + trueNegatives, total) }

    /// Adds another image's counts (pooled, "micro" scores over a whole set).
    public mutating func merge(_ other: PixelCounts) {
        truePositives += other.truePositives
        falsePositives += other.falsePositives
        falseNegatives += other.falseNegatives
        trueNegatives += other.trueNegatives
    }
}
