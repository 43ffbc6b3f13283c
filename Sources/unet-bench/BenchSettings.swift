import ArgumentParser
import Foundation
import UNetCore

/// The options every scenario reads: how many threads, how long to measure, and the batch override.
struct BenchSettings: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Compute threads, for OpenBLAS and the engine's loops (the number of cores).",
            valueName: "N"))
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Fewer repeats and shapes: a rough figure in a fraction of the time.")
    var quick = false

    @Option(
        help: ArgumentHelp(
            "Overrides the batch size of the whole models (--model-run, the default run's), --profile "
                + "and --efficientnet-ops (e.g. 1).", valueName: "N"))
    var batch: Int?

    /// Taken out of the arguments by `BLASCoreCheck.atStartup` before parsing; declared here for `--help`.
    @Option(
        name: .customLong("blas-core"),
        help: ArgumentHelp(
            "OpenBLAS kernels: auto (the best for this CPU) or a core such as Haswell, SkylakeX, Prescott.",
            valueName: "auto|NAME"))
    var blasCore: String?

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be a positive integer, got \(threads)") }
        if let batch, batch <= 0 { throw ValidationError("--batch must be a positive integer, got \(batch)") }
    }
}

/// One thing unet-bench can measure on its own, chosen by its flag (`--conv`, `--profile`, ...): a
/// `ParsableArguments` with that flag, in a file of its own, listed once in `UNetBench.scenarios`.
protocol Scenario: ParsableArguments {
    /// Whether this scenario's flag is on the command line.
    var isSelected: Bool { get }
    func run(_ settings: BenchSettings) throws
}

/// Five comma-separated positive integers, `N,C,O,H,W`: one convolution's batch, channels in and out and size.
struct ConvolutionSize: ExpressibleByArgument, CustomStringConvertible {
    let n, c, o, h, w: Int

    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
        let v = parts.compactMap { Int($0) }.filter { $0 > 0 }
        guard parts.count == 5, v.count == 5 else { return nil }
        (n, c, o, h, w) = (v[0], v[1], v[2], v[3], v[4])
    }

    var description: String { "[\(n), \(c), \(o), \(h), \(w)]" }
    static var defaultValueDescription: String { "N,C,O,H,W" }
}

/// A model case and a mode, the two values of `--model-run NAME MODE` and `--profile NAME MODE`.
struct CaseAndMode {
    let modelCase: ModelCase
    let mode: BenchMode

    /// - Throws: `ValidationError` naming the known cases or modes.
    init(_ values: [String], flag: String) throws {
        guard values.count == 2 else {
            throw ValidationError(
                "\(flag) takes two values, a model case and a mode (infer or train); got \(values.count)")
        }
        guard let c = allModelCases.first(where: { $0.name == values[0] }) else {
            throw ValidationError(
                "\(flag): unknown model case \(values[0]) (known: "
                    + allModelCases.map(\.name).joined(separator: ", ") + ")")
        }
        guard let mode = BenchMode(rawValue: values[1]) else {
            throw ValidationError("\(flag): the mode is infer or train, got \(values[1])")
        }
        (modelCase, self.mode) = (c, mode)
    }
}

/// Inference (a forward pass) or a training step.
enum BenchMode: String, CaseIterable {
    case infer, train
}
