import TestSupport
import XCTest

@testable import UNetCore

/// Every fast convolution kernel against its oracle: Winograd F(4x4, 3x3) against the direct convolution
/// (`conv2dNaive`, summed in Double) and, for the backward, against the im2col path (itself checked by finite
/// differences in GradientTests), on random odd shapes that cover partial edge tiles and several tile chunks.
///
/// Winograd's error bound, stated and checked: each output (or gradient entry) z = Σ aᵢbᵢ over its terms differs
/// from the exact value by at most 1e-5 · (1 + Σ |aᵢ||bᵢ|). F(4x4, 3x3) transforms carry coefficients up to 8
/// and 1/24, which costs about two decimal digits against im2col's ~1e-7 relative rounding; this bound is what
/// the measured errors (at most 2.2e-6 relative on these shapes) fit with room to spare.
final class FastKernelTests: XCTestCase {
    static let winogradRelativeBound: Float = 1e-5

    /// Layers of up to 48 channels take the direct kernels where the CPU has AVX2 (`SmallConvolutionTests`); these
    /// tests are Winograd's, so its layers here take Winograd: its chunked and blocked drivers, with the
    /// row-fused one of AVX-512 CPUs off (`WinogradRowsTests` has its own).
    override func setUp() {
        super.setUp()
        ConvolutionAlgorithms.directEnabled = false
        ConvolutionAlgorithms.winogradRowsEnabled = false
    }

    override func tearDown() {
        ConvolutionAlgorithms.directEnabled = true
        ConvolutionAlgorithms.winogradEnabled = true
        ConvolutionAlgorithms.winogradRowsEnabled = true
        WinogradPlan.chunkBudget = nil
        ConvolutionAlgorithms.winogradBlocksEnabled = true
        WinogradPlan.blockBudget = WinogradPlan.defaultBlockBudget
        super.tearDown()
    }

    func checkForward(
        n: Int, c: Int, o: Int, h: Int, w: Int, seed: UInt64, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        let x = randomTensor([n, c, h, w], seed: seed)
        let weight = randomTensor([o, c, 3, 3], seed: seed + 1, low: -0.5, high: 0.5)
        let bias = randomTensor([o], seed: seed + 2)
        let y = Tensor(shape: [n, o, h, w], repeating: .nan)
        conv2dWinograd(x.data, n: n, c: c, h: h, w: w, weight: weight.data, bias: bias.data, outChannels: o, y.data)
        let (expected, scale) = sameConvolutionOracle(x, weight: weight, bias: bias)
        var worst: Float = 0
        for i in 0..<y.count {
            let bound = Self.winogradRelativeBound * (1 + scale[i])
            let err = abs(y[i] - expected[i])
            XCTAssert(
                err <= bound, "(\(n),\(c),\(o),\(h),\(w)) element \(i): \(y[i]) vs \(expected[i])",
                file: file, line: line)
            if !(err <= bound) { return }
            worst = max(worst, err / (1 + scale[i]))
        }
        XCTAssertLessThan(worst, Self.winogradRelativeBound, file: file, line: line)
    }

    func testWinogradForwardMatchesDirectConvolution() {
        // Partial tiles at the bottom/right (7, 9, 13), a single pixel, one channel, a width of one tile, and a
        // width of 75 whose middle tile rows hold eight whole tiles inside the image (the deinterleaving path).
        let shapes = [
            (2, 3, 5, 7, 9), (1, 8, 4, 13, 4), (3, 16, 9, 5, 17), (1, 1, 1, 1, 1), (2, 4, 3, 8, 8),
            (1, 2, 6, 1, 11), (1, 3, 5, 14, 75),
        ]
        for (k, s) in shapes.enumerated() {
            checkForward(n: s.0, c: s.1, o: s.2, h: s.3, w: s.4, seed: UInt64(10 * k + 1))
        }
    }

    func testWinogradForwardOverManyChunksAndWideSums() {
        WinogradPlan.chunkBudget = 36 * 40 * 5  // 5 tiles per chunk for 40 channels: many chunks
        checkForward(n: 2, c: 40, o: 24, h: 10, w: 11, seed: 100)
        // Two tiles a row (`scatteredLanes`): a chunk's lanes cross tile rows and images, partial tiles both ways.
        checkForward(n: 3, c: 40, o: 24, h: 7, w: 6, seed: 101)
        WinogradPlan.chunkBudget = nil
        checkForward(n: 1, c: 160, o: 8, h: 6, w: 6, seed: 200)  // 1,440-term sums
    }

    /// Layers of at most 32 channels go through tile blocks, one thread per block (`winogradConvolveInBlocks`):
    /// blocks of 8 tiles that end inside a tile row and a last partial block, on one and two threads, against the
    /// direct convolution, and with the chunked driver for the same layer.
    func testWinogradTileBlocksMatchDirectConvolution() {
        WinogradPlan.blockBudget = 36 * 32 * 8  // 8 tiles per block at 32 channels, 13 blocks for 100 tiles
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        for threads in [1, 2] {
            Parallel.setThreads(threads)
            checkForward(n: 2, c: 32, o: 12, h: 19, w: 20, seed: 300)
            checkForward(n: 1, c: 5, o: 32, h: 9, w: 37, seed: 301)
        }
        ConvolutionAlgorithms.winogradBlocksEnabled = false
        checkForward(n: 2, c: 32, o: 12, h: 19, w: 20, seed: 300)
    }

    /// The layer with Winograd on against the same layer on the im2col path: output, input gradient, weight and
    /// bias gradients (which accumulate onto what was there).
    func checkLayerAgainstIm2col(
        n: Int, c: Int, o: Int, h: Int, w: Int, padding: Padding, seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var rng = RandomGenerator(seed: seed)
        let conv = Conv2D(inputChannels: c, outputChannels: o, kernelSize: 3, padding: padding, rng: &rng)
        for i in 0..<o { conv.bias!.value[i] = rng.uniform(-1, 1) }
        let x = randomTensor([n, c, h, w], seed: seed + 1)
        let dy = randomTensor([n, o, h, w], seed: seed + 2)
        let start = randomTensor([o, c, 3, 3], seed: seed + 3)

        func run(_ winograd: Bool) -> (Tensor, Tensor, Tensor, Tensor) {
            ConvolutionAlgorithms.winogradEnabled = winograd
            XCTAssertEqual(conv.usesWinograd(x.shape), winograd, file: file, line: line)
            return trainingPass(conv, x, dy, startingWeightGradient: start)
        }
        let (y0, dx0, dw0, db0) = run(false)
        let (y1, dx1, dw1, db1) = run(true)
        // Scales: outputs sum 9C terms of size ~0.5, dx 9O terms, dW N·H·W terms of size ~1.
        let b = Self.winogradRelativeBound
        assertClose(y1, y0, atol: b * Float(1 + 9 * c), rtol: 0, "y", file: file, line: line)
        assertClose(dx1, dx0, atol: b * Float(1 + 9 * o), rtol: 0, "dx", file: file, line: line)
        assertClose(dw1, dw0, atol: b * Float(1 + n * h * w), rtol: 0, "dW", file: file, line: line)
        XCTAssertEqual(db1.array, db0.array, "db is computed the same way on both paths", file: file, line: line)
    }

    func testWinogradLayerForwardAndBackwardMatchIm2col() {
        checkLayerAgainstIm2col(n: 2, c: 8, o: 12, h: 9, w: 14, padding: .same, seed: 1)
        checkLayerAgainstIm2col(n: 1, c: 20, o: 8, h: 17, w: 15, padding: .explicit(1), seed: 2)
        checkLayerAgainstIm2col(n: 2, c: 8, o: 8, h: 10, w: 80, padding: .same, seed: 4)  // whole inner tiles
        WinogradPlan.chunkBudget = 36 * 20 * 3  // chunks of 3 tiles: the weight gradient sums over chunks
        checkLayerAgainstIm2col(n: 3, c: 9, o: 20, h: 13, w: 6, padding: .same, seed: 3)
    }

    /// The transformed kernels U = G g Gᵀ (and the input gradient's, of the flipped kernels) from CKernels' copies
    /// at every level: the Swift loop's bits, for counts that end inside a vector, and zeros of both signs.
    func testKernelTransformsGiveTheSameBitsAtEveryLevel() {
        for (o, c) in [(5, 21), (16, 16), (3, 40), (33, 7)] {
            let w = randomTensor([o, c, 3, 3], seed: UInt64(o * 100 + c))
            (w[0], w[1], w[2], w[9], w[10], w[11]) = (0, 0, 0, -0.0, -0.0, -0.0)
            for flipped in [false, true] {
                let reference = Tensor(zeros: [36 * o * c])
                winogradTransformKernels(w.data, o: o, c: c, flipped: flipped, reference.data, level: .portable)
                for level in SIMDLevel.supported where level != .portable {
                    let u = Tensor(shape: [36 * o * c], repeating: .nan)
                    winogradTransformKernels(w.data, o: o, c: c, flipped: flipped, u.data, level: level)
                    let bad = (0..<u.count).filter { u[$0].bitPattern != reference[$0].bitPattern }
                    XCTAssertTrue(
                        bad.isEmpty,
                        "\(level), \(o)x\(c), flipped \(flipped): \(bad.count) differ, first \(bad.prefix(4).map { ($0, u[$0], reference[$0]) })"
                    )
                }
            }
        }
    }

    func testWinogradIsChosenOnlyWhereItApplies() {
        var rng = RandomGenerator(seed: 0)
        let same = Conv2D(inputChannels: 16, outputChannels: 16, kernelSize: 3, rng: &rng)
        XCTAssertTrue(same.usesWinograd([1, 16, 16, 16]))
        XCTAssertFalse(same.usesWinograd([1, 16, 8, 4]), "2 tiles are too few")
        let valid = Conv2D(inputChannels: 16, outputChannels: 16, kernelSize: 3, padding: .valid, rng: &rng)
        XCTAssertFalse(valid.usesWinograd([1, 16, 16, 16]))
        let strided = Conv2D(inputChannels: 16, outputChannels: 16, kernelSize: 3, stride: 2, rng: &rng)
        XCTAssertFalse(strided.usesWinograd([1, 16, 16, 16]))
        let narrow = Conv2D(inputChannels: 3, outputChannels: 16, kernelSize: 3, rng: &rng)
        XCTAssertFalse(narrow.usesWinograd([1, 3, 64, 64]), "3 input channels stay on im2col")
        let wide = Conv2D(inputChannels: 256, outputChannels: 128, kernelSize: 3, rng: &rng)
        XCTAssertFalse(wide.usesWinograd([2, 256, 16, 16]), "32 tiles are too few for 256 channels")
        XCTAssertTrue(wide.usesWinograd([4, 256, 16, 16]))
        ConvolutionAlgorithms.winogradEnabled = false
        XCTAssertFalse(same.usesWinograd([1, 16, 16, 16]))
    }

    func testWinogradIsDeterministic() {
        var rng = RandomGenerator(seed: 5)
        let conv = Conv2D(inputChannels: 12, outputChannels: 10, kernelSize: 3, rng: &rng)
        let x = randomTensor([2, 12, 11, 13], seed: 6)
        let dy = randomTensor([2, 10, 11, 13], seed: 7)
        var runs: [[Float]] = []
        for _ in 0..<2 {
            conv.weight.grad.zero()
            let y = conv.forward(x, training: true)
            let dx = conv.backward(dy)
            runs.append(y.array + dx.array + conv.weight.grad.array)
        }
        XCTAssertEqual(runs[0], runs[1])
    }

    /// With two threads the 36 products of each chunk run concurrently, one whole product per thread
    /// (`independentProducts`); the result must be bit-identical to one thread's.
    func testWinogradGivesTheSameBitsOnOneAndTwoThreads() {
        var rng = RandomGenerator(seed: 8)
        let conv = Conv2D(inputChannels: 16, outputChannels: 24, kernelSize: 3, rng: &rng)
        let x = randomTensor([2, 16, 21, 18], seed: 9)
        let dy = randomTensor([2, 24, 21, 18], seed: 10)
        WinogradPlan.chunkBudget = 36 * 24 * 7  // several chunks, so the weight gradient sums across them
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        var runs: [[Float]] = []
        for threads in [1, 2] {
            Parallel.setThreads(threads)
            conv.weight.grad.zero()
            XCTAssertTrue(conv.usesWinograd(x.shape))
            let y = conv.forward(x, training: true)
            let dx = conv.backward(dy)
            runs.append(y.array + dx.array + conv.weight.grad.array)
        }
        XCTAssertEqual(runs[0], runs[1])
    }
}

/// One training forward and backward of `conv` from weight gradient `start` and a zero bias gradient: y, dx, dW, db
/// (the two convolution paths' comparisons, Winograd and direct, run it once per path).
func trainingPass(_ conv: Conv2D, _ x: Tensor, _ dy: Tensor, startingWeightGradient start: Tensor)
    -> (Tensor, Tensor, Tensor, Tensor)
{
    conv.weight.grad.assign(start)
    conv.bias!.grad.zero()
    let y = conv.forward(x, training: true)
    let dx = conv.backward(dy)
    return (y, dx, conv.weight.grad.copy(), conv.bias!.grad.copy())
}
