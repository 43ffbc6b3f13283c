// Letters: N batch, C input channels, O output channels, H/W image (input = output for "same" 3x3 stride 1),
// T tiles (N * ceil(H/4) * ceil(W/4)), Tc tiles in one chunk, ξ one of the 36 points of a 6x6 Winograd tile.
//
// Winograd F(4x4, 3x3) (Lavin & Gray, 2015): a 4x4 block of a 3x3 convolution's output is
//     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
// for the 6x6 input patch d around it and the 3x3 kernel g, so 36 multiplications per (C, O) pair replace 144.
// Summed over input channels, the elementwise product becomes 36 independent GEMMs, one per tile point ξ:
//     M_ξ (O, T) = U_ξ (O, C) · V_ξ (C, T),   U = G g Gᵀ (transformed kernels), V = Bᵀ d B (transformed tiles).
// Tiles are processed in chunks of Tc so the transformed data stays small; each chunk's GEMMs are full width.
//
// The weight gradient is the adjoint of the same computation: dU_ξ (O, C) = Σ_t (A dY Aᵀ)_ξ (O, T) · V_ξᵀ (T, C),
// then dg = Gᵀ dU G. The input gradient of a "same" 3x3 stride-1 convolution is itself such a convolution of dy
// with the kernels flipped and transposed (C and O swapped), so it runs through the same forward.

import CKernels
import Foundation

/// Runtime choice of convolution algorithm, for the benchmark and the tests that compare the two.
public enum ConvolutionAlgorithms {
    /// Use Winograd F(4x4, 3x3) for 3x3 stride-1 "same" convolutions large enough to profit. On by default;
    /// `UNET_WINOGRAD=0` in the environment turns it off (the im2col path is the oracle).
    nonisolated(unsafe) public static var winogradEnabled: Bool =
        ProcessInfo.processInfo.environment["UNET_WINOGRAD"].map { $0 != "0" } ?? true

    /// Layers of up to `winogradBlockedChannels` channels (in and out) take Winograd's tiles in cache-sized blocks
    /// (`winogradConvolveInBlocks`); off to time the chunked driver against it (`unet-bench --conv`, or
    /// `UNET_WINOGRAD_BLOCKS=0` in the environment).
    nonisolated(unsafe) public static var winogradBlocksEnabled: Bool =
        ProcessInfo.processInfo.environment["UNET_WINOGRAD_BLOCKS"].map { $0 != "0" } ?? true
    public static let winogradBlockedChannels = 32

    /// Whether a 3x3 "same" stride-1 convolution of this size takes the Winograd path: both channel counts at
    /// least 8 (tiny layers gain nothing and keep im2col's exact rounding) and at least max(16, channels / 4)
    /// output tiles of 4x4 over the batch. Measured: with fewer tiles the 36 GEMMs are too narrow (n = tiles)
    /// and the transformed kernels (36 · O · C floats) cost more than they save, as for Ronneberger's 1024-channel
    /// bottleneck at 16x16.
    public static func useWinograd(channels: Int, outChannels: Int, height: Int, width: Int, batch: Int) -> Bool {
        guard winogradEnabled, channels >= 8, outChannels >= 8 else { return false }
        let tiles = batch * ((height + 3) / 4) * ((width + 3) / 4)
        return tiles >= max(16, max(channels, outChannels) / 4)
    }
}

/// The tiling of one Winograd convolution call: (N, C, H, W) in, (N, O, H, W) out, tiles in chunks of `chunk`.
struct WinogradPlan {
    let n, c, o, h, w: Int
    let tilesH, tilesW, tiles, chunk: Int

    /// Floats one chunk's transformed tiles may take (per buffer) for a convolution to `o` output channels.
    /// Wide layers want wide chunks: at 4 Mi floats Ronneberger's 512-channel layers at 32x32 took two chunks and
    /// the weight gradient went twice over its (36, O, C) sums. Layers to 64 channels do too little arithmetic per
    /// transformed float to stream chunks from memory; at 1 Mi floats (4 MiB) a chunk stays in cache. Both were
    /// measured with `unet-bench --conv` (Examples/benchmarks/RESULTS.md).
    static func defaultChunkBudget(outChannels o: Int) -> Int { o <= 64 ? 1 << 20 : 8 << 20 }
    /// Set by tests to force many chunks; nil for `defaultChunkBudget`.
    nonisolated(unsafe) static var chunkBudget: Int?

    init(n: Int, c: Int, o: Int, h: Int, w: Int) {
        self.n = n; self.c = c; self.o = o; self.h = h; self.w = w
        tilesH = (h + 3) / 4; tilesW = (w + 3) / 4
        tiles = n * tilesH * tilesW
        // As many chunks as the budget needs, and then all of one size: 256 tiles over a budget of 227 made a
        // chunk of 227 and one of 29, and the weight gradient's pass over (36, O, C) for the small one cost as
        // much as for the large one.
        let budget = WinogradPlan.chunkBudget ?? WinogradPlan.defaultChunkBudget(outChannels: o)
        let most = max(1, min(tiles, budget / (36 * max(c, o))))
        let chunks = (tiles + most - 1) / most
        chunk = (tiles + chunks - 1) / chunks
    }

    /// Floats of a chunk buffer holding `channels` transformed channels.
    var bufferCount: Int { 36 * max(c, o) * chunk }
}

// MARK: - 1-D transforms (6 or 4 or 3 values, read and written with strides)

/// Bᵀ d for the input tile: 6 -> 6.
@inline(__always)
private func inputTransform<V: SIMD>(_ d: UnsafePointer<V>, _ ds: Int, _ r: UnsafeMutablePointer<V>, _ rs: Int)
where V.Scalar == Float {
    let (d0, d1, d2, d3, d4, d5) = (d[0], d[ds], d[2 * ds], d[3 * ds], d[4 * ds], d[5 * ds])
    r[0] = 4 * d0 - 5 * d2 + d4
    r[rs] = -4 * (d1 + d2) + d3 + d4
    r[2 * rs] = 4 * (d1 - d2) - d3 + d4
    r[3 * rs] = 2 * (d3 - d1) - d2 + d4
    r[4 * rs] = 2 * (d1 - d3) - d2 + d4
    r[5 * rs] = 4 * d1 - 5 * d3 + d5
}

/// Aᵀ m for the output tile: 6 -> 4.
@inline(__always)
private func outputTransform<V: SIMD>(_ m: UnsafePointer<V>, _ ms: Int, _ r: UnsafeMutablePointer<V>, _ rs: Int)
where V.Scalar == Float {
    let (m0, m1, m2, m3, m4, m5) = (m[0], m[ms], m[2 * ms], m[3 * ms], m[4 * ms], m[5 * ms])
    let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4)
    r[0] = m0 + s12 + s34
    r[rs] = d12 + 2 * d34
    r[2 * rs] = s12 + 4 * s34
    r[3 * rs] = d12 + 8 * d34 + m5
}

/// A dy, the adjoint of `outputTransform`: 4 -> 6.
@inline(__always)
private func outputAdjoint<V: SIMD>(_ y: UnsafePointer<V>, _ ys: Int, _ r: UnsafeMutablePointer<V>, _ rs: Int)
where V.Scalar == Float {
    let (y0, y1, y2, y3) = (y[0], y[ys], y[2 * ys], y[3 * ys])
    r[0] = y0
    r[rs] = y0 + y1 + y2 + y3
    r[2 * rs] = y0 - y1 + y2 - y3
    r[3 * rs] = y0 + 2 * y1 + 4 * y2 + 8 * y3
    r[4 * rs] = y0 - 2 * y1 + 4 * y2 - 8 * y3
    r[5 * rs] = y3
}

/// G g for the kernel: 3 -> 6.
@inline(__always)
private func kernelTransform<V: SIMD>(_ g: UnsafePointer<V>, _ gs: Int, _ r: UnsafeMutablePointer<V>, _ rs: Int)
where V.Scalar == Float {
    let (g0, g1, g2) = (g[0], g[gs], g[2 * gs])
    r[0] = g0 / 4
    r[rs] = -(g0 + g1 + g2) / 6
    r[2 * rs] = -(g0 - g1 + g2) / 6
    r[3 * rs] = g0 / 24 + g1 / 12 + g2 / 6
    r[4 * rs] = g0 / 24 - g1 / 12 + g2 / 6
    r[5 * rs] = g2
}

/// Gᵀ du, the adjoint of `kernelTransform`: 6 -> 3.
@inline(__always)
private func kernelAdjoint<V: SIMD>(_ u: UnsafePointer<V>, _ us: Int, _ r: UnsafeMutablePointer<V>, _ rs: Int)
where V.Scalar == Float {
    let (u0, u1, u2, u3, u4, u5) = (u[0], u[us], u[2 * us], u[3 * us], u[4 * us], u[5 * us])
    r[0] = u0 / 4 - (u1 + u2) / 6 + (u3 + u4) / 24
    r[rs] = (u2 - u1) / 6 + (u3 - u4) / 12
    r[2 * rs] = (u3 + u4 - u1 - u2) / 6 + u5
}

// MARK: - Kernel transforms

/// U (36, O, C) from w (O, C, 3, 3); with `flipped`, the kernels of the input-gradient convolution instead:
/// U (36, C, O) from w'[c, o] = w[o, c] rotated by 180°. Eight kernels go through at once, one per lane, along
/// U's contiguous axis (input channels, or output channels when flipped), so every ξ row is stored eight floats
/// at a time. (The flipped case once ran its lanes along input channels and stored one float per cache line:
/// at 1024x512 channels it took longer than the input-gradient convolution it fed.)
func winogradTransformKernels(
    _ w: UnsafePointer<Float>, o: Int, c: Int, flipped: Bool,
    _ u: UnsafeMutablePointer<Float>, level: SIMDLevel = .active
) {
    let plane = o * c
    // Lanes run along `inner`; `outer` indexes the rest. Unflipped: outer = o, inner = c. Flipped: outer = c, inner = o.
    let (outer, inner) = flipped ? (c, o) : (o, c)
    Workspace.shared.forEachChunk(
        outer, cost: inner * 100, scratch: SIMD8<Float>.self, capacity: 9 + 18 + 36,
        with: (w, c, flipped, u, plane, inner, level)
    ) { state, s, range in
        let (w, c, flipped, u, plane, inner, level) = state
        if level != .portable {  // CKernels' copy: the same operations, 16 (or 8) kernels a vector
            let (outerTaps, innerTaps) = flipped ? (9, c * 9) : (c * 9, 9)
            for j in range {
                if level == .avx512 {
                    unet_winograd_kernels_row_avx512(w, outerTaps, innerTaps, Int32(inner), flipped, j, plane, u)
                } else {
                    unet_winograd_kernels_row_avx2(w, outerTaps, innerTaps, Int32(inner), flipped, j, plane, u)
                }
            }
            return
        }
        let (g, t, r) = (s, s + 9, s + 27)
        for j in range {
            var i0 = 0
            while i0 < inner {
                let lanes = min(8, inner - i0)
                // Kernel of lane l: w[o, c] with (o, c) = flipped ? (i0 + l, j) : (j, i0 + l).
                let (src, laneStride) = flipped ? (w + (i0 * c + j) * 9, c * 9) : (w + (j * c + i0) * 9, 9)
                for k in 0..<9 {
                    var v = SIMD8<Float>()
                    let tap = flipped ? 8 - k : k
                    for l in 0..<lanes { v[l] = src[l * laneStride + tap] }
                    g[k] = v
                }
                for col in 0..<3 { kernelTransform(g + col, 3, t + col, 3) }  // t (6, 3) = G g
                for row in 0..<6 { kernelTransform(t + row * 3, 1, r + row * 6, 1) }  // r (6, 6) = t Gᵀ
                storeLanes(r, 36, lanes, u + j * inner + i0, plane)
                i0 += lanes
            }
        }
    }
}

/// dw (O, C, 3, 3) += Gᵀ dU G for dU (36, O, C), eight input channels at a time along dU's contiguous axis.
func winogradAccumulateKernelGradient(
    _ du: UnsafePointer<Float>, o: Int, c: Int,
    _ dw: UnsafeMutablePointer<Float>
) {
    let plane = o * c
    Workspace.shared.forEachChunk(
        o, cost: c * 200, scratch: SIMD8<Float>.self, capacity: 36 + 18 + 9,
        with: (du, c, dw, plane)
    ) { state, s, range in
        let (du, c, dw, plane) = state
        let (r, t, g) = (s, s + 36, s + 54)
        for oi in range {
            var c0 = 0
            while c0 < c {
                let lanes = min(8, c - c0)
                loadLanes(du + oi * c + c0, plane, lanes, r, 36)
                for row in 0..<6 { kernelAdjoint(r + row * 6, 1, t + row * 3, 1) }  // t (6, 3) = dU G
                for col in 0..<3 { kernelAdjoint(t + col, 3, g + col, 3) }  // g (3, 3) = Gᵀ t
                let dst = dw + (oi * c + c0) * 9  // lane l's 9 taps at dst[l * 9 ..< l * 9 + 9]
                for l in 0..<lanes { for k in 0..<9 { dst[l * 9 + k] += g[k][l] } }
                c0 += lanes
            }
        }
    }
}

// MARK: - Tile transforms

extension WinogradPlan {
    /// (image, first output row, first output column) of global tile `t`.
    @inline(__always)
    func tileOrigin(_ t: Int) -> (Int, Int, Int) {
        let per = tilesH * tilesW
        let (img, r) = (t / per, t % per)
        return (img, (r / tilesW) * 4, (r % tilesW) * 4)
    }

    /// How many tiles from local index `tl` of a chunk starting at `start` (of `count`) go through the transforms
    /// together, at most the 8 lanes of one vector: those in the same tile row, or on planes narrower than 8
    /// tiles (`scatteredLanes`) the next 8 whatever their rows and images.
    @inline(__always)
    func lanes(_ tl: Int, start: Int, count: Int) -> Int {
        scatteredLanes ? min(8, count - tl) : min(8, count - tl, tilesW - (start + tl) % tilesW)
    }

    /// Planes under 8 tiles wide take their lanes across tile rows and images, each lane's patch gathered and
    /// scattered by itself: with the lanes of one tile row, Ronneberger's and the pneumonia U-Net's bottlenecks
    /// (16² and 8²) used 4 and 2 of the 8, and the transforms cost most of those layers.
    var scatteredLanes: Bool { tilesW < 8 }

    /// V (36, channels, Tc) = Bᵀ d B for the 6x6 input patches (padding 1, zeros outside) of tiles
    /// `start..<start+count` of x (N, channels, H, W). Eight horizontally adjacent tiles go through the
    /// transform together, one per vector lane, so each ξ row of V is written eight floats at a time.
    func transformInput(
        _ x: UnsafePointer<Float>, channels: Int, start: Int, count: Int,
        _ v: UnsafeMutablePointer<Float>
    ) {
        Workspace.shared.forEachChunk(
            channels, cost: count * 150, scratch: SIMD8<Float>.self,
            capacity: WinogradPlan.inputScratch, with: (self, x, channels, start, count, v)
        ) {
            state, s, range in
            let (plan, x, channels, start, count, v) = state
            plan.transformInput(x, channels: channels, start: start, count: count, v, range, scratch: s)
        }
    }

    /// Vectors of scratch `transformInput` needs per thread.
    static let inputScratch = 72 + 36 + 5

    /// `transformInput` for the channels in `range`, on the calling thread, with `inputScratch` vectors of scratch.
    func transformInput(
        _ x: UnsafePointer<Float>, channels: Int, start: Int, count: Int,
        _ v: UnsafeMutablePointer<Float>, _ range: Range<Int>,
        scratch s: UnsafeMutablePointer<SIMD8<Float>>
    ) {
        let plane = channels * count
        for ci in range {
            let (d, t) = (s, s + 36)
            let f = UnsafeMutableRawPointer(s + 72).bindMemory(to: Float.self, capacity: 288 + 40)
            let seg = f + 288
            var tl = 0
            while tl < count {
                let g = lanes(tl, start: start, count: count)
                let (img, oy, ox) = tileOrigin(start + tl)
                let xc = x + (img * channels + ci) * h * w
                let (y0, x0, span) = (oy - 1, ox - 1, 4 * g + 2)
                let inside = x0 >= 0 && x0 + span <= w
                if scatteredLanes {
                    gatherScatteredTiles(x, channels: channels, channel: ci, first: start + tl, g: g, f, d)
                } else if g == 8 && inside && y0 >= 0 && y0 + 6 <= h {
                    // Eight whole tiles inside the image: each row's 34 floats deinterleaved by four in
                    // registers (lane k of column j is src[4k + j]) instead of gathered through `f`.
                    for i in 0..<6 { deinterleaveRow(xc + (y0 + i) * w + x0, d + i * 6) }
                } else {
                    gatherTiles(xc, y0: y0, x0: x0, g: g, span: span, inside: inside, f, seg, d)
                }
                for col in 0..<6 { inputTransform(d + col, 6, t + col, 6) }  // t = Bᵀ d
                for row in 0..<6 { inputTransform(t + row * 6, 1, d + row * 6, 1) }  // d = t B
                let dst = v + ci * count + tl
                storeLanes(d, 36, g, dst, plane)
                tl += g
            }
        }
    }

    /// The 6x6 input patches of tiles `first ..< first + g` anywhere in the batch, lane k holding tile first + k,
    /// through plain floats as `gatherTiles` (zeros outside the image and in the lanes past g).
    @inline(__always)
    private func gatherScatteredTiles(
        _ x: UnsafePointer<Float>, channels: Int, channel ci: Int, first: Int, g: Int,
        _ f: UnsafeMutablePointer<Float>, _ d: UnsafeMutablePointer<SIMD8<Float>>
    ) {
        f.update(repeating: 0, count: 288)
        for k in 0..<g {
            let (img, oy, ox) = tileOrigin(first + k)
            let xc = x + (img * channels + ci) * h * w
            for i in 0..<6 {
                let iy = oy - 1 + i
                guard iy >= 0 && iy < h else { continue }
                let row = xc + iy * w
                for j in 0..<6 {
                    let ix = ox - 1 + j
                    if ix >= 0 && ix < w { f[(i &* 6 &+ j) &* 8 &+ k] = row[ix] }
                }
            }
        }
        let raw = UnsafeRawPointer(f)
        for k in 0..<36 { d[k] = raw.loadUnaligned(fromByteOffset: k * 32, as: SIMD8<Float>.self) }
    }

    /// The 6x6 input patches of `g` tiles in one tile row, lane k holding tile k, through plain floats
    /// (f[(row * 6 + column) * 8 + lane]); a row that crosses the image edge is first copied into `seg` with its
    /// zero padding.
    @inline(__always)
    private func gatherTiles(
        _ xc: UnsafePointer<Float>, y0: Int, x0: Int, g: Int, span: Int, inside: Bool,
        _ f: UnsafeMutablePointer<Float>, _ seg: UnsafeMutablePointer<Float>,
        _ d: UnsafeMutablePointer<SIMD8<Float>>
    ) {
        if g < 8 || y0 < 0 || y0 + 6 > h { f.update(repeating: 0, count: 288) }
        for i in 0..<6 {
            let iy = y0 + i
            guard iy >= 0 && iy < h else { continue }
            var src = UnsafePointer(xc + iy * w + max(x0, 0))
            if !inside {
                let (lo, hi) = (max(0, -x0), min(span, w - x0))  // seg[lo..<hi] lies in the row
                seg.update(repeating: 0, count: span)
                (seg + lo).update(from: src, count: hi - lo)
                src = UnsafePointer(seg)
            }
            let fi = f + i * 48
            for k in 0..<g { for j in 0..<6 { fi[j &* 8 &+ k] = src[4 &* k &+ j] } }
        }
        let raw = UnsafeRawPointer(f)
        for k in 0..<36 { d[k] = raw.loadUnaligned(fromByteOffset: k * 32, as: SIMD8<Float>.self) }
    }

    /// y (N, outChannels, H, W) tiles `start..<start+count` = Aᵀ M A (+ bias), cropped at the image edge, for
    /// M (36, outChannels, Tc).
    /// With `rectify`, max(·, 0) too: a ReLU fused into the convolution (`Conv2D.rectifiesOutput`).
    func transformOutput(
        _ m: UnsafePointer<Float>, outChannels: Int, start: Int, count: Int,
        bias: UnsafePointer<Float>?, rectify: Bool = false, _ y: UnsafeMutablePointer<Float>
    ) {
        Workspace.shared.forEachChunk(
            outChannels, cost: count * 120, scratch: SIMD8<Float>.self,
            capacity: WinogradPlan.outputScratch,
            with: (self, m, outChannels, start, count, bias, rectify, y)
        ) {
            state, s, range in
            let (plan, m, outChannels, start, count, bias, rectify, y) = state
            plan.transformOutput(
                m, outChannels: outChannels, start: start, count: count, bias: bias, rectify: rectify,
                y, range, scratch: s)
        }
    }

    /// Vectors of scratch `transformOutput` needs per thread.
    static let outputScratch = 36 + 24 + 16 + 16

    /// `transformOutput` for the output channels in `range`, on the calling thread, with `outputScratch` vectors.
    func transformOutput(
        _ m: UnsafePointer<Float>, outChannels: Int, start: Int, count: Int,
        bias: UnsafePointer<Float>?, rectify: Bool, _ y: UnsafeMutablePointer<Float>,
        _ range: Range<Int>, scratch s: UnsafeMutablePointer<SIMD8<Float>>
    ) {
        let plane = outChannels * count
        for oi in range {
            let b = SIMD8<Float>(repeating: bias?[oi] ?? 0)
            let (r, t, q) = (s, s + 36, s + 60)
            let f = UnsafeMutableRawPointer(s + 76).bindMemory(to: Float.self, capacity: 128)
            var tl = 0
            while tl < count {
                let g = lanes(tl, start: start, count: count)
                loadLanes(m + oi * count + tl, plane, g, r, 36)
                for col in 0..<6 { outputTransform(r + col, 6, t + col, 6) }  // t (4, 6) = Aᵀ r
                for row in 0..<4 { outputTransform(t + row * 6, 1, q + row * 4, 1) }  // q (4, 4) = t A
                let raw = UnsafeMutableRawPointer(f)
                if rectify {
                    let zero = SIMD8<Float>()
                    for k in 0..<16 {
                        let v = q[k] + b
                        raw.storeBytes(
                            of: v.replacing(with: zero, where: v .< zero), toByteOffset: k * 32,
                            as: SIMD8<Float>.self)
                    }
                } else {
                    for k in 0..<16 { raw.storeBytes(of: q[k] + b, toByteOffset: k * 32, as: SIMD8<Float>.self) }
                }
                if scatteredLanes {
                    for k in 0..<g {  // lane k's 4x4 block, cropped at the edge
                        let (img, oy, ox) = tileOrigin(start + tl + k)
                        let yc = y + (img * outChannels + oi) * h * w
                        for i in 0..<min(4, h - oy) {
                            for j in 0..<min(4, w - ox) { yc[(oy + i) * w + ox + j] = f[i * 32 + j * 8 + k] }
                        }
                    }
                    tl += g
                    continue
                }
                let (img, oy, ox) = tileOrigin(start + tl)
                let yc = y + (img * outChannels + oi) * h * w
                let (rows, cols) = (min(4, h - oy), min(4 * g, w - ox))
                for i in 0..<rows {
                    let (dst, fi) = (yc + (oy + i) * w + ox, f + i * 32)
                    if cols == 32 {
                        for k in 0..<8 { for j in 0..<4 { dst[4 * k + j] = fi[j * 8 + k] } }
                    } else {
                        for c in 0..<cols { dst[c] = fi[(c % 4) * 8 + c / 4] }
                    }
                }
                tl += g
            }
        }
    }

    /// D (36, outChannels, Tc) = A dY Aᵀ for the 4x4 output-gradient tiles (zeros past the edge) of dy.
    func transformOutputGradient(
        _ dy: UnsafePointer<Float>, outChannels: Int, start: Int, count: Int,
        _ dm: UnsafeMutablePointer<Float>
    ) {
        let plane = outChannels * count
        Workspace.shared.forEachChunk(
            outChannels, cost: count * 120, scratch: SIMD8<Float>.self,
            capacity: 16 + 24 + 36 + 16,
            with: (self, dy, outChannels, start, count, dm, plane)
        ) { state, s, range in
            let (plan, dy, outChannels, start, count, dm, plane) = state
            let (h, w) = (plan.h, plan.w)
            for oi in range {
                let (q, t, r) = (s, s + 16, s + 40)
                let f = UnsafeMutableRawPointer(s + 76).bindMemory(to: Float.self, capacity: 128)
                var tl = 0
                while tl < count {
                    let g = plan.lanes(tl, start: start, count: count)
                    if plan.scatteredLanes {
                        f.update(repeating: 0, count: 128)
                        for k in 0..<g {  // lane k's 4x4 block, zeros past the edge
                            let (img, oy, ox) = plan.tileOrigin(start + tl + k)
                            let yc = dy + (img * outChannels + oi) * h * w
                            for i in 0..<min(4, h - oy) {
                                for j in 0..<min(4, w - ox) { f[i * 32 + j * 8 + k] = yc[(oy + i) * w + ox + j] }
                            }
                        }
                    } else {
                        let (img, oy, ox) = plan.tileOrigin(start + tl)
                        let yc = dy + (img * outChannels + oi) * h * w
                        let (rows, cols) = (min(4, h - oy), min(4 * g, w - ox))
                        if rows < 4 || cols < 32 { f.update(repeating: 0, count: 128) }
                        for i in 0..<rows {
                            let (src, fi) = (yc + (oy + i) * w + ox, f + i * 32)
                            if cols == 32 {
                                for k in 0..<8 { for j in 0..<4 { fi[j * 8 + k] = src[4 * k + j] } }
                            } else {
                                for c in 0..<cols { fi[(c % 4) * 8 + c / 4] = src[c] }
                            }
                        }
                    }
                    let raw = UnsafeRawPointer(f)
                    for k in 0..<16 { q[k] = raw.loadUnaligned(fromByteOffset: k * 32, as: SIMD8<Float>.self) }
                    for col in 0..<4 { outputAdjoint(q + col, 4, t + col, 4) }  // t (6, 4) = A q
                    for row in 0..<6 { outputAdjoint(t + row * 4, 1, r + row * 6, 1) }  // r (6, 6) = t Aᵀ
                    storeLanes(r, 36, g, dm + oi * count + tl, plane)
                    tl += g
                }
            }
        }
    }
}

/// d[j][k] = src[4k + j] for j in 0..<6, k in 0..<8: one row of eight adjacent 6x6 patches (34 floats).
@inline(__always)
private func deinterleaveRow(_ src: UnsafePointer<Float>, _ d: UnsafeMutablePointer<SIMD8<Float>>) {
    let raw = UnsafeRawPointer(src)
    let a = raw.loadUnaligned(as: SIMD16<Float>.self), b = raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
    let even = SIMD16(lowHalf: a.evenHalf, highHalf: b.evenHalf)  // src[0, 2, ..., 30]
    let odd = SIMD16(lowHalf: a.oddHalf, highHalf: b.oddHalf)  // src[1, 3, ..., 31]
    let (j0, j1) = (even.evenHalf, odd.evenHalf)
    d[0] = j0
    d[1] = j1
    d[2] = even.oddHalf
    d[3] = odd.oddHalf
    d[4] = SIMD8(j0[1], j0[2], j0[3], j0[4], j0[5], j0[6], j0[7], src[32])
    d[5] = SIMD8(j1[1], j1[2], j1[3], j1[4], j1[5], j1[6], j1[7], src[33])
}

/// dst[k * stride + lane] = src[k][lane] for k in 0..<vectors and the first `lanes` lanes.
@inline(__always)
private func storeLanes(
    _ src: UnsafePointer<SIMD8<Float>>, _ vectors: Int, _ lanes: Int,
    _ dst: UnsafeMutablePointer<Float>, _ stride: Int
) {
    if lanes == 8 {
        for k in 0..<vectors { UnsafeMutableRawPointer(dst + k * stride).storeBytes(of: src[k], as: SIMD8<Float>.self) }
    } else {
        for k in 0..<vectors { for l in 0..<lanes { dst[k * stride + l] = src[k][l] } }
    }
}

/// dst[k][lane] = src[k * stride + lane] for k in 0..<vectors (lanes past `lanes` are zero).
@inline(__always)
private func loadLanes(
    _ src: UnsafePointer<Float>, _ stride: Int, _ lanes: Int,
    _ dst: UnsafeMutablePointer<SIMD8<Float>>, _ vectors: Int
) {
    if lanes == 8 {
        for k in 0..<vectors { dst[k] = UnsafeRawPointer(src + k * stride).loadUnaligned(as: SIMD8<Float>.self) }
    } else {
        for k in 0..<vectors {
            var v = SIMD8<Float>()
            for l in 0..<lanes { v[l] = src[k * stride + l] }
            dst[k] = v
        }
    }
}

// MARK: - Convolutions

/// y (N, O, H, W) = conv3x3_same(x (N, C, H, W), kernels) + bias, with the kernels already transformed:
/// u (36, O, C) from `winogradTransformKernels`. Overwrites y. On AVX-512 the row-fused driver takes the layers it
/// is measured faster on (`ConvolutionAlgorithms.useWinogradRows`); elsewhere layers of few channels take their
/// tiles in cache-sized blocks (`winogradConvolveInBlocks`).
func winogradConvolve(
    _ x: UnsafePointer<Float>, _ plan: WinogradPlan, kernels u: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rectify: Bool = false, _ y: UnsafeMutablePointer<Float>
) {
    if ConvolutionAlgorithms.useWinogradRows(channels: plan.c, outChannels: plan.o, width: plan.w) {
        winogradConvolveRows(x, plan, kernels: u, bias: bias, rectify: rectify, y)
        return
    }
    let blocked = max(plan.c, plan.o) <= ConvolutionAlgorithms.winogradBlockedChannels
    if ConvolutionAlgorithms.winogradBlocksEnabled && blocked {
        winogradConvolveInBlocks(x, plan, kernels: u, bias: bias, rectify: rectify, y)
        return
    }
    let (c, o) = (plan.c, plan.o)
    let v = Workspace.shared.buffer(.winogradInput, count: plan.bufferCount)
    let m = Workspace.shared.buffer(.winogradProduct, count: plan.bufferCount)
    var start = 0
    while start < plan.tiles {
        let count = min(plan.chunk, plan.tiles - start)
        plan.transformInput(x, channels: c, start: start, count: count, v)
        winogradProducts(o: o, c: c, count: count, u, v, m)
        plan.transformOutput(m, outChannels: o, start: start, count: count, bias: bias, rectify: rectify, y)
        start += count
    }
}

extension WinogradPlan {
    /// Floats each of a block's V and M may take by default.
    static let defaultBlockBudget = 32 << 10
    /// Set by tests to force many and partial blocks.
    nonisolated(unsafe) static var blockBudget = defaultBlockBudget

    /// Tiles per block: V (36, C, Tb) and M (36, O, Tb) within `blockBudget` floats each (128 KiB, so both and the
    /// transforms' scratch stay in a 512 KiB L2), a multiple of 8 (the transforms' lanes), at least 8.
    var blockTiles: Int { max(8, WinogradPlan.blockBudget / (36 * max(c, o)) / 8 * 8) }
}

/// `winogradConvolve` for small channel counts (`ConvolutionAlgorithms.winogradBlockedChannels`): each thread takes
/// whole blocks of tiles through all three stages on its own (input transform, the 36 products single-threaded,
/// output transform), in buffers of its own that stay in its core's cache.
///
/// Why: at 12 to 32 channels a tile's transformed data is 36·C floats against its 16·C input pixels, so the
/// chunked driver's V and M (4 MiB each, written by one stage and read by the next) made the transforms stream
/// through L3 and take most of the layer (`unet-bench --winograd-parts`; Examples/benchmarks/RESULTS.md). Blocks go
/// to threads in a fixed pattern and each is computed by one thread alone,
/// so the output does not depend on timing.
func winogradConvolveInBlocks(
    _ x: UnsafePointer<Float>, _ plan: WinogradPlan, kernels u: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rectify: Bool, _ y: UnsafeMutablePointer<Float>
) {
    let tiles = plan.blockTiles
    let blocks = (plan.tiles + tiles - 1) / tiles
    let threads = max(1, min(Parallel.threads, blocks))
    let buffer = 36 * max(plan.c, plan.o) * tiles
    let scratch = max(WinogradPlan.inputScratch, WinogradPlan.outputScratch) * 8
    let perThread = (2 * buffer + scratch + 15) / 16 * 16
    let base = Workspace.shared.buffer(.winogradInput, count: perThread * threads)
    let state = (
        x: x, plan: plan, u: u, bias: bias, rectify: rectify, y: y, base: base, perThread: perThread,
        buffer: buffer, tiles: tiles, blocks: blocks, threads: threads
    )
    GEMMThreading.runSingleThreaded(
        threads,
        ChunkIndexJob(state: state) { s, t in
            let v = s.base + t * s.perThread, m = v + s.buffer
            let scratch = UnsafeMutableRawPointer(m + s.buffer).bindMemory(
                to: SIMD8<Float>.self,
                capacity: WinogradPlan.inputScratch)
            let (c, o) = (s.plan.c, s.plan.o)
            var b = t
            while b < s.blocks {
                let start = b * s.tiles, count = min(s.tiles, s.plan.tiles - b * s.tiles)
                s.plan.transformInput(s.x, channels: c, start: start, count: count, v, 0..<c, scratch: scratch)
                for xi in 0..<36 {
                    gemm(m: o, n: count, k: c, s.u + xi * o * c, v + xi * c * count, m + xi * o * count)
                }
                s.plan.transformOutput(
                    m, outChannels: o, start: start, count: count, bias: s.bias, rectify: s.rectify,
                    s.y, 0..<o, scratch: scratch)
                b += s.threads
            }
        })
}

/// M_ξ (O, Tc) = U_ξ (O, C) · V_ξ (C, Tc) for the 36 ξ of one chunk of `count` tiles, one whole product per thread.
func winogradProducts(
    o: Int, c: Int, count: Int, _ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
    _ m: UnsafeMutablePointer<Float>
) {
    independentProducts(36, with: (o, c, count, u, v, m)) { s, xi in
        let (o, c, count, u, v, m) = s
        gemm(m: o, n: count, k: c, u + xi * o * c, v + xi * c * count, m + xi * o * count)
    }
}

/// The forward of a 3x3 stride-1 "same" convolution by Winograd F(4x4, 3x3).
/// x (N, C, H, W), w (O, C, 3, 3), bias (O) or nil, y (N, O, H, W) overwritten. `transformed`, when given, is
/// `weight` already transformed (`WinogradKernelCache`); else the kernels are transformed into the workspace.
public func conv2dWinograd(
    _ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, weight: UnsafePointer<Float>,
    transformed: UnsafePointer<Float>? = nil, bias: UnsafePointer<Float>?, outChannels o: Int,
    rectify: Bool = false, _ y: UnsafeMutablePointer<Float>
) {
    let plan = WinogradPlan(n: n, c: c, o: o, h: h, w: w)
    if let transformed {
        winogradConvolve(x, plan, kernels: transformed, bias: bias, rectify: rectify, y)
        return
    }
    let fresh = TemporaryBuffer(.winogradWeights, count: 36 * o * c)
    defer { fresh.release() }
    winogradTransformKernels(weight, o: o, c: c, flipped: false, fresh.pointer)
    winogradConvolve(x, plan, kernels: fresh.pointer, bias: bias, rectify: rectify, y)
}

/// The backward of `conv2dWinograd`: dw (O, C, 3, 3) += dL/dw, and dx (N, C, H, W) = dL/dx (overwritten) if given.
/// x (N, C, H, W), dy (N, O, H, W).
public func conv2dWinogradBackward(
    _ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int,
    weight: UnsafePointer<Float>, outChannels o: Int, _ dy: UnsafePointer<Float>,
    weightGradient dw: UnsafeMutablePointer<Float>,
    inputGradient dx: UnsafeMutablePointer<Float>?
) {
    let plan = WinogradPlan(n: n, c: c, o: o, h: h, w: w)
    // dU (36, O, C), folded into dw below before the same slot takes the flipped kernels.
    let kernelGradient = TemporaryBuffer(.winogradWeights, count: 36 * o * c)
    let du = kernelGradient.pointer
    let a = Workspace.shared.buffer(.winogradInput, count: plan.bufferCount)
    let b = Workspace.shared.buffer(.winogradProduct, count: plan.bufferCount)
    var start = 0
    while start < plan.tiles {
        let count = min(plan.chunk, plan.tiles - start)
        plan.transformInput(x, channels: c, start: start, count: count, a)  // V (36, C, Tc)
        plan.transformOutputGradient(dy, outChannels: o, start: start, count: count, b)  // D (36, O, Tc)
        let first = start == 0
        independentProducts(36, with: (o, c, count, a, b, du, first)) { s, xi in
            let (o, c, count, a, b, du, first) = s
            // dU_ξ (O, C) (+)= D_ξ (O, Tc) · V_ξᵀ (Tc, C), chunks summed in order
            gemm(
                transB: true, m: o, n: c, k: count, b + xi * o * count, a + xi * c * count,
                beta: first ? 0 : 1, du + xi * o * c)
        }
        start += count
    }
    winogradAccumulateKernelGradient(du, o: o, c: c, dw)
    kernelGradient.release()
    guard let dx else { return }
    conv2dWinogradInputGradient(dy, n: n, c: c, h: h, w: w, weight: weight, outChannels: o, dx)
}

/// The input gradient of `conv2dWinograd`: dx (N, C, H, W) = dL/dx (overwritten) for dy (N, O, H, W).
public func conv2dWinogradInputGradient(
    _ dy: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, weight: UnsafePointer<Float>, outChannels o: Int,
    _ dx: UnsafeMutablePointer<Float>
) {
    // dx = conv3x3_same(dy, w flipped and transposed): O input channels, C output channels.
    let back = WinogradPlan(n: n, c: o, o: c, h: h, w: w)
    let kernels = TemporaryBuffer(.winogradWeights, count: 36 * o * c)
    defer { kernels.release() }
    let u = kernels.pointer
    winogradTransformKernels(weight, o: o, c: c, flipped: true, u)
    winogradConvolve(dy, back, kernels: u, bias: nil, dx)
}
