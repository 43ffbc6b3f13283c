import CKernels

/// Adam's (and AdamW's) element-wise update, eight weights at a time and split over the engine's threads.
///
/// Each lane computes exactly the scalar formula, operation for operation, so the new weights and moments are the
/// bits the scalar loop gave (PyTorch's golden steps still match). The scalar loop, single-threaded and branching
/// on optional moments per element, was a visible share of a Ronneberger training step (31M weights, two passes:
/// one to measure the update, one to write it; Examples/benchmarks/RESULTS.md).
struct AdamCoefficients {
    let learningRate, weightDecay, beta1, beta2, epsilon: Float
    /// lr / (1 - β1^t) and sqrt(1 - β2^t).
    let stepSize, bc2Sqrt: Float
    /// AdamW (decay applied to the weight) rather than Adam's L2 term in the gradient.
    let decoupled: Bool
}

/// What a measuring pass found: whether every new weight is finite, Σ (θ_new − θ)², Σ θ².
struct UpdateMeasure {
    var finite = true
    var squaredChange = 0.0
    var squaredNorm = 0.0
}

/// Updates (`commit`) or measures the update of `count` weights w with gradients g and moments m, v (nil before
/// the first step: read as zeros, only when measuring). The measure's sums are combined in chunk order, so they
/// are deterministic for a given thread count.
func adamUpdate(
    _ k: AdamCoefficients, count: Int, w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
    m: UnsafeMutablePointer<Float>?, v: UnsafeMutablePointer<Float>?, commit: Bool, level: SIMDLevel = .active
) -> UpdateMeasure {
    precondition(!commit || (m != nil && v != nil), "Adam writes moments that exist")
    let partials = ChunkPartials.shared.buffer(chunks: Parallel.threads)
    let chunks = Parallel.chunkCount(count, cost: 16)
    Parallel.forEachChunkIndexed(count, cost: 16, with: (k, w, g, m, v, commit, partials, level)) { s, chunk, range in
        let (k, w, g, m, v, commit, partials, level) = s
        partials[chunk] = adamUpdate(k, range: range, w: w, g: g, m: m, v: v, commit: commit, level: level)
    }
    var total = UpdateMeasure()
    for c in 0..<chunks {
        total.finite = total.finite && partials[c].finite
        total.squaredChange += partials[c].squaredChange
        total.squaredNorm += partials[c].squaredNorm
    }
    return total
}

/// One chunk's update through `CKernels`' copy for the active SIMD level (the same operations, so the same new
/// weights and moments; the measure's sums in another order), else the Swift lanes below.
private func adamUpdate(
    _ k: AdamCoefficients, range: Range<Int>, w: UnsafeMutablePointer<Float>,
    g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>?, v: UnsafeMutablePointer<Float>?,
    commit: Bool, level: SIMDLevel = .active
) -> UpdateMeasure {
    guard level != .portable else { return adamUpdateLanes(k, range: range, w: w, g: g, m: m, v: v, commit: commit) }
    var c = unet_adam_coefficients(
        decay: 1 - k.learningRate * k.weightDecay, weight_decay: k.weightDecay, one_minus_beta1: 1 - k.beta1,
        beta2: k.beta2, one_minus_beta2: 1 - k.beta2, step_size: k.stepSize, bc2_sqrt: k.bc2Sqrt,
        epsilon: k.epsilon, decoupled: k.decoupled, l2: !k.decoupled && k.weightDecay != 0)
    let (i, n) = (range.lowerBound, range.count)
    if commit {
        if level == .avx512 {
            unet_adam_commit_avx512(&c, w + i, g + i, m! + i, v! + i, n)
        } else {
            unet_adam_commit_avx2(&c, w + i, g + i, m! + i, v! + i, n)
        }
        return UpdateMeasure()
    }
    var out = SIMD3<Double>()
    withUnsafeMutablePointer(to: &out) { o in
        o.withMemoryRebound(to: Double.self, capacity: 3) { o in
            let (m, v) = (m.map { UnsafePointer($0 + i) }, v.map { UnsafePointer($0 + i) })
            if level == .avx512 {
                unet_adam_measure_avx512(&c, w + i, g + i, m, v, n, o)
            } else {
                unet_adam_measure_avx2(&c, w + i, g + i, m, v, n, o)
            }
        }
    }
    return UpdateMeasure(finite: out[0] != 0, squaredChange: out[1], squaredNorm: out[2])
}

/// `adamUpdate` in Swift, eight lanes at a time (`UNET_SIMD=portable`, and the oracle of the C copies).
func adamUpdateLanes(
    _ k: AdamCoefficients, range: Range<Int>, w: UnsafeMutablePointer<Float>,
    g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>?, v: UnsafeMutablePointer<Float>?,
    commit: Bool
) -> UpdateMeasure {
    let decay = Float8(repeating: 1 - k.learningRate * k.weightDecay), wd = Float8(repeating: k.weightDecay)
    let (b1c, b2, b2c) = (Float8(repeating: 1 - k.beta1), Float8(repeating: k.beta2), Float8(repeating: 1 - k.beta2))
    let (stepSize, bc2Sqrt, eps) = (
        Float8(repeating: k.stepSize), Float8(repeating: k.bc2Sqrt),
        Float8(repeating: k.epsilon)
    )
    let useL2 = !k.decoupled && k.weightDecay != 0
    var measure = UpdateMeasure()
    var (change, norm) = (SIMD8<Double>(), SIMD8<Double>())
    var allFinite = true
    var i = range.lowerBound
    while i + 8 <= range.upperBound {
        var gi = load8(g + i)
        let w0 = load8(w + i)
        var w1 = w0
        if k.decoupled { w1 *= decay } else if useL2 { gi += wd * w1 }
        let m0 = m.map { load8($0 + i) } ?? Float8(), v0 = v.map { load8($0 + i) } ?? Float8()
        let m1 = m0 + b1c * (gi - m0)  // PyTorch's lerp form
        let v1 = b2 * v0 + b2c * gi * gi
        // PyTorch: p -= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)
        w1 -= stepSize * m1 / (v1.squareRoot() / bc2Sqrt + eps)
        if commit {
            store8(m1, m! + i); store8(v1, v! + i); store8(w1, w + i)
        } else {
            allFinite = allFinite && all((w1 - w1) .== Float8())  // NaN or ±inf make w1 - w1 NaN
            let delta = SIMD8<Double>(w1 - w0), old = SIMD8<Double>(w0)
            change += delta * delta
            norm += old * old
        }
        i += 8
    }
    measure.squaredChange = change.sum()
    measure.squaredNorm = norm.sum()
    // The tail, scalar, with the same formula.
    while i < range.upperBound {
        var gi = g[i]
        var w1 = w[i]
        if k.decoupled { w1 *= 1 - k.learningRate * k.weightDecay } else if useL2 { gi += k.weightDecay * w1 }
        let m0 = m?[i] ?? 0, v0 = v?[i] ?? 0
        let m1 = m0 + (1 - k.beta1) * (gi - m0)
        let v1 = k.beta2 * v0 + (1 - k.beta2) * gi * gi
        w1 -= k.stepSize * m1 / (v1.squareRoot() / k.bc2Sqrt + k.epsilon)
        if commit {
            m![i] = m1; v![i] = v1; w[i] = w1
        } else {
            allFinite = allFinite && w1.isFinite
            let delta = Double(w1 - w[i])
            measure.squaredChange += delta * delta
            measure.squaredNorm += Double(w[i]) * Double(w[i])
        }
        i += 1
    }
    measure.finite = allFinite
    return measure
}

/// Whether all `count` floats are finite, eight at a time over the engine's threads (the trainer checks every
/// gradient before it updates).
func allFinite(_ x: UnsafePointer<Float>, _ count: Int) -> Bool {
    let partials = ChunkPartials.shared.buffer(chunks: Parallel.threads)
    let chunks = Parallel.chunkCount(count, cost: 2)
    Parallel.forEachChunkIndexed(count, cost: 2, with: (x, partials)) { s, chunk, range in
        let (x, partials) = s
        var ok = true
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let v = load8(x + i)
            ok = ok && all((v - v) .== Float8())
            i += 8
        }
        while i < range.upperBound { ok = ok && x[i].isFinite; i += 1 }
        partials[chunk] = UpdateMeasure(finite: ok)
    }
    return (0..<chunks).allSatisfy { partials[$0].finite }
}

/// One result slot per chunk of a parallel reduction, kept for the process (so a warm step allocates none).
final class ChunkPartials: @unchecked Sendable {
    static let shared = ChunkPartials()
    private var slots = UnsafeMutablePointer<UpdateMeasure>.allocate(capacity: 1)
    private var capacity = 1

    func buffer(chunks: Int) -> UnsafeMutablePointer<UpdateMeasure> {
        if chunks > capacity {
            slots.deallocate()
            slots = .allocate(capacity: chunks)
            capacity = chunks
        }
        return slots
    }
}
