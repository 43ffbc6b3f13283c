import CKernels

// BatchNorm's passes over one channel's plane of `count` floats, through CKernels' AVX2 or AVX-512 copy for the
// active SIMD level (KernelBodies.h), else the Swift ones in Elementwise.swift (`UNET_SIMD=portable`, and the
// oracles of SIMDKernelTests). The layer's forward and backward go through the same level, so the backward's
// recomputed x̂·γ + β (a fused ReLU's mask) has the forward's bits.

/// (Σ (x - k), Σ (x - k)²) in one pass, in double precision where it matters (see `unet_bn_moments`). The shift k,
/// a value of the channel, keeps the variance E[(x-k)²] - E[x-k]² from cancelling when the mean is large.
@inline(__always)
func batchNormMoments(
    _ x: UnsafePointer<Float>, _ count: Int, shift k: Float, level: SIMDLevel = .active
) -> (sum: Double, squares: Double) {
    var s = SIMD2<Double>()
    withUnsafeMutablePointer(to: &s) { p in
        p.withMemoryRebound(to: Double.self, capacity: 2) { d in
            switch level {
            case .avx512: unet_bn_moments_avx512(x, count, k, d)
            case .avx2: unet_bn_moments_avx2(x, count, k, d)
            case .portable: (d[0], d[1]) = shiftedMomentsInDouble(x, count, shift: k)
            }
        }
    }
    return (s[0], s[1])
}

/// y = (x - mean)·r·γ + β over `count` floats, max(·, 0) with `rectify`.
@inline(__always)
func batchNormNormalize(
    _ x: UnsafePointer<Float>, _ count: Int, mean: Float, inverseStd r: Float, gamma: Float, beta: Float,
    rectify: Bool, _ y: UnsafeMutablePointer<Float>, level: SIMDLevel = .active
) {
    switch level {
    case .avx512: unet_bn_normalize_avx512(x, count, mean, r, gamma, beta, rectify, y)
    case .avx2: unet_bn_normalize_avx2(x, count, mean, r, gamma, beta, rectify, y)
    case .portable:
        normalizeAffine(x, count, mean: mean, inverseStd: r, gamma: gamma, beta: beta, xhat: nil, y, rectify: rectify)
    }
}

/// (Σ g, Σ g·x̂), g = dy, or with `rectified` dy where the forward's output was positive (`sumAndNormalizedDot`).
@inline(__always)
func batchNormBackwardSums(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int, mean: Float, inverseStd r: Float,
    rectified: (gamma: Float, beta: Float)?, level: SIMDLevel = .active
) -> (Float, Float) {
    if level == .portable {
        return sumAndNormalizedDot(dy, x, count, mean: mean, inverseStd: r, rectified: rectified)
    }
    var out = SIMD2<Float>()
    var rect = SIMD2<Float>(rectified?.gamma ?? 0, rectified?.beta ?? 0)
    withUnsafeMutablePointer(to: &out) { o in
        o.withMemoryRebound(to: Float.self, capacity: 2) { o in
            withUnsafePointer(to: &rect) { g in
                g.withMemoryRebound(to: Float.self, capacity: 2) { g in
                    let rect = rectified == nil ? nil : g
                    if level == .avx512 {
                        unet_bn_backward_sums_avx512(dy, x, count, mean, r, rect, o)
                    } else {
                        unet_bn_backward_sums_avx2(dy, x, count, mean, r, rect, o)
                    }
                }
            }
        }
    }
    return (out[0], out[1])
}

/// dx = k·(g - a - x̂·b), g as in `batchNormBackwardSums` (`batchNormInputGradient`).
@inline(__always)
func batchNormInputGradientDispatched(
    _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int, mean: Float, inverseStd r: Float, k: Float,
    a: Float, b: Float, rectified: (gamma: Float, beta: Float)?, _ dx: UnsafeMutablePointer<Float>,
    level: SIMDLevel = .active
) {
    if level == .portable {
        batchNormInputGradient(
            dy, x, count, mean: mean, inverseStd: r, k: k, a: a, b: b, rectified: rectified, dx)
        return
    }
    var rect = SIMD2<Float>(rectified?.gamma ?? 0, rectified?.beta ?? 0)
    withUnsafePointer(to: &rect) { g in
        g.withMemoryRebound(to: Float.self, capacity: 2) { g in
            let rect = rectified == nil ? nil : g
            if level == .avx512 {
                unet_bn_input_gradient_avx512(dy, x, count, mean, r, k, a, b, rect, dx)
            } else {
                unet_bn_input_gradient_avx2(dy, x, count, mean, r, k, a, b, rect, dx)
            }
        }
    }
}
