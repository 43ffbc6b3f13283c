import COpenBLAS
import Foundation

/// OpenBLAS's kernel sets ("cores"): the one the loaded library runs, the ones it was built with, and the best one
/// for a CPU's features. A `DYNAMIC_ARCH` build (Debian's) picks its core when it is loaded, from a table of CPU
/// models; on a model newer than its table (OpenBLAS 0.3.21 on an Intel Xeon of family 6, model 207) it falls back
/// to `Prescott`'s SSE3 kernels and runs sgemm several times slower. `OPENBLAS_CORETYPE` chooses the core
/// instead, read once at load time; `BLASCoreCheck` sets it and restarts the process.
public enum BLASCore {
    /// Every core name `OPENBLAS_CORETYPE` accepts on x86-64 (OpenBLAS compares them case-insensitively), with
    /// the instruction-set level its kernels need: 1 SSE2/SSE3, 2 SSSE3/SSE4, 3 AVX, 4 AVX2 and FMA, 5 AVX-512,
    /// 6 AVX-512 with BF16, 7 AMX; 0 for "Unknown". A core of a lower level than the CPU's best is a fallback.
    static let levels: [(name: String, level: Int)] = [
        ("Unknown", 0),
        ("Katmai", 1), ("Coppermine", 1), ("Northwood", 1), ("Prescott", 1), ("Banias", 1), ("Atom", 1),
        ("Athlon", 1), ("Opteron", 1), ("Opteron_SSE3", 1), ("Barcelona", 1), ("Nano", 1), ("Bobcat", 1),
        ("Core2", 2), ("Penryn", 2), ("Dunnington", 2), ("Nehalem", 2),
        ("Sandybridge", 3), ("Bulldozer", 3), ("Piledriver", 3), ("Steamroller", 3), ("Excavator", 3),
        ("Haswell", 4), ("Zen", 4),
        ("SkylakeX", 5), ("Cooperlake", 6), ("SapphireRapids", 7),
    ]

    /// The known core names, in OpenBLAS's spelling.
    public static var names: [String] { levels.map(\.name) }

    /// `name` in OpenBLAS's spelling ("skylakex" -> "SkylakeX"), or nil when OpenBLAS has no such core.
    public static func canonical(_ name: String) -> String? {
        levels.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.name
    }

    /// The instruction-set level of a core (see `levels`); nil for a name this table does not know, which may be
    /// a newer core than it and is then never replaced.
    public static func level(_ name: String) -> Int? {
        canonical(name).flatMap { n in levels.first { $0.name == n } }?.level
    }

    /// What each level's kernels need, for messages.
    static let levelNeeds = [
        "nothing", "SSE3", "SSSE3 and SSE4", "AVX", "AVX2 and FMA", "AVX-512",
        "AVX-512 with BF16", "AMX",
    ]

    /// The highest level whose kernels `cpu` runs. Below AVX it is taken as 2: every x86-64 CPU that still runs
    /// has SSE3, and most SSE4.
    public static func level(for cpu: CPUFeatures) -> Int {
        if cpu.hasAVX512 { return cpu.features.contains(.avx512bf16) ? 6 : 5 }
        if cpu.hasAVX2FMA { return 4 }
        return cpu.features.contains(.avx) ? 3 : 2
    }

    /// What `core`'s kernels need ("AVX-512"), for messages.
    static func needs(_ core: String) -> String { levelNeeds[level(core) ?? 0] }

    /// Whether `cpu` can run `core`'s kernels. OpenBLAS 0.3.21 does not check a forced core: `SkylakeX` on a CPU
    /// without AVX-512 stops the process with an illegal instruction at the first product.
    public static func runs(_ core: String, on cpu: CPUFeatures) -> Bool { (level(core) ?? 0) <= level(for: cpu) }

    /// The cores `best(for:offered:)` can choose, best first.
    public static let candidates = ["Cooperlake", "SkylakeX", "Zen", "Haswell"]

    /// The best core for `cpu` among `offered` (the cores the library was built with): Cooperlake for AVX-512
    /// with BF16, SkylakeX for AVX-512, Zen on AMD (and Hygon, AMD's Zen licensee) with AVX2 and FMA, Haswell for
    /// AVX2 and FMA; each falls through to the next when the build lacks it. Nil when none applies: older CPUs,
    /// other vendors, and builds that offer none of them, where OpenBLAS's own choice stands.
    public static func best(for cpu: CPUFeatures, offered: Set<String>) -> String? {
        guard cpu.vendor != .other else { return nil }
        var wanted: [String] = []
        if cpu.hasAVX512 && cpu.features.contains(.avx512bf16) { wanted.append("Cooperlake") }
        if cpu.hasAVX512 { wanted.append("SkylakeX") }
        if cpu.hasAVX2FMA {
            if cpu.vendor == .amd || cpu.vendor == .hygon { wanted.append("Zen") }
            wanted.append("Haswell")
        }
        return wanted.first(where: offered.contains)
    }

    // MARK: - The loaded library

    /// The core the loaded OpenBLAS runs (`openblas_get_corename`), e.g. "Zen".
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The library's build line (`openblas_get_config`), e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...".
    public static var config: String { String(cString: openblas_get_config()) }

    /// The library's name and version from `config` ("OpenBLAS", "0.3.21").
    public static var library: (name: String, version: String) {
        let words = config.split(separator: " ")
        return (words.first.map(String.init) ?? "OpenBLAS", words.dropFirst().first.map(String.init) ?? "unknown")
    }

    /// Whether `OPENBLAS_CORETYPE` can change the core: only a `DYNAMIC_ARCH` build carries more than one.
    public static var switchable: Bool { config.split(separator: " ").contains("DYNAMIC_ARCH") }

    /// The `candidates` this build carries: a `DYNAMIC_ARCH` build exports one kernel table per core it was
    /// built with (`gotoblas_HASWELL`, ...), and lacks the others (it maps them to an older core).
    public static let offered: Set<String> = {
        guard switchable, let process = dlopen(nil, RTLD_LAZY) else { return [] }
        return Set(candidates.filter { dlsym(process, "gotoblas_" + $0.uppercased()) != nil })
    }()
}
