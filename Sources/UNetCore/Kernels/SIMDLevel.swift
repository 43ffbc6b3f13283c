import CKernels
import Foundation

/// Which build of the memory-bound kernels runs (depthwise convolution, SiLU, channel gating): the portable Swift
/// ones (baseline x86-64, SSE2, and every other architecture) or `CKernels`' copies compiled for AVX2 + FMA or for
/// AVX-512. Chosen once per process: the best this CPU offers (`CPUFeatures.host`), or a lower one named in
/// `UNET_SIMD` (`portable`, `avx2`, `avx512`), for comparing them in one binary. Each level sums in its own fixed
/// order, so results agree with the oracles at tolerance across levels, and exactly between runs at one level.
public enum SIMDLevel: Int, CaseIterable, Comparable, Sendable, CustomStringConvertible {
    case portable, avx2, avx512

    public static let overrideVariable = "UNET_SIMD"

    public var description: String { ["portable", "avx2", "avx512"][rawValue] }

    public static func < (a: SIMDLevel, b: SIMDLevel) -> Bool { a.rawValue < b.rawValue }

    /// The best level `cpu` runs (AVX-512 as SkylakeX's kernels use it: F, BW, DQ, VL).
    public static func best(for cpu: CPUFeatures) -> SIMDLevel {
        cpu.hasAVX512 && cpu.hasAVX2FMA ? .avx512 : cpu.hasAVX2FMA ? .avx2 : .portable
    }

    /// The level for a best one and the value of `UNET_SIMD`: the named level where the CPU has it, else the best
    /// (an unknown name or one above the CPU's is ignored: a kernel it cannot run would fault).
    public static func chosen(best: SIMDLevel, requested: String?) -> SIMDLevel {
        guard let name = requested?.lowercased(), let level = allCases.first(where: { $0.description == name })
        else { return best }
        return min(level, best)
    }

    /// The levels this CPU can run, for the tests that compare each with the oracles.
    public static let supported: [SIMDLevel] = allCases.filter { $0 <= best(for: .host) }

    /// The level the layers use.
    public static let active = chosen(
        best: best(for: .host),
        requested: ProcessInfo.processInfo.environment[overrideVariable])

    /// What set `active` when it is not the CPU's best: `UNET_SIMD`, or nil where the CPU's best runs (an unset,
    /// unknown or higher-than-the-CPU value changes nothing, so it forces nothing).
    public static func forcedBy(best: SIMDLevel, requested: String?) -> String? {
        chosen(best: best, requested: requested) < best ? overrideVariable : nil
    }

    /// The levels, the one that runs and why, as `engine.hello` and `unet-bench` report them, so a host can see
    /// whether the vector kernels it expects are the ones running.
    public struct Report: Sendable, Equatable {
        public let level: SIMDLevel
        public let best: SIMDLevel
        public let available: [SIMDLevel]
        public let forcedBy: String?

        /// e.g. "avx2 (best avx2; available portable, avx2)" or "... forced by UNET_SIMD".
        public var summary: String {
            "\(level) (best \(best); available \(available.map(\.description).joined(separator: ", "))"
                + (forcedBy.map { "; forced by \($0)" } ?? "") + ")"
        }
    }

    /// This process's report.
    public static let report: Report = {
        let top = best(for: .host), requested = ProcessInfo.processInfo.environment[overrideVariable]
        return Report(
            level: active, best: top, available: supported, forcedBy: forcedBy(best: top, requested: requested))
    }()
}

/// `ConvGeometry` as `CKernels` takes it (one plane, square kernel).
@inline(__always)
func cGeometry(_ g: ConvGeometry) -> unet_dw_geometry {
    unet_dw_geometry(
        height: Int32(g.height), width: Int32(g.width), outH: Int32(g.outH), outW: Int32(g.outW),
        kernel: Int32(g.kernelW), strideH: Int32(g.strideH), strideW: Int32(g.strideW),
        padTop: Int32(g.padTop), padLeft: Int32(g.padLeft))
}

/// The vector kernels take square kernels whose plane fits in Int32; everything else runs the Swift kernels.
@inline(__always)
func cKernelsTake(_ g: ConvGeometry) -> Bool {
    g.kernelH == g.kernelW && g.height * g.width < Int(Int32.max) && g.outH * g.outW < Int(Int32.max)
}
