import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// `engine.hello`'s `simd` through the built binary: the CPU's best level by default, and `UNET_SIMD` lowering it
/// (and saying so in `forced_by`), never raising it. The expected best comes from the test's own reading of
/// /proc/cpuinfo, not from the engine's cpuid code, so a detection bug fails here.
final class SIMDReportTests: XCTestCase {
    private func simd(_ extra: [String: String]) throws -> JSONValue {
        let environment = ProcessInfo.processInfo.environment.filter { $0.key != SIMDLevel.overrideVariable }
            .merging(extra) { $1 }
        let engine = try EngineProcess(["--threads", "1"], environment: environment)
        engine.request(1, "engine.hello")
        let simd = engine.response(1)?["result"]?["simd"]
        XCTAssertEqual(engine.finish(), 0)
        return try XCTUnwrap(simd, "engine.hello has simd")
    }

    /// The best level by /proc/cpuinfo's flags (x86-64 Linux; elsewhere the engine runs the portable kernels).
    private var expectedBest: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(info.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? [])
        let avx2 = flags.contains("avx2") && flags.contains("fma")
        let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy { flags.contains(Substring($0)) }
        return avx2 && avx512 ? "avx512" : avx2 ? "avx2" : "portable"
    }

    func testHelloReportsTheCPUsBestLevelByDefault() throws {
        let report = try simd([:])
        XCTAssertEqual(report["level"]?.stringValue, expectedBest)
        XCTAssertEqual(report["best"]?.stringValue, expectedBest)
        XCTAssertEqual(report["forced_by"], .null)
        let available = report["available"]?.arrayValue?.compactMap(\.stringValue)
        XCTAssertEqual(available?.first, "portable")
        XCTAssertEqual(available?.last, expectedBest)
    }

    func testUNETSIMDPortableLowersTheLevelAndSaysSo() throws {
        let best = expectedBest
        guard best != "portable" else { throw XCTSkip("this CPU runs only the portable kernels: nothing to lower") }
        let report = try simd([SIMDLevel.overrideVariable: "portable"])
        XCTAssertEqual(report["level"], "portable")
        XCTAssertEqual(report["best"]?.stringValue, best, "the best is still the CPU's")
        XCTAssertEqual(report["forced_by"], "UNET_SIMD")
    }

    func testUNETSIMDCannotRaiseTheLevelOrNameAnUnknownOne() throws {
        let best = expectedBest
        for value in ["avx512", "sse9"] {
            let report = try simd([SIMDLevel.overrideVariable: value])
            XCTAssertEqual(report["level"]?.stringValue, best, value)
            XCTAssertEqual(report["forced_by"], .null, value)
        }
    }
}
