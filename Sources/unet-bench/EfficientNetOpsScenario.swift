import ArgumentParser
import UNetCore

/// `--efficientnet-ops`: only the EfficientNet layers' part of the per-op table (`EfficientNetOps.swift`).
struct EfficientNetOpsScenario: Scenario {
    @Flag(
        name: .customLong("efficientnet-ops"),
        help: "Only the EfficientNet layers' part of the per-op table (memory bandwidth and its share), then exit.")
    var isSelected = false

    func run(_ settings: BenchSettings) throws {
        print("EfficientNet layers, \(settings.threads) threads (fast kernels validated against naive first)")
        _ = efficientNetOpRows(quick: settings.quick, batch: settings.batch ?? 8)
    }
}
