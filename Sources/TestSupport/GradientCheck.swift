import UNetCore
import XCTest

/// Central finite-difference gradient checks (see `../shared/STYLE.md`).
///
/// The scalar checked is L = Σ y·R for a fixed random R (not Σ y: a uniform upstream gradient hides
/// transposes and makes BatchNorm's input gradient vanish). Differences are taken in Double around float32
/// perturbations of `epsilon`; at most `maxPoints` random coordinates per tensor are checked.
public struct GradientCheck {
    public var epsilon: Float = 1e-2
    public var maxPoints = 24
    public var atol: Double = 2e-3
    public var rtol: Double = 2e-2
    public var seed: UInt64 = 99

    public init(epsilon: Float = 1e-2, maxPoints: Int = 24, atol: Double = 2e-3, rtol: Double = 2e-2) {
        self.epsilon = epsilon; self.maxPoints = maxPoints; self.atol = atol; self.rtol = rtol
    }

    /// Checks dL/dx for every input and dL/dθ for every parameter of `layer` at `inputs`.
    public func check(
        _ layer: Layer, inputs: [Tensor], training: Bool = true, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        let y0 = layer.forward(inputs, training: training)
        let r = randomTensor(y0.shape, seed: seed)
        func loss() -> Double {
            let y = layer.forward(inputs, training: training)
            var s = 0.0
            for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
            return s
        }
        for p in layer.parameters { p.grad.zero() }
        _ = layer.forward(inputs, training: training)
        let analytic = layer.backward(r.copy())
        // Parameters' analytic gradients are read now: the loss() calls below run more forwards only.
        let paramGrads = layer.parameters.map { $0.grad.copy() }
        for (k, x) in inputs.enumerated() {
            compare(x, analytic[k], loss, "\(layer.kind) input \(k)", file: file, line: line)
        }
        for (p, g) in zip(layer.parameters, paramGrads) {
            compare(p.value, g, loss, "\(layer.kind) \(p.name)", file: file, line: line)
        }
    }

    /// Checks a gradient `analytic` of `loss` with respect to the values of `x`.
    public func compare(
        _ x: Tensor, _ analytic: Tensor, _ loss: () -> Double, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(x.shape, analytic.shape, "\(what): gradient shape", file: file, line: line)
        var rng = RandomGenerator(seed: seed &+ UInt64(x.count))
        let points =
            x.count <= maxPoints ? Array(0..<x.count) : (0..<maxPoints).map { _ in Int(rng.next() % UInt64(x.count)) }
        for i in points {
            let saved = x[i]
            x[i] = saved + epsilon
            let up = loss()
            x[i] = saved - epsilon
            let down = loss()
            x[i] = saved
            let numeric = (up - down) / (2 * Double(epsilon))
            let a = Double(analytic[i])
            if abs(numeric - a) > atol + rtol * max(abs(numeric), abs(a)) {
                XCTFail("\(what)[\(i)]: analytic \(a), numeric \(numeric)", file: file, line: line)
                return
            }
        }
    }
}
