/// Binary segmentation scores gathered batch by batch, so an evaluation over many batches keeps four integers
/// per image instead of the masks.
///
/// Feed it each batch's probabilities and masks with `add`, then read `summary()`. The per-image counts are
/// kept (32 bytes an image) so the summary can list Dice, IoU and pixel accuracy per image, in the order the
/// images were added. Scoring rules, including the empty-mask case, are those of `PixelCounts`.
public struct SegmentationAccumulator: Sendable {
    /// The foreground threshold on the predicted probability.
    public let threshold: Float
    /// One entry per image added.
    public private(set) var perImage: [PixelCounts] = []

    public init(threshold: Float = 0.5) {
        self.threshold = threshold
    }

    /// Adds a batch.
    /// - Parameters:
    ///   - probabilities: (N, 1, H, W) or (N, H, W) foreground probabilities (after the sigmoid).
    ///   - masks: the ground truth with the same element count per image, 0 or 1.
    /// - Throws: `MetricsError.lengthMismatch` when the batch sizes or image sizes differ.
    public mutating func add(probabilities: Tensor, masks: Tensor) throws {
        guard probabilities.rank >= 2, masks.rank >= 2, probabilities.shape[0] == masks.shape[0],
            probabilities.count == masks.count
        else {
            throw MetricsError.lengthMismatch("probabilities \(probabilities.shape) vs masks \(masks.shape)")
        }
        let n = probabilities.shape[0]
        guard n > 0 else { return }
        let plane = probabilities.count / n
        // Each image is one contiguous block of `plane` floats in both tensors.
        for i in 0..<n {
            perImage.append(
                PixelCounts(
                    probabilities: UnsafeBufferPointer(start: probabilities.image(i), count: plane),
                    mask: UnsafeBufferPointer(start: masks.image(i), count: plane),
                    threshold: threshold))
        }
    }

    /// Adds one image given as flat arrays of the same length.
    public mutating func add(probabilities: [Float], mask: [Float]) throws {
        guard probabilities.count == mask.count else {
            throw MetricsError.lengthMismatch("\(probabilities.count) probabilities, \(mask.count) mask pixels")
        }
        probabilities.withUnsafeBufferPointer { p in
            mask.withUnsafeBufferPointer { m in
                perImage.append(PixelCounts(probabilities: p, mask: m, threshold: threshold))
            }
        }
    }

    /// Adds one image whose prediction is already a binary mask (thresholded and post-processed).
    public mutating func add(prediction: [Bool], mask: UnsafeBufferPointer<Float>) throws {
        guard prediction.count == mask.count else {
            throw MetricsError.lengthMismatch("\(prediction.count) predicted pixels, \(mask.count) mask pixels")
        }
        let values = prediction.map { $0 ? Float(1) : 0 }
        values.withUnsafeBufferPointer { perImage.append(PixelCounts(probabilities: $0, mask: mask, threshold: 0.5)) }
    }

    /// Forgets every image (for the next epoch).
    public mutating func reset() { perImage.removeAll(keepingCapacity: true) }

    /// The scores of everything added so far.
    /// - Throws: `MetricsError.empty` when no image was added.
    public func summary() throws -> SegmentationSummary {
        guard !perImage.isEmpty else { throw MetricsError.empty }
        return SegmentationSummary(perImage: perImage)
    }
}

/// Segmentation scores over a set of images.
///
/// The headline numbers are the means of the per-image scores (each image weighs the same, as the Dice of a
/// segmentation paper is usually reported). The pooled scores treat the whole set as one big image, so large
/// masks weigh more; they are given because Keras' streaming metrics compute those.
public struct SegmentationSummary: Sendable {
    public let imageCount: Int
    public let meanDice: Double
    public let meanIoU: Double
    public let meanPixelAccuracy: Double
    /// Dice of the summed counts of all images.
    public let pooledDice: Double
    /// IoU of the summed counts of all images.
    public let pooledIoU: Double
    /// The counts of each image, in order; `perImage[i].dice` and so on give its scores.
    public let perImage: [PixelCounts]

    /// The summary of per-image counts (at least one).
    public init(perImage: [PixelCounts]) {
        precondition(!perImage.isEmpty, "a segmentation summary needs at least one image")
        let n = Double(perImage.count)
        var pooled = PixelCounts()
        for c in perImage { pooled.merge(c) }
        imageCount = perImage.count
        meanDice = perImage.reduce(0) { $0 + $1.dice } / n
        meanIoU = perImage.reduce(0) { $0 + $1.iou } / n
        meanPixelAccuracy = perImage.reduce(0) { $0 + $1.pixelAccuracy } / n
        pooledDice = pooled.dice
        pooledIoU = pooled.iou
        self.perImage = perImage
    }
}
