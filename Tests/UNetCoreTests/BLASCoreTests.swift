import XCTest

@testable import UNetCore

/// The choice of OpenBLAS core: CPU features to core, and the start-up decision (restart or not, and why), as
/// pure functions. `UNetProtocolTests.BLASCoreCheckTests` runs the restart itself through the built binary.
final class BLASCoreTests: XCTestCase {
    private let avx2: Set<CPUFeatures.Feature> = [.avx, .avx2, .fma]
    private var avx512: Set<CPUFeatures.Feature> { avx2.union([.avx512f, .avx512bw, .avx512dq, .avx512vl]) }
    private let all = Set(BLASCore.candidates)

    func testBestCoreForEachFeatureSet() {
        let table: [(CPUFeatures, Set<String>, String?, String)] = [
            // The Xeon (family 6, model 207): AVX-512 with BF16.
            (
                CPUFeatures(vendor: .intel, avx512.union([.avx512bf16]), family: 6, model: 207), all, "Cooperlake",
                "Intel AVX-512 + BF16"
            ),
            (CPUFeatures(vendor: .intel, avx512), all, "SkylakeX", "Intel AVX-512"),
            (CPUFeatures(vendor: .intel, avx2), all, "Haswell", "Intel AVX2 + FMA"),
            (CPUFeatures(vendor: .amd, avx2, family: 25, model: 1), all, "Zen", "AMD AVX2 (this project's EPYC)"),
            (CPUFeatures(vendor: .hygon, avx2), all, "Zen", "Hygon AVX2"),
            (
                CPUFeatures(vendor: .amd, avx512.union([.avx512bf16]), family: 25, model: 17), all, "Cooperlake",
                "AMD Zen 4 with AVX-512 + BF16"
            ),
            // Incomplete sets fall to the level below.
            (CPUFeatures(vendor: .intel, avx2.union([.avx512f])), all, "Haswell", "AVX-512F alone is not enough"),
            (CPUFeatures(vendor: .intel, avx2.union([.avx512bf16])), all, "Haswell", "BF16 without AVX-512"),
            (CPUFeatures(vendor: .intel, [.avx, .avx2]), all, nil, "AVX2 without FMA"),
            (CPUFeatures(vendor: .intel, [.avx, .fma]), all, nil, "FMA without AVX2"),
            (CPUFeatures(vendor: .intel, [.avx]), all, nil, "AVX only: OpenBLAS's own choice stands"),
            (CPUFeatures(vendor: .intel, []), all, nil, "SSE only"),
            (CPUFeatures(vendor: .other, avx512), all, nil, "other vendors are left alone"),
            // A build without a core falls through to the next one it has.
            (
                CPUFeatures(vendor: .intel, avx512.union([.avx512bf16])), ["SkylakeX", "Haswell"], "SkylakeX",
                "a build without Cooperlake"
            ),
            (CPUFeatures(vendor: .amd, avx2), ["Haswell"], "Haswell", "a build without Zen"),
            (CPUFeatures(vendor: .intel, avx512), [], nil, "a build with one core (no DYNAMIC_ARCH)"),
        ]
        for (cpu, offered, expected, what) in table {
            XCTAssertEqual(BLASCore.best(for: cpu, offered: offered), expected, what)
        }
    }

    func testLevelsGuardForcedCores() {
        let intel2 = CPUFeatures(vendor: .intel, avx2)
        XCTAssertTrue(BLASCore.runs("Prescott", on: intel2))
        XCTAssertTrue(BLASCore.runs("Haswell", on: intel2))
        XCTAssertTrue(BLASCore.runs("Zen", on: intel2))
        XCTAssertFalse(BLASCore.runs("SkylakeX", on: intel2), "SkylakeX stops a CPU without AVX-512 (SIGILL)")
        XCTAssertFalse(BLASCore.runs("Cooperlake", on: CPUFeatures(vendor: .intel, avx512)))
        XCTAssertTrue(BLASCore.runs("Cooperlake", on: CPUFeatures(vendor: .intel, avx512.union([.avx512bf16]))))
        XCTAssertFalse(BLASCore.runs("Sandybridge", on: CPUFeatures(vendor: .intel, [])))
        XCTAssertEqual(BLASCore.canonical("skylakex"), "SkylakeX")
        XCTAssertEqual(BLASCore.canonical("OPTERON_SSE3"), "Opteron_SSE3")
        XCTAssertNil(BLASCore.canonical("Bogus"))
        XCTAssertNil(BLASCore.level("SomeFutureCore"))
        // Every candidate is a known core, ordered best first.
        let levels = BLASCore.candidates.map { BLASCore.level($0)! }
        XCTAssertEqual(levels, levels.sorted(by: >))
    }

    private typealias Situation = BLASCoreCheck.Situation
    private typealias Decision = BLASCoreCheck.Decision

    func testStartUpDecisions() {
        func s(
            _ request: BLASCoreCheck.Request? = nil, coreType: String? = nil, usersCoreType: Bool = true,
            restartedFrom: String? = nil, current: String, best: String? = "Cooperlake",
            switchable: Bool = true
        ) -> Situation {
            Situation(
                request: request, coreType: coreType, coreTypeIsUsers: usersCoreType,
                restartedFrom: restartedFrom, current: current, best: best, switchable: switchable)
        }
        let table: [(Situation, Decision, String)] = [
            // The issue: OpenBLAS fell back to Prescott on a CPU that runs Cooperlake.
            (s(current: "Prescott"), Decision(choice: .engine, restartWith: "Cooperlake"), "fallback corrected"),
            (
                s(current: "Haswell", best: "SkylakeX"), Decision(choice: .engine, restartWith: "SkylakeX"),
                "an older core than the best is corrected too"
            ),
            (s(current: "Cooperlake"), Decision(choice: .openblas), "already the best"),
            (s(current: "Zen", best: "Haswell"), Decision(choice: .openblas), "same level: left alone"),
            (s(current: "SapphireRapids"), Decision(choice: .openblas), "a newer core than the best: left alone"),
            (s(current: "SomeFutureCore"), Decision(choice: .openblas), "an unknown core: left alone"),
            (s(current: "Prescott", best: nil), Decision(choice: .openblas), "a CPU without AVX2: left alone"),
            (s(current: "Prescott", switchable: false), Decision(choice: .openblas), "a build with one core"),
            // The user's own OPENBLAS_CORETYPE wins.
            (s(coreType: "Prescott", current: "Prescott"), Decision(choice: .environment), "the user's choice"),
            // ... unless the test hook says it is OpenBLAS's own (the integration test's path) ...
            (
                s(coreType: "Prescott", usersCoreType: false, current: "Prescott"),
                Decision(choice: .engine, restartWith: "Cooperlake"), "the test hook"
            ),
            // ... or an override asks for auto, or for a core.
            (
                s(.auto, coreType: "Prescott", current: "Prescott"),
                Decision(choice: .engine, restartWith: "Cooperlake"),
                "auto overrides OPENBLAS_CORETYPE"
            ),
            (s(.auto, current: "Cooperlake"), Decision(choice: .openblas), "auto, already the best"),
            (
                s(.core("Prescott"), current: "Cooperlake"), Decision(choice: .override, restartWith: "Prescott"),
                "forced low"
            ),
            (
                s(.core("Haswell"), coreType: "Zen", current: "Zen"),
                Decision(choice: .override, restartWith: "Haswell"),
                "an override beats OPENBLAS_CORETYPE"
            ),
            (s(.core("Zen"), current: "Zen"), Decision(choice: .override), "an override already in effect"),
            (
                s(.core("Cooperlake"), coreType: "Cooperlake", current: "SkylakeX"), Decision(choice: .override),
                "OpenBLAS refused the override's core: no second restart"
            ),
            (
                s(.core("Zen"), current: "Prescott", switchable: false), Decision(choice: .openblas),
                "a build with one core ignores overrides"
            ),
            // The restarted process never restarts again.
            (
                s(coreType: "Cooperlake", restartedFrom: "Prescott", current: "SkylakeX"), Decision(choice: .engine),
                "restarted by the engine, even if OpenBLAS ran another core than asked"
            ),
            (
                s(.core("Prescott"), coreType: "Prescott", restartedFrom: "Zen", current: "Prescott"),
                Decision(choice: .override), "restarted for an override"
            ),
            (
                s(coreType: "Cooperlake", usersCoreType: false, current: "SkylakeX"), Decision(choice: .environment),
                "the best core already asked for and refused is not asked again"
            ),
        ]
        for (situation, expected, what) in table {
            XCTAssertEqual(BLASCoreCheck.decide(situation), expected, what)
        }
    }

    /// The user's own OPENBLAS_CORETYPE is kept, with one line of advice when this CPU runs a better core.
    func testAdviceWhenTheUsersCoreIsBelowTheBest() {
        func advice(coreType: String?, usersCoreType: Bool = true, current: String, best: String? = "Cooperlake")
            -> String?
        {
            let s = Situation(
                request: nil, coreType: coreType, coreTypeIsUsers: usersCoreType, restartedFrom: nil, current: current,
                best: best, switchable: true)
            return BLASCoreCheck.belowBestAdvice(s, BLASCoreCheck.decide(s))
        }
        XCTAssertEqual(
            advice(coreType: "Haswell", current: "Haswell"),
            "OPENBLAS_CORETYPE=Haswell from the environment runs Haswell, below this CPU's best core Cooperlake; "
                + "keeping it (UNET_BLAS_CORE=auto or --blas-core auto runs Cooperlake)")
        XCTAssertNotNil(advice(coreType: "prescott", current: "Prescott"), "OpenBLAS's spelling is not required")
        XCTAssertNil(advice(coreType: "Cooperlake", current: "Cooperlake"), "already the best")
        XCTAssertNil(advice(coreType: "Zen", current: "Zen", best: "Haswell"), "the same level")
        XCTAssertNil(advice(coreType: nil, current: "Prescott"), "no variable: the engine corrects it instead")
        XCTAssertNil(advice(coreType: "Prescott", usersCoreType: false, current: "Prescott"), "the test hook restarts")
        XCTAssertNil(advice(coreType: "Prescott", current: "Prescott", best: nil), "a CPU without AVX2")
    }

    func testTheLoadedLibraryReportsItself() {
        XCTAssertEqual(BLASCore.library.name, "OpenBLAS")
        XCTAssertFalse(BLASCore.library.version.isEmpty)
        XCTAssertNotNil(BLASCore.level(BLASCore.current), "a core name this table knows: \(BLASCore.current)")
        // Debian's build carries every candidate core.
        if BLASCore.switchable { XCTAssertTrue(BLASCore.offered.contains("Haswell"), "\(BLASCore.offered)") }
        let report = BLASCoreCheck.report
        XCTAssertEqual(report.core, BLASCore.current)
        XCTAssertNil(report.restartedFrom)
        XCTAssertFalse(report.corrected)
    }
}
