import CKernels

// Letters: H/W input plane, OH/OW output plane, K kernel (K x K), S stride, PT/PL padding at the top/left.
//
// Depthwise convolution, one channel's plane at a time: each output is K² multiply-adds over one input plane, so
// the work is memory-bound and im2col (K² copies of the input) would only add traffic. The kernels below read
// the plane in place: columns whose every tap lies inside the row take eight outputs at a time (stride 1: eight
// consecutive inputs; stride 2: sixteen, split into even and odd lanes), the edge columns too from a zero-padded
// copy of their rows (other strides: a checked scalar loop), and kernel rows outside the image are skipped. Taps
// are summed in one fixed order (rows, then columns), so results do not depend on the threads. `depthwiseNaive*`
// are the oracles, in Double.
//
// The backward visits each plane once for both gradients (`DepthwiseConv2D.backward`): the weight gradient sums up
// to five taps of a kernel row side by side from one load of dy, and at stride 1 the input gradient is itself a
// forward convolution of dy with the kernel turned by 180° (`depthwiseAdjointGeometry`), so every dx is written
// once from sums kept in registers instead of K² read-modify-write passes over the row.

/// `depthwisePlaneForward` through the vector kernels of `level` (`CKernels`) where they take the geometry (3x3 and
/// 5x5, column stride 1 or 2), else the Swift kernel. The layer calls these three.
@inline(__always)
func depthwiseForward(
    _ x: UnsafePointer<Float>, _ g: ConvGeometry, _ w: UnsafePointer<Float>, bias: Float,
    _ y: UnsafeMutablePointer<Float>, level: SIMDLevel = .active
) {
    switch level {
    case .avx512 where cKernelsTake(g): if unet_dw_forward_avx512(x, cGeometry(g), w, bias, y) { return }
    case .avx2 where cKernelsTake(g): if unet_dw_forward_avx2(x, cGeometry(g), w, bias, y) { return }
    default: break
    }
    depthwisePlaneForward(x, g, w, bias: bias, y)
}

/// `depthwisePlaneWeightGradient` through the vector kernels where they take the geometry.
@inline(__always)
func depthwiseWeightGradient(
    _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ g: ConvGeometry,
    _ acc: UnsafeMutablePointer<Double>, level: SIMDLevel = .active
) {
    switch level {
    case .avx512 where cKernelsTake(g): if unet_dw_weight_gradient_avx512(x, dy, cGeometry(g), acc) { return }
    case .avx2 where cKernelsTake(g): if unet_dw_weight_gradient_avx2(x, dy, cGeometry(g), acc) { return }
    default: break
    }
    depthwisePlaneWeightGradient(x, dy, g, acc)
}

/// dx for one plane (overwritten): at stride 1 the forward of dy with the kernel turned by 180° (`turned`, under
/// `depthwiseAdjointGeometry`); at column stride 2 the vector kernels' gathered form; else
/// `depthwisePlaneInputGradient`.
@inline(__always)
func depthwiseInputGradient(
    _ dy: UnsafePointer<Float>, _ g: ConvGeometry, _ w: UnsafePointer<Float>,
    turned: UnsafePointer<Float>, adjoint: ConvGeometry?, _ dx: UnsafeMutablePointer<Float>,
    level: SIMDLevel = .active
) {
    if let adjoint { return depthwiseForward(dy, adjoint, turned, bias: 0, dx, level: level) }
    switch level {
    case .avx512 where cKernelsTake(g): if unet_dw_input_gradient_s2_avx512(dy, cGeometry(g), w, dx) { return }
    case .avx2 where cKernelsTake(g): if unet_dw_input_gradient_s2_avx2(dy, cGeometry(g), w, dx) { return }
    default: break
    }
    depthwisePlaneInputGradient(dy, g, w, dx)
}

/// The output columns whose K taps all lie inside a row of width W: ox in lo..<hi.
@inline(__always)
func depthwiseInteriorColumns(_ g: ConvGeometry) -> (lo: Int, hi: Int) {
    let s = g.strideW
    let lo = min(g.outW, (g.padLeft + s - 1) / s)  // ox·S - PL >= 0
    let last = g.width - g.kernelW + g.padLeft  // ox·S - PL + K - 1 <= W - 1
    let hi = last < 0 ? lo : max(lo, min(g.outW, last / s + 1))
    return (lo, hi)
}

/// Floats of the zero-padded row copy an edge block of eight outputs reads (`copyPaddedSegment`), or nil where edge
/// columns take the checked scalar loop instead (strides above 2, kernels wider than 49).
@inline(__always)
func depthwiseSegmentLength(_ g: ConvGeometry) -> Int? {
    let n = g.strideW == 1 ? g.kernelW + 7 : g.kernelW + 15
    return (g.strideW == 1 || g.strideW == 2) && n <= 64 ? n : nil
}

/// Calls `body(first, lanes)` for the edge columns of an output row in blocks of at most eight: 0..<lo, then
/// from..<OW (`from` is where the interior's vectors stopped).
@inline(__always)
func forEachEdgeBlock(lo: Int, from: Int, outW: Int, _ body: (Int, Int) -> Void) {
    var b = 0
    while b < lo { body(b, min(8, lo - b)); b += 8 }
    b = from
    while b < outW { body(b, min(8, outW - b)); b += 8 }
}

/// seg[j] = row[start + j] for j in 0..<count where 0 <= start + j < width, else 0.
@inline(__always)
func copyPaddedSegment(
    _ row: UnsafePointer<Float>, width: Int, start: Int, count: Int,
    _ seg: UnsafeMutablePointer<Float>
) {
    let (a, b) = (max(0, -start), min(count, width - start))  // seg[a..<b] lies in the row
    seg.update(repeating: 0, count: count)
    if a < b { (seg + a).update(from: row + start + a, count: b - a) }
}

/// A kernel width known when compiling, so that `depthwiseInteriorRow` unrolls its taps.
protocol DepthwiseKernelWidth { static var k: Int { get } }
enum DepthwiseKernel3: DepthwiseKernelWidth { static var k: Int { 3 } }
enum DepthwiseKernel5: DepthwiseKernelWidth { static var k: Int { 5 } }

/// y[ox] for whole vectors of columns from `from` while they lie in `hi` (the interior), for an output row whose K
/// input rows (from `x`, the first) all lie in the image; returns the first column not done. The taps unrolled
/// and the weights `w` held as a value: with K a run-time number the loop over the taps, and the weights reloaded
/// past every store to y (which might alias them), cost more than the multiply-adds. Sums in the generic order.
@inline(__always)
func depthwiseInteriorRow<K: DepthwiseKernelWidth>(
    _: K.Type, _ x: UnsafePointer<Float>, _ g: ConvGeometry,
    _ w: SIMD32<Float>, bias: Float, _ y: UnsafeMutablePointer<Float>,
    from: Int, hi: Int
) -> Int {
    let (k, width, pl) = (K.k, g.width, g.padLeft)
    var ox = from
    if g.strideW == 1 {
        while ox + 8 <= hi {
            var acc = Float8(repeating: bias)
            for ki in 0..<k {
                let row = x + ki * width + ox - pl
                for kj in 0..<k { acc += Float8(repeating: w[ki * k + kj]) * load8(row + kj) }
            }
            store8(acc, y + ox)
            ox += 8
        }
    } else if g.strideW == 2 {
        while ox + 8 <= hi && 2 * ox - pl + k + 15 <= width {
            var acc = Float8(repeating: bias)
            for ki in 0..<k {
                let row = x + ki * width + 2 * ox - pl
                for kj in 0..<k { acc += Float8(repeating: w[ki * k + kj]) * load16(row + kj).evenHalf }
            }
            store8(acc, y + ox)
            ox += 8
        }
    }
    return ox
}

/// y (OH, OW) = Σ_ki,kj w[ki, kj]·x[oy·S - PT + ki, ox·S - PL + kj] + bias over one plane; taps outside are 0.
/// The edge columns go eight at a time too, from zero-padded copies of their rows: one checked float at a time
/// they took as long as the whole interior of a 112-wide row (and longer at 28).
func depthwisePlaneForward(
    _ x: UnsafePointer<Float>, _ g: ConvGeometry, _ w: UnsafePointer<Float>, bias: Float,
    _ y: UnsafeMutablePointer<Float>
) {
    let (h, width, k, s, ow, pl) = (g.height, g.width, g.kernelW, g.strideW, g.outW, g.padLeft)
    let (lo, hi) = depthwiseInteriorColumns(g)
    let span = depthwiseSegmentLength(g)
    var weights = SIMD32<Float>()  // for the unrolled 3x3 and 5x5 rows
    if k == 3 || k == 5 { for t in 0..<(k * k) { weights[t] = w[t] } }
    var segment = SIMD64<Float>()
    withUnsafeMutableBytes(of: &segment) { raw in
        let seg = raw.bindMemory(to: Float.self).baseAddress!
        for oy in 0..<g.outH {
            let iy0 = oy * g.strideH - g.padTop
            let (kiLo, kiHi) = (max(0, -iy0), max(0, min(k, h - iy0)))
            let yr = y + oy * ow
            var ox = lo
            if kiLo == 0 && kiHi == k && (k == 3 || k == 5) {
                let row = x + iy0 * width
                ox =
                    k == 3
                    ? depthwiseInteriorRow(DepthwiseKernel3.self, row, g, weights, bias: bias, yr, from: lo, hi: hi)
                    : depthwiseInteriorRow(DepthwiseKernel5.self, row, g, weights, bias: bias, yr, from: lo, hi: hi)
            } else if s == 1 {
                while ox + 8 <= hi {
                    var acc = Float8(repeating: bias)
                    for ki in kiLo..<max(kiLo, kiHi) {
                        let row = x + (iy0 + ki) * width + ox - pl, wr = w + ki * k
                        for kj in 0..<k { acc += Float8(repeating: wr[kj]) * load8(row + kj) }
                    }
                    store8(acc, yr + ox)
                    ox += 8
                }
            } else if s == 2 {
                // Sixteen floats from 2·ox - PL + kj: the last is one past the eighth tap, so it must lie in the row.
                while ox + 8 <= hi && 2 * ox - pl + k + 15 <= width {
                    var acc = Float8(repeating: bias)
                    for ki in kiLo..<max(kiLo, kiHi) {
                        let row = x + (iy0 + ki) * width + 2 * ox - pl, wr = w + ki * k
                        for kj in 0..<k { acc += Float8(repeating: wr[kj]) * load16(row + kj).evenHalf }
                    }
                    store8(acc, yr + ox)
                    ox += 8
                }
            }
            // The edges: columns 0..<lo, then ox..<OW. A tap outside the row adds w·0, which leaves the sum as it is.
            forEachEdgeBlock(lo: lo, from: ox, outW: ow) { e, lanes in
                if let span {
                    var acc = Float8(repeating: bias)
                    for ki in kiLo..<max(kiLo, kiHi) {
                        copyPaddedSegment(x + (iy0 + ki) * width, width: width, start: e * s - pl, count: span, seg)
                        let wr = w + ki * k
                        if s == 1 {
                            for kj in 0..<k { acc += Float8(repeating: wr[kj]) * load8(seg + kj) }
                        } else {
                            for kj in 0..<k { acc += Float8(repeating: wr[kj]) * load16(seg + kj).evenHalf }
                        }
                    }
                    storePartial(acc, yr + e, lanes)
                } else {
                    for c in e..<(e + lanes) {
                        var acc = bias
                        let ix0 = c * s - pl
                        for ki in kiLo..<max(kiLo, kiHi) {
                            let row = x + (iy0 + ki) * width, wr = w + ki * k
                            for kj in 0..<k where ix0 + kj >= 0 && ix0 + kj < width {
                                acc += wr[kj] * row[ix0 + kj]
                            }
                        }
                        yr[c] = acc
                    }
                }
            }
        }
    }
}

/// Calls `body(oy, ki, iy)` for every output row oy and every kernel row ki whose input row iy = oy·S - PT + ki lies
/// in the plane, in that order: the row walk of the backward kernels.
@inline(__always)
func forEachKernelRow(_ g: ConvGeometry, _ body: (_ oy: Int, _ ki: Int, _ iy: Int) -> Void) {
    for oy in 0..<g.outH {
        let iy0 = oy * g.strideH - g.padTop
        let kiLo = max(0, -iy0)
        for ki in kiLo..<max(kiLo, min(g.kernelH, g.height - iy0)) { body(oy, ki, iy0 + ki) }
    }
}

/// dx (H, W) = the adjoint of `depthwisePlaneForward` for one plane: each dy[oy, ox]·w[ki, kj] added back onto the
/// input it read. dx is overwritten.
func depthwisePlaneInputGradient(
    _ dy: UnsafePointer<Float>, _ g: ConvGeometry, _ w: UnsafePointer<Float>,
    _ dx: UnsafeMutablePointer<Float>
) {
    let (h, width, k, s, ow) = (g.height, g.width, g.kernelW, g.strideW, g.outW)
    dx.update(repeating: 0, count: h * width)
    forEachKernelRow(g) { oy, ki, iy in
        let (dyr, row) = (dy + oy * ow, dx + iy * width)
        for kj in 0..<k {
            let (lo, hi) = validRange(offset: kj - g.padLeft, stride: s, size: width, count: ow)
            guard lo < hi else { continue }
            let wv = w[ki * k + kj]
            let dst = row + kj - g.padLeft
            if s == 1 {
                axpyFloats(wv, dyr + lo, dst + lo, hi - lo)
            } else {
                for ox in lo..<hi { dst[ox * s] += wv * dyr[ox] }
            }
        }
    }
}

/// The geometry under which a stride-1 depthwise convolution's input gradient is a forward one: dx (H, W) =
/// Σ w[K-1-ki, K-1-kj]·dy[iy - (K-1-PT) + ki, ix - (K-1-PL) + kj], dy (OH, OW) padded by K-1-PT at the top and
/// K-1-PL at the left. Nil for other strides, or padding wider than K-1 (then `depthwisePlaneInputGradient`).
func depthwiseAdjointGeometry(_ g: ConvGeometry) -> ConvGeometry? {
    guard g.strideH == 1, g.strideW == 1, g.padTop < g.kernelH, g.padLeft < g.kernelW else { return nil }
    var t = ConvGeometry(
        channels: 1, height: g.outH, width: g.outW, kernelH: g.kernelH, kernelW: g.kernelW,
        padding: .sides(
            top: g.kernelH - 1 - g.padTop, bottom: 0, left: g.kernelW - 1 - g.padLeft,
            right: 0))
    t.outH = g.height
    t.outW = g.width
    return t
}

/// acc[ki·K + kj] += Σ dy[oy, ox]·x[oy·S - PT + ki, ox·S - PL + kj] for one plane, in one visit of each row:
/// up to five taps of a kernel row are summed side by side from one load of dy (the kernel before this one went
/// over the plane once per tap, 9 or 25 times). Each (row, tap) sum is added to `acc` in Double, in a fixed order.
func depthwisePlaneWeightGradient(
    _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ g: ConvGeometry,
    _ acc: UnsafeMutablePointer<Double>
) {
    let (width, k, s, ow, pl) = (g.width, g.kernelW, g.strideW, g.outW, g.padLeft)
    let (lo, hi) = depthwiseInteriorColumns(g)
    let span = depthwiseSegmentLength(g)
    var segment = SIMD64<Float>()
    withUnsafeMutableBytes(of: &segment) { raw in
        let seg = raw.bindMemory(to: Float.self).baseAddress!
        forEachKernelRow(g) { oy, ki, iy in
            let (dyr, row) = (dy + oy * ow, x + iy * width)
            var kj0 = 0
            while kj0 < k {
                let taps = min(5, k - kj0)
                var (a0, a1, a2, a3, a4) = (Float8(), Float8(), Float8(), Float8(), Float8())
                var ox = lo
                if s == 1 {
                    while ox + 8 <= hi {
                        let d = load8(dyr + ox), r = row + ox - pl + kj0
                        a0 += d * load8(r)
                        if taps > 1 { a1 += d * load8(r + 1) }
                        if taps > 2 { a2 += d * load8(r + 2) }
                        if taps > 3 { a3 += d * load8(r + 3) }
                        if taps > 4 { a4 += d * load8(r + 4) }
                        ox += 8
                    }
                } else if s == 2 {
                    // Sixteen floats from 2·ox - PL + kj as in the forward: all of them inside the row.
                    while ox + 8 <= hi && 2 * ox - pl + k + 15 <= width {
                        let d = load8(dyr + ox), r = row + 2 * ox - pl + kj0
                        a0 += d * load16(r).evenHalf
                        if taps > 1 { a1 += d * load16(r + 1).evenHalf }
                        if taps > 2 { a2 += d * load16(r + 2).evenHalf }
                        if taps > 3 { a3 += d * load16(r + 3).evenHalf }
                        if taps > 4 { a4 += d * load16(r + 4).evenHalf }
                        ox += 8
                    }
                }
                // The columns the vectors did not take, 0..<lo and ox..<OW: eight at a time from a zero-padded
                // copy of the row where the segment fits (dy's lanes past the block are 0), else every tap
                // checked, in lane t of `e`.
                var e = Float8()
                forEachEdgeBlock(lo: lo, from: ox, outW: ow) { b, lanes in
                    if let span {
                        copyPaddedSegment(row, width: width, start: b * s - pl + kj0, count: span, seg)
                        let d = loadPartial(dyr + b, lanes)
                        if s == 1 {
                            a0 += d * load8(seg)
                            if taps > 1 { a1 += d * load8(seg + 1) }
                            if taps > 2 { a2 += d * load8(seg + 2) }
                            if taps > 3 { a3 += d * load8(seg + 3) }
                            if taps > 4 { a4 += d * load8(seg + 4) }
                        } else {
                            a0 += d * load16(seg).evenHalf
                            if taps > 1 { a1 += d * load16(seg + 1).evenHalf }
                            if taps > 2 { a2 += d * load16(seg + 2).evenHalf }
                            if taps > 3 { a3 += d * load16(seg + 3).evenHalf }
                            if taps > 4 { a4 += d * load16(seg + 4).evenHalf }
                        }
                    } else {
                        for c in b..<(b + lanes) {
                            let d = dyr[c], ix0 = c * s - pl + kj0
                            for t in 0..<taps where ix0 + t >= 0 && ix0 + t < width {
                                e[t] += d * row[ix0 + t]
                            }
                        }
                    }
                }
                let sums = SIMD8<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum(), a4.sum(), 0, 0, 0) + e
                let dst = acc + ki * k + kj0
                for t in 0..<taps { dst[t] += Double(sums[t]) }
                kj0 += taps
            }
        }
    }
}

/// y += a·x over `count` floats.
func axpyFloats(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    let av = Float8(repeating: a)
    var i = 0
    while i + 8 <= count { store8(load8(y + i) + av * load8(x + i), y + i); i += 8 }
    while i < count { y[i] += a * x[i]; i += 1 }
}

/// The oracle of `depthwisePlaneForward`: the same sum in Double, every tap checked.
public func depthwiseNaiveForward(
    _ x: UnsafePointer<Float>, _ g: ConvGeometry, _ w: UnsafePointer<Float>,
    bias: Float, _ y: UnsafeMutablePointer<Float>
) {
    let k = g.kernelW
    for oy in 0..<g.outH {
        for ox in 0..<g.outW {
            var acc = Double(bias)
            for ki in 0..<k {
                for kj in 0..<k {
                    let (iy, ix) = (oy * g.strideH - g.padTop + ki, ox * g.strideW - g.padLeft + kj)
                    if iy < 0 || iy >= g.height || ix < 0 || ix >= g.width { continue }
                    acc += Double(w[ki * k + kj]) * Double(x[iy * g.width + ix])
                }
            }
            y[oy * g.outW + ox] = Float(acc)
        }
    }
}

/// The oracle of the backward kernels for one plane: dx (overwritten) and dw (added to), in Double.
public func depthwiseNaiveBackward(
    _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ g: ConvGeometry,
    _ w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    dw: UnsafeMutablePointer<Float>
) {
    let k = g.kernelW
    var dxd = [Double](repeating: 0, count: g.height * g.width), dwd = [Double](repeating: 0, count: k * k)
    for oy in 0..<g.outH {
        for ox in 0..<g.outW {
            let d = Double(dy[oy * g.outW + ox])
            for ki in 0..<k {
                for kj in 0..<k {
                    let (iy, ix) = (oy * g.strideH - g.padTop + ki, ox * g.strideW - g.padLeft + kj)
                    if iy < 0 || iy >= g.height || ix < 0 || ix >= g.width { continue }
                    dxd[iy * g.width + ix] += d * Double(w[ki * k + kj])
                    dwd[ki * k + kj] += d * Double(x[iy * g.width + ix])
                }
            }
        }
    }
    for i in dxd.indices { dx[i] = Float(dxd[i]) }
    for i in dwd.indices { dw[i] += Float(dwd[i]) }
}
