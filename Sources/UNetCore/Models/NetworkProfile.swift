import Dispatch

/// Wall time spent in each node of a `Network`, forward and backward, for finding where a step's time goes
/// (`unet-bench --profile MODEL`). Set `Network.profile` to collect; leave it nil (the default) to pay nothing.
public final class NetworkProfile {
    public private(set) var forwardSeconds: [Double]
    public private(set) var backwardSeconds: [Double]
    /// Heap allocations made in each node, when `allocationCount` is set (the benchmark passes its malloc counter:
    /// UNetCore itself cannot see malloc).
    public private(set) var forwardAllocations: [Int]
    public private(set) var backwardAllocations: [Int]
    public var allocationCount: (() -> Int)?
    /// The most bytes of large tensors alive at once during each node (`TensorStorage.peakLiveByteCount`): where a
    /// step's memory peaks.
    public private(set) var forwardPeakBytes: [Int]
    public private(set) var backwardPeakBytes: [Int]

    public init(nodeCount: Int) {
        forwardSeconds = Array(repeating: 0, count: nodeCount)
        backwardSeconds = Array(repeating: 0, count: nodeCount)
        forwardAllocations = Array(repeating: 0, count: nodeCount)
        backwardAllocations = Array(repeating: 0, count: nodeCount)
        forwardPeakBytes = Array(repeating: 0, count: nodeCount)
        backwardPeakBytes = Array(repeating: 0, count: nodeCount)
    }

    @inline(__always)
    func time<T>(_ node: Int, backward: Bool, _ body: () -> T) -> T {
        let allocationsBefore = allocationCount?() ?? 0
        TensorStorage.resetPeak()
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let allocations = (allocationCount?() ?? 0) - allocationsBefore
        let peak = TensorStorage.peakLiveByteCount
        if backward {
            backwardPeakBytes[node] = max(backwardPeakBytes[node], peak)
            backwardSeconds[node] += seconds
            backwardAllocations[node] += allocations
        } else {
            forwardPeakBytes[node] = max(forwardPeakBytes[node], peak)
            forwardSeconds[node] += seconds
            forwardAllocations[node] += allocations
        }
        return result
    }
}
