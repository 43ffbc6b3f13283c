/// Synchronous data-parallel training across processes (MPI ranks), the way Horovod and PyTorch's DDP do it:
/// every rank holds the same weights, trains on its own shard of each global batch, and the ranks average their
/// gradients before every rank takes the same optimizer step.
///
/// UNetCore knows nothing of MPI: the engine installs a `DataParallelGroup` (`DataParallel.group`) when it runs
/// under `mpirun ... --mpi`; without one, training is the single-process code path, unchanged.
public protocol DataParallelGroup: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Sums `buffer` element-wise across the ranks, in place (MPI_Allreduce with MPI_SUM).
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
}

public enum DataParallel {
    /// The process's group, set once at start-up under `--mpi`; nil when the engine runs alone.
    nonisolated(unsafe) public static var group: DataParallelGroup?

    /// True for the process that writes files (checkpoints, logs): rank 0, or the engine alone.
    public static var isLeader: Bool { (group?.rank ?? 0) == 0 }

    /// Gradients are summed in buckets of this many floats (4 MiB): one allreduce per bucket instead of one per
    /// parameter tensor (a U-Net has dozens of small ones), in a staging buffer allocated once.
    public static let bucketFloats = 1 << 20

    /// The slice of a global batch this rank trains on. A global batch is `batchSize` images per rank; its
    /// images, consecutive in the epoch's seeded order, are split into `size` contiguous parts that differ by at
    /// most one image, so the union of the ranks' parts is exactly the single-process batch of
    /// `batchSize * size` images.
    public static func shard(_ global: ArraySlice<Int>, rank: Int, size: Int) -> ArraySlice<Int> {
        let (q, r) = (global.count / size, global.count % size)
        let start = global.startIndex + rank * q + min(rank, r)
        return global[start..<(start + q + (rank < r ? 1 : 0))]
    }

    /// Steps of an epoch of `count` images at `batchSize` per rank: a last global batch with fewer images than
    /// ranks (some rank would have none) is dropped.
    public static func stepsPerEpoch(count: Int, batchSize: Int, size: Int) -> Int {
        let global = batchSize * size
        let full = count / global
        return full + (count % global >= size ? 1 : 0)
    }
}

/// The buffers of one rank's step agreement and gradient averaging, kept across steps (no allocation per step).
final class GradientAverager {
    private var staging: [Float] = []

    /// Replaces every gradient by the weighted sum over the ranks of `weight` times that rank's gradient (weights
    /// are each rank's share of the global batch, so the result is the gradient of the mean loss over the whole
    /// global batch). Bucketed: parameters are packed into the staging buffer until it is full, then summed.
    func average(_ params: [Parameter], weight: Float, group: DataParallelGroup) {
        let capacity = min(DataParallel.bucketFloats, params.reduce(0) { $0 + $1.grad.count })
        if staging.count < capacity { staging = [Float](repeating: 0, count: capacity) }
        var pending: [(Parameter, Int, Int)] = []  // parameter, first element, elements, in the current bucket
        var filled = 0
        func flush() {
            guard filled > 0 else { return }
            staging.withUnsafeMutableBufferPointer { group.allreduceSum(UnsafeMutableBufferPointer(rebasing: $0[0..<filled])) }
            var at = 0
            for (p, first, n) in pending {
                for i in 0..<n { p.grad.data[first + i] = staging[at + i] }
                at += n
            }
            pending.removeAll(keepingCapacity: true)
            filled = 0
        }
        for p in params {
            var first = 0
            while first < p.grad.count {
                if filled == capacity { flush() }
                let n = min(p.grad.count - first, capacity - filled)
                for i in 0..<n { staging[filled + i] = p.grad.data[first + i] * weight }
                pending.append((p, first, n))
                filled += n
                first += n
            }
        }
        flush()
    }
}

extension DataParallelGroup {
    /// True on every rank when `flag` is true on any rank: the ranks take a decision (stop, roll back) together.
    public func anyRank(_ flag: Bool) -> Bool {
        var value: [Double] = [flag ? 1 : 0]
        value.withUnsafeMutableBufferPointer { allreduceSum($0) }
        return value[0] > 0
    }
}

extension Trainer {
    /// The data-parallel half of a step, after the forward: this rank's backward (skipped for a non-finite loss),
    /// the agreement (is every rank's loss and gradient finite; the global batch's loss), then the weighted
    /// gradient average. Returns the global batch's mean loss; throws `diverged` on every rank at once, after
    /// rolling this rank back, when any rank failed.
    func averageAcrossRanks(_ objective: Objective, share weight: Double, group: DataParallelGroup) throws -> Float {
        let params = model.network.parameters
        let lossIsFinite = objective.loss.isFinite
        if lossIsFinite {
            model.backwardParameters(maskGradient: objective.maskGradient, classGradient: objective.classGradient,
                                     deepSupervision: deepSupervisionGradients)
        } else {
            model.network.releaseCaches()
        }
        let healthy = lossIsFinite && params.allSatisfy { $0.grad.isFinite }
        var agreement: [Double] = [healthy ? 0 : 1, healthy ? Double(objective.loss) * weight : 0]
        agreement.withUnsafeMutableBufferPointer { group.allreduceSum($0) }
        guard agreement[0] == 0 else {
            restoreSnapshot()
            throw TrainingError.diverged(healthy
                ? "a loss or gradient is not finite on \(Int(agreement[0])) of \(group.size) ranks"
                : "the loss or a gradient is not finite on rank \(group.rank)")
        }
        gradientAverager.average(params, weight: Float(weight), group: group)
        return Float(agreement[1])
    }
}

extension Trainer {
    /// Makes every BatchNorm of the model use the global batch's statistics (`sync`: the group and this rank's
    /// share of the global batch) or its own batch's (nil), for the next training forward and backward.
    func synchronizeBatchNorm(_ sync: (group: DataParallelGroup, weight: Double)?) {
        for node in model.network.nodes {
            if let bn = node.layer as? BatchNorm { bn.synchronization = sync }
        }
    }
}
