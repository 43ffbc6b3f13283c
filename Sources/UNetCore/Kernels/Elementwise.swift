// Vector kernels for the memory-bound layers (ReLU, BatchNorm), 8 floats at a time.
//
// Why by hand: the plain loops over `UnsafeMutablePointer`s do not vectorise. LLVM cannot prove that the output
// does not alias the inputs, and float reductions may not be reordered without fast-math. As a scalar loop with a
// data-dependent branch, ReLU's backward mispredicts half the elements on random signs; as a blend of vectors it
// runs near memory speed (Examples/benchmarks/RESULTS.md).
// Each kernel keeps a scalar loop for the tail, and the layer tests compare with finite differences and
// PyTorch's values, which the scalar semantics define.

typealias Float8 = SIMD8<Float>

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> Float8 { UnsafeRawPointer(p).loadUnaligned(as: Float8.self) }

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }

@inline(__always)
func store8(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
}

/// y = max(x, 0) over `range`.
func reluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    var i = range.lowerBound
    let zero = Float8()
    while i + 8 <= range.upperBound {
        // Not `pointwiseMax`: the standard library's lane-wise IEEE maximum does not vectorise.
        let v = load8(x + i)
        store8(v.replacing(with: zero, where: v .< zero), y + i)
        i += 8
    }
    while i < range.upperBound { y[i] = max(x[i], 0); i += 1 }
}

/// dx = dy where y > 0, else 0, over `range` (y is the ReLU's output).
func reluBackward(
    _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
    _ range: Range<Int>
) {
    var i = range.lowerBound
    let zero = Float8()
    while i + 8 <= range.upperBound {
        store8(zero.replacing(with: load8(dy + i), where: load8(y + i) .> zero), dx + i)
        i += 8
    }
    while i < range.upperBound { dx[i] = y[i] > 0 ? dy[i] : 0; i += 1 }
}

/// The bit of each lane of a 32-float word's two halves: lane k of the low half is bit k, of the high half bit 16 + k.
private enum SignBitLanes {
    static let low =
        SIMD16<UInt32>(repeating: 1) &<< SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    static let high = low &<< SIMD16<UInt32>(repeating: 16)
}

/// Bit e % 32 of `bits[e / 32]` = y[e] > 0, for the words in `words` (the last may be partial: `count` floats).
func reluSignBits(
    _ y: UnsafePointer<Float>, count: Int, _ bits: UnsafeMutablePointer<UInt32>, words: Range<Int>
) {
    let (low, high) = (SignBitLanes.low, SignBitLanes.high)
    let zero = SIMD16<Float>()
    let none = SIMD16<UInt32>()
    for w in words {
        let e = w * 32
        guard e + 32 <= count else {
            var word: UInt32 = 0
            for k in 0..<(count - e) where y[e + k] > 0 { word |= 1 << UInt32(k) }
            bits[w] = word
            continue
        }
        let a = none.replacing(with: low, where: load16(y + e) .> zero)
        let b = none.replacing(with: high, where: load16(y + e + 16) .> zero)
        bits[w] = (a | b).wrappedSum()  // distinct bits: the sum is their or
    }
}

/// dx = dy where the kept sign bit is set (`reluSignBits`), else 0, for the words in `words`.
func reluBackward(
    signBits bits: UnsafePointer<UInt32>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
    count: Int, words: Range<Int>
) {
    let (low, high) = (SignBitLanes.low, SignBitLanes.high)
    let zero = SIMD16<Float>()
    let none = SIMD16<UInt32>()
    for w in words {
        let e = w * 32
        let word = bits[w]
        guard e + 32 <= count else {
            for k in 0..<(count - e) { dx[e + k] = word & (1 << UInt32(k)) != 0 ? dy[e + k] : 0 }
            continue
        }
        let v = SIMD16<UInt32>(repeating: word)
        let a = zero.replacing(with: load16(dy + e), where: (v & low) .!= none)
        let b = zero.replacing(with: load16(dy + e + 16), where: (v & high) .!= none)
        UnsafeMutableRawPointer(dx + e).storeBytes(of: a, as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(dx + e + 16).storeBytes(of: b, as: SIMD16<Float>.self)
    }
}

/// The sum of `count` floats in single precision, in 32 lanes (four vectors, so consecutive additions do not wait
/// on each other) combined in a fixed order, then the tail: deterministic, and more accurate than one running sum.
/// A scalar loop here waited four cycles per float on the previous addition: the bias gradient of the first
/// convolution took twice as long as its weight-gradient product.
func sumFloats(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var (a, b, c, d) = (Float8(), Float8(), Float8(), Float8())
    var i = 0
    while i + 32 <= count {
        a += load8(x + i); b += load8(x + i + 8); c += load8(x + i + 16); d += load8(x + i + 24)
        i += 32
    }
    while i + 8 <= count { a += load8(x + i); i += 8 }
    var s = ((a + b) + (c + d)).sum()
    while i < count { s += x[i]; i += 1 }
    return s
}

/// Σ a[j]·b[j] over `count` floats: 32 lanes in a fixed order, then the tail (as `sumFloats`).
func dotFloats(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var (p, q, r, t) = (Float8(), Float8(), Float8(), Float8())
    var i = 0
    while i + 32 <= count {
        p += load8(a + i) * load8(b + i); q += load8(a + i + 8) * load8(b + i + 8)
        r += load8(a + i + 16) * load8(b + i + 16); t += load8(a + i + 24) * load8(b + i + 24)
        i += 32
    }
    while i + 8 <= count { p += load8(a + i) * load8(b + i); i += 8 }
    var s = ((p + q) + (r + t)).sum()
    while i < count { s += a[i] * b[i]; i += 1 }
    return s
}

/// dx = dy·v over `count` floats, returning Σ dy[j]·x[j]: the backward of a gate v on x in one pass over dy, where
/// `scaleFloats` and `dotFloats` took two. The sum is `dotFloats`'s, 32 lanes in the same fixed order.
func scaleAndDot(
    _ dy: UnsafePointer<Float>, by v: Float, _ dx: UnsafeMutablePointer<Float>,
    dot x: UnsafePointer<Float>, _ count: Int
) -> Float {
    let vv = Float8(repeating: v)
    var (p, q, r, t) = (Float8(), Float8(), Float8(), Float8())
    var i = 0
    while i + 32 <= count {
        let (d0, d1, d2, d3) = (load8(dy + i), load8(dy + i + 8), load8(dy + i + 16), load8(dy + i + 24))
        p += d0 * load8(x + i); q += d1 * load8(x + i + 8); r += d2 * load8(x + i + 16); t += d3 * load8(x + i + 24)
        store8(d0 * vv, dx + i); store8(d1 * vv, dx + i + 8); store8(d2 * vv, dx + i + 16); store8(d3 * vv, dx + i + 24)
        i += 32
    }
    while i + 8 <= count { let d = load8(dy + i); p += d * load8(x + i); store8(d * vv, dx + i); i += 8 }
    var s = ((p + q) + (r + t)).sum()
    while i < count { s += dy[i] * x[i]; dx[i] = dy[i] * v; i += 1 }
    return s
}

/// The first `lanes` (1...8) floats at p, the other lanes zero.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ lanes: Int) -> Float8 {
    if lanes == 8 { return load8(p) }
    var v = Float8()
    for l in 0..<lanes { v[l] = p[l] }
    return v
}

/// Stores the first `lanes` (1...8) lanes of v at p.
@inline(__always)
func storePartial(_ v: Float8, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
    if lanes == 8 { store8(v, p); return }
    for l in 0..<lanes { p[l] = v[l] }
}

/// The sum of `count` floats (BatchNorm's batch mean), accumulated in double precision in a fixed order (eight
/// lanes, then the lanes in order, then the tail), so it is deterministic and accurate.
func sumInDouble(_ x: UnsafePointer<Float>, _ count: Int) -> Double {
    var acc = SIMD8<Double>()
    var i = 0
    while i + 8 <= count { acc += SIMD8<Double>(load8(x + i)); i += 8 }
    var s = acc.sum()
    while i < count { s += Double(x[i]); i += 1 }
    return s
}

/// Σ (x - mean)² over `count` floats, in double precision, in a fixed order.
func squaredDeviationsInDouble(_ x: UnsafePointer<Float>, _ count: Int, mean: Double) -> Double {
    var acc = SIMD8<Double>()
    let mu = SIMD8<Double>(repeating: mean)
    var i = 0
    while i + 8 <= count {
        let d = SIMD8<Double>(load8(x + i)) - mu
        acc += d * d
        i += 8
    }
    var s = acc.sum()
    while i < count { let d = Double(x[i]) - mean; s += d * d; i += 1 }
    return s
}

/// (Σ (x - k), Σ (x - k)²) over `count` floats in one pass, in double precision in a fixed order (eight lanes,
/// then the lanes in order, then the tail): BatchNorm's moments without the vector kernels.
func shiftedMomentsInDouble(_ x: UnsafePointer<Float>, _ count: Int, shift k: Float) -> (Double, Double) {
    var (s, q) = (SIMD8<Double>(), SIMD8<Double>())
    let kv = SIMD8<Double>(repeating: Double(k))
    var i = 0
    while i + 8 <= count {
        let d = SIMD8<Double>(load8(x + i)) - kv
        s += d
        q += d * d
        i += 8
    }
    var (ss, qq) = (s.sum(), q.sum())
    while i < count { let d = Double(x[i]) - Double(k); ss += d; qq += d * d; i += 1 }
    return (ss, qq)
}

/// x̂ = (x - mean) · r and y = x̂ · γ + β over `count` floats; x̂ is stored only when `xhat` is given.
func normalizeAffine(
    _ x: UnsafePointer<Float>, _ count: Int, mean: Float, inverseStd r: Float, gamma: Float,
    beta: Float, xhat: UnsafeMutablePointer<Float>?, _ y: UnsafeMutablePointer<Float>, rectify: Bool = false
) {
    if rectify {
        normalizeAffine(x, count, mean: mean, inverseStd: r, gamma: gamma, beta: beta, xhat: xhat, y) { v in
            v.replacing(with: Float8(), where: v .< Float8())  // as `reluForward`, so the same bits
        } scalar: {
            max($0, 0)
        }
    } else {
        normalizeAffine(x, count, mean: mean, inverseStd: r, gamma: gamma, beta: beta, xhat: xhat, y) {
            $0
        } scalar: {
            $0
        }
    }
}

/// `normalizeAffine` with `finish` applied to each output (a fused ReLU, or nothing).
@inline(__always)
private func normalizeAffine(
    _ x: UnsafePointer<Float>, _ count: Int, mean: Float, inverseStd r: Float, gamma: Float,
    beta: Float, xhat: UnsafeMutablePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
    finish: (Float8) -> Float8, scalar: (Float) -> Float
) {
    let (mv, rv, gv, bv) = (
        Float8(repeating: mean), Float8(repeating: r), Float8(repeating: gamma), Float8(repeating: beta)
    )
    var i = 0
    if let xhat {
        while i + 8 <= count {
            let h = (load8(x + i) - mv) * rv
            store8(h, xhat + i)
            store8(finish(h * gv + bv), y + i)
            i += 8
        }
        while i < count { let h = (x[i] - mean) * r; xhat[i] = h; y[i] = scalar(h * gamma + beta); i += 1 }
    } else {
        while i + 8 <= count { store8(finish((load8(x + i) - mv) * rv * gv + bv), y + i); i += 8 }
        while i < count { y[i] = scalar((x[i] - mean) * r * gamma + beta); i += 1 }
    }
}

/// (Σ dy, Σ dy·x̂) over `count` floats, x̂ = (x - mean)·r recomputed as `normalizeAffine` computes it (so the
/// same bits as a stored x̂): eight lanes in single precision, combined in a fixed order. With `rectified` (γ, β)
/// of a BatchNorm whose fused ReLU's backward it takes over, dy counts only where that ReLU passed it,
/// x̂·γ + β > 0 as the forward computed it: the same values, so the same bits, as the ReLU's own masking pass.
func sumAndNormalizedDot(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int, mean: Float, inverseStd r: Float,
    rectified: (gamma: Float, beta: Float)? = nil
) -> (Float, Float) {
    if let rectified {
        return sumAndNormalizedDot(
            dy, x, count, mean: mean, inverseStd: r, gamma: rectified.gamma,
            beta: rectified.beta, masked: true)
    }
    return sumAndNormalizedDot(dy, x, count, mean: mean, inverseStd: r, gamma: 0, beta: 0, masked: false)
}

@inline(__always)
private func sumAndNormalizedDot(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int, mean: Float, inverseStd r: Float,
    gamma: Float, beta: Float, masked: Bool
) -> (Float, Float) {
    let (mv, rv, gv, bv) = (
        Float8(repeating: mean), Float8(repeating: r), Float8(repeating: gamma), Float8(repeating: beta)
    )
    var (s, d) = (Float8(), Float8())
    var i = 0
    while i + 8 <= count {
        let h = (load8(x + i) - mv) * rv
        var g = load8(dy + i)
        if masked { g = Float8().replacing(with: g, where: h * gv + bv .> Float8()) }
        s += g
        d += g * h
        i += 8
    }
    var (ss, dd) = (s.sum(), d.sum())
    while i < count {
        let h = (x[i] - mean) * r
        let g = !masked || h * gamma + beta > 0 ? dy[i] : 0
        ss += g; dd += g * h; i += 1
    }
    return (ss, dd)
}

/// dx = k · (dy - a - x̂ · b) over `count` floats, x̂ = (x - mean)·r as in `sumAndNormalizedDot` (BatchNorm's input
/// gradient with a = mean(dy), b = mean(dy·x̂)); with `rectified`, dy masked by its fused ReLU as there.
func batchNormInputGradient(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int, mean: Float, inverseStd r: Float, k: Float,
    a: Float, b: Float, rectified: (gamma: Float, beta: Float)? = nil, _ dx: UnsafeMutablePointer<Float>
) {
    if let rectified {
        batchNormInputGradient(
            dy, x, count, mean: mean, inverseStd: r, k: k, a: a, b: b, gamma: rectified.gamma,
            beta: rectified.beta, masked: true, dx)
    } else {
        batchNormInputGradient(
            dy, x, count, mean: mean, inverseStd: r, k: k, a: a, b: b, gamma: 0, beta: 0,
            masked: false, dx)
    }
}

@inline(__always)
private func batchNormInputGradient(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int, mean: Float, inverseStd r: Float, k: Float,
    a: Float, b: Float, gamma: Float, beta: Float, masked: Bool, _ dx: UnsafeMutablePointer<Float>
) {
    let (mv, rv, gv, betav) = (
        Float8(repeating: mean), Float8(repeating: r), Float8(repeating: gamma), Float8(repeating: beta)
    )
    let (kv, av, bv) = (Float8(repeating: k), Float8(repeating: a), Float8(repeating: b))
    var i = 0
    while i + 8 <= count {
        let h = (load8(x + i) - mv) * rv
        var g = load8(dy + i)
        if masked { g = Float8().replacing(with: g, where: h * gv + betav .> Float8()) }
        store8(kv * (g - av - h * bv), dx + i)
        i += 8
    }
    while i < count {
        let h = (x[i] - mean) * r
        let g = !masked || h * gamma + beta > 0 ? dy[i] : 0
        dx[i] = k * (g - a - h * b)
        i += 1
    }
}

/// out = a + b over `range`; `out` may be `a` (the in-place sum of the backward's gradients).
func addFloats(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    _ range: Range<Int>
) {
    var i = range.lowerBound
    while i + 8 <= range.upperBound {
        store8(load8(a + i) + load8(b + i), out + i)
        i += 8
    }
    while i < range.upperBound { out[i] = a[i] + b[i]; i += 1 }
}

/// out = a + b elementwise, in parallel (same element counts); `out` may be `a`.
func addTensors(_ a: Tensor, _ b: Tensor, into out: Tensor) {
    precondition(a.count == b.count && a.count == out.count, "add: \(a.shape) + \(b.shape) into \(out.shape)")
    Parallel.forEachChunk(a.count, with: (UnsafePointer(a.data), UnsafePointer(b.data), out.data)) { s, r in
        addFloats(s.0, s.1, s.2, r)
    }
}

/// y = x·v over `count` floats.
func scaleFloats(_ x: UnsafePointer<Float>, by v: Float, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    let vv = Float8(repeating: v)
    var i = 0
    while i + 8 <= count { store8(load8(x + i) * vv, y + i); i += 8 }
    while i < count { y[i] = x[i] * v; i += 1 }
}
