import ArgumentParser
import CAllocationCounter
import UNetCore
import UNetProtocol

/// `--model-run NAME MODE`: one whole-model case in this process, printed as one JSON line (`ModelRunRow`). The
/// default run starts one child per case and mode this way, so that each peak RSS is its own.
struct ModelRunScenario: Scenario {
    @Option(
        name: .customLong("model-run"), parsing: .upToNextOption,
        help: ArgumentHelp(
            "Time one model case in one mode and print one JSON line (as a child of the default run).",
            valueName: "NAME MODE"))
    var values: [String] = []

    var isSelected: Bool { !values.isEmpty }

    func validate() throws { if isSelected { _ = try CaseAndMode(values, flag: "--model-run") } }

    func run(_ settings: BenchSettings) throws {
        let chosen = try CaseAndMode(values, flag: "--model-run")
        print(JSONCodec.encodeString(try measureModelCase(chosen.modelCase, mode: chosen.mode, settings).json))
    }
}

/// Best-of-3 (1 with `--quick`) time of one step, then one more warm step with every heap allocation counted.
func measureModelCase(_ named: ModelCase, mode: BenchMode, _ settings: BenchSettings) throws -> ModelRunRow {
    let prepared = try PreparedModelCase(named, mode: mode, batch: settings.batch)
    let c = prepared.modelCase
    let seconds = try timeBest(settings.quick ? 1 : 3, prepared.step)
    unet_allocations_reset()
    try prepared.step()
    let allocations = (unet_allocations_count(), unet_allocations_large_count(), unet_allocations_bytes())
    let flops = try forwardFLOPs(prepared.model, c.config.inputShape) * Double(c.batch) * (mode == .train ? 3 : 1)
    var row = ModelRunRow(
        name: c.name, model: c.config.architecture.rawValue, mode: mode.rawValue, inputShape: c.config.inputShape,
        batch: c.batch, imagesPerSecond: Double(c.batch) / seconds, peakRSSBytes: peakRSSBytes(),
        gflops: flops / seconds / 1e9, secondsPerBatch: seconds, allocationsPerStep: allocations.0,
        largeAllocationsPerStep: allocations.1, allocatedBytesPerStep: allocations.2)
    row.memory = MemoryBreakdown(prepared.model.network).parts
    return row
}
