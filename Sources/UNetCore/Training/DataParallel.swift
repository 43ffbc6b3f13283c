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
    /// Every rank's `bytes`, in rank order, on every rank (each rank may send a different number of bytes).
    func allgather(_ bytes: [UInt8]) -> [[UInt8]]
    /// Overwrites `buffer` on every rank with rank `root`'s (MPI_Bcast).
    func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int)
    /// Starts summing `buffer` in place across the ranks and may return before the sum is done (MPI_Iallreduce):
    /// the buffer must stay untouched until `finishSums()`. Every rank starts the same sums in the same order.
    func startSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    /// Lets the started sums progress without waiting (MPI_Test): MPI moves a non-blocking sum on only when it
    /// is called.
    func progressSums()
    /// Waits until every started sum is done.
    func finishSums()
}

extension DataParallelGroup {
    /// By default a started sum is the blocking `allreduceSum`, done when `startSum` returns.
    public func startSum(_ buffer: UnsafeMutableBufferPointer<Float>) { allreduceSum(buffer) }
    public func progressSums() {}
    public func finishSums() {}
}

public enum DataParallel {
    /// The process's group, set once at start-up under `--mpi`; nil when the engine runs alone.
    nonisolated(unsafe) public static var group: DataParallelGroup?

    /// True for the process that writes files (checkpoints, logs): rank 0, or the engine alone.
    public static var isLeader: Bool { (group?.rank ?? 0) == 0 }

    /// Gradients are summed in buckets of this many floats (4 MiB by default; `UNET_MPI_BUCKET_MB` under
    /// `--mpi`): one allreduce per bucket instead of one per parameter tensor (a U-Net has dozens of small ones).
    nonisolated(unsafe) public static var bucketFloats = 1 << 20

    /// Whether each bucket's sum starts as soon as the backward has produced its gradients, so that it runs while
    /// the backward computes the earlier layers' (as PyTorch's DDP does), rather than after the whole backward.
    /// Both give the same numbers: the same buckets are summed by the same calls, only earlier. On by default;
    /// `UNET_MPI_OVERLAP=0` under `--mpi` turns it off (to measure what it saves).
    nonisolated(unsafe) public static var overlapsAllreduce = true

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

/// One rank's gradient averaging: the gradients, scaled by the rank's share of the global batch, are packed into a
/// staging buffer in the order the backward finishes them (the parameters of the last node first), cut into
/// buckets of `DataParallel.bucketFloats`, and each bucket is summed across the ranks as soon as the backward has
/// passed the first node whose gradients it holds (with `DataParallel.overlapsAllreduce`), or all of them after the
/// backward. The plan and the staging buffer (one float per gradient) are made once per network: a warm step
/// allocates nothing.
final class GradientAverager: BackwardObserver {
    private struct Slot {
        let parameter: Parameter
        let offset: Int
    }
    private struct Bucket {
        let start: Int, end: Int
        /// The smallest node index among the gradients in the bucket: it is ready once the backward has done it.
        let readyAfterNode: Int
    }
    private var slotsByNode: [[Slot]] = []
    private var buckets: [Bucket] = []
    /// Not an Array: the sums in flight hold pointers into it past any one access.
    private var staging = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var plannedFor: PlanKey?
    private struct PlanKey: Equatable {
        let network: ObjectIdentifier
        let parameters: Int
        let bucketFloats: Int
    }
    private var nextBucket = 0
    private var weight: Float = 1
    /// The step's agreement: whether any rank failed, and the global batch's loss (an array literal per step was a
    /// heap allocation).
    let agreement = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2)
    private weak var group: DataParallelGroup?

    /// Plans the buckets for `network` (when it or the bucket size changed) and readies a step with `weight`.
    func begin(_ network: Network, weight: Float, group: DataParallelGroup) {
        let key = PlanKey(
            network: ObjectIdentifier(network), parameters: network.parameters.count,
            bucketFloats: DataParallel.bucketFloats)
        if plannedFor != key { plan(network) }
        plannedFor = key
        self.weight = weight
        self.group = group
        nextBucket = 0
    }

    private func plan(_ network: Network) {
        slotsByNode = [[Slot]](repeating: [], count: network.nodes.count)
        var offset = 0
        var nodeOfElement: [(end: Int, node: Int)] = []  // where each node's gradients end in the staging order
        for i in stride(from: network.nodes.count - 1, through: 0, by: -1) {
            for p in network.nodes[i].layer.parameters {
                slotsByNode[i].append(Slot(parameter: p, offset: offset))
                offset += p.grad.count
            }
            nodeOfElement.append((offset, i))
        }
        staging.deallocate()
        staging = .allocate(capacity: offset)
        staging.initialize(repeating: 0)
        buckets = []
        var start = 0, k = 0
        while start < offset {
            let end = min(start + max(1, DataParallel.bucketFloats), offset)
            while nodeOfElement[k].end < end { k += 1 }  // the node holding element end - 1
            buckets.append(Bucket(start: start, end: end, readyAfterNode: nodeOfElement[k].node))
            start = end
        }
    }

    /// The backward has produced node `node`'s gradients (and those of every later node): they go into the
    /// staging buffer, and the buckets that are now complete start their sums.
    func backwardFinished(node: Int) {
        guard let group else { return }
        for slot in slotsByNode[node] {
            let g = slot.parameter.grad
            for i in 0..<g.count { staging[slot.offset + i] = g.data[i] * weight }
        }
        var started = false
        while nextBucket < buckets.count && buckets[nextBucket].readyAfterNode >= node {
            let b = buckets[nextBucket]
            group.startSum(UnsafeMutableBufferPointer(rebasing: staging[b.start..<b.end]))
            nextBucket += 1
            started = true
        }
        if !started && nextBucket > 0 { group.progressSums() }
    }

    /// After a backward without overlap (or none at all): every node's gradients, as the backward would have.
    func finishAllNodes() {
        for i in stride(from: slotsByNode.count - 1, through: 0, by: -1) { backwardFinished(node: i) }
    }

    /// Waits for every bucket's sum.
    func waitForSums() { group?.finishSums() }

    /// Replaces every gradient by its sum over the ranks (after `waitForSums`).
    func writeBack() {
        for slots in slotsByNode {
            for slot in slots {
                let g = slot.parameter.grad
                for i in 0..<g.count { g.data[i] = staging[slot.offset + i] }
            }
        }
        group = nil
    }

    deinit {
        staging.deallocate()
        agreement.deallocate()
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
        // Every rank runs the backward, even for a non-finite loss (whose gradients are then discarded by all), so
        // that every rank starts the same collectives in the same order: the buckets' sums and synchronized
        // BatchNorm's.
        gradientAverager.begin(model.network, weight: Float(weight), group: group)
        let overlap = DataParallel.overlapsAllreduce
        if overlap { model.network.backwardObserver = gradientAverager }
        model.backwardParameters(
            maskGradient: objective.maskGradient, classGradient: objective.classGradient,
            deepSupervision: deepSupervisionGradients)
        model.network.backwardObserver = nil
        if !overlap { gradientAverager.finishAllNodes() }
        // The rank's own gradients are still in place (the sums run in the staging buffer).
        let healthy = lossIsFinite && params.allSatisfy { $0.grad.isFinite }
        gradientAverager.waitForSums()
        let agreement = gradientAverager.agreement
        (agreement[0], agreement[1]) = (healthy ? 0 : 1, healthy ? Double(objective.loss) * weight : 0)
        group.allreduceSum(agreement)
        guard agreement[0] == 0 else {
            restoreSnapshot()
            throw TrainingError.diverged(
                healthy
                    ? "a loss or gradient is not finite on \(Int(agreement[0])) of \(group.size) ranks"
                    : "the loss or a gradient is not finite on rank \(group.rank)")
        }
        gradientAverager.writeBack()
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
