import TestSupport
import XCTest

@testable import UNetCore

/// The layers an EfficientNet needs (SiLU, Add, channel gating, depthwise convolution, DropPath, pooling to 1x1,
/// upsampling onto an odd skip): finite-difference gradient checks over odd sizes, and each fast kernel against its
/// naive oracle. PyTorch's values for them are in `GoldenTests`.
final class EfficientNetLayerTests: XCTestCase {
    let checker = GradientCheck()

    // MARK: - SiLU

    func testSiLUGradient() {
        checker.check(SiLU(), inputs: [randomTensor([2, 3, 5, 7], seed: 1, low: -6, high: 6)])
    }

    /// The vector kernels agree with the scalar oracle (libm's expf) to a few ulp, tails included, over the whole
    /// float range, and stay finite: ±1e4 give 1e4 and 0 (no overflow into inf or NaN). Below x = -87.3 the
    /// kernel's e^x is 0 where expf still has subnormals: SiLU there is below 1e-35 either way.
    func testSiLUKernelsMatchTheScalarOracleAndStayFinite() {
        var values: [Float] = [
            0, -0, 1e-30, -1e-30, 1e-3, -1e-3, 0.5, -0.5, 20, -20, 87, -87, 88, -88, 89, -89,
            100, -100, 1e4, -1e4, 3e38, -3e38,
        ]
        var rng = RandomGenerator(seed: 2)
        for _ in 0..<997 { values.append(rng.uniform(-30, 30)) }
        let n = values.count
        let x = Tensor(shape: [n], values: values)
        let dy = Tensor(shape: [n], repeating: 1)
        let (y, dx) = (Tensor(zeros: [n]), Tensor(zeros: [n]))
        siluForward(x.data, y.data, 0..<n)
        siluBackward(x.data, dy.data, dx.data, 0..<n)
        for i in 0..<n {
            let (value, derivative) = siluNaive(values[i])
            XCTAssertTrue(y[i].isFinite && dx[i].isFinite, "x = \(values[i])")
            XCTAssertEqual(y[i], value, accuracy: max(4e-7 * abs(value), 1e-35), "SiLU(\(values[i]))")
            XCTAssertEqual(dx[i], derivative, accuracy: 1e-6, "SiLU'(\(values[i]))")
        }
        XCTAssertEqual(y[values.firstIndex(of: 1e4)!], 1e4)
        XCTAssertEqual(y[values.firstIndex(of: -1e4)!], 0)
        XCTAssertEqual(dx[values.firstIndex(of: 1e4)!], 1)
        XCTAssertEqual(dx[values.firstIndex(of: -1e4)!], 0)
    }

    // MARK: - Add and channel gating

    func testAddGradientAndShapes() throws {
        checker.check(Add(), inputs: [randomTensor([2, 3, 4, 5], seed: 3)])
        checker.check(Add(), inputs: (0..<3).map { randomTensor([2, 3, 4, 5], seed: 4 + UInt64($0)) })
        XCTAssertEqual(try Add().outputShape([[1, 2, 3, 3], [1, 2, 3, 3]]), [1, 2, 3, 3])
        XCTAssertThrowsError(try Add().outputShape([[1, 2, 3, 3], [1, 2, 3, 4]]))
        XCTAssertThrowsError(try Add().outputShape([]))
    }

    func testChannelGateGradientAndShapes() throws {
        // H x W = 35: the vector loops' 8-wide part and their tails.
        checker.check(
            ChannelGate(), inputs: [randomTensor([2, 3, 5, 7], seed: 7), randomTensor([2, 3, 1, 1], seed: 8)])
        XCTAssertThrowsError(try ChannelGate().outputShape([[2, 3, 5, 7], [2, 3]]))
        XCTAssertThrowsError(try ChannelGate().outputShape([[2, 3, 5, 7], [1, 3, 1, 1]]))
        XCTAssertThrowsError(try ChannelGate().outputShape([[2, 3, 5, 7]]))
    }

    // MARK: - Depthwise convolution and asymmetric padding

    /// The paddings EfficientNet ports use: TensorFlow's "same", PyTorch's symmetric k/2, smp's static (0, 1, 0, 1)
    /// and (1, 2, 1, 2), and "valid".
    static let depthwiseCases: [(k: Int, stride: Int, padding: Padding)] = [
        (3, 1, .same), (3, 2, .same), (5, 1, .explicit(2)), (5, 2, .sides(top: 1, bottom: 2, left: 1, right: 2)),
        (3, 2, .sides(top: 0, bottom: 1, left: 0, right: 1)), (3, 1, .valid), (7, 1, .same), (1, 2, .valid),
        (5, 3, .sides(top: 2, bottom: 0, left: 1, right: 2)),
        // Padding wider than the kernel: whole output rows and columns read nothing but zeros (and the bias).
        (3, 1, .sides(top: 4, bottom: 0, left: 0, right: 5)),
    ]

    func depthwise(
        _ c: Int, _ k: Int, _ stride: Int, _ padding: Padding, bias: Bool = true,
        seed: UInt64 = 11
    ) -> DepthwiseConv2D {
        var rng = RandomGenerator(seed: seed)
        let layer = DepthwiseConv2D(
            channels: c, kernelSize: k, stride: stride, padding: padding, useBias: bias,
            rng: &rng)
        if let b = layer.bias { for i in 0..<c { b.value[i] = rng.uniform(-0.5, 0.5) } }
        return layer
    }

    func testDepthwiseConv2DGradients() {
        for (i, (k, stride, padding)) in Self.depthwiseCases.enumerated() {
            let layer = depthwise(3, k, stride, padding, bias: i % 3 != 2)
            checker.check(layer, inputs: [randomTensor([2, 3, 7 + i % 2, 9 - i % 3], seed: 12 + UInt64(i))])
        }
    }

    /// The vector kernels (interior strips of eight, stride-2 even lanes, edge columns) against the Double oracle, on
    /// planes wide enough for every path, forward and both gradients.
    func testDepthwiseKernelsMatchTheNaiveOracle() throws {
        for (i, (k, stride, padding)) in Self.depthwiseCases.enumerated() {
            let layer = depthwise(2, k, stride, padding, seed: 20 + UInt64(i))
            let x = randomTensor([2, 2, 23 + i, 45 - i], seed: 30 + UInt64(i))
            let y = layer.forward(x, training: true)
            let dy = randomTensor(y.shape, seed: 40 + UInt64(i))
            layer.weight.grad.zero()
            let dx = layer.backward(dy)
            let g = layer.geometry(x.shape)
            let (yRef, dxRef) = (Tensor(zeros: y.shape), Tensor(zeros: x.shape))
            let dwRef = Tensor(zeros: layer.weight.value.shape)
            let (inPlane, outPlane, k2) = (g.height * g.width, g.outH * g.outW, k * k)
            for p in 0..<(2 * 2) {
                let c = p % 2
                let w = layer.weight.value.data + c * k2
                depthwiseNaiveForward(x.data + p * inPlane, g, w, bias: layer.bias!.value[c], yRef.data + p * outPlane)
                depthwiseNaiveBackward(
                    x.data + p * inPlane, dy.data + p * outPlane, g, w, dx: dxRef.data + p * inPlane,
                    dw: dwRef.data + c * k2)
            }
            let what = "k \(k) stride \(stride) padding \(padding.name)"
            assertClose(y, yRef, atol: 1e-5, rtol: 1e-5, "\(what): y")
            assertClose(dx, dxRef, atol: 1e-5, rtol: 1e-5, "\(what): dx")
            assertClose(layer.weight.grad, dwRef, atol: 1e-4, rtol: 1e-5, "\(what): dw")
        }
    }

    func testDepthwiseConv2DShapes() throws {
        let stem = depthwise(4, 3, 2, .sides(top: 0, bottom: 1, left: 0, right: 1))
        XCTAssertEqual(try stem.outputShape([1, 4, 240, 240]), [1, 4, 120, 120])
        XCTAssertEqual(try depthwise(4, 5, 2, .same).outputShape([1, 4, 15, 14]), [1, 4, 8, 7])
        XCTAssertThrowsError(try stem.outputShape([1, 3, 8, 8]))
        XCTAssertThrowsError(try depthwise(4, 5, 1, .valid).outputShape([1, 4, 4, 8]))
        XCTAssertEqual(stem.parameters.map(\.value.shape), [[4, 1, 3, 3], [4]])
        XCTAssertEqual(depthwise(4, 3, 1, .same, bias: false).parameters.map(\.name), ["weight"])
    }

    /// Conv2D with padding by side (the EfficientNet stem's (0, 1, 0, 1) at stride 2), with and without bias, and
    /// the factory keeping symmetric padding on the symmetric case (its Winograd path).
    func testConv2DWithPaddingBySide() throws {
        var rng = RandomGenerator(seed: 50)
        for (padding, stride, bias) in [
            (Padding.sides(top: 0, bottom: 1, left: 0, right: 1), 2, false),
            (.sides(top: 1, bottom: 2, left: 2, right: 0), 1, true),
        ] {
            let conv = Conv2D(
                inputChannels: 3, outputChannels: 4, kernelSize: 3, stride: stride, padding: padding,
                useBias: bias, rng: &rng)
            checker.check(conv, inputs: [randomTensor([2, 3, 7, 8], seed: 51)])
        }
        let stem = Conv2D(
            inputChannels: 3, outputChannels: 2, kernelSize: 3, stride: 2,
            padding: .explicit(top: 0, bottom: 1, left: 0, right: 1), useBias: false, rng: &rng)
        XCTAssertEqual(try stem.outputShape([1, 3, 224, 224]), [1, 2, 112, 112])
        XCTAssertEqual(Padding.explicit(top: 1, bottom: 1, left: 1, right: 1), .explicit(1))
        let symmetric = Conv2D(
            inputChannels: 16, outputChannels: 16, kernelSize: 3,
            padding: .explicit(top: 1, bottom: 1, left: 1, right: 1), rng: &rng)
        XCTAssertTrue(symmetric.usesWinograd([4, 16, 64, 64]))
    }

    // MARK: - Pooling to 1x1

    func testGlobalPoolingKeepsOrFlattensTheSpatialAxes() throws {
        checker.check(GlobalAveragePooling2D(keepDims: true), inputs: [randomTensor([2, 3, 4, 5], seed: 60)])
        // Distinct values spaced wider than 2ε, so a perturbation never changes the winner.
        let x = Tensor(zeros: [2, 3, 4, 5])
        var order = Array(0..<x.count)
        var rng = RandomGenerator(seed: 61)
        order.shuffle(using: &rng)
        for (rank, i) in order.enumerated() { x[i] = Float(rank) * 0.05 - 3 }
        for keepDims in [false, true] {
            checker.check(GlobalMaxPooling2D(keepDims: keepDims), inputs: [x])
            XCTAssertEqual(
                try GlobalMaxPooling2D(keepDims: keepDims).outputShape([2, 3, 4, 5]),
                keepDims ? [2, 3, 1, 1] : [2, 3])
            XCTAssertEqual(
                try GlobalAveragePooling2D(keepDims: keepDims).outputShape([2, 3, 4, 5]),
                keepDims ? [2, 3, 1, 1] : [2, 3])
        }
        // The first of equal maxima takes the gradient, as PyTorch.
        let ties = Tensor(shape: [1, 1, 2, 2], values: [1, 3, 3, 0])
        let pool = GlobalMaxPooling2D()
        XCTAssertEqual(pool.forward(ties, training: true).array, [3])
        XCTAssertEqual(pool.backward(Tensor(shape: [1, 1], values: [2])).array, [0, 2, 0, 0])
    }

    // MARK: - DropPath

    /// A DropPath whose generator restarts at every forward, so the finite differences see one fixed mask.
    final class Reseeded: UnaryLayer {
        let kind = "Reseeded"
        let inner: DropPath
        let start: RandomGenerator
        init(_ inner: DropPath) { self.inner = inner; start = inner.rng }
        func outputShape(_ s: [Int]) throws -> [Int] { try inner.outputShape(s) }
        func forward(_ x: Tensor, training: Bool) -> Tensor {
            inner.rng = start
            return inner.forward(x, training: training)
        }
        func backward(_ dy: Tensor) -> Tensor { inner.backward(dy) }
        func releaseCache() {}
    }

    func testDropPathDropsWholeSamplesScalesSurvivorsAndRepeats() throws {
        let x = randomTensor([64, 2, 3, 3], seed: 70)
        let per = x.count / 64
        let layer = DropPath(rate: 0.25, seed: 71)
        let y = layer.forward(x, training: true)
        var dropped = 0
        for i in 0..<64 {
            let ratio = y[i * per] / x[i * per]
            XCTAssertTrue(ratio == 0 || abs(ratio - 1 / 0.75) < 1e-6, "sample \(i): ratio \(ratio)")
            if ratio == 0 { dropped += 1 }
            for j in 0..<per { XCTAssertEqual(y[i * per + j], x[i * per + j] * ratio, accuracy: 1e-6) }
        }
        XCTAssertTrue((8...24).contains(dropped), "\(dropped) of 64 dropped at rate 0.25")
        // The gradient takes each sample's factor.
        let dy = randomTensor(y.shape, seed: 72)
        let dx = layer.backward(dy)
        for i in 0..<64 where y[i * per] == 0 { XCTAssertEqual(dx[i * per], 0) }
        // The same seed draws the same samples; the generator moves on from step to step.
        let again = DropPath(rate: 0.25, seed: 71)
        XCTAssertEqual(again.forward(x, training: true).array, y.array)
        XCTAssertNotEqual(again.forward(x, training: true).array, y.array)
        // Inference and rate 0 pass the input and the gradient through.
        XCTAssertTrue(layer.forward(x, training: false) === x)
        XCTAssertTrue(layer.backward(dy) === dy)
        let none = DropPath(rate: 0, seed: 1)
        XCTAssertTrue(none.forward(x, training: true) === x)
        checker.check(Reseeded(DropPath(rate: 0.5, seed: 73)), inputs: [randomTensor([6, 2, 3, 2], seed: 74)])
    }

    /// DropPath in a residual block (x + DropPath(conv(x))): the identity branch's pass-through of the gradient
    /// is shared with the sum's, which the network must not write into.
    func testDropPathInAResidualBlock() {
        var rng = RandomGenerator(seed: 75)
        let net = Network()
        let conv = Conv2D(inputChannels: 2, outputChannels: 2, kernelSize: 3, rng: &rng)
        let a = net.add("a", conv, Network.input)
        let skip = net.add("skip", DropPath(rate: 0, seed: 0), Network.input)
        let dropped = net.add("drop", DropPath(rate: 0, seed: 1), a)
        net.add("sum", Add(), skip, dropped, skip)
        net.outputs = [3]
        let x = randomTensor([2, 2, 4, 4], seed: 76)
        let y = net.forward(x, training: true)[0]
        let r = randomTensor(y.shape, seed: 77)
        net.zeroGradients()
        let dx = net.backward([r])
        let convInputGradient = { () -> Tensor in
            _ = conv.forward(x, training: true)
            return conv.backward(r)
        }()
        for i in 0..<x.count { XCTAssertEqual(dx[i], 2 * r[i] + convInputGradient[i], accuracy: 1e-5) }
    }

    // MARK: - Upsampling onto an odd skip

    func testUpSampleToMatchOddAndDoubledSizes() throws {
        let up = UpSampleToMatch()
        for (x, r) in [([2, 3, 4, 3], [2, 5, 7, 5]), ([1, 2, 3, 4], [1, 1, 6, 8]), ([1, 2, 2, 3], [1, 2, 5, 9])] {
            XCTAssertEqual(try up.outputShape([x, r]), [x[0], x[1], r[2], r[3]])
            let input = randomTensor(x, seed: 80), reference = randomTensor(r, seed: 81)
            checker.check(up, inputs: [input, reference])
            // The doubled case is exactly the factor-2 upsampling; the others follow floor(o · in / out).
            let y = up.forward([input, reference], training: false)
            for oy in 0..<r[2] {
                for ox in 0..<r[3] {
                    let (iy, ix) = (min(oy * x[2] / r[2], x[2] - 1), min(ox * x[3] / r[3], x[3] - 1))
                    XCTAssertEqual(y[(1 * r[2] + oy) * r[3] + ox], input[(1 * x[2] + iy) * x[3] + ix])
                }
            }
        }
        XCTAssertThrowsError(try up.outputShape([[1, 2, 4, 4], [1, 2, 3, 8]]))
        XCTAssertThrowsError(try up.outputShape([[1, 2, 4, 4], [2, 2, 8, 8]]))
    }
}
