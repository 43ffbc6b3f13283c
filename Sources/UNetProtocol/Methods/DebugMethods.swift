import Foundation

/// Methods for testing the dispatcher, served only with `--debug-methods`: `debug.sleep` holds the worker for
/// a while, checking for cancellation every 10 ms, so that queueing, `engine.status` and `cancel` can be
/// tested without a slow model.
public enum DebugMethods: MethodGroup {
    public static var methods: [MethodSpec] {
        [
            MethodSpec("debug.sleep", .numeric, params: ["seconds"]) { ctx in
                let seconds = try ctx.params.double("seconds", default: 1, in: 0...600)
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
        ]
    }
}
