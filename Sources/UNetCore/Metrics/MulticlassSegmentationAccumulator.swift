/// Multi-class segmentation scores (one channel per class, softmax outputs) gathered batch by batch.
///
/// Each pixel's predicted class is the argmax over channels, the first on a tie. For every image and class the
/// class is scored one-vs-rest as a binary mask with the rules of `PixelCounts`: a class absent from both the
/// truth and the prediction of an image scores Dice 1 there. The summary's `meanDice` is the mean over
/// classes of the per-class mean over images; `meanForegroundDice` leaves class 0 (background) out.
public struct MulticlassSegmentationAccumulator: Sendable {
    public let classCount: Int
    /// `perImage[i][c]`: the counts of class `c` in image `i`.
    public private(set) var perImage: [[PixelCounts]] = []

    public init(classCount: Int) {
        precondition(classCount >= 2, "multi-class segmentation needs at least 2 classes")
        self.classCount = classCount
    }

    /// Adds a batch.
    /// - Parameters:
    ///   - probabilities: (N, C, H, W) class probabilities or logits (only the argmax matters).
    ///   - labels: (N, 1, H, W) or (N, H, W), each pixel's class index stored as a float.
    /// - Throws: `MetricsError` when shapes do not match or a label is not a class index.
    public mutating func add(probabilities: Tensor, labels: Tensor) throws {
        let c = classCount
        guard probabilities.rank == 4, probabilities.shape[1] == c, labels.rank >= 2,
            labels.shape[0] == probabilities.shape[0], labels.count * c == probabilities.count
        else {
            throw MetricsError.lengthMismatch(
                "probabilities \(probabilities.shape) vs labels \(labels.shape) "
                    + "for \(c) classes")
        }
        let n = probabilities.shape[0]
        guard n > 0 else { return }
        let plane = labels.count / n
        // Collected aside and appended at the end, so a batch with a bad label adds nothing.
        var batch: [[PixelCounts]] = []
        for i in 0..<n {
            // probabilities image i: (C, plane); labels image i: (plane).
            let p = probabilities.image(i)
            let t = labels.image(i)
            var counts = [PixelCounts](repeating: PixelCounts(), count: c)
            for q in 0..<plane {
                var predicted = 0
                for k in 1..<c where p[k * plane + q] > p[predicted * plane + q] { predicted = k }
                // A label must be a whole number in 0..<C; check before converting, Int(nan) would trap.
                let value = t[q]
                guard value >= 0, value < Float(c), value == value.rounded(.down) else {
                    throw MetricsError.invalidLabel(
                        index: i * plane + q,
                        label: value.isFinite && abs(value) < 1e9 ? Int(value) : -1)
                }
                let truth = Int(value)
                if predicted == truth {
                    counts[truth].truePositives += 1
                } else {
                    counts[predicted].falsePositives += 1
                    counts[truth].falseNegatives += 1
                }
            }
            for k in 0..<c {
                counts[k].trueNegatives =
                    plane - counts[k].truePositives - counts[k].falsePositives
                    - counts[k].falseNegatives
            }
            batch.append(counts)
        }
        perImage.append(contentsOf: batch)
    }

    /// Forgets every image.
    public mutating func reset() { perImage.removeAll(keepingCapacity: true) }

    /// The scores so far.
    /// - Throws: `MetricsError.empty` when no image was added.
    public func summary() throws -> MulticlassSegmentationSummary {
        guard !perImage.isEmpty else { throw MetricsError.empty }
        return MulticlassSegmentationSummary(perImage: perImage, classCount: classCount)
    }
}

/// Multi-class segmentation scores over a set of images; see `MulticlassSegmentationAccumulator`.
public struct MulticlassSegmentationSummary: Sendable {
    public let imageCount: Int
    /// Per class, the mean over images of its Dice.
    public let classDice: [Double]
    /// Per class, the mean over images of its IoU.
    public let classIoU: [Double]
    /// The mean of `classDice`.
    public let meanDice: Double
    /// The mean of `classDice` without class 0.
    public let meanForegroundDice: Double
    /// The mean of `classIoU`.
    public let meanIoU: Double
    /// The mean over images of the fraction of pixels whose class is right.
    public let meanPixelAccuracy: Double

    init(perImage: [[PixelCounts]], classCount c: Int) {
        let n = Double(perImage.count)
        imageCount = perImage.count
        classDice = (0..<c).map { k in perImage.reduce(0) { $0 + $1[k].dice } / n }
        classIoU = (0..<c).map { k in perImage.reduce(0) { $0 + $1[k].iou } / n }
        meanDice = classDice.reduce(0, +) / Double(c)
        meanForegroundDice = classDice.dropFirst().reduce(0, +) / Double(c - 1)
        meanIoU = classIoU.reduce(0, +) / Double(c)
        // Correct pixels are the diagonal: the sum of every class's true positives.
        meanPixelAccuracy =
            perImage.reduce(0) { acc, counts in
                acc + zeroSafeRatio(counts.reduce(0) { $0 + $1.truePositives }, counts[0].total)
            } / n
    }
}
