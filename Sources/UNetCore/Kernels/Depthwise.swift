// Letters: H/W input plane, OH/OW output plane, K kernel (K x K), S stride, PT/PL padding at the top/left.
//
// Depthwise convolution, one channel's plane at a time: each output is K² multiply-adds over one input plane, so
// the work is memory-bound and im2col (K² copies of the input) would only add traffic. The kernels below read
// the plane in place: columns whose every tap lies inside the row take eight outputs at a time (stride 1: eight
// consecutive inputs; stride 2: sixteen, split into even and odd lanes), the edge columns take a checked scalar
// loop, and kernel rows outside the image are skipped. Taps are summed in one fixed order (rows, then columns), so
// results do not depend on the threads. `depthwiseNaive*` are the oracles, in Double.

/// The output columns whose K taps all lie inside a row of width W: ox in lo..<hi.
@inline(__always)
func depthwiseInteriorColumns(_ g: ConvGeometry) -> (lo: Int, hi: Int) {
    let s = g.strideW
    let lo = min(g.outW, (g.padLeft + s - 1) / s)  // ox·S - PL >= 0
    let last = g.width - g.kernelW + g.padLeft     // ox·S - PL + K - 1 <= W - 1
    let hi = last < 0 ? lo : max(lo, min(g.outW, last / s + 1))
    return (lo, hi)
}

/// y (OH, OW) = Σ_ki,kj w[ki, kj]·x[oy·S - PT + ki, ox·S - PL + kj] + bias over one plane; taps outside are 0.
func depthwisePlaneForward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ w: UnsafePointer<Float>, bias: Float,
                           _ y: UnsafeMutablePointer<Float>) {
    let (h, width, k, s, ow) = (g.height, g.width, g.kernelW, g.strideW, g.outW)
    let (lo, hi) = depthwiseInteriorColumns(g)
    for oy in 0..<g.outH {
        let iy0 = oy * g.strideH - g.padTop
        let (kiLo, kiHi) = (max(0, -iy0), min(k, h - iy0))
        let yr = y + oy * ow
        /// One output column, every tap checked.
        @inline(__always) func column(_ ox: Int) -> Float {
            var acc = bias
            let ix0 = ox * s - g.padLeft
            for ki in kiLo..<max(kiLo, kiHi) {
                let row = x + (iy0 + ki) * width, wr = w + ki * k
                for kj in 0..<k where ix0 + kj >= 0 && ix0 + kj < width { acc += wr[kj] * row[ix0 + kj] }
            }
            return acc
        }
        for ox in 0..<lo { yr[ox] = column(ox) }
        var ox = lo
        if s == 1 {
            while ox + 8 <= hi {
                var acc = Float8(repeating: bias)
                for ki in kiLo..<max(kiLo, kiHi) {
                    let row = x + (iy0 + ki) * width + ox - g.padLeft, wr = w + ki * k
                    for kj in 0..<k { acc += Float8(repeating: wr[kj]) * load8(row + kj) }
                }
                store8(acc, yr + ox)
                ox += 8
            }
        } else if s == 2 {
            // Sixteen floats from 2·ox - PL + kj: the last is one past the eighth tap, so it must lie in the row too.
            while ox + 8 <= hi && 2 * ox - g.padLeft + k + 15 <= width {
                var acc = Float8(repeating: bias)
                for ki in kiLo..<max(kiLo, kiHi) {
                    let row = x + (iy0 + ki) * width + 2 * ox - g.padLeft, wr = w + ki * k
                    for kj in 0..<k { acc += Float8(repeating: wr[kj]) * load16(row + kj).evenHalf }
                }
                store8(acc, yr + ox)
                ox += 8
            }
        }
        while ox < ow { yr[ox] = column(ox); ox += 1 }
    }
}

/// dx (H, W) = the adjoint of `depthwisePlaneForward` for one plane: each dy[oy, ox]·w[ki, kj] added back onto the
/// input it read. dx is overwritten.
func depthwisePlaneInputGradient(_ dy: UnsafePointer<Float>, _ g: ConvGeometry, _ w: UnsafePointer<Float>,
                                 _ dx: UnsafeMutablePointer<Float>) {
    let (h, width, k, s, ow) = (g.height, g.width, g.kernelW, g.strideW, g.outW)
    dx.update(repeating: 0, count: h * width)
    for oy in 0..<g.outH {
        let iy0 = oy * g.strideH - g.padTop
        let dyr = dy + oy * ow
        let kiLo = max(0, -iy0)
        for ki in kiLo..<max(kiLo, min(k, h - iy0)) {
            let row = dx + (iy0 + ki) * width
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
}

/// dw[ki, kj] += Σ dy[oy, ox]·x[oy·S - PT + ki, ox·S - PL + kj] for one plane, each tap's rows summed in Double.
func depthwisePlaneWeightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ g: ConvGeometry,
                                  _ dw: UnsafeMutablePointer<Float>) {
    let (h, width, k, s, ow) = (g.height, g.width, g.kernelW, g.strideW, g.outW)
    for ki in 0..<k {
        for kj in 0..<k {
            let (lo, hi) = validRange(offset: kj - g.padLeft, stride: s, size: width, count: ow)
            guard lo < hi else { continue }
            var acc = 0.0
            for oy in 0..<g.outH {
                let iy = oy * g.strideH - g.padTop + ki
                guard iy >= 0 && iy < h else { continue }
                let src = x + iy * width + kj - g.padLeft + lo * s
                acc += Double(dotStrided(dy + oy * ow + lo, src, stride: s, hi - lo))
            }
            dw[ki * k + kj] += Float(acc)
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

/// Σ a[i]·b[i·stride] over `count`: `dotFloats` at stride 1; at stride 2 eight products at a time from sixteen
/// floats of b while all sixteen lie within the (count - 1)·2 + 1 that the sum reads.
func dotStrided(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, stride: Int, _ count: Int) -> Float {
    if stride == 1 { return dotFloats(a, b, count) }
    var i = 0
    var s: Float = 0
    if stride == 2 {
        var acc = Float8()
        while 2 * i + 16 <= 2 * (count - 1) + 1 { acc += load8(a + i) * load16(b + 2 * i).evenHalf; i += 8 }
        s = acc.sum()
    }
    while i < count { s += a[i] * b[i * stride]; i += 1 }
    return s
}

/// The oracle of `depthwisePlaneForward`: the same sum in Double, every tap checked.
public func depthwiseNaiveForward(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ w: UnsafePointer<Float>,
                                  bias: Float, _ y: UnsafeMutablePointer<Float>) {
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
public func depthwiseNaiveBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ g: ConvGeometry,
                                   _ w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                   dw: UnsafeMutablePointer<Float>) {
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
