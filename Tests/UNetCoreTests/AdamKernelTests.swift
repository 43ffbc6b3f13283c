import TestSupport
import XCTest

@testable import UNetCore

/// The vector, threaded Adam update against the scalar formula it replaced (PyTorch's, which the golden tests pin):
/// the same bits for weights and moments, on lengths with a scalar tail, for Adam, Adam with L2 decay and AdamW.
final class AdamKernelTests: XCTestCase {
    /// The scalar reference: one weight at a time, exactly as `Optimizer` computed it before the vector kernel.
    func scalarStep(_ k: AdamCoefficients, w: inout [Float], g: [Float], m: inout [Float], v: inout [Float]) {
        for i in w.indices {
            var gi = g[i]
            var w1 = w[i]
            if k.decoupled {
                w1 *= 1 - k.learningRate * k.weightDecay
            } else if k.weightDecay != 0 {
                gi += k.weightDecay * w1
            }
            let m1 = m[i] + (1 - k.beta1) * (gi - m[i])
            let v1 = k.beta2 * v[i] + (1 - k.beta2) * gi * gi
            w1 -= k.stepSize * m1 / (v1.squareRoot() / k.bc2Sqrt + k.epsilon)
            (w[i], m[i], v[i]) = (w1, m1, v1)
        }
    }

    func testVectorUpdateGivesTheScalarFormulasBits() {
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        Parallel.setThreads(2)
        for (decoupled, wd) in [(false, Float(0)), (false, 0.01), (true, 0.01)] {
            let k = AdamCoefficients(
                learningRate: 1e-3, weightDecay: wd, beta1: 0.9, beta2: 0.999, epsilon: 1e-8,
                stepSize: 1e-3 / (1 - 0.9 * 0.9), bc2Sqrt: (1 - 0.999 * 0.999).squareRoot(),
                decoupled: decoupled)
            for count in [5, 8, 17, 100_003] {
                for level in SIMDLevel.supported {
                    let w = randomTensor([count], seed: 1), g = randomTensor([count], seed: 2)
                    let m = randomTensor([count], seed: 3), v = randomTensor([count], seed: 4)
                    for i in 0..<count { v[i] = abs(v[i]) }
                    var (rw, rm, rv) = (w.array, m.array, v.array)
                    scalarStep(k, w: &rw, g: g.array, m: &rm, v: &rv)

                    // Measuring first must leave everything as it was, and agree with the reference's change.
                    let measured = adamUpdate(
                        k, count: count, w: w.data, g: g.data, m: m.data, v: v.data, commit: false, level: level)
                    var change = 0.0
                    for i in 0..<count { let d = Double(rw[i] - w[i]); change += d * d }
                    XCTAssertTrue(measured.finite)
                    XCTAssertEqual(measured.squaredChange, change, accuracy: 1e-9 * max(change, 1e-30))
                    XCTAssertEqual(w.array, randomTensor([count], seed: 1).array, "\(level): measuring wrote")
                    _ = adamUpdate(
                        k, count: count, w: w.data, g: g.data, m: m.data, v: v.data, commit: true, level: level)
                    let what = "\(level), decoupled \(decoupled), wd \(wd), count \(count)"
                    XCTAssertEqual(w.array, rw, "weights, \(what)")
                    XCTAssertEqual(m.array, rm, "first moments, \(what)")
                    XCTAssertEqual(v.array, rv, "second moments, \(what)")
                }
            }
        }
    }

    func testMeasuringFindsANonFiniteWeightAndAllFiniteFindsNaN() {
        let k = AdamCoefficients(
            learningRate: 1e30, weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 0,
            stepSize: 1e30, bc2Sqrt: 1, decoupled: false)
        let w = randomTensor([37], seed: 5), g = Tensor(zeros: [37])
        g[20] = 1e-30  // m/sqrt(v) = 1/sqrt(0.001): huge times 1e30 overflows only this weight
        g[21] = .infinity
        let finiteSteps = AdamCoefficients(
            learningRate: 1, weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, stepSize: 1, bc2Sqrt: 1,
            decoupled: false)
        let zero = Tensor(zeros: [37])
        for level in SIMDLevel.supported {
            let r = adamUpdate(k, count: 37, w: w.data, g: g.data, m: nil, v: nil, commit: false, level: level)
            XCTAssertFalse(r.finite, "\(level)")
            XCTAssertTrue(
                adamUpdate(
                    finiteSteps, count: 37, w: w.data, g: zero.data, m: nil, v: nil, commit: false,
                    level: level
                ).finite, "\(level): no gradient, no change")
            for i in [3, 20, 36] {  // the first vector, a later one, the tail
                zero[i] = .infinity
                XCTAssertFalse(
                    adamUpdate(
                        finiteSteps, count: 37, w: w.data, g: zero.data, m: nil, v: nil, commit: false,
                        level: level
                    ).finite, "\(level): an infinite gradient at \(i)")
                zero[i] = 0
            }
        }
        XCTAssertFalse(g.isFinite)
        g[21] = 0
        XCTAssertTrue(g.isFinite)
        g[36] = .nan  // in the scalar tail
        XCTAssertFalse(g.isFinite)
    }
}
