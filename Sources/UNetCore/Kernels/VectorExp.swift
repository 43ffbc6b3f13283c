// e^x and the logistic function eight floats at a time, for the elementwise layers whose scalar `expf` would make
// them compute-bound (SiLU runs on every activation of an EfficientNet).
//
// exp: Cephes' single-precision method: x = n·ln2 + r with |r| <= ln2/2 (ln2 split in two constants so n·ln2 is
// exact), e^r by its degree-7 polynomial, 2^n put into the exponent bits. Relative error within a few ulp of expf;
// deterministic (the same lanes, the same operations, on every run and thread count).
//
// n is rounded by adding and subtracting 1.5·2^23, not by `rounded(.down)`: the engine builds for baseline x86-64
// (SSE2), where a vector floor becomes one libm call per lane.

/// e^x per lane for x <= 0: the logistic function only needs e^-|x|, which never overflows. Lanes below
/// -87.3 (where e^x leaves the normal floats) give exactly 0.
@inline(__always)
func expNonPositive8(_ x: Float8) -> Float8 {
    let lowest = Float8(repeating: -87.3)
    let clamped = x.replacing(with: lowest, where: x .< lowest)
    let magic = Float8(repeating: 12_582_912)  // 1.5·2^23: adding it rounds to an integer held in the low bits
    let shifted = clamped * Float8(repeating: 1.44269504088896341) + magic
    let n = shifted - magic
    var r = clamped - n * Float8(repeating: 0.693359375)
    r -= n * Float8(repeating: -2.12194440e-4)
    var p = Float8(repeating: 1.9875691500e-4)
    p = p * r + Float8(repeating: 1.3981999507e-3)
    p = p * r + Float8(repeating: 8.3334519073e-3)
    p = p * r + Float8(repeating: 4.1665795894e-2)
    p = p * r + Float8(repeating: 1.6666665459e-1)
    p = p * r + Float8(repeating: 5.0000001201e-1)
    p = p * r * r + r + Float8(repeating: 1)
    let bits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    let scaled = p * unsafeBitCast(bits, to: Float8.self)
    return scaled.replacing(with: Float8(), where: x .< lowest)
}

/// σ(x) = 1 / (1 + e^-x) and 1 - σ(x) = σ(-x) per lane, from e^-|x| so that nothing overflows: finite for every
/// finite x, 0 and 1 exactly far out (as the scalar `sigmoid`), and the smaller of the two never computed as a
/// difference of nearly equal numbers.
@inline(__always)
func sigmoidAndComplement8(_ x: Float8) -> (Float8, Float8) {
    let zero = Float8(), one = Float8(repeating: 1)
    let negative = x .< zero
    let e = expNonPositive8(x.replacing(with: zero - x, where: .!negative))  // e^-|x|
    let small = e / (one + e)  // σ(-|x|)
    let large = one - small
    return (large.replacing(with: small, where: negative), small.replacing(with: large, where: negative))
}
