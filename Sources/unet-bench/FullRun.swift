import ArgumentParser
import Foundation
import UNetCore
import UNetProtocol

/// What runs when no single scenario is chosen: the sgemm ceiling, the per-op table and the whole models (each
/// model case and mode in a child process, `--model-run`, so that its peak RSS is its own), and `--json`.
struct FullRun: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Also write the machine, the per-op rows and the whole-model rows here as JSON.",
            valueName: "PATH"))
    var json: String?

    @Flag(name: .customLong("skip-ops"), help: "No per-op table: the sgemm ceiling and the whole models.")
    var skipOps = false

    @Flag(name: .customLong("ops-only"), help: "The sgemm ceiling and the per-op table, no whole models.")
    var opsOnly = false

    @Flag(
        name: .customLong("extra-cases"), help: "The whole models include the real-data configurations (Examples/xray)."
    )
    var extraCases = false

    @Flag(
        name: .customLong("effunet-cases"), help: "The whole models include eff-unet b1 UNet++ (issue 15's comparison)."
    )
    var effUNetCases = false

    func run(_ settings: BenchSettings) throws {
        let ceiling = SgemmScenario.printCeiling(settings)
        let ops = skipOps ? [] : perOpRows(settings)
        if opsOnly { return }

        print("\nwhole models")
        print(
            pad("model", 24) + pad("mode", 7) + pad("input", 14) + pad("batch", 7) + pad("images/s", 11)
                + pad("GFLOP/s", 10) + pad("of sgemm", 10) + pad("peak RSS", 11)
                + "allocations per warm step (>= 64 KiB; bytes)")
        var results: [ModelRunRow] = []
        let cases = modelCases + (extraCases ? extraModelCases : []) + (effUNetCases ? effUNetModelCases : [])
        for c in cases {
            for mode in BenchMode.allCases {
                guard let r = try runChild(c, mode, settings) else {
                    print("\(c.name) \(mode.rawValue): the child run failed")
                    continue
                }
                results.append(r)
                let allocs =
                    "\(r.allocationsPerStep) (\(r.largeAllocationsPerStep); \(r.allocatedBytesPerStep / 1024) KiB)"
                let shape = c.config.inputShape.map(String.init).joined(separator: "x")
                print(
                    pad(c.name, 24) + pad(mode.rawValue, 7) + pad(shape, 14) + pad(String(r.batch), 7)
                        + pad(fmt(r.imagesPerSecond, 2), 11) + pad(fmt(r.gflops), 10)
                        + pad(fmt(r.gflops / ceiling, 2), 10)
                        + pad("\(r.peakRSSBytes / (1 << 20)) MiB", 11) + allocs)
            }
        }

        guard let path = json else { return }
        let doc: JSONValue = [
            "machine": Self.machine(settings, sgemmGFLOPs: ceiling).json,
            "ops": .array(ops.map(\.json)), "results": .array(results.map(\.json)),
        ]
        try Data(JSONCodec.encode(doc)).write(to: URL(fileURLWithPath: path))
        print("\nwrote \(path)")
    }

    /// One `--model-run` child of this binary; its row, or nil if it failed or printed no row.
    func runChild(_ c: ModelCase, _ mode: BenchMode, _ settings: BenchSettings) throws -> ModelRunRow? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        p.arguments =
            ["--model-run", c.name, mode.rawValue, "--threads", String(settings.threads)]
            + (settings.quick ? ["--quick"] : []) + (settings.batch.map { ["--batch", String($0)] } ?? [])
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
            let line = String(decoding: out, as: UTF8.self).split(separator: "\n").last,
            let json = try? JSONCodec.decode(String(line))
        else { return nil }
        return ModelRunRow(json: json)
    }

    static func machine(_ settings: BenchSettings, sgemmGFLOPs: Double) -> MachineRow {
        var uts = utsname()
        uname(&uts)
        let arch = withUnsafeBytes(of: &uts.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let cpu =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
        return MachineRow(
            cpu: cpu, arch: arch, cores: ProcessInfo.processInfo.activeProcessorCount,
            threads: settings.threads, sgemmGFLOPs: sgemmGFLOPs, blas: BLASCoreCheck.report.summary,
            blasCore: BLASCoreCheck.report.core)
    }
}
