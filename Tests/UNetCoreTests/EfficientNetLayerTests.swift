import TestSupport
@testable import UNetCore
import XCTest

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
        var values: [Float] = [0, -0, 1e-30, -1e-30, 1e-3, -1e-3, 0.5, -0.5, 20, -20, 87, -87, 88, -88, 89, -89,
                               100, -100, 1e4, -1e4, 3e38, -3e38]
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
        checker.check(ChannelGate(), inputs: [randomTensor([2, 3, 5, 7], seed: 7), randomTensor([2, 3, 1, 1], seed: 8)])
        XCTAssertThrowsError(try ChannelGate().outputShape([[2, 3, 5, 7], [2, 3]]))
        XCTAssertThrowsError(try ChannelGate().outputShape([[2, 3, 5, 7], [1, 3, 1, 1]]))
        XCTAssertThrowsError(try ChannelGate().outputShape([[2, 3, 5, 7]]))
    }
}
