/// Concatenation along the channel axis (dim 1): the U-Net's skip connections.
/// Inputs (N, C_i, H, W) with equal N, H, W; output (N, ΣC_i, H, W).
public final class Concatenate: MultiInputLayer {
    public let kind = "Concatenate"
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
        let n = y.shape[0]
        let outPerImage = y.count / n
        var offset = 0
        for x in inputs {
            let per = x.count / n
            for i in 0..<n { (y.data + i * outPerImage + offset).update(from: x.data + i * per, count: per) }
            offset += per
        }
        return y
    }

    public func backward(_ dy: Tensor, into gradients: inout [Tensor]) {
        let n = dy.shape[0]
        let outPerImage = dy.count / n
        var offset = 0
        for shape in inputShapes {
            let dx = TensorRecycler.tensor(shape)
            let per = dx.count / n
            for i in 0..<n { (dx.data + i * per).update(from: dy.data + i * outPerImage + offset, count: per) }
            offset += per
            gradients.append(dx)
        }
    }

    public func releaseCache() {}
}
