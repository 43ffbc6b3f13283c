// Letters: C channels, H/W input height/width, KH/KW kernel, OH/OW output, S stride, P padding (top/left).

/// The geometry of one 2-D convolution (or pooling) window over one image.
public struct ConvGeometry: Equatable, Sendable {
    public var channels, height, width: Int
    public var kernelH, kernelW: Int
    public var strideH, strideW: Int
    public var padTop, padLeft: Int
    public var outH, outW: Int

    /// Rows of the column matrix: one per (channel, kernel row, kernel column).
    public var colRows: Int { channels * kernelH * kernelW }
    /// Columns of the column matrix: one per output pixel.
    public var colCols: Int { outH * outW }

    public init(
        channels: Int, height: Int, width: Int, kernelH: Int, kernelW: Int, strideH: Int = 1,
        strideW: Int = 1, padding: Padding
    ) {
        self.channels = channels; self.height = height; self.width = width
        self.kernelH = kernelH; self.kernelW = kernelW; self.strideH = strideH; self.strideW = strideW
        switch padding {
        case .valid:
            padTop = 0; padLeft = 0
            outH = (height - kernelH) / strideH + 1
            outW = (width - kernelW) / strideW + 1
        case .same:  // TensorFlow's rule: out = ceil(in / stride), the odd pixel of padding at the bottom/right.
            outH = (height + strideH - 1) / strideH
            outW = (width + strideW - 1) / strideW
            padTop = max((outH - 1) * strideH + kernelH - height, 0) / 2
            padLeft = max((outW - 1) * strideW + kernelW - width, 0) / 2
        case .explicit(let p):
            padTop = p; padLeft = p
            outH = (height + 2 * p - kernelH) / strideH + 1
            outW = (width + 2 * p - kernelW) / strideW + 1
        case .sides(let top, let bottom, let left, let right):
            padTop = top; padLeft = left
            outH = (height + top + bottom - kernelH) / strideH + 1
            outW = (width + left + right - kernelW) / strideW + 1
        }
    }
}

extension ConvGeometry {
    /// The output shape (N, `outChannels`, OH, OW) of a convolution layer over input `s` (N, C, H, W), or why the
    /// input does not fit: a rank other than 4, C other than `channels`, or a plane smaller than the kernel.
    static func outputShape(
        _ s: [Int], of kind: String, channels: Int, outChannels: Int,
        _ geometry: ([Int]) -> ConvGeometry
    ) throws -> [Int] {
        try expectRank(s, 4, kind)
        guard s[1] == channels else {
            throw ShapeError("\(kind) expects \(channels) input channels, got \(s[1]) (input \(s))")
        }
        let g = geometry(s)
        guard g.outH > 0, g.outW > 0 else { throw ShapeError("\(kind): input \(s) is smaller than the kernel") }
        return [s[0], outChannels, g.outH, g.outW]
    }
}

/// Convolution padding, as Keras ("same", "valid") or as PyTorch (an explicit count on every side), or a count per
/// side: TensorFlow's "same" fixed for one input size, as EfficientNet ports pad (the stem's (0, 1, 0, 1) at
/// stride 2), which `ZeroPad2d` then a convolution expresses in PyTorch. Only the top and left counts move the
/// windows; the bottom and right ones set the output size (the kernels treat every tap outside the image as 0).
public enum Padding: Equatable, Sendable {
    case same, valid
    case explicit(Int)
    case sides(top: Int, bottom: Int, left: Int, right: Int)

    /// Padding by side, as `.explicit(p)` when all four are p: symmetric padding keeps its fast paths (Winograd).
    public static func explicit(top: Int, bottom: Int, left: Int, right: Int) -> Padding {
        top == bottom && top == left && top == right
            ? .explicit(top)
            : .sides(
                top: top, bottom: bottom, left: left,
                right: right)
    }

    public var name: String {
        switch self {
        case .same: return "same"
        case .valid: return "valid"
        case .explicit(let p): return "\(p)"
        case .sides(let top, let bottom, let left, let right): return "(\(top), \(bottom), \(left), \(right))"
        }
    }
}

/// Unfolds image `x` (C, H, W) into `col` (C*KH*KW, OH*OW) so that a convolution becomes one GEMM.
/// Out-of-image taps read as zero.
public func im2col(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>) {
    let (oh, ow) = (g.outH, g.outW)
    Parallel.forEach(g.channels, cost: g.kernelH * g.kernelW * oh * ow, with: (x, g, col, oh, ow)) { s, c in
        let (x, g, col, oh, ow) = s
        let xc = x + c * g.height * g.width
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * oh * ow
                // Output columns whose tap lands inside the image: ox in [oxLo, oxHi).
                let (oxLo, oxHi) = validRange(offset: kj - g.padLeft, stride: g.strideW, size: g.width, count: ow)
                for oy in 0..<oh {
                    let iy = oy * g.strideH - g.padTop + ki
                    let dst = row + oy * ow
                    if iy < 0 || iy >= g.height || oxLo >= oxHi {
                        dst.update(repeating: 0, count: ow)
                        continue
                    }
                    if oxLo > 0 { dst.update(repeating: 0, count: oxLo) }
                    if oxHi < ow { (dst + oxHi).update(repeating: 0, count: ow - oxHi) }
                    let src = xc + iy * g.width + (kj - g.padLeft)
                    if g.strideW == 1 {
                        (dst + oxLo).update(from: src + oxLo, count: oxHi - oxLo)
                    } else {
                        for ox in oxLo..<oxHi { dst[ox] = src[ox * g.strideW] }
                    }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: adds every column entry back onto the image pixel it was read from,
/// `x += fold(col)`. Used for the input gradient of a convolution and the forward of a transposed one.
public func col2im(_ col: UnsafePointer<Float>, _ g: ConvGeometry, _ x: UnsafeMutablePointer<Float>) {
    let (oh, ow) = (g.outH, g.outW)
    // Channels are independent, so they can be folded in parallel without races.
    Parallel.forEach(g.channels, cost: g.kernelH * g.kernelW * oh * ow, with: (col, g, x, oh, ow)) { s, c in
        let (col, g, x, oh, ow) = s
        let xc = x + c * g.height * g.width
        for ki in 0..<g.kernelH {
            for kj in 0..<g.kernelW {
                let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * oh * ow
                let (oxLo, oxHi) = validRange(offset: kj - g.padLeft, stride: g.strideW, size: g.width, count: ow)
                if oxLo >= oxHi { continue }
                for oy in 0..<oh {
                    let iy = oy * g.strideH - g.padTop + ki
                    if iy < 0 || iy >= g.height { continue }
                    let src = row + oy * ow
                    let dst = xc + iy * g.width + (kj - g.padLeft)
                    if g.strideW == 1 {
                        for ox in oxLo..<oxHi { dst[ox] += src[ox] }
                    } else {
                        for ox in oxLo..<oxHi { dst[ox * g.strideW] += src[ox] }
                    }
                }
            }
        }
    }
}

/// The output columns `ox` in `0..<count` for which `ox * stride + offset` lies in `0..<size`.
@inline(__always)
func validRange(offset: Int, stride: Int, size: Int, count: Int) -> (Int, Int) {
    // lo = ceil(-offset / stride), hi = ceil((size - offset) / stride), clamped to [0, count].
    func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
    let lo = max(0, ceilDiv(-offset, stride))
    let hi = min(count, ceilDiv(size - offset, stride))
    return (lo, max(lo, hi))
}

/// The direct convolution of one image, the oracle for im2col + GEMM.
/// x (C, H, W), w (O, C, KH, KW), bias (O) or nil, y (O, OH, OW).
public func conv2dNaive(
    _ x: UnsafePointer<Float>, _ g: ConvGeometry, weight w: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, outChannels: Int, _ y: UnsafeMutablePointer<Float>
) {
    for o in 0..<outChannels {
        for oy in 0..<g.outH {
            for ox in 0..<g.outW {
                var s = Double(bias?[o] ?? 0)
                for c in 0..<g.channels {
                    for ki in 0..<g.kernelH {
                        for kj in 0..<g.kernelW {
                            let iy = oy * g.strideH - g.padTop + ki
                            let ix = ox * g.strideW - g.padLeft + kj
                            if iy < 0 || iy >= g.height || ix < 0 || ix >= g.width { continue }
                            s +=
                                Double(x[(c * g.height + iy) * g.width + ix])
                                * Double(w[((o * g.channels + c) * g.kernelH + ki) * g.kernelW + kj])
                        }
                    }
                }
                y[(o * g.outH + oy) * g.outW + ox] = Float(s)
            }
        }
    }
}
