// unet-bench: how fast the engine is, as ratios you can compare on a shared, noisy machine.
//
//     swift build -c release && .build/release/unet-bench [--threads N] [--json PATH] [--quick] [--skip-ops]
//     .build/release/unet-bench --profile unet-classifier-224 train    # where one step's time goes, per layer
//     .build/release/unet-bench --sgemm-only [--blas-core Prescott]   # the BLAS core and its sgemm ceiling
//     .build/release/unet-bench --help                                 # every scenario and option
//
// 0. The BLAS library, version and core, after the engine's start-up check (BLASCoreCheck), which may restart the
//    benchmark with OPENBLAS_CORETYPE set to the best core for this CPU; whole-model children inherit that core.
// 1. The sgemm ceiling: OpenBLAS on a large square product and on the im2col GEMM shape of every convolution.
// 2. Per-op throughput at the U-Nets' shapes, forward and backward (GFLOP/s for convolutions and Dense, GB/s for
//    memory-bound ops), each fast kernel first checked against its naive oracle.
// 3. Whole models: inference and training-step images/s, achieved GFLOP/s and peak RSS for the reference
//    classifier (224x224x3 and 128x128x1, batch 8) and Ronneberger's U-Net (256x256x1, batch 4). Each whole-model
//    run happens in a child process so its peak RSS is its own.
//
// A flag such as `--conv` or `--profile` runs one scenario instead (a `Scenario`, one file each). A new scenario
// is one file and one line in `scenarios` below.
import ArgumentParser
import Foundation
import UNetCore

#if DEBUG
FileHandle.standardError.write(Data("unet-bench measures release builds only: swift build -c release\n".utf8))
exit(2)
#endif

struct UNetBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet-bench",
        abstract: "How fast the engine is: the sgemm ceiling, per-op throughput and whole models.",
        discussion: "Without a scenario flag: the sgemm ceiling, the per-op table and the whole models. With one "
            + "(--conv, --profile, ...): that scenario alone.")

    @OptionGroup(title: "Options") var settings: BenchSettings
    @OptionGroup(title: "The default run") var full: FullRun

    @OptionGroup(title: "Scenarios") var sgemm: SgemmScenario
    @OptionGroup(title: "Scenarios") var modelRun: ModelRunScenario
    @OptionGroup(title: "Scenarios") var profile: ProfileScenario
    @OptionGroup(title: "Scenarios") var conv: ConvolutionScenario
    @OptionGroup(title: "Scenarios") var winogradParts: WinogradPartsScenario
    @OptionGroup(title: "Scenarios") var allocProbe: AllocationProbeScenario
    @OptionGroup(title: "Scenarios") var firstLayers: FirstLayersScenario
    @OptionGroup(title: "Scenarios") var efficientNetOps: EfficientNetOpsScenario

    /// In the order they are tried: the first selected one runs; none selected, the full run does.
    var scenarios: [any Scenario] {
        [winogradParts, conv, profile, allocProbe, modelRun, efficientNetOps, firstLayers, sgemm]
    }

    func validate() throws {
        let chosen = scenarios.filter(\.isSelected).count
        guard chosen <= 1 else { throw ValidationError("choose one scenario at a time") }
    }

    func run() throws {
        Parallel.setThreads(settings.threads)
        if let scenario = scenarios.first(where: \.isSelected) {
            try scenario.run(settings)
        } else {
            try full.run(settings)
        }
    }
}

// Before any BLAS call: the same core check as the engine (may restart the process; takes --blas-core NAME).
let arguments = Array(BLASCoreCheck.atStartup(CommandLine.arguments, program: "unet-bench").dropFirst())
let command: UNetBench
do {
    command = try UNetBench.parse(arguments)
} catch {
    // Help goes to stdout (exit 0); a bad command line to stderr with exit 2, as the engine's.
    let message = UNetBench.fullMessage(for: error, columns: 120)
    guard UNetBench.exitCode(for: error) == .success else {
        FileHandle.standardError.write(Data("unet-bench: \(message)\n".utf8))
        exit(2)
    }
    print(message)
    exit(0)
}
do {
    try command.run()
} catch {
    FileHandle.standardError.write(Data("unet-bench: \(error)\n".utf8))
    exit(1)
}
