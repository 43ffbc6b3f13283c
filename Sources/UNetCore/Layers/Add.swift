/// The elementwise sum of n >= 1 inputs of one shape: residual connections. Inputs (N, ...) each; output the same.
/// dL/dx_k = dL/dy for every k, returned as the one tensor dy for all of them (no copies: the network owns the
/// gradients and never writes into a shared one, see `Network`).
public final class Add: MultiInputLayer {
    public let kind = "Add"
    /// The number of inputs of the last forward: the backward returns that many gradients.
    private var inputCount = 0

    public init() {}

    public func outputShape(_ shapes: [[Int]]) throws -> [Int] {
        guard let first = shapes.first else { throw ShapeError("Add needs at least one input") }
        guard shapes.allSatisfy({ $0 == first }) else { throw ShapeError("Add: input shapes \(shapes) differ") }
        return first
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        inputCount = inputs.count
        let y = TensorRecycler.tensor(inputs[0].shape)
        if inputs.count == 1 {
            y.assign(inputs[0])
            return y
        }
        addTensors(inputs[0], inputs[1], into: y)
        for x in inputs.dropFirst(2) { addTensors(y, x, into: y) }
        return y
    }

    public func backward(_ dy: Tensor, into gradients: inout [Tensor]) {
        for _ in 0..<inputCount { gradients.append(dy) }
    }

    public func releaseCache() {}
}
