import Foundation
import UNetCore

/// Methods for testing the dispatcher, served only with `--debug-methods`: `debug.sleep` holds the worker for
/// a while, checking for cancellation every 10 ms, so that queueing, `engine.status` and `cancel` can be
/// tested without a slow model. `debug.ranks` tells, for every rank of an MPI job (or the engine alone), its process
/// id, a digest of its weights and its time in allreduce so far, so tests can check that the ranks' weights are bit-identical and kill one rank.
public enum DebugMethods: MethodGroup {
    static let seconds = Param.number("seconds", in: 0...600, default: 1, "how long to hold the worker")

    public static var methods: [MethodSpec] {
        [
            MethodSpec(
                "debug.sleep", .numeric,
                summary: "Only with --debug-methods: hold the worker, checking for cancel every 10 ms.",
                cancellable: true, params: [seconds], result: debugSleepResult
            ) { ctx in
                let seconds = try ctx.params[Self.seconds]
                let start = Date()
                // One progress notification at the start, then about every half second.
                var lastReport = Date.distantPast
                while Date().timeIntervalSince(start) < seconds {
                    try ctx.checkCancelled()
                    if Date().timeIntervalSince(lastReport) >= 0.5 {
                        ctx.progress(["elapsed_s": JSONValue(Date().timeIntervalSince(start))])
                        lastReport = Date()
                    }
                    Thread.sleep(forTimeInterval: 0.01)
                }
                return ["slept_s": JSONValue(seconds)]
            },
            MethodSpec(
                "debug.ranks", .numeric,
                summary: "Only with --debug-methods: every MPI rank's process id and weights digest.",
                result: debugRanksResult
            ) { ctx in
                let digest = weightsDigest(try? ctx.session.requireModel())
                let (rank, size) = (DataParallel.group?.rank ?? 0, DataParallel.group?.size ?? 1)
                // Each rank fills its own slots and the sum gathers them all (a gather by allreduce).
                var slots = [Double](repeating: 0, count: 3 * size)
                slots[3 * rank] = Double(getpid())
                slots[3 * rank + 1] = Double(digest)
                slots[3 * rank + 2] = (DataParallel.group as? MPIGroup)?.allreduceSeconds ?? 0
                if let group = DataParallel.group { slots.withUnsafeMutableBufferPointer { group.allreduceSum($0) } }
                var ranks: [JSONValue] = []
                for r in 0..<size {
                    let entry: JSONObject = [
                        "rank": JSONValue(r), "pid": JSONValue(Int(slots[3 * r])),
                        "weights_digest": .string(String(UInt64(slots[3 * r + 1]), radix: 16)),
                        "allreduce_s": JSONValue(slots[3 * r + 2]),
                    ]
                    ranks.append(.object(entry))
                }
                return ["ranks": .array(ranks)]
            },
        ]
    }
}

/// FNV-1a over the bytes of every weight, cut to 52 bits so that a Double carries it exactly; 0 without a model.
func weightsDigest(_ model: Model?) -> UInt64 {
    guard let model else { return 0 }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for p in model.network.parameters {
        UnsafeRawBufferPointer(start: p.value.data, count: p.value.count * MemoryLayout<Float>.size).forEach {
            hash = (hash ^ UInt64($0)) &* 0x100_0000_01b3
        }
    }
    return hash & ((1 << 52) - 1)
}
