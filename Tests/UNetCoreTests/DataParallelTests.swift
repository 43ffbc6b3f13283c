import XCTest
@testable import UNetCore

/// The single-process halves of data-parallel training: how a global batch is split across ranks, how many steps
/// an epoch has, and the bucketed gradient averaging (against a stand-in group whose "other rank" holds the same
/// gradients). The ranks themselves are tested through `mpirun` in Tests/python/test_mpi.py.
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

    /// A group of two ranks whose other rank always holds what this one does: a sum doubles every value.
    final class MirroredPair: DataParallelGroup {
        let rank = 0, size = 2
        var calls = 0
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
            calls += 1
            for i in buffer.indices { buffer[i] *= 2 }
        }
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
            for i in buffer.indices { buffer[i] *= 2 }
        }
    }

    func testBucketedAveragingKeepsEveryGradientAcrossBucketBoundaries() {
        let sizes = [3, DataParallel.bucketFloats + 5, 17, DataParallel.bucketFloats - 20]
        let params = sizes.enumerated().map { i, n in Parameter("p\(i)", Tensor(zeros: [n])) }
        for (i, p) in params.enumerated() { for j in 0..<p.grad.count { p.grad.data[j] = Float(i * 7 + j % 1000) } }
        let expected = params.map { p in (0..<p.grad.count).map { p.grad.data[$0] } }
        let group = MirroredPair()
        GradientAverager().average(params, weight: 0.5, group: group)
        for (p, want) in zip(params, expected) {
            XCTAssertTrue((0..<p.grad.count).allSatisfy { p.grad.data[$0] == want[$0] }, p.name)
        }
        XCTAssertEqual(group.calls, 3, "2^21 + 5 floats in buckets of 2^20")
        XCTAssertTrue(group.anyRank(true))
        XCTAssertFalse(group.anyRank(false))
    }
}
