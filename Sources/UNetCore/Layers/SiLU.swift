import CKernels
import Foundation

/// SiLU (swish), y = x·σ(x), elementwise: EfficientNet's activation. dx = dy·σ(x)·(1 + x·(1 - σ(x))).
/// Keeps its input for the backward (σ is recomputed there, cheaper than keeping a second tensor). Finite for
/// every finite x: σ comes from e^-|x| (`sigmoidAndComplement8`), so ±1e4 give 1e4 and -0 without overflow.
public final class SiLU: UnaryLayer {
    public let kind = "SiLU"
    private var input: Tensor?
    public init() {}

    public func outputShape(_ s: [Int]) throws -> [Int] { s }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = TensorRecycler.tensor(x.shape)
        Parallel.forEachChunk(x.count, cost: 8, with: (UnsafePointer(x.data), y.data)) { s, r in
            siluForwardDispatched(s.0, s.1, r)
        }
        input = training ? x : nil
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("SiLU.backward without a training forward") }
        let dx = TensorRecycler.tensor(dy.shape)
        Parallel.forEachChunk(dy.count, cost: 8, with: (UnsafePointer(x.data), UnsafePointer(dy.data), dx.data)) {
            s, r in siluBackwardDispatched(s.0, s.1, s.2, r)
        }
        return dx
    }

    public func releaseCache() { input = nil }
}

/// `siluForward` through `CKernels`' copy for `level` where there is one.
@inline(__always)
func siluForwardDispatched(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>,
    level: SIMDLevel = .active
) {
    let (i, n) = (range.lowerBound, range.count)
    switch level {
    case .avx512: unet_silu_forward_avx512(x + i, y + i, n)
    case .avx2: unet_silu_forward_avx2(x + i, y + i, n)
    case .portable: siluForward(x, y, range)
    }
}

/// `siluBackward` through `CKernels`' copy for `level` where there is one.
@inline(__always)
func siluBackwardDispatched(
    _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
    _ range: Range<Int>, level: SIMDLevel = .active
) {
    let (i, n) = (range.lowerBound, range.count)
    switch level {
    case .avx512: unet_silu_backward_avx512(x + i, dy + i, dx + i, n)
    case .avx2: unet_silu_backward_avx2(x + i, dy + i, dx + i, n)
    case .portable: siluBackward(x, dy, dx, range)
    }
}

/// y = x·σ(x) over `range`, eight at a time, the tail through the same vector code. Whole vectors are loaded and
/// stored as such: through `loadPartial` on every step the loop ran at a fraction of memory speed.
func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    var i = range.lowerBound
    while i + 8 <= range.upperBound {
        let v = load8(x + i)
        store8(v * sigmoidAndComplement8(v).0, y + i)
        i += 8
    }
    guard i < range.upperBound else { return }
    let lanes = range.upperBound - i
    let v = loadPartial(x + i, lanes)
    storePartial(v * sigmoidAndComplement8(v).0, y + i, lanes)
}

/// dx = dy·σ(x)·(1 + x·(1 - σ(x))) over `range`, whole vectors then the tail as `siluForward`.
func siluBackward(
    _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
    _ range: Range<Int>
) {
    var i = range.lowerBound
    let one = Float8(repeating: 1)
    while i + 8 <= range.upperBound {
        let v = load8(x + i)
        let (s, c) = sigmoidAndComplement8(v)
        store8(load8(dy + i) * s * (one + v * c), dx + i)
        i += 8
    }
    guard i < range.upperBound else { return }
    let lanes = range.upperBound - i
    let v = loadPartial(x + i, lanes)
    let (s, c) = sigmoidAndComplement8(v)
    storePartial(loadPartial(dy + i, lanes) * s * (one + v * c), dx + i, lanes)
}

/// The scalar SiLU and its derivative with libm's `expf` (through `sigmoid`): the oracle of the vector kernels.
public func siluNaive(_ x: Float) -> (value: Float, derivative: Float) {
    let s = sigmoid(x)
    return (x * s, s * (1 + x * (1 - s)))
}
