/// Concatenation along the channel axis (dim 1): the U-Net's skip connections.
/// Inputs (N, C_i, H, W) with equal N, H, W; output (N, ΣC_i, H, W).
public final class Concatenate: Layer {
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
        inputShapes = inputs.map(\.shape)
        let y = Tensor(uninitialized: try! outputShape(inputShapes))
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

    public func backward(_ dy: Tensor) -> [Tensor] {
        let n = dy.shape[0]
        let outPerImage = dy.count / n
        var offset = 0
        return inputShapes.map { shape in
            let dx = Tensor(uninitialized: shape)
            let per = dx.count / n
            for i in 0..<n { (dx.data + i * per).update(from: dy.data + i * outPerImage + offset, count: per) }
            offset += per
            return dx
        }
    }

    public func releaseCache() {}
}
