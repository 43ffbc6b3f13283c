import TestSupport
import XCTest

@testable import UNetCore

/// The direct small-channel 3x3 convolution (`conv2dDirectSmall`, CKernels' ConvBodies.h) at every SIMD level this
/// CPU runs from AVX2 up: the forward against `conv2dNaive` (Double), the weight gradient against a Double sum
/// written here, the input gradient and the whole layer against the im2col layer; odd sizes (one pixel, widths
/// that end inside a vector, rows of one), one to 48 channels, output counts that are not multiples of the
/// kernel's block of four, bias and the fused ReLU; the same bits on every run, and on one and two threads for the
/// forward and input gradient.
///
/// Error bound: each output z = Σ aᵢbᵢ (plus bias) summed in Float differs from the exact value by at most
/// 1e-6 · (1 + Σ |aᵢ||bᵢ|) here (n terms of relative rounding 6e-8 each, n <= 9·48 = 432 for the forward;
/// the weight gradient's block sums are added in Double, its bound scaled the same way over its terms).
final class SmallConvolutionTests: XCTestCase {
    static let relativeBound = 1e-6

    var levels: [SIMDLevel] { SIMDLevel.supported.filter { $0 >= .avx2 } }

    /// The layers here take the direct kernels: Winograd's row-fused driver, which takes their forward on AVX-512
    /// CPUs, is off (`WinogradRowsTests`).
    override func setUp() {
        super.setUp()
        ConvolutionAlgorithms.winogradRowsEnabled = false
    }

    override func tearDown() {
        ConvolutionAlgorithms.winogradRowsEnabled = true
        ConvolutionAlgorithms.directEnabled = true
        ConvolutionAlgorithms.winogradEnabled = true
        super.tearDown()
    }

    /// Odd shapes (N, C, O, H, W): a single pixel, a row of one, widths 7, 15, 17, 33 and 100 (partial vectors of
    /// 8 and 16 lanes, strips of several vectors), one input channel (the first layer), 32 channels, O = 5 and 13
    /// (partial blocks of four, of the AVX2 weight gradient's eight and of the AVX-512 one's three).
    static let shapes = [
        (1, 1, 1, 1, 1), (2, 3, 5, 1, 7), (1, 12, 12, 9, 17), (2, 1, 12, 16, 15), (1, 32, 32, 6, 33),
        (1, 24, 13, 5, 100), (3, 7, 32, 4, 16), (1, 16, 8, 35, 3), (1, 48, 24, 4, 18),
    ]

    func testDirectForwardMatchesTheNaiveConvolution() throws {
        try XCTSkipIf(levels.isEmpty, "no AVX2 on this CPU: the direct kernels never run")
        for level in levels {
            for (k, s) in Self.shapes.enumerated() {
                for rectify in [false, true] {
                    checkForward(
                        n: s.0, c: s.1, o: s.2, h: s.3, w: s.4, rectify: rectify, seed: UInt64(10 * k + 1),
                        level: level)
                }
            }
        }
    }

    func checkForward(
        n: Int, c: Int, o: Int, h: Int, w: Int, rectify: Bool, seed: UInt64, level: SIMDLevel,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let x = randomTensor([n, c, h, w], seed: seed)
        let weight = randomTensor([o, c, 3, 3], seed: seed + 1, low: -0.5, high: 0.5)
        let bias = randomTensor([o], seed: seed + 2)
        let y = Tensor(shape: [n, o, h, w], repeating: .nan)
        conv2dDirectSmall(
            x.data, n: n, c: c, h: h, w: w, weight: weight.data, bias: bias.data, outChannels: o, rectify: rectify,
            y.data, level: level)
        let (expected, scale) = sameConvolutionOracle(x, weight: weight, bias: bias)
        for i in 0..<y.count {
            let want = rectify ? max(expected[i], 0) : expected[i]
            let bound = Float(Self.relativeBound) * (1 + abs(bias[(i / (h * w)) % o]) + scale[i])
            guard abs(y[i] - want) <= bound else {
                return XCTFail(
                    "\(level) (\(n),\(c),\(o),\(h),\(w)) rectify \(rectify) element \(i): \(y[i]) vs \(want)",
                    file: file, line: line)
            }
        }
    }

    func testDirectWeightAndInputGradientsMatchTheirOracles() throws {
        try XCTSkipIf(levels.isEmpty, "no AVX2 on this CPU: the direct kernels never run")
        for level in levels {
            for (k, s) in Self.shapes.enumerated() {
                checkBackward(n: s.0, c: s.1, o: s.2, h: s.3, w: s.4, seed: UInt64(10 * k + 5), level: level)
            }
        }
    }

    func checkBackward(
        n: Int, c: Int, o: Int, h: Int, w: Int, seed: UInt64, level: SIMDLevel,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let x = randomTensor([n, c, h, w], seed: seed)
        let weight = randomTensor([o, c, 3, 3], seed: seed + 1, low: -0.5, high: 0.5)
        let dy = randomTensor([n, o, h, w], seed: seed + 2)
        let start = randomTensor([o, c, 3, 3], seed: seed + 3)
        let dw = start.copy(), dx = Tensor(shape: [n, c, h, w], repeating: .nan)
        conv2dDirectSmallBackward(
            x.data, n: n, c: c, h: h, w: w, weight: weight.data, outChannels: o, dy.data, weightGradient: dw.data,
            inputGradient: dx.data, level: level)
        // dW[o, c, ky, kx] = start + Σ dy[n, o, y, x] · x[n, c, y + ky - 1, x + kx - 1], in Double.
        for oc in 0..<o {
            for ic in 0..<c {
                for t in 0..<9 {
                    let (ky, kx) = (t / 3, t % 3)
                    var (s, a) = (0.0, 0.0)
                    for i in 0..<n {
                        for oy in 0..<h {
                            for ox in 0..<w {
                                let (iy, ix) = (oy + ky - 1, ox + kx - 1)
                                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                let p = Double(dy[((i * o + oc) * h + oy) * w + ox])
                                let q = Double(x[((i * c + ic) * h + iy) * w + ix])
                                s += p * q
                                a += abs(p * q)
                            }
                        }
                    }
                    let j = (oc * c + ic) * 9 + t
                    let want = Double(start[j]) + s
                    guard abs(Double(dw[j]) - want) <= Self.relativeBound * (1 + abs(Double(start[j])) + a) else {
                        return XCTFail(
                            "\(level) (\(n),\(c),\(o),\(h),\(w)) dW[\(j)]: \(dw[j]) vs \(want)", file: file, line: line)
                    }
                }
            }
        }
        // dx[n, c, y, x] = Σ dy[n, o, y - ky + 1, x - kx + 1] · w[o, c, ky, kx]: the naive convolution of dy with the
        // kernels turned by 180° and C, O swapped, written out here from w.
        let turned = Tensor(zeros: [c, o, 3, 3]), aTurned = Tensor(zeros: [c, o, 3, 3])
        for oc in 0..<o {
            for ic in 0..<c {
                for t in 0..<9 {
                    turned[(ic * o + oc) * 9 + 8 - t] = weight[(oc * c + ic) * 9 + t]
                    aTurned[(ic * o + oc) * 9 + 8 - t] = abs(weight[(oc * c + ic) * 9 + t])
                }
            }
        }
        let expected = Tensor(zeros: [n, c, h, w]), scale = Tensor(zeros: [n, c, h, w])
        let ady = Tensor(shape: dy.shape, values: dy.array.map(abs))
        let g = ConvGeometry(channels: o, height: h, width: w, kernelH: 3, kernelW: 3, padding: .same)
        for i in 0..<n {
            conv2dNaive(dy.image(i), g, weight: turned.data, bias: nil, outChannels: c, expected.image(i))
            conv2dNaive(ady.image(i), g, weight: aTurned.data, bias: nil, outChannels: c, scale.image(i))
        }
        for i in 0..<dx.count {
            guard abs(dx[i] - expected[i]) <= Float(Self.relativeBound) * (1 + scale[i]) else {
                return XCTFail(
                    "\(level) (\(n),\(c),\(o),\(h),\(w)) dx[\(i)]: \(dx[i]) vs \(expected[i])", file: file, line: line)
            }
        }
    }

    /// The layer on the direct path against the same layer on im2col: output, input gradient, weight and bias
    /// gradients (accumulated onto what was there), for "same" and explicit padding 1, and the first layer's
    /// parameters-only backward.
    func testTheLayerMatchesIm2col() throws {
        try XCTSkipIf(levels.isEmpty, "no AVX2 on this CPU: the direct kernels never run")
        for (k, (n, c, o, h, w, padding)) in [
            (2, 12, 12, 9, 20, Padding.same), (1, 20, 8, 17, 15, .explicit(1)), (2, 1, 12, 16, 16, .same),
        ].enumerated() {
            var rng = RandomGenerator(seed: UInt64(k))
            let conv = Conv2D(inputChannels: c, outputChannels: o, kernelSize: 3, padding: padding, rng: &rng)
            for i in 0..<o { conv.bias!.value[i] = rng.uniform(-1, 1) }
            let x = randomTensor([n, c, h, w], seed: UInt64(k) + 1)
            let dy = randomTensor([n, o, h, w], seed: UInt64(k) + 2)
            let start = randomTensor([o, c, 3, 3], seed: UInt64(k) + 3)
            func run(_ direct: Bool) -> (Tensor, Tensor, Tensor, Tensor) {
                ConvolutionAlgorithms.directEnabled = direct
                ConvolutionAlgorithms.winogradEnabled = false
                XCTAssertEqual(conv.usesDirectConvolution, direct)
                return trainingPass(conv, x, dy, startingWeightGradient: start)
            }
            let (y0, dx0, dw0, db0) = run(false)
            let (y1, dx1, dw1, db1) = run(true)
            let b = Float(Self.relativeBound)
            assertClose(y1, y0, atol: b * Float(1 + 9 * c), rtol: 0, "y")
            assertClose(dx1, dx0, atol: b * Float(1 + 9 * o), rtol: 0, "dx")
            assertClose(dw1, dw0, atol: b * Float(1 + n * h * w), rtol: 0, "dW")
            // (im2col's first layers, C·9 <= 64, take db out of their weight-gradient product: another order)
            assertClose(db1, db0, atol: b * Float(1 + n * h * w), rtol: 0, "db")
            conv.weight.grad.assign(start)
            _ = conv.forward(x, training: true)
            conv.backwardParametersOnly(dy)
            XCTAssertEqual(conv.weight.grad.array, dw1.array, "the parameters-only backward gives the same dW")
        }
    }

    func testTheDirectPathIsChosenOnlyWhereItApplies() throws {
        try XCTSkipIf(levels.isEmpty, "no AVX2 on this CPU: the direct kernels never run")
        var rng = RandomGenerator(seed: 0)
        XCTAssertTrue(Conv2D(inputChannels: 12, outputChannels: 12, kernelSize: 3, rng: &rng).usesDirectConvolution)
        XCTAssertTrue(Conv2D(inputChannels: 1, outputChannels: 32, kernelSize: 3, rng: &rng).usesDirectConvolution)
        XCTAssertTrue(Conv2D(inputChannels: 48, outputChannels: 24, kernelSize: 3, rng: &rng).usesDirectConvolution)
        XCTAssertFalse(Conv2D(inputChannels: 12, outputChannels: 49, kernelSize: 3, rng: &rng).usesDirectConvolution)
        XCTAssertFalse(Conv2D(inputChannels: 64, outputChannels: 64, kernelSize: 3, rng: &rng).usesDirectConvolution)
        XCTAssertFalse(
            Conv2D(inputChannels: 12, outputChannels: 12, kernelSize: 3, padding: .valid, rng: &rng)
                .usesDirectConvolution)
        XCTAssertFalse(
            Conv2D(inputChannels: 12, outputChannels: 12, kernelSize: 3, stride: 2, rng: &rng).usesDirectConvolution)
        XCTAssertFalse(Conv2D(inputChannels: 12, outputChannels: 12, kernelSize: 5, rng: &rng).usesDirectConvolution)
        XCTAssertFalse(ConvolutionAlgorithms.useDirect(channels: 12, outChannels: 12, level: .portable))
        ConvolutionAlgorithms.directEnabled = false
        XCTAssertFalse(Conv2D(inputChannels: 12, outputChannels: 12, kernelSize: 3, rng: &rng).usesDirectConvolution)
    }

    /// Every run gives the same bits; the forward and the input gradient also on one and two threads (each output
    /// is one thread's sum); the weight gradient's per-thread sums repeat at a fixed thread count.
    func testTheSameBitsOnEveryRunAndThreadCount() throws {
        try XCTSkipIf(levels.isEmpty, "no AVX2 on this CPU: the direct kernels never run")
        var rng = RandomGenerator(seed: 8)
        let conv = Conv2D(inputChannels: 12, outputChannels: 20, kernelSize: 3, rng: &rng)
        XCTAssertTrue(conv.usesDirectConvolution)
        let x = randomTensor([3, 12, 37, 21], seed: 9)
        let dy = randomTensor([3, 20, 37, 21], seed: 10)
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        var runs: [Int: [([Float], [Float], [Float])]] = [:]
        for threads in [1, 2, 1, 2] {
            Parallel.setThreads(threads)
            conv.weight.grad.zero()
            let y = conv.forward(x, training: true)
            let dx = conv.backward(dy)
            runs[threads, default: []].append((y.array, dx.array, conv.weight.grad.array))
        }
        for (threads, r) in runs {
            XCTAssertEqual(r[0].0, r[1].0, "y, \(threads) threads")
            XCTAssertEqual(r[0].1, r[1].1, "dx, \(threads) threads")
            XCTAssertEqual(r[0].2, r[1].2, "dW, \(threads) threads")
        }
        XCTAssertEqual(runs[1]![0].0, runs[2]![0].0, "y on one and two threads")
        XCTAssertEqual(runs[1]![0].1, runs[2]![0].1, "dx on one and two threads")
    }

    /// A whole U-Net (BatchNorm, fused ReLUs, every 3x3 layer on the direct path) against the same model on im2col:
    /// the mask and every parameter gradient of one training pass.
    func testAUNetTrainingPassMatchesIm2col() throws {
        try XCTSkipIf(levels.isEmpty, "no AVX2 on this CPU: the direct kernels never run")
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 32, 32], seed: 1, depth: 2, filters: 4, batchNorm: true))
        let convs = model.network.nodes.compactMap { $0.layer as? Conv2D }.filter { $0.kernelH == 3 }
        XCTAssertTrue(convs.allSatisfy(\.usesDirectConvolution))
        let x = randomTensor([4, 1, 32, 32], seed: 2)
        let g = randomTensor([4, 1, 32, 32], seed: 3)
        func run(_ direct: Bool) throws -> ([Float], [[Float]]) {
            ConvolutionAlgorithms.directEnabled = direct
            ConvolutionAlgorithms.winogradEnabled = false
            model.network.zeroGradients()
            let out = try model.forward(x, training: true)
            model.backwardParameters(maskGradient: g, classGradient: nil)
            return (out.mask!.array, model.network.parameters.map(\.grad.array))
        }
        let (y0, g0) = try run(false)
        let (y1, g1) = try run(true)
        assertClose(
            Tensor(shape: [y1.count], values: y1), Tensor(shape: [y0.count], values: y0), atol: 1e-4, rtol: 1e-4, "mask"
        )
        for (k, (a, b)) in zip(g1, g0).enumerated() {
            let scale = b.map(abs).max() ?? 0
            assertClose(
                Tensor(shape: [a.count], values: a), Tensor(shape: [b.count], values: b), atol: 1e-4 * (1 + scale),
                rtol: 1e-3, "parameter \(k)")
        }
    }
}
