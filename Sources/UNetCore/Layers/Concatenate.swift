/// Concatenation along the channel axis (dim 1): the U-Net's skip connections.
/// Inputs (N, C_i, H, W) with equal N, H, W; output (N, ΣC_i, H, W).
public final class Concatenate: MultiInputLayer {
    public let kind = "Concatenate"
    /// Keeps its inputs' shapes; the output is a copy.
    public var keepsInputs: Bool { false }
    private var inputShapes: [[Int]] = []

    public init() {}

    public func outputShape(_ shapes: [[Int]]) throws -> [Int] {
        guard let first = shapes.first, first.count >= 2 else { throw ShapeError("Concatenate needs inputs") }
        for s in shapes where s.count != first.count || s[0] != first[0] || Array(s[2...]) != Array(first[2...]) {
            throw ShapeError("Concatenate: shapes \(shapes) differ outside the channel axis")
        }
        var out = first
        out[1] = shapes.reduce(0) { $0 + $1[1] }
        return out
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        // Kept for the backward; rebuilt only when the shapes change (a warm step makes no array).
        if inputShapes.count != inputs.count || zip(inputShapes, inputs).contains(where: { $0 != $1.shape }) {
            inputShapes = inputs.map(\.shape)
        }
        let first = inputs[0].shape
        let channels = inputs.reduce(0) { $0 + $1.shape[1] }
        let y =
            first.count == 4
            ? TensorRecycler.tensor(first[0], channels, first[2], first[3])
            : TensorRecycler.tensor(try! outputShape(inputShapes))
        copy(inputs, into: y, from: 0)
        return y
    }

    /// `forward` for a concatenation whose first input, of `shape`, its producer already wrote into `y`'s leading
    /// channels (`Network`'s in-place concatenation): copies the `others` after it.
    func forward(firstWritten shape: [Int], others: [Tensor], into y: Tensor) {
        if inputShapes.count != others.count + 1 || inputShapes[0] != shape
            || zip(inputShapes.dropFirst(), others).contains(where: { $0 != $1.shape })
        {
            inputShapes = [shape] + others.map(\.shape)
        }
        copy(others, into: y, from: shape.reduce(1, *) / shape[0])
    }

    /// Image i of each input, in order, into image i of `y` from float `offset` of it on.
    private func copy(_ inputs: [Tensor], into y: Tensor, from offset: Int) {
        let n = y.shape[0]
        let outPerImage = y.count / n
        var offset = offset
        for x in inputs {
            let per = x.count / n
            for i in 0..<n { (y.data + i * outPerImage + offset).update(from: x.data + i * per, count: per) }
            offset += per
        }
    }

    public func backward(_ dy: Tensor, into gradients: inout [Tensor]) {
        backward(dy, into: &gradients, skippingFirst: false)
    }

    /// `backward`, without the first input's gradient when `skippingFirst` (its producer reads it from `dy`).
    func backward(_ dy: Tensor, into gradients: inout [Tensor], skippingFirst: Bool) {
        let n = dy.shape[0]
        let outPerImage = dy.count / n
        var offset = 0
        for (k, shape) in inputShapes.enumerated() {
            let per = shape.reduce(1, *) / n
            defer { offset += per }
            if k == 0 && skippingFirst { continue }
            let dx = TensorRecycler.tensor(shape)
            for i in 0..<n { (dx.data + i * per).update(from: dy.data + i * outPerImage + offset, count: per) }
            gradients.append(dx)
        }
    }

    public func releaseCache() {}
}
