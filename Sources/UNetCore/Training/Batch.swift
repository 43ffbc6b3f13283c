/// A batch of images with what is known about them.
public struct Batch {
    /// (N, C, H, W), preprocessed as the model sees it.
    public var images: Tensor
    /// Binary masks (N, 1, H, W) in {0, 1}, or class-index masks (N, 1, H, W) for a K-class `unet`.
    public var masks: Tensor?
    /// Image-level class indices, one per image.
    public var labels: [Int]?
    /// Where each image came from (a path, or an index for generated data), for reports.
    public var ids: [String]

    public init(images: Tensor, masks: Tensor? = nil, labels: [Int]? = nil, ids: [String]? = nil) {
        self.images = images; self.masks = masks; self.labels = labels
        self.ids = ids ?? (0..<images.shape[0]).map(String.init)
    }

    public var count: Int { images.shape[0] }
}

/// Random access to a dataset's samples. The trainer decides the order (a seeded shuffle per epoch) and asks for
/// one batch at a time, so the order never depends on thread timing and a run can resume at any batch.
public protocol BatchSource: AnyObject {
    var sampleCount: Int { get }
    /// Class names in label order (classification), or [] for segmentation-only data.
    var classNames: [String] { get }
    /// Samples per class, in `classNames` order (for "balanced" class weights).
    var classCounts: [Int] { get }
    /// Loads the samples at `indices`, augmented when `augment` is true; augmentation is seeded by
    /// (`seed`, `epoch`, sample index) so it repeats exactly on a resumed run.
    func batch(indices: [Int], epoch: Int, augment: Bool) throws -> Batch
    /// Which targets every batch carries, when the source knows without loading (nil: unknown).
    var targets: BatchTargets? { get }
}

/// The targets a source's batches carry: masks and/or image-level labels.
public struct BatchTargets: Equatable, Sendable {
    public var masks: Bool
    public var labels: Bool
    public init(masks: Bool, labels: Bool) { self.masks = masks; self.labels = labels }
}

extension BatchSource {
    public var targets: BatchTargets? { nil }
}

/// The order of a dataset's samples in one epoch: a seeded Fisher-Yates shuffle, or 0..<n.
public func epochOrder(count: Int, epoch: Int, seed: UInt64, shuffle: Bool) -> [Int] {
    var order = Array(0..<count)
    guard shuffle else { return order }
    var rng = RandomGenerator(seed: seed &+ 0x5EED &* UInt64(epoch + 1))
    order.shuffle(using: &rng)
    return order
}
