import Foundation

/// Best-of-`repeats` wall time of `body` in seconds, after one warm-up call.
func timeBest(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var best = Double.infinity
    for _ in 0..<repeats {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
    }
    return best
}

func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

/// `s` padded with spaces to `w` characters: one column of a table.
func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
func fmt(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", x) }
