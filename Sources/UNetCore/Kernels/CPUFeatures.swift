import CCPUID

/// The vector instructions this CPU and its operating system let the engine's BLAS use (cpuid and xgetbv, in
/// `CCPUID`). `BLASCore.best(for:offered:)` turns them into the OpenBLAS kernels that should run here.
public struct CPUFeatures: Equatable, Sendable {
    public enum Vendor: String, Sendable {
        case intel = "Intel", amd = "AMD", hygon = "Hygon", other
    }

    /// The features OpenBLAS's x86-64 kernels are chosen by, spelled as /proc/cpuinfo spells them.
    public enum Feature: String, CaseIterable, Sendable {
        case avx, avx2, fma, avx512f, avx512bw, avx512dq, avx512vl, avx512bf16 = "avx512_bf16"
    }

    public var vendor: Vendor
    public var features: Set<Feature>
    /// Display family and model (e.g. 6 and 207 for the Xeon that OpenBLAS 0.3.21 does not know); for logs only.
    public var family: Int
    public var model: Int

    public init(vendor: Vendor, _ features: Set<Feature>, family: Int = 0, model: Int = 0) {
        self.vendor = vendor
        self.features = features
        self.family = family
        self.model = model
    }

    /// AVX-512 as SkylakeX's kernels use it: foundation, byte/word, doubleword/quadword and vector-length forms.
    public var hasAVX512: Bool { features.isSuperset(of: [.avx512f, .avx512bw, .avx512dq, .avx512vl]) }
    public var hasAVX2FMA: Bool { features.isSuperset(of: [.avx2, .fma]) }

    /// The features present, in a fixed order (for `engine.hello` and log lines).
    public var names: [String] { Feature.allCases.filter(features.contains).map(\.rawValue) }

    /// The CPU this process runs on.
    public static let host: CPUFeatures = {
        var raw = unet_cpu_features()
        unet_cpu_features_read(&raw)
        let vendorID = withUnsafeBytes(of: raw.vendor) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let vendor: Vendor = ["GenuineIntel": .intel, "AuthenticAMD": .amd, "HygonGenuine": .hygon][vendorID] ?? .other
        let flags: [(Bool, Feature)] = [
            (raw.avx, .avx), (raw.avx2, .avx2), (raw.fma, .fma), (raw.avx512f, .avx512f), (raw.avx512bw, .avx512bw),
            (raw.avx512dq, .avx512dq), (raw.avx512vl, .avx512vl), (raw.avx512bf16, .avx512bf16),
        ]
        return CPUFeatures(
            vendor: vendor, Set(flags.filter(\.0).map(\.1)), family: Int(raw.family),
            model: Int(raw.model))
    }()
}
