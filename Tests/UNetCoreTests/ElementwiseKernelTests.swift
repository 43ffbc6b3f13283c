import TestSupport
import XCTest

@testable import UNetCore

/// The vector kernels of the memory-bound layers against their definitions, on sizes that are not multiples of
/// the vector width (so both the eight-wide loops and the scalar tails run) and with ties and zeros where a
/// comparison decides.
final class ElementwiseKernelTests: XCTestCase {
    override func tearDown() {
        MaxPool2D.fastPathEnabled = true
        super.tearDown()
    }

    /// Values on a coarse grid, so equal neighbours (ties) and exact zeros are common.
    func gridTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        let t = randomTensor(shape, seed: seed, low: -2, high: 2)
        for i in 0..<t.count { t[i] = (t[i] * 2).rounded() / 2 }
        return t
    }

    /// The bias gradient's sum: 32 lanes and a tail against a double-precision sum, on lengths around each
    /// boundary of its loops.
    func testSumFloatsMatchesADoubleSum() {
        for count in [0, 1, 7, 8, 9, 31, 32, 33, 40, 1000, 65_537] {
            let x = randomTensor([max(count, 1)], seed: UInt64(count + 1))
            let exact = (0..<count).reduce(0.0) { $0 + Double(x[$1]) }
            let fast = sumFloats(x.data, count)
            XCTAssertEqual(Double(fast), exact, accuracy: 1e-6 * Double(max(count, 1)), "count \(count)")
            XCTAssertEqual(sumFloats(x.data, count), fast, "the same bits twice")
        }
    }

    func testReLUMatchesItsDefinition() {
        let x = gridTensor([3, 7, 5, 11], seed: 1)  // 1155 elements
        let dy = randomTensor(x.shape, seed: 2)
        let relu = ReLU()
        let y = relu.forward(x, training: true)
        let dx = relu.backward(dy)
        for i in 0..<x.count {
            XCTAssertEqual(y[i], max(x[i], 0), "y[\(i)]")
            XCTAssertEqual(dx[i], x[i] > 0 ? dy[i] : 0, "dx[\(i)]")
        }
    }

    /// The sign-bit ReLU backward (what a skip's ReLU keeps instead of its output) against the definition, on
    /// lengths around a 32-float word, so the vector words and the partial last word both run; zeros must map to 0.
    func testSignBitReLUBackwardMatchesTheKeptOutputBackward() {
        for count in [1, 15, 16, 31, 32, 33, 64, 95, 1155] {
            let y = gridTensor([count], seed: UInt64(count))
            for i in 0..<count { y[i] = max(y[i], 0) }  // a ReLU's output: zeros and positives
            let dy = randomTensor([count], seed: UInt64(count + 100))
            let words = (count + 31) / 32
            var bits = [UInt32](repeating: .max, count: words)  // every bit set: a skipped word would show
            bits.withUnsafeMutableBufferPointer {
                reluSignBits(y.data, count: count, $0.baseAddress!, words: 0..<words)
            }
            let fromBits = Tensor(zeros: [count])
            bits.withUnsafeBufferPointer {
                reluBackward(signBits: $0.baseAddress!, dy.data, fromBits.data, count: count, words: 0..<words)
            }
            for i in 0..<count {
                XCTAssertEqual(fromBits[i], y[i] > 0 ? dy[i] : 0, "count \(count), element \(i)")
                XCTAssertEqual(bits[i / 32] >> UInt32(i % 32) & 1, y[i] > 0 ? 1 : 0, "count \(count), bit \(i)")
            }
        }
    }

    func testMaxPool2x2FastPathMatchesTheGeneralLoop() {
        // Widths with full vectors and tails, and an odd height and width whose last row and column are dropped.
        for (k, shape) in [[2, 3, 19, 37], [1, 2, 16, 16], [1, 1, 4, 34]].enumerated() {
            let x = gridTensor(shape, seed: 10 + UInt64(k))
            let fast = MaxPool2D()
            let yFast = fast.forward(x, training: true)
            let dy = randomTensor(yFast.shape, seed: 20 + UInt64(k))
            let dxFast = fast.backward(dy)

            MaxPool2D.fastPathEnabled = false
            let general = MaxPool2D()
            let yRef = general.forward(x, training: true)
            let dxRef = general.backward(dy)
            MaxPool2D.fastPathEnabled = true

            XCTAssertEqual(yFast.shape, yRef.shape)
            XCTAssertEqual(yFast.array, yRef.array, "forward \(shape)")
            XCTAssertEqual(dxFast.array, dxRef.array, "backward \(shape)")
        }
    }

    func testMaxPoolGeneralLoopRoutesToTheFirstMaximum() {
        MaxPool2D.fastPathEnabled = false
        let x = Tensor(
            shape: [1, 1, 2, 4],
            values: [
                1, 3, 5, 5,
                3, 2, 5, 0,
            ])
        let pool = MaxPool2D()
        XCTAssertEqual(pool.forward(x, training: true).array, [3, 5])
        XCTAssertEqual(
            pool.backward(Tensor(shape: [1, 1, 1, 2], values: [7, 9])).array,
            [
                0, 7, 9, 0,
                0, 0, 0, 0,
            ])
    }

    func testNearestUpsamplingMatchesItsDefinition() {
        let x = randomTensor([2, 3, 5, 19], seed: 30)
        let up = UpSampling2D(factor: 2, mode: .nearest)
        let y = up.forward(x, training: true)
        let dy = randomTensor(y.shape, seed: 31)
        let dx = up.backward(dy)
        let (h, w) = (5, 19)
        for plane in 0..<6 {
            for oy in 0..<2 * h {
                for ox in 0..<2 * w {
                    XCTAssertEqual(y[(plane * 2 * h + oy) * 2 * w + ox], x[(plane * h + oy / 2) * w + ox / 2])
                }
            }
            for iy in 0..<h {
                for ix in 0..<w {
                    var s: Float = 0
                    for r in 0..<2 { for c in 0..<2 { s += dy[(plane * 2 * h + 2 * iy + r) * 2 * w + 2 * ix + c] } }
                    XCTAssertEqual(dx[(plane * h + iy) * w + ix], s, accuracy: 1e-6)
                }
            }
        }
    }

    /// BatchNorm's vectorised statistics, normalisation and gradients against the formulas in double precision.
    func testBatchNormMatchesItsFormulas() {
        let (n, c, h, w) = (3, 4, 5, 7)  // 35 pixels per plane: four vectors and a tail
        let x = randomTensor([n, c, h, w], seed: 40, low: -3, high: 5)
        let dy = randomTensor(x.shape, seed: 41)
        let bn = BatchNorm(channels: c)
        for ch in 0..<c { bn.weight.value[ch] = 0.5 + Float(ch); bn.bias.value[ch] = Float(ch) - 1 }
        let y = bn.forward(x, training: true)
        let dx = bn.backward(dy)
        let p = h * w
        let m = Double(n * p)
        for ch in 0..<c {
            var idx: [Int] = []
            for i in 0..<n { idx += Array(((i * c + ch) * p)..<((i * c + ch + 1) * p)) }
            let xs: [Double] = idx.map { Double(x[$0]) }
            let dys: [Double] = idx.map { Double(dy[$0]) }
            let mean: Double = xs.reduce(0, +) / m
            var variance = 0.0
            for v in xs { variance += (v - mean) * (v - mean) }
            variance /= m
            let r: Double = 1 / (variance + 1e-5).squareRoot()
            let (g, b) = (Double(bn.weight.value[ch]), Double(bn.bias.value[ch]))
            let xhat: [Double] = xs.map { ($0 - mean) * r }
            let sumDy: Double = dys.reduce(0, +)
            var sumDyXhat = 0.0
            for j in 0..<xs.count { sumDyXhat += dys[j] * xhat[j] }
            XCTAssertEqual(Double(bn.bias.grad[ch]), sumDy, accuracy: 1e-4)
            XCTAssertEqual(Double(bn.weight.grad[ch]), sumDyXhat, accuracy: 1e-4)
            XCTAssertEqual(Double(bn.runningMean[ch]), 0.1 * mean, accuracy: 1e-6)
            for (j, i) in idx.enumerated() {
                XCTAssertEqual(Double(y[i]), xhat[j] * g + b, accuracy: 1e-5)
                let expected: Double = g * r * (dys[j] - sumDy / m - xhat[j] * sumDyXhat / m)
                XCTAssertEqual(Double(dx[i]), expected, accuracy: 1e-5)
            }
        }
    }
}
