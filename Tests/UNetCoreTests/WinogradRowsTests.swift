import TestSupport
import XCTest

@testable import UNetCore

/// The row-fused Winograd driver (`winogradConvolveRows`, CKernels' WinogradRows.h), on AVX-512 CPUs: the forward
/// against `conv2dNaive` (Double) within Winograd's bound (FastKernelTests), over widths that end inside a 16-tile
/// segment, inside a vector of output pixels and after several segments, heights that cut the last tile row,
/// output counts past one block of sixteen, bias and the fused ReLU; the same bits on one and two threads; and the
/// input gradient through it against the im2col layer's.
final class WinogradRowsTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(
            ConvolutionAlgorithms.useWinogradRows(channels: 8, outChannels: 8, width: 64),
            "no AVX-512 on this CPU (or UNET_WINOGRAD_ROWS=0): the row-fused driver never runs")
    }

    override func tearDown() {
        ConvolutionAlgorithms.winogradEnabled = true
        ConvolutionAlgorithms.winogradRowsEnabled = true
        ConvolutionAlgorithms.directEnabled = true
        super.tearDown()
    }

    /// (N, C, O, H, W): one pixel; widths up to 16 (four tile rows per vector: 1, 3, 9, 12, 14, 16, with tile rows
    /// that end inside a group of four) and up to 32 (two per vector: 17, 20, 28, 31, 32, with an odd count of tile
    /// rows, whose last pair is half empty), 63, 64 (one whole segment), 65, 100 and 130 (three
    /// segments, the last of two pixels); heights 1, 5, 9, 13 (partial tile rows); O = 17 and 40 (blocks of sixteen
    /// and a remainder); one input channel and 64.
    static let shapes = [
        (1, 1, 1, 1, 1), (2, 3, 5, 5, 3), (1, 8, 16, 4, 16), (1, 12, 17, 13, 17), (1, 5, 7, 8, 63),
        (2, 16, 16, 9, 64), (1, 4, 9, 6, 65), (1, 20, 40, 7, 100), (1, 64, 8, 5, 130), (1, 9, 64, 12, 20),
        (2, 6, 10, 9, 28), (1, 16, 24, 13, 31), (1, 32, 18, 8, 32), (2, 10, 12, 21, 12), (1, 24, 20, 30, 14),
        (1, 7, 9, 17, 9),
    ]

    func check(
        n: Int, c: Int, o: Int, h: Int, w: Int, rectify: Bool, seed: UInt64, file: StaticString = #filePath,
        line: UInt = #line
    ) -> Tensor {
        let x = randomTensor([n, c, h, w], seed: seed)
        let weight = randomTensor([o, c, 3, 3], seed: seed + 1, low: -0.5, high: 0.5)
        let bias = randomTensor([o], seed: seed + 2)
        let y = Tensor(shape: [n, o, h, w], repeating: .nan)
        // The driver itself, at every width (the layers take it only where its lanes are three quarters full).
        let u = Tensor(zeros: [36 * o * c])
        winogradTransformKernels(weight.data, o: o, c: c, flipped: false, u.data)
        winogradConvolveRows(
            x.data, WinogradPlan(n: n, c: c, o: o, h: h, w: w), kernels: u.data, bias: bias.data, rectify: rectify,
            y.data)
        let (expected, scale) = sameConvolutionOracle(x, weight: weight, bias: bias)
        for i in 0..<y.count {
            let want = rectify ? max(expected[i], 0) : expected[i]
            let bound = FastKernelTests.winogradRelativeBound * (1 + abs(bias[(i / (h * w)) % o]) + scale[i])
            guard abs(y[i] - want) <= bound else {
                XCTFail(
                    "(\(n),\(c),\(o),\(h),\(w)) rectify \(rectify) element \(i): \(y[i]) vs \(want)", file: file,
                    line: line)
                return y
            }
        }
        return y
    }

    func testTheRowFusedForwardMatchesTheNaiveConvolution() {
        for (k, s) in Self.shapes.enumerated() {
            for rectify in [false, true] {
                _ = check(n: s.0, c: s.1, o: s.2, h: s.3, w: s.4, rectify: rectify, seed: UInt64(20 * k + 3))
            }
        }
    }

    func testTheSameBitsOnOneAndTwoThreads() {
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        for width in [70, 30, 14] {  // one, two and four tile rows per vector
            var outputs: [[Float]] = []
            for threads in [1, 2, 2] {
                Parallel.setThreads(threads)
                outputs.append(check(n: 3, c: 16, o: 24, h: 21, w: width, rectify: false, seed: 77).array)
            }
            XCTAssertTrue(zip(outputs[0], outputs[1]).allSatisfy { $0.bitPattern == $1.bitPattern }, "width \(width)")
            XCTAssertTrue(zip(outputs[1], outputs[2]).allSatisfy { $0.bitPattern == $1.bitPattern }, "width \(width)")
        }
    }

    /// A layer that takes Winograd (the direct kernels off): its input gradient, the flipped kernels through the
    /// same driver, against the im2col layer's.
    func testTheInputGradientThroughTheRowsMatchesIm2col() {
        var rng = RandomGenerator(seed: 9)
        let conv = Conv2D(inputChannels: 12, outputChannels: 20, kernelSize: 3, rng: &rng)
        let x = randomTensor([2, 12, 11, 60], seed: 5), dy = randomTensor([2, 20, 11, 60], seed: 6)
        ConvolutionAlgorithms.directEnabled = false
        XCTAssertTrue(conv.usesWinogradRows(x.shape))
        func run(_ winograd: Bool) -> (Tensor, Tensor) {
            ConvolutionAlgorithms.winogradEnabled = winograd
            XCTAssertEqual(conv.usesWinograd(x.shape), winograd)
            let y = conv.forward(x, training: true)
            return (y, conv.backward(dy))
        }
        let (y0, dx0) = run(false)
        let (y1, dx1) = run(true)
        for (a, b) in [(y0, y1), (dx0, dx1)] {
            let top = a.array.map(abs).max()!
            for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: 1e-4 * (1 + top)) }
        }
    }

    /// Which layers take the rows: up to `winogradRowsChannels` channels, on rows whose tiles fill three quarters
    /// of the lanes.
    func testTheRowsAreChosenByChannelsAndWidth() {
        XCTAssertTrue(ConvolutionAlgorithms.useWinogradRows(channels: 16, outChannels: 16, width: 128))
        XCTAssertTrue(ConvolutionAlgorithms.useWinogradRows(channels: 256, outChannels: 128, width: 56))
        XCTAssertTrue(ConvolutionAlgorithms.useWinogradRows(channels: 8, outChannels: 8, width: 100))  // 25 of 32
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRows(channels: 512, outChannels: 512, width: 64))
        XCTAssertTrue(ConvolutionAlgorithms.useWinogradRows(channels: 32, outChannels: 32, width: 28))  // 14 of 16
        XCTAssertTrue(ConvolutionAlgorithms.useWinogradRows(channels: 64, outChannels: 32, width: 32))
        XCTAssertTrue(ConvolutionAlgorithms.useWinogradRows(channels: 32, outChannels: 32, width: 16))  // 16 of 16
        XCTAssertTrue(ConvolutionAlgorithms.useWinogradRows(channels: 32, outChannels: 32, width: 12))  // 12 of 16
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRows(channels: 32, outChannels: 32, width: 8))  // 8 of 16
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRows(channels: 32, outChannels: 32, width: 20))  // 10 of 16
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRows(channels: 32, outChannels: 32, width: 36))  // 9 of 16
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRows(channels: 32, outChannels: 32, width: 72))  // 18 of 32
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRows(channels: 16, outChannels: 16, width: 64, level: .avx2))
        // The weight gradient: input channels a multiple of 16, up to 64 channels, where the forward takes the rows.
        XCTAssertTrue(ConvolutionAlgorithms.useWinogradRowsWeightGradient(channels: 16, outChannels: 24, width: 48))
        XCTAssertTrue(ConvolutionAlgorithms.useWinogradRowsWeightGradient(channels: 64, outChannels: 64, width: 32))
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRowsWeightGradient(channels: 12, outChannels: 24, width: 64))
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRowsWeightGradient(channels: 128, outChannels: 64, width: 64))
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRowsWeightGradient(channels: 32, outChannels: 32, width: 40))
        ConvolutionAlgorithms.winogradRowsEnabled = false
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRows(channels: 16, outChannels: 16, width: 128))
        XCTAssertFalse(ConvolutionAlgorithms.useWinogradRowsWeightGradient(channels: 16, outChannels: 16, width: 128))
    }

    /// A 16 -> 24 channel layer, in the direct kernels' range, takes the rows for its forward and input gradient
    /// and the direct kernels for its weight gradient: all three against the im2col layer's, and the same layer
    /// with the rows off (the direct kernels alone) chooses as before.
    func testADirectKernelsLayerTakesTheRowsAndMatchesIm2col() {
        var rng = RandomGenerator(seed: 11)
        let conv = Conv2D(inputChannels: 16, outputChannels: 24, kernelSize: 3, rng: &rng)
        let x = randomTensor([2, 16, 18, 48], seed: 7), dy = randomTensor([2, 24, 18, 48], seed: 8)
        XCTAssertTrue(conv.usesDirectConvolution)
        XCTAssertTrue(conv.usesWinogradRows(x.shape))
        XCTAssertFalse(conv.usesWinogradRows([2, 16, 18, 40]), "10 tiles of 16 lanes: the direct kernels")
        ConvolutionAlgorithms.winogradRowsEnabled = false
        XCTAssertFalse(conv.usesWinogradRows(x.shape))
        ConvolutionAlgorithms.winogradRowsEnabled = true
        func run(_ fast: Bool) -> (Tensor, Tensor, [Float]) {
            ConvolutionAlgorithms.winogradEnabled = fast
            ConvolutionAlgorithms.directEnabled = fast
            conv.weight.grad.zero()
            let y = conv.forward(x, training: true)
            let dx = conv.backward(dy)
            return (y, dx, conv.weight.grad.array)
        }
        let (y0, dx0, dw0) = run(false)
        let (y1, dx1, dw1) = run(true)
        for (a, b) in [(y0.array, y1.array), (dx0.array, dx1.array), (dw0, dw1)] {
            let top = a.map(abs).max()!
            for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 1e-4 * (1 + top)) }
        }
    }

    /// The row-fused weight gradient against a Double sum over the pixels, within Winograd's bound scaled by the
    /// sum of |dy||x| of each tap: one, two and four tile rows per vector, input channels that are not a multiple of
    /// 16 (the transposes' padding), output counts that are not a multiple of 4, tile rows that end inside a group,
    /// several images; and the same bits on every run of one and of two threads.
    func testTheRowFusedWeightGradientMatchesADoubleSum() {
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        let shapes = [(2, 5, 7, 9, 70), (1, 16, 4, 13, 30), (3, 20, 13, 21, 14), (1, 33, 18, 6, 64), (1, 1, 1, 1, 1)]
        for (k, s) in shapes.enumerated() {
            let (n, c, o, h, w) = s
            let x = randomTensor([n, c, h, w], seed: UInt64(40 + k)),
                dy = randomTensor([n, o, h, w], seed: UInt64(50 + k))
            var want = [Double](repeating: 0, count: o * c * 9), scale = want
            for i in 0..<n {
                for oc in 0..<o {
                    for ic in 0..<c {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                var sum = 0.0, mag = 0.0
                                for yy in 0..<h {
                                    let iy = yy + ky - 1
                                    guard iy >= 0 && iy < h else { continue }
                                    for xx in 0..<w {
                                        let ix = xx + kx - 1
                                        guard ix >= 0 && ix < w else { continue }
                                        let p =
                                            Double(dy[((i * o + oc) * h + yy) * w + xx])
                                            * Double(x[((i * c + ic) * h + iy) * w + ix])
                                        sum += p; mag += abs(p)
                                    }
                                }
                                want[((oc * c + ic) * 3 + ky) * 3 + kx] += sum
                                scale[((oc * c + ic) * 3 + ky) * 3 + kx] += mag
                            }
                        }
                    }
                }
            }
            var runs: [[Float]] = []
            for threads in [1, 1, 2, 2] {
                Parallel.setThreads(threads)
                let dw = Tensor(zeros: [o, c, 3, 3])
                winogradRowsWeightGradient(
                    x.data, dy.data, n: n, c: c, h: h, w: w, outChannels: o, weightGradient: dw.data)
                runs.append(dw.array)
            }
            for i in want.indices {
                let bound = Double(FastKernelTests.winogradRelativeBound) * (1 + scale[i])
                guard abs(Double(runs[0][i]) - want[i]) <= bound else {
                    return XCTFail("\(s) tap \(i): \(runs[0][i]) vs \(want[i])")
                }
            }
            for (a, b) in [(0, 1), (2, 3)] {
                XCTAssertTrue(
                    zip(runs[a], runs[b]).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(s) runs \(a), \(b)")
            }
        }
    }
}
