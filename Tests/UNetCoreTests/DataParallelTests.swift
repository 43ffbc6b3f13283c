import XCTest

@testable import UNetCore

/// The single-process halves of data-parallel training: how a global batch is split across ranks, how many steps
/// an epoch has, and the bucketed gradient averaging, overlapped with the backward or after it (against a stand-in
/// group whose "other rank" holds the same gradients). The ranks themselves are tested through `mpirun` in Tests/python/test_mpi.py.
final class DataParallelTests: XCTestCase {
    func testShardsPartitionTheGlobalBatchContiguously() {
        let order = Array([7, 3, 9, 1, 4, 8, 0, 2, 6, 5].shuffled())
        for size in 1...4 {
            for count in size...order.count {
                let global = order[0..<count]
                let parts = (0..<size).map { DataParallel.shard(global, rank: $0, size: size) }
                XCTAssertEqual(parts.flatMap { Array($0) }, Array(global), "size \(size), count \(count)")
                let lengths = parts.map(\.count)
                XCTAssertLessThanOrEqual(lengths.max()! - lengths.min()!, 1)
                XCTAssertGreaterThan(lengths.min()!, 0)
            }
        }
    }

    func testAnEpochDropsOnlyALastBatchTooSmallForEveryRank() {
        XCTAssertEqual(DataParallel.stepsPerEpoch(count: 40, batchSize: 4, size: 2), 5)
        XCTAssertEqual(DataParallel.stepsPerEpoch(count: 42, batchSize: 4, size: 2), 6, "2 left: one each")
        XCTAssertEqual(DataParallel.stepsPerEpoch(count: 41, batchSize: 4, size: 2), 5, "1 left: dropped")
        XCTAssertEqual(DataParallel.stepsPerEpoch(count: 40, batchSize: 8, size: 1), 5)
    }

    /// A group of two ranks whose other rank always holds what this one does: a sum doubles every value. It
    /// records the length of each float sum.
    final class MirroredPair: DataParallelGroup {
        let rank = 0, size = 2
        var sums: [Int] = []
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
            sums.append(buffer.count)
            for i in buffer.indices { buffer[i] *= 2 }
        }
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
            for i in buffer.indices { buffer[i] *= 2 }
        }
        func allgather(_ bytes: [UInt8]) -> [[UInt8]] { [bytes, bytes] }
        func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) {}
    }

    /// Dense layers 30 -> 40 -> 25 -> 3: 1240, 1025 and 78 parameters, in three buckets of 1000 floats.
    func denseChain() -> Network {
        let net = Network()
        var rng = RandomGenerator(seed: 1)
        var previous = Network.input
        for (k, (i, o)) in [(30, 40), (40, 25), (25, 3)].enumerated() {
            previous = net.add("d\(k)", Dense(inputFeatures: i, outputFeatures: o, rng: &rng), previous)
        }
        net.outputs = [previous]
        return net
    }

    func grads(_ net: Network) -> [[Float]] { net.parameters.map { p in (0..<p.grad.count).map { p.grad.data[$0] } } }

    func testBucketedAveragingKeepsEveryGradientAcrossBucketBoundaries() {
        let saved = DataParallel.bucketFloats
        defer { DataParallel.bucketFloats = saved }
        DataParallel.bucketFloats = 1000
        let net = denseChain()
        for (k, p) in net.parameters.enumerated() {
            for j in 0..<p.grad.count { p.grad.data[j] = Float(k * 7 + j % 1000) }
        }
        let expected = grads(net)
        let group = MirroredPair()
        let averager = GradientAverager()
        averager.begin(net, weight: 0.5, group: group)
        averager.finishAllNodes()
        averager.waitForSums()
        averager.writeBack()
        XCTAssertEqual(grads(net), expected, "0.5 x 2: each gradient back in its place")
        XCTAssertEqual(group.sums, [1000, 1000, 343], "2343 floats in buckets of 1000")
        XCTAssertTrue(group.anyRank(true))
        XCTAssertFalse(group.anyRank(false))
    }

    /// Tells the averager each finished node, and notes how many sums had started after it.
    final class CountingObserver: BackwardObserver {
        let averager: GradientAverager, group: MirroredPair
        var startedAfterNode: [Int: Int] = [:]
        init(_ averager: GradientAverager, _ group: MirroredPair) { (self.averager, self.group) = (averager, group) }
        func backwardFinished(node: Int) {
            averager.backwardFinished(node: node)
            startedAfterNode[node] = group.sums.count
        }
    }

    /// Overlapped (each bucket summed as soon as the backward has its gradients) and after the backward give the
    /// same sums of the same buckets, so the same gradients to the bit; overlapped, the first bucket (the last
    /// layer's 78 gradients and 922 of the middle one's) starts before the first layer's backward.
    func testOverlappedBucketsStartDuringTheBackwardAndSumTheSameGradients() {
        let saved = DataParallel.bucketFloats
        defer { DataParallel.bucketFloats = saved }
        DataParallel.bucketFloats = 1000
        let net = denseChain()
        var rng = RandomGenerator(seed: 2)
        let x = Tensor(zeros: [4, 30]), dy = Tensor(zeros: [4, 3])
        for i in 0..<x.count { x.data[i] = rng.nextFloat() - 0.5 }
        for i in 0..<dy.count { dy.data[i] = rng.nextFloat() - 0.5 }
        func averaged(overlap: Bool) -> (grads: [[Float]], sums: [Int], startedAfterNode: [Int: Int]) {
            net.zeroGradients()
            let group = MirroredPair(), averager = GradientAverager()
            averager.begin(net, weight: 0.25, group: group)
            let observer = CountingObserver(averager, group)
            if overlap { net.backwardObserver = observer }
            _ = net.forward(x, training: true)
            net.backwardParameters([dy])
            net.backwardObserver = nil
            if !overlap { averager.finishAllNodes() }
            averager.waitForSums()
            averager.writeBack()
            return (grads(net), group.sums, observer.startedAfterNode)
        }
        let after = averaged(overlap: false), overlapped = averaged(overlap: true)
        XCTAssertEqual(overlapped.grads, after.grads)
        XCTAssertEqual(overlapped.sums, after.sums)
        XCTAssertEqual(overlapped.sums, [1000, 1000, 343])
        XCTAssertEqual(overlapped.startedAfterNode, [2: 0, 1: 1, 0: 3])
        XCTAssertTrue(after.grads.joined().contains { $0 != 0 })
    }
}
