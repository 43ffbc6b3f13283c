import TestSupport
import XCTest

@testable import UNetCore

/// `CKernels`' AVX2 and AVX-512 copies of the depthwise, SiLU and gating kernels, at every level this CPU runs
/// (`SIMDLevel.supported`; on a CPU without AVX2 only the portable Swift kernels), against the naive oracles in
/// Double: plane widths on both sides of the 8- and 16-lane blocks and of the edges' masks, every padding the
/// EfficientNet ports use and wider, and vector tails of every length. The layers themselves run
/// `SIMDLevel.active` in `EfficientNetLayerTests` and the golden tests.
final class SIMDKernelTests: XCTestCase {
    func testLevelFollowsTheCPUAndTheOverrideOnlyLowersIt() {
        let avx512 = CPUFeatures(vendor: .intel, [.avx, .avx2, .fma, .avx512f, .avx512bw, .avx512dq, .avx512vl])
        let avx2 = CPUFeatures(vendor: .amd, [.avx, .avx2, .fma])
        XCTAssertEqual(SIMDLevel.best(for: avx512), .avx512)
        XCTAssertEqual(SIMDLevel.best(for: avx2), .avx2)
        XCTAssertEqual(SIMDLevel.best(for: CPUFeatures(vendor: .intel, [.avx, .avx2])), .portable, "AVX2 without FMA")
        XCTAssertEqual(
            SIMDLevel.best(for: CPUFeatures(vendor: .intel, [.avx, .avx2, .fma, .avx512f])), .avx2,
            "AVX-512F alone (Knights Landing) is not the F/BW/DQ/VL set the kernels are built for")
        XCTAssertEqual(SIMDLevel.best(for: CPUFeatures(vendor: .other, [])), .portable)
        XCTAssertEqual(SIMDLevel.chosen(best: .avx512, requested: nil), .avx512)
        XCTAssertEqual(SIMDLevel.chosen(best: .avx512, requested: "AVX2"), .avx2)
        XCTAssertEqual(SIMDLevel.chosen(best: .avx512, requested: "portable"), .portable)
        XCTAssertEqual(SIMDLevel.chosen(best: .avx2, requested: "avx512"), .avx2, "never above what the CPU runs")
        XCTAssertEqual(SIMDLevel.chosen(best: .avx2, requested: "sse9"), .avx2, "an unknown name is ignored")
        XCTAssertTrue(SIMDLevel.supported.contains(.portable))
        XCTAssertTrue(SIMDLevel.supported.contains(SIMDLevel.active))
    }

    /// `forced_by` in `engine.hello`: only a value that actually lowered the level names the variable.
    func testForcedByNamesTheVariableOnlyWhenItLowersTheLevel() {
        XCTAssertEqual(SIMDLevel.forcedBy(best: .avx2, requested: "portable"), "UNET_SIMD")
        XCTAssertEqual(SIMDLevel.forcedBy(best: .avx512, requested: "AVX2"), "UNET_SIMD")
        XCTAssertNil(SIMDLevel.forcedBy(best: .avx2, requested: nil))
        XCTAssertNil(SIMDLevel.forcedBy(best: .avx2, requested: "avx2"), "asking for the best forces nothing")
        XCTAssertNil(SIMDLevel.forcedBy(best: .avx2, requested: "avx512"), "a level above the CPU's is ignored")
        XCTAssertNil(SIMDLevel.forcedBy(best: .portable, requested: "portable"))
        let report = SIMDLevel.report
        XCTAssertEqual(report.level, SIMDLevel.active)
        XCTAssertEqual(report.available, SIMDLevel.supported)
        XCTAssertEqual(report.forcedBy != nil, report.level < report.best)
    }

    /// Geometries: 3x3 and 5x5, stride 1 and 2 (and rows at stride 2 with columns at 1), paddings none to wider
    /// than the kernel, widths 1 to 41 and 112.
    static func geometries() -> [ConvGeometry] {
        var out: [ConvGeometry] = []
        for k in [3, 5] {
            for (sh, sw) in [(1, 1), (2, 2), (2, 1)] {
                let paddings: [Padding] = [
                    .same, .valid, .explicit(k / 2), .sides(top: 0, bottom: 1, left: 0, right: 1),
                    .sides(top: 1, bottom: 2, left: 1, right: 2),
                    .sides(top: k + 1, bottom: 0, left: k, right: 2),
                ]
                for (pi, padding) in paddings.enumerated() {
                    for width in Array(1...41) + [112] {
                        let height = 5 + (width + pi) % 7
                        let g = ConvGeometry(
                            channels: 1, height: height, width: width, kernelH: k, kernelW: k,
                            strideH: sh, strideW: sw, padding: padding)
                        if g.outH >= 1 && g.outW >= 1 { out.append(g) }
                    }
                }
            }
        }
        return out
    }

    /// Geometries whose planes span several of the kernels' row bands (a band holds about 4096 floats of row
    /// copies: 32 rows of a 112-wide plane, 85 of a 28-wide one) or are a few pixels: 1x1, 1x2, 2x1 and 3x3 planes,
    /// tall narrow and short wide ones, up to the widest row the vector kernels take; odd widths at stride 2.
    static func bandGeometries() -> [ConvGeometry] {
        var out: [ConvGeometry] = []
        let sizes = [(1, 1), (1, 2), (2, 1), (3, 3), (70, 112), (131, 17), (97, 29), (40, 300), (9, 1000), (200, 57)]
        for k in [3, 5] {
            for (sh, sw) in [(1, 1), (2, 2), (2, 1), (1, 2)] {
                let paddings: [Padding] = [
                    .same, .valid, .sides(top: 1, bottom: 2, left: 1, right: 2),
                    .sides(top: k + 1, bottom: 0, left: k, right: 2),
                ]
                for padding in paddings {
                    for (h, w) in sizes {
                        let g = ConvGeometry(
                            channels: 1, height: h, width: w, kernelH: k, kernelW: k, strideH: sh, strideW: sw,
                            padding: padding)
                        if g.outH >= 1 && g.outW >= 1 { out.append(g) }
                    }
                }
            }
        }
        return out
    }

    func testDepthwiseKernelsMatchTheOracleAtEveryLevel() {
        checkDepthwiseKernels(Self.geometries(), seed: 21)
    }

    func testDepthwiseKernelsMatchTheOracleAcrossRowBandsAndOnTinyPlanes() {
        checkDepthwiseKernels(Self.bandGeometries(), seed: 25)
    }

    /// Every level's forward, weight gradient and input gradient against the Double oracles on `geometries`, and
    /// each level twice on the same plane giving the same bits.
    func checkDepthwiseKernels(_ geometries: [ConvGeometry], seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        for level in SIMDLevel.supported {
            for g in geometries {
                let (k2, inPlane, outPlane) = (g.kernelW * g.kernelW, g.height * g.width, g.outH * g.outW)
                let x = (0..<inPlane).map { _ in rng.uniform(-1, 1) },
                    dy = (0..<outPlane).map { _ in rng.uniform(-1, 1) }
                let w = (0..<k2).map { _ in rng.uniform(-1, 1) }, bias = rng.uniform(-0.5, 0.5)
                let turned = Array(w.reversed())
                // One float past each output, which no kernel may write.
                var (y, dx) = (
                    [Float](repeating: .nan, count: outPlane + 1), [Float](repeating: .nan, count: inPlane + 1)
                )
                var (yRef, dxRef) = ([Float](repeating: 0, count: outPlane), [Float](repeating: 0, count: inPlane))
                var (acc, dwRef) = ([Double](repeating: 0.5, count: k2), [Float](repeating: 0.5, count: k2))
                depthwiseForward(x, g, w, bias: bias, &y, level: level)
                depthwiseWeightGradient(x, dy, g, &acc, level: level)
                depthwiseInputGradient(
                    dy, g, w, turned: turned, adjoint: depthwiseAdjointGeometry(g), &dx, level: level)
                depthwiseNaiveForward(x, g, w, bias: bias, &yRef)
                depthwiseNaiveBackward(x, dy, g, w, dx: &dxRef, dw: &dwRef)
                let what =
                    "\(level) \(g.kernelW)x\(g.kernelW) stride \(g.strideH),\(g.strideW) \(g.height)x\(g.width) "
                    + "pad \(g.padTop),\(g.padLeft)"
                XCTAssertTrue(y[outPlane].isNaN && dx[inPlane].isNaN, "\(what): wrote past the plane")
                var (y2, dx2) = (
                    [Float](repeating: .nan, count: outPlane + 1), [Float](repeating: .nan, count: inPlane + 1)
                )
                var acc2 = [Double](repeating: 0.5, count: k2)
                depthwiseForward(x, g, w, bias: bias, &y2, level: level)
                depthwiseWeightGradient(x, dy, g, &acc2, level: level)
                depthwiseInputGradient(
                    dy, g, w, turned: turned, adjoint: depthwiseAdjointGeometry(g), &dx2, level: level)
                XCTAssertEqual(Array(y[0..<outPlane]), Array(y2[0..<outPlane]), "\(what): forward repeats")
                XCTAssertEqual(Array(dx[0..<inPlane]), Array(dx2[0..<inPlane]), "\(what): input gradient repeats")
                XCTAssertEqual(acc, acc2, "\(what): weight gradient repeats")
                var worst: (y: Float, dx: Float, dw: Float) = (0, 0, 0)
                for i in 0..<outPlane { worst.y = max(worst.y, abs(y[i] - yRef[i])) }
                for i in 0..<inPlane { worst.dx = max(worst.dx, abs(dx[i] - dxRef[i])) }
                for t in 0..<k2 { worst.dw = max(worst.dw, abs(Float(acc[t]) - dwRef[t]) / max(1, abs(dwRef[t]))) }
                // dw sums the whole plane in single-precision lanes: its rounding grows with the plane (a 70x112
                // plane's sums of 7,840 products are off by 1.7e-5 relative, the same bits as the kernels before)
                let dwTolerance = 1e-5 * max(1, Float(outPlane) / 1000)
                if !(worst.y <= 1e-5 && worst.dx <= 1e-5 && worst.dw <= dwTolerance) {
                    return XCTFail("\(what): |y - oracle| \(worst.y), |dx - oracle| \(worst.dx), dw \(worst.dw)")
                }
            }
        }
    }

    func testSiLUAndGateKernelsMatchTheOracleAtEveryLevel() {
        var rng = RandomGenerator(seed: 22)
        let n = 203
        // Far out both ways (e^-|x| underflows below -87.3), around 0, and signed zeros.
        var x = (0..<n).map { i in rng.uniform(-1, 1) * (i % 3 == 0 ? 100 : 6) }
        x[0] = 0; x[1] = -0; x[2] = 1e4; x[3] = -1e4; x[4] = -87.5; x[5] = -87.2
        let dy = (0..<n).map { _ in rng.uniform(-1, 1) }
        for level in SIMDLevel.supported {
            for count in [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 200, 203] {
                var (y, dx) = ([Float](repeating: .nan, count: n), [Float](repeating: .nan, count: n))
                siluForwardDispatched(x, &y, 0..<count, level: level)
                siluBackwardDispatched(x, dy, &dx, 0..<count, level: level)
                for i in 0..<count {
                    let (value, derivative) = siluNaive(x[i])
                    XCTAssertEqual(y[i], value, accuracy: 2e-6 * max(1, abs(value)), "\(level) SiLU(\(x[i]))")
                    XCTAssertEqual(dx[i], dy[i] * derivative, accuracy: 2e-6, "\(level) SiLU'(\(x[i]))")
                }
                XCTAssertTrue(count == n || (y[count].isNaN && dx[count].isNaN), "\(level): wrote past \(count)")

                var (g, gdx) = ([Float](repeating: .nan, count: n), [Float](repeating: .nan, count: n))
                scaleFloatsDispatched(dy, by: 0.75, &g, count, level: level)
                let dot = scaleAndDotDispatched(dy, by: -1.5, &gdx, dot: x, count, level: level)
                var expected = 0.0
                for i in 0..<count {
                    XCTAssertEqual(g[i], dy[i] * 0.75, "\(level) gate")
                    XCTAssertEqual(gdx[i], dy[i] * -1.5, "\(level) gate's dx")
                    expected += Double(dy[i]) * Double(x[i])
                }
                XCTAssertEqual(Double(dot), expected, accuracy: 1e-5 * max(1, abs(expected)), "\(level) gate's ds")
                XCTAssertTrue(count == n || (g[count].isNaN && gdx[count].isNaN), "\(level): wrote past \(count)")
            }
        }
    }

    /// BatchNorm's passes (`BatchNormKernels.swift`) at every level against Double oracles: the one-pass shifted
    /// moments (a channel whose mean is 10⁴ standard deviations: no cancellation), the normalisation with and without
    /// its ReLU, and the backward's sums and input gradient, unmasked and masked by that ReLU exactly where the
    /// level's own forward wrote a positive value; vector tails of every length, nothing written past them.
    func testBatchNormKernelsMatchTheOracleAtEveryLevel() {
        var rng = RandomGenerator(seed: 23)
        let n = 203
        let x = (0..<n).map { _ in rng.uniform(-2, 2) }
        let far = x.map { 1e3 + $0 * 0.1 }
        let dy = (0..<n).map { _ in rng.uniform(-1, 1) }
        let (mean, r, gamma, beta, k, a, b): (Float, Float, Float, Float, Float, Float, Float) =
            (0.1, 1.7, 0.8, -0.2, 1.3, 0.05, -0.4)
        for level in SIMDLevel.supported {
            for count in [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 200, 203] {
                let what = "\(level), \(count) floats"
                for (values, shift) in [(x, Float(0.3)), (far, far[0])] {
                    let (s, q) = batchNormMoments(values, count, shift: shift, level: level)
                    var (es, eq) = (0.0, 0.0)
                    for i in 0..<count { let d = Double(values[i]) - Double(shift); es += d; eq += d * d }
                    XCTAssertEqual(s, es, accuracy: 1e-5 * max(1, abs(es)), "\(what): Σ(x - k)")
                    XCTAssertEqual(q, eq, accuracy: 1e-5 * max(1, eq), "\(what): Σ(x - k)²")
                }
                for rectify in [false, true] {
                    var y = [Float](repeating: .nan, count: n)
                    batchNormNormalize(
                        x, count, mean: mean, inverseStd: r, gamma: gamma, beta: beta, rectify: rectify, &y,
                        level: level)
                    var (es, ed) = (0.0, 0.0)
                    var mask = [Bool](repeating: false, count: n)
                    for i in 0..<count {
                        let h = (Double(x[i]) - Double(mean)) * Double(r)
                        let v = h * Double(gamma) + Double(beta)
                        XCTAssertEqual(Double(y[i]), rectify ? max(v, 0) : v, accuracy: 1e-5, "\(what): y")
                        // The mask is where this level's forward wrote a positive value, not the oracle's.
                        mask[i] = !rectify || y[i] > 0
                        if mask[i] { es += Double(dy[i]); ed += Double(dy[i]) * h }
                    }
                    XCTAssertTrue(count == n || y[count].isNaN, "\(what): wrote past the end")
                    let rectified = rectify ? (gamma: gamma, beta: beta) : nil
                    let (s, d) = batchNormBackwardSums(
                        dy, x, count, mean: mean, inverseStd: r, rectified: rectified, level: level)
                    XCTAssertEqual(Double(s), es, accuracy: 1e-5, "\(what), rectify \(rectify): Σ g")
                    XCTAssertEqual(Double(d), ed, accuracy: 1e-5, "\(what), rectify \(rectify): Σ g·x̂")
                    var dx = [Float](repeating: .nan, count: n)
                    batchNormInputGradientDispatched(
                        dy, x, count, mean: mean, inverseStd: r, k: k, a: a, b: b, rectified: rectified, &dx,
                        level: level)
                    for i in 0..<count {
                        let h = (Double(x[i]) - Double(mean)) * Double(r)
                        let expected = Double(k) * ((mask[i] ? Double(dy[i]) : 0) - Double(a) - h * Double(b))
                        XCTAssertEqual(Double(dx[i]), expected, accuracy: 1e-5, "\(what), rectify \(rectify): dx")
                    }
                    XCTAssertTrue(count == n || dx[count].isNaN, "\(what): dx written past the end")
                }
            }
        }
    }

    /// One level's results do not depend on the threads: the layers split planes and channels, never a sum.
    func testDepthwiseLayerGivesTheSameNumbersOnOneAndTwoThreads() {
        var rng = RandomGenerator(seed: 23)
        let layer = DepthwiseConv2D(channels: 6, kernelSize: 5, stride: 2, rng: &rng)
        let x = randomTensor([3, 6, 29, 37], seed: 24)
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        func run(_ threads: Int) -> ([Float], [Float], [Float]) {
            Parallel.setThreads(threads)
            layer.weight.grad.zero()
            let y = layer.forward(x, training: true)
            let dx = layer.backward(Tensor(shape: y.shape, repeating: 0.25))
            return (Array(y.buffer), Array(dx.buffer), Array(layer.weight.grad.buffer))
        }
        let (one, two) = (run(1), run(2))
        XCTAssertEqual(one.0, two.0)
        XCTAssertEqual(one.1, two.1)
        XCTAssertEqual(one.2, two.2)
    }
}
