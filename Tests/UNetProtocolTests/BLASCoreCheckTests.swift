import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// The start-up BLAS core check through the built binary: the restart when OpenBLAS fell back, the overrides,
/// the user's own `OPENBLAS_CORETYPE`, bad names, and the one-shots. Each engine gets an explicit environment
/// without the host's `OPENBLAS_*` and `UNET_BLAS_*` variables (some machines set `OPENBLAS_CORETYPE`).
final class BLASCoreCheckTests: XCTestCase {
    /// This process's environment without BLAS variables, plus `extra`.
    private func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OPENBLAS_") && !$0.key.hasPrefix("UNET_BLAS_") }
            .merging(extra) { $1 }
    }

    /// `engine.hello`'s `blas` from an engine started with `arguments` and `environment`, and its stderr.
    private func hello(_ arguments: [String] = [], _ environment: [String: String]) throws -> (JSONValue, String) {
        let engine = try EngineProcess(["--threads", "1"] + arguments, environment: environment)
        engine.request(1, "engine.hello")  // written before the restart: it waits in the pipe
        let blas = engine.response(1)?["result"]?["blas"]
        XCTAssertEqual(engine.finish(), 0)
        return (try XCTUnwrap(blas), String(decoding: engine.errorOutput, as: UTF8.self))
    }

    /// The best core for this CPU, by the test's own reading of /proc/cpuinfo; skips where there is none.
    private func bestCore() throws -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(info.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? [])
        guard flags.contains("avx2") && flags.contains("fma") else {
            throw XCTSkip("this CPU has no AVX2 and FMA: OpenBLAS's choice is already the best there is")
        }
        return try XCTUnwrap(BLASCore.best(for: .host, offered: BLASCore.offered), "a core for an AVX2 CPU")
    }

    /// The path: OpenBLAS "fell back" to Prescott (simulated: the test hook makes the inherited
    /// OPENBLAS_CORETYPE count as OpenBLAS's own choice), and the engine restarts itself with the best core.
    func testAFallbackToPrescottIsCorrectedByOneRestart() throws {
        let best = try bestCore()
        let (blas, stderr) = try hello(
            [],
            environment([
                "OPENBLAS_CORETYPE": "Prescott",
                "UNET_BLAS_CORE_AUTOCORRECT": "force",
            ]))
        XCTAssertEqual(blas["core"]?.stringValue, best, stderr)
        XCTAssertEqual(blas["best_core"]?.stringValue, best)
        XCTAssertEqual(blas["chosen_by"], "engine")
        XCTAssertEqual(blas["corrected"], true)
        XCTAssertEqual(blas["restarted_from"], "Prescott")
        let restarts = stderr.split(separator: "\n").filter { $0.contains("restarting with OPENBLAS_CORETYPE") }
        XCTAssertEqual(restarts.count, 1, stderr)
        XCTAssertTrue(restarts.first?.contains("OpenBLAS chose Prescott") ?? false, stderr)
    }

    func testUsersOwnCoreTypeWins() throws {
        let (blas, stderr) = try hello([], environment(["OPENBLAS_CORETYPE": "Prescott"]))
        XCTAssertEqual(blas["core"], "Prescott")
        XCTAssertEqual(blas["chosen_by"], "OPENBLAS_CORETYPE")
        XCTAssertEqual(blas["corrected"], false)
        XCTAssertEqual(blas["restarted_from"], .null)
        XCTAssertFalse(stderr.contains("restarting"), stderr)
        // ... but the engine says, once, that this CPU runs better kernels (where it has AVX2 and FMA).
        let best = try bestCore()
        let advice = stderr.split(separator: "\n").filter { $0.contains("below this CPU's best core") }
        XCTAssertEqual(advice.count, 1, stderr)
        XCTAssertTrue(advice.first?.contains("OPENBLAS_CORETYPE=Prescott from the environment runs Prescott") ?? false)
        XCTAssertTrue(advice.first?.hasSuffix("runs \(best))") ?? false, stderr)
    }

    func testOverridesForceACoreAndTheFlagWins() throws {
        let (blas, _) = try hello([], environment(["UNET_BLAS_CORE": "prescott"]))
        XCTAssertEqual(blas["core"], "Prescott")
        XCTAssertEqual(blas["chosen_by"], "override")
        XCTAssertEqual(blas["corrected"], false)
        let (flagged, _) = try hello(
            ["--blas-core", "Prescott"],
            environment([
                "UNET_BLAS_CORE": "auto",
                "OPENBLAS_CORETYPE": "Zen",
            ]))
        XCTAssertEqual(flagged["core"], "Prescott")
        XCTAssertEqual(flagged["chosen_by"], "override")
        XCTAssertEqual(
            flagged["restarted_from"]?.stringValue.flatMap(BLASCore.canonical), "Zen",
            "OpenBLAS ran Zen as OPENBLAS_CORETYPE asked, before the override's restart")
        // auto overrides an inherited OPENBLAS_CORETYPE with the engine's choice.
        let best = try bestCore()
        let (auto, _) = try hello([], environment(["UNET_BLAS_CORE": "auto", "OPENBLAS_CORETYPE": "Prescott"]))
        XCTAssertEqual(auto["core"]?.stringValue, best)
        XCTAssertEqual(auto["chosen_by"], "engine")
    }

    func testWithoutVariablesTheCoreIsTheBest() throws {
        let best = try bestCore()
        let (blas, stderr) = try hello([], environment())
        let core = try XCTUnwrap(blas["core"]?.stringValue)
        XCTAssertGreaterThanOrEqual(BLASCore.level(core) ?? 0, BLASCore.level(best)!, "\(blas) \(stderr)")
        XCTAssertEqual(blas["library"], "OpenBLAS")
        XCTAssertEqual(blas["cpu"]?["features"]?.arrayValue?.contains("avx2"), true)
    }

    func testUnknownAndUnrunnableCoresExit2() throws {
        let bogus = try EngineProcess(["--blas-core", "Bogus"], environment: environment())
        XCTAssertEqual(bogus.finish(), 2)
        XCTAssertTrue(String(decoding: bogus.errorOutput, as: UTF8.self).contains("unknown BLAS core Bogus"))
        XCTAssertTrue(bogus.rawOutput.isEmpty)
        let missing = try EngineProcess(["--blas-core"], environment: environment())
        XCTAssertEqual(missing.finish(), 2)
        let (flagged, _) = try hello(["--blas-core", "Prescott"], environment(["UNET_BLAS_CORE": "Bogus"]))
        XCTAssertEqual(flagged["core"], "Prescott", "the flag wins: UNET_BLAS_CORE is not read")
        // The next level up from this CPU's (SapphireRapids' AMX at most): OpenBLAS would die on SIGILL.
        let level = BLASCore.level(for: .host)
        let tooNew = try XCTUnwrap(BLASCore.names.first { (BLASCore.level($0) ?? 0) > level })
        let engine = try EngineProcess([], environment: environment(["UNET_BLAS_CORE": tooNew]))
        XCTAssertEqual(engine.finish(), 2, tooNew)
        XCTAssertTrue(String(decoding: engine.errorOutput, as: UTF8.self).contains("illegal instruction"))
    }

    /// `predict` and `segment` share main.swift's check: the restart happens before their own arguments fail.
    func testOneShotsRunTheCheck() throws {
        let best = try bestCore()
        let oneShot = try EngineProcess(
            ["predict", "--blas-core", "auto"],
            environment: environment(["OPENBLAS_CORETYPE": "Prescott"]))
        XCTAssertEqual(oneShot.finish(), 2, "no --model")
        let stderr = String(decoding: oneShot.errorOutput, as: UTF8.self)
        XCTAssertTrue(stderr.contains("restarting with OPENBLAS_CORETYPE=\(best)"), stderr)
        XCTAssertTrue(stderr.contains("Missing expected argument '--model <M>'"), "--blas-core is taken out: \(stderr)")
    }
}
