import Dispatch
import Foundation
import UNetCore

/// One sample of a dataset: where its image (and mask) come from and its class.
public struct Sample: Sendable {
    public var image: ImageSource
    public var mask: ImageSource?
    public var label: Int?

    public init(image: ImageSource, mask: ImageSource? = nil, label: Int? = nil) {
        self.image = image; self.mask = mask; self.label = label
    }
}

/// What a dataset is for.
public enum DatasetTask: String, Codable, Sendable, CaseIterable { case classification, segmentation }

/// A list of samples with everything needed to turn them into batches: preprocessing, augmentation, seed.
///
/// It serves the trainer as a `BatchSource`: samples are decoded when a batch asks for them (in parallel, on
/// the caller's thread plus the shared pool), augmented with a generator seeded by (seed, epoch, sample index) so a
/// resumed run sees the same augmentation, and optionally cached after decoding and resizing (before
/// augmentation) within a memory budget.
public final class Dataset: BatchSource, @unchecked Sendable {
    public let name: String
    public let task: DatasetTask
    public let samples: [Sample]
    public let classNames: [String]
    public let preprocessing: Preprocessing
    public var augmentation: Augmentation
    public let seed: UInt64
    /// Bytes the decoded-image cache may hold (0: no cache).
    public let cacheLimitBytes: Int

    private var cache: [Int: (Image, Image?)] = [:]
    private var cachedBytes = 0
    private let lock = NSLock()

    public init(
        name: String, task: DatasetTask, samples: [Sample], classNames: [String], preprocessing: Preprocessing,
        augmentation: Augmentation = Augmentation(), seed: UInt64 = 0, cacheLimitBytes: Int = 0
    ) {
        self.name = name; self.task = task; self.samples = samples; self.classNames = classNames
        self.preprocessing = preprocessing; self.augmentation = augmentation; self.seed = seed
        self.cacheLimitBytes = cacheLimitBytes
    }

    public var sampleCount: Int { samples.count }

    /// A batch has masks (labels) when every sample has one.
    public var targets: BatchTargets? {
        BatchTargets(
            masks: !samples.isEmpty && samples.allSatisfy { $0.mask != nil },
            labels: !samples.isEmpty && samples.allSatisfy { $0.label != nil })
    }

    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classNames.count)
        for s in samples { if let l = s.label, l < counts.count { counts[l] += 1 } }
        return counts
    }

    /// Bytes held by the decoded-image cache.
    public var cacheBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return cachedBytes
    }

    /// A dataset with a subset of the samples (a validation split), sharing settings; `augmentation` off for it.
    public func subset(_ indices: [Int], name: String, augmentation: Augmentation? = nil) -> Dataset {
        Dataset(
            name: name, task: task, samples: indices.map { samples[$0] }, classNames: classNames,
            preprocessing: preprocessing, augmentation: augmentation ?? self.augmentation, seed: seed,
            cacheLimitBytes: cacheLimitBytes)
    }

    /// Decodes and fits sample `i` (image at the input size, mask 0/1), from the cache when it is there.
    public func load(_ i: Int) throws -> (Image, Image?) {
        if cacheLimitBytes > 0 {
            lock.lock()
            if let hit = cache[i] { lock.unlock(); return hit }
            lock.unlock()
        }
        let s = samples[i]
        let (image, mask) = try preprocessing.loadSample(s.image, mask: s.mask)
        if cacheLimitBytes > 0 {
            let bytes = (image.pixels.count + (mask?.pixels.count ?? 0)) * 4
            lock.lock()
            if cachedBytes + bytes <= cacheLimitBytes { cache[i] = (image, mask); cachedBytes += bytes }
            lock.unlock()
        }
        return (image, mask)
    }

    /// The augmentation generator of sample `index` in `epoch`: independent of thread timing and batch size.
    func generator(epoch: Int, index: Int) -> RandomGenerator {
        RandomGenerator(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(epoch) &* 0x9E37_79B9 &+ UInt64(index))
    }

    /// The samples at `indices` as they go into the model: fitted, augmented when `augment`, normalised.
    public func samplesAsSeen(_ indices: [Int], epoch: Int, augment: Bool) throws -> [(Image, Image?)] {
        var results = [Result<(Image, Image?), Error>?](repeating: nil, count: indices.count)
        let doAugment = augment && !augmentation.isIdentity
        results.withUnsafeMutableBufferPointer { slots in
            let shared = Slots(base: slots.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: indices.count) { k in
                shared.base[k] = Result {
                    var (image, mask) = try load(indices[k])
                    if preprocessing.tileSampling {
                        // A new crop each epoch in training; a fixed one (epoch 0) when not augmenting.
                        var base = generator(epoch: augment ? epoch : 0, index: indices[k])
                        var rng = RandomGenerator(seed: base.next() ^ 0x7469_6C65)  // apart from the augmentation's
                        (image, mask) = preprocessing.randomCrop(image, mask: mask, rng: &rng)
                    }
                    if doAugment {
                        var rng = generator(epoch: epoch, index: indices[k])
                        (image, mask) = augmentation.apply(image, mask: mask, rng: &rng)
                    }
                    return (image, mask)
                }
            }
        }
        return try results.map { try $0!.get() }
    }

    /// The result slots of `samplesAsSeen`, shared by its concurrent iterations: unchecked, since iteration k
    /// writes slot k alone and the slots are read after `concurrentPerform` returns.
    private struct Slots: @unchecked Sendable {
        let base: UnsafeMutablePointer<Result<(Image, Image?), Error>?>
    }

    public func batch(indices: [Int], epoch: Int, augment: Bool) throws -> Batch {
        let items = try samplesAsSeen(indices, epoch: epoch, augment: augment)
        let images = preprocessing.imageBatch(items.map(\.0))
        var masks: Tensor?
        if items.allSatisfy({ $0.1 != nil }) && !items.isEmpty { masks = preprocessing.maskBatch(items.map { $0.1! }) }
        let labels = indices.compactMap { samples[$0].label }
        return Batch(
            images: images, masks: masks, labels: labels.count == indices.count ? labels : nil,
            ids: indices.map { samples[$0].image.name })
    }
}
