import Dispatch

/// Wall time spent in each node of a `Network`, forward and backward, for finding where a step's time goes
/// (`unet-bench --profile MODEL`). Set `Network.profile` to collect; leave it nil (the default) to pay nothing.
public final class NetworkProfile {
    public private(set) var forwardSeconds: [Double]
    public private(set) var backwardSeconds: [Double]

    public init(nodeCount: Int) {
        forwardSeconds = Array(repeating: 0, count: nodeCount)
        backwardSeconds = Array(repeating: 0, count: nodeCount)
    }

    @inline(__always)
    func time<T>(_ node: Int, backward: Bool, _ body: () -> T) -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if backward { backwardSeconds[node] += seconds } else { forwardSeconds[node] += seconds }
        return result
    }
}
