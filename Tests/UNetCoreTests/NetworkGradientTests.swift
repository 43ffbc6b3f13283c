import TestSupport
import XCTest

@testable import UNetCore

/// `Network.backward`'s gradient ownership: layers may return one tensor for several inputs (`Add`) or pass their
/// `dy` through, and nodes may have any number of readers; the sums must come out as if every gradient were a
/// fresh tensor. Checked by finite differences of L = Σ y·R over the whole graph.
final class NetworkGradientTests: XCTestCase {
    let checker = GradientCheck()

    /// The identity whose backward returns its `dy` itself, as a layer may.
    final class PassThrough: UnaryLayer {
        let kind = "PassThrough"
        func outputShape(_ s: [Int]) throws -> [Int] { s }
        func forward(_ x: Tensor, training: Bool) -> Tensor { x }
        func backward(_ dy: Tensor) -> Tensor { dy }
        func releaseCache() {}
    }

    func conv(_ c: Int, _ o: Int, _ rng: inout RandomGenerator) -> Conv2D {
        let conv = Conv2D(inputChannels: c, outputChannels: o, kernelSize: 3, rng: &rng)
        for i in 0..<o { conv.bias!.value[i] = rng.uniform(-0.5, 0.5) }
        return conv
    }

    /// Checks the input gradient and every parameter gradient of `net` at `x` by central differences.
    func checkNetwork(_ net: Network, _ x: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        let ys = net.forward(x, training: true)
        let rs = ys.enumerated().map { randomTensor($1.shape, seed: 50 + UInt64($0)) }
        func loss() -> Double {
            let ys = net.forward(x, training: false)
            var s = 0.0
            for (y, r) in zip(ys, rs) { for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) } }
            return s
        }
        net.zeroGradients()
        let before = rs.map { $0.array }
        let dx = net.backward(rs)
        XCTAssertEqual(
            rs.map { $0.array }, before, "the caller's output gradients are not written", file: file, line: line)
        let grads = net.parameters.map { $0.grad.copy() }
        checker.compare(x, dx, loss, "input", file: file, line: line)
        for ((name, p), g) in zip(net.namedParameters, grads) {
            checker.compare(p.value, g, loss, name, file: file, line: line)
        }
    }

    /// a = conv(x); b = conv(a); c = conv(a) (a second branch, run between b and the sum); s = a + b.
    /// The backward reaches the sum first: `Add` hands the same dy to a and b, and c's gradient into a must not
    /// land in b's (the old backward summed in place into that shared tensor and failed here).
    func testResidualBlockWhoseInputAlsoFeedsASecondBranch() {
        var rng = RandomGenerator(seed: 1)
        let net = Network()
        let a = net.add("a", conv(2, 3, &rng), Network.input)
        let b = net.add("b", conv(3, 3, &rng), a)
        let c = net.add("c", conv(3, 2, &rng), a)
        let s = net.add("s", Add(), a, b)
        net.outputs = [s, c]
        checkNetwork(net, randomTensor([2, 2, 5, 6], seed: 2))
    }

    /// Three readers of one node, the sum of a node with itself, a three-input sum that includes the network's
    /// input, and a pass-through of a shared gradient.
    func testSharedGradientsThroughSumsAndPassThroughs() {
        var rng = RandomGenerator(seed: 3)
        let net = Network()
        let a = net.add("a", conv(2, 2, &rng), Network.input)
        let twice = net.add("twice", Add(), a, a)
        let p = net.add("p", PassThrough(), twice)
        let q = net.add("q", conv(2, 2, &rng), a)
        let sum = net.add("sum", Add(), p, twice, Network.input)
        let r = net.add("r", conv(2, 2, &rng), p)
        let out = net.add("out", Add(), sum, q, r)
        net.outputs = [out, twice]
        checkNetwork(net, randomTensor([1, 2, 4, 5], seed: 4))
    }

    /// The sums are the same on every run: warm runs reuse buffers, and shared gradients never leak between steps.
    func testRepeatedBackwardsGiveTheSameGradients() {
        var rng = RandomGenerator(seed: 5)
        let net = Network()
        let a = net.add("a", conv(1, 2, &rng), Network.input)
        let b = net.add("b", conv(2, 2, &rng), a)
        let c = net.add("c", conv(2, 2, &rng), a)
        net.add("s", Add(), a, b, c)
        net.outputs = [3]
        let x = randomTensor([2, 1, 6, 6], seed: 6)
        func gradients() -> [[Float]] {
            net.zeroGradients()
            let y = net.forward(x, training: true)[0]
            let dx = net.backward([randomTensor(y.shape, seed: 7)])
            return [dx.array] + net.parameters.map { $0.grad.array }
        }
        let first = gradients()
        XCTAssertEqual(gradients(), first)
        XCTAssertEqual(gradients(), first)
    }

    /// A layer instance may be added once: a second node would overwrite its cached activations and list its
    /// parameters twice. `add` stops with a precondition failure; `problem(adding:)` says why beforehand.
    func testTheSameLayerInstanceTwiceIsRefused() {
        var rng = RandomGenerator(seed: 7)
        let net = Network()
        let shared = conv(1, 1, &rng)
        net.add("first", shared, Network.input)
        XCTAssertEqual(
            net.problem(adding: "second", shared, [0]),
            "second: the layer instance of node first is already in the network")
        XCTAssertNil(net.problem(adding: "second", conv(1, 1, &rng), [0]))
        XCTAssertEqual(net.problem(adding: "first", Add(), [0]), "duplicate node name first")
        XCTAssertEqual(net.problem(adding: "third", Add(), [0, 1]), "bad inputs for third")
    }
}
