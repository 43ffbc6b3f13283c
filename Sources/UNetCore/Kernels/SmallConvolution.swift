import CKernels
import Foundation

// Letters: N batch, C input channels, O output channels, H/W image (input = output: 3x3, stride 1, padding 1),
// Ob = O rounded up to a multiple of 4 (the kernel's block of output channels).
//
// The direct 3x3 "same" convolution for layers of few channels (`ConvolutionAlgorithms.directChannels`), through
// `CKernels`' AVX2 / AVX-512 bodies (ConvBodies.h): vectors along each row's pixels, four output channels' sums per
// loaded input vector, every multiply-add a useful one. Up to 48 channels Winograd's transforms (36·C floats per
// 16·C input pixels, written and read again) and its 36 narrow products cost more than the 4x fewer multiply-adds
// save in the chunked and blocked drivers; im2col copies every input nine times. At 64 channels Winograd is ahead
// again (Examples/benchmarks/RESULTS.md). On AVX-512 the row-fused Winograd driver (WinogradRows.swift), whose
// transforms stay in cache, takes the forward and input gradient of these layers where its lanes fill
// (`Conv2D.usesWinogradRows`), and the weight gradient where the input channels are a multiple of 16
// (`Conv2D.usesWinogradRowsWeightGradient`). The input gradient of a "same" 3x3 stride-1 convolution is such a
// convolution of dy with the kernels turned by 180° and C and O swapped, so it runs through the same forward; the
// weight gradient has its own kernel, per-thread row ranges summed in double and combined in thread order.
// The oracle is `conv2dNaive` (in Double); the im2col layer is the backward's.

extension ConvolutionAlgorithms {
    /// The direct kernels for small 3x3 "same" convolutions. On where the CPU has AVX2 + FMA (`SIMDLevel.active`);
    /// `UNET_DIRECT_CONV=0` in the environment turns them off (then Winograd or im2col as before).
    nonisolated(unsafe) public static var directEnabled: Bool =
        ProcessInfo.processInfo.environment["UNET_DIRECT_CONV"].map { $0 != "0" } ?? true

    /// Layers with both channel counts up to this take the direct kernels; the C kernels take up to
    /// `directChannelsLimit` (`unet-bench --conv` times them there). `UNET_DIRECT_CHANNELS` sets it, to time
    /// whole models with another threshold.
    nonisolated(unsafe) public static var directChannels =
        ProcessInfo.processInfo.environment["UNET_DIRECT_CHANNELS"].flatMap { Int($0) } ?? 48
    public static let directChannelsLimit = 64

    /// Whether a 3x3 stride-1 padding-1 convolution of `channels` -> `outChannels` takes the direct kernels.
    public static func useDirect(channels: Int, outChannels: Int, level: SIMDLevel = .active) -> Bool {
        directEnabled && level >= .avx2 && channels >= 1 && outChannels >= 1
            && max(channels, outChannels) <= min(directChannels, directChannelsLimit)
    }
}

/// Floats of `packSmallConvolutionWeights`' output for a convolution of `c` -> `o` channels.
func packedSmallConvolutionCount(o: Int, c: Int) -> Int { (o + 3) / 4 * 4 * c * 9 }

/// wp [Ob/4][C][3][3][4] (zeros past O) from w (O, C, 3, 3), the layout the kernels broadcast from; with `flipped`,
/// the kernels of the input-gradient convolution instead, from O to C channels: w'[c, o, ky, kx] = w[o, c, 2-ky,
/// 2-kx], packed as [C rounded up to 4 / 4][O][3][3][4].
func packSmallConvolutionWeights(
    _ w: UnsafePointer<Float>, o: Int, c: Int, flipped: Bool, _ wp: UnsafeMutablePointer<Float>
) {
    let (outs, ins) = flipped ? (c, o) : (o, c)
    for ob in 0..<(outs + 3) / 4 {
        for i in 0..<ins {
            for t in 0..<9 {
                for l in 0..<4 {
                    let oc = ob * 4 + l
                    var v: Float = 0
                    if oc < outs { v = flipped ? w[(i * c + oc) * 9 + 8 - t] : w[(oc * c + i) * 9 + t] }
                    wp[((ob * ins + i) * 9 + t) * 4 + l] = v
                }
            }
        }
    }
}

/// Rows of one image a forward work item takes: enough items for the threads, few enough that the ring's two
/// extra row copies per item stay small.
private let directRowsPerItem = 16

/// y (N, O, H, W) = conv3x3_same(x (N, C, H, W), packed kernels wp) + bias, max(·, 0) with `rectify`; overwritten.
/// Images and blocks of rows go to the threads; each output is one thread's sum in a fixed order.
func directConvolve(
    _ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, packed wp: UnsafePointer<Float>, outChannels o: Int,
    bias: UnsafePointer<Float>?, rectify: Bool, _ y: UnsafeMutablePointer<Float>, level: SIMDLevel
) {
    let blocks = (h + directRowsPerItem - 1) / directRowsPerItem
    let scratch =
        level == .avx512
        ? unet_conv3x3_forward_scratch_avx512(Int32(c), Int32(w))
        : unet_conv3x3_forward_scratch_avx2(Int32(c), Int32(w))
    Workspace.shared.forEachChunk(
        n * blocks, cost: directRowsPerItem * w * c * o * 9, scratch: Float.self, capacity: scratch,
        with: (x, c, h, w, wp, o, bias, rectify, y, blocks, level)
    ) { s, scratch, range in
        let (x, c, h, w, wp, o, bias, rectify, y, blocks, level) = s
        for item in range {
            let (img, b) = (item / blocks, item % blocks)
            let (r0, r1) = (b * directRowsPerItem, min(h, (b + 1) * directRowsPerItem))
            let (xi, yi) = (x + img * c * h * w, y + img * o * h * w)
            let done =
                level == .avx512
                ? unet_conv3x3_forward_avx512(
                    xi, Int32(c), Int32(h), Int32(w), wp, Int32(o), bias, rectify, yi, Int32(r0), Int32(r1), scratch)
                : unet_conv3x3_forward_avx2(
                    xi, Int32(c), Int32(h), Int32(w), wp, Int32(o), bias, rectify, yi, Int32(r0), Int32(r1), scratch)
            precondition(done, "direct convolution called outside its sizes")
        }
    }
}

/// The forward of a 3x3 stride-1 "same" convolution by the direct small-channel kernels.
/// x (N, C, H, W), w (O, C, 3, 3), bias (O) or nil, y (N, O, H, W) overwritten.
/// - Precondition: `ConvolutionAlgorithms.useDirect(channels: c, outChannels: o, level: level)`.
public func conv2dDirectSmall(
    _ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, outChannels o: Int, rectify: Bool = false, _ y: UnsafeMutablePointer<Float>,
    level: SIMDLevel = .active
) {
    precondition(level >= .avx2)
    let wp = Workspace.shared.buffer(.directWeights, count: packedSmallConvolutionCount(o: o, c: c))
    packSmallConvolutionWeights(weight, o: o, c: c, flipped: false, wp)
    directConvolve(x, n: n, c: c, h: h, w: w, packed: wp, outChannels: o, bias: bias, rectify: rectify, y, level: level)
}

/// The backward of `conv2dDirectSmall` (without the bias, which the layer sums itself): dw (O, C, 3, 3) += dL/dw,
/// and dx (N, C, H, W) = dL/dx (overwritten) if given. x (N, C, H, W), dy (N, O, H, W).
///
/// The weight gradient: the N·H output rows are cut into one contiguous range per thread; each thread sums its
/// rows into its own (O, C, 3, 3) doubles, and the threads' sums are added in thread order, so a given thread count
/// gives the same bits on every run.
public func conv2dDirectSmallBackward(
    _ x: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int,
    weight: UnsafePointer<Float>, outChannels o: Int, _ dy: UnsafePointer<Float>,
    weightGradient dw: UnsafeMutablePointer<Float>,
    inputGradient dx: UnsafeMutablePointer<Float>?, level: SIMDLevel = .active
) {
    precondition(level >= .avx2)
    let taps = o * c * 9
    let threads = max(1, min(Parallel.threads, n * h))
    let partials = UnsafeMutableRawPointer(Workspace.shared.buffer(.directPartials, count: 2 * taps * threads))
        .bindMemory(to: Double.self, capacity: taps * threads)
    let scratch =
        level == .avx512
        ? unet_conv3x3_weight_gradient_scratch_avx512(Int32(c), Int32(o), Int32(w))
        : unet_conv3x3_weight_gradient_scratch_avx2(Int32(c), Int32(o), Int32(w))
    Workspace.shared.forEachChunk(
        threads, cost: Int(Int32.max), scratch: Float.self, capacity: scratch,
        with: (x, dy, n, c, h, w, o, partials, taps, threads, level)
    ) { s, scratch, range in
        let (x, dy, n, c, h, w, o, partials, taps, threads, level) = s
        for t in range {
            let acc = partials + t * taps
            acc.update(repeating: 0, count: taps)
            let (first, last) = (t * n * h / threads, (t + 1) * n * h / threads)  // rows first..<last of N·H
            var row = first
            while row < last {
                let (img, r0) = (row / h, row % h)
                let r1 = min(h, r0 + (last - row))
                let (xi, dyi) = (x + img * c * h * w, dy + img * o * h * w)
                let done =
                    level == .avx512
                    ? unet_conv3x3_weight_gradient_avx512(
                        xi, dyi, Int32(c), Int32(h), Int32(w), Int32(o), Int32(r0), Int32(r1), acc, scratch)
                    : unet_conv3x3_weight_gradient_avx2(
                        xi, dyi, Int32(c), Int32(h), Int32(w), Int32(o), Int32(r0), Int32(r1), acc, scratch)
                precondition(done, "direct convolution called outside its sizes")
                row += r1 - r0
            }
        }
    }
    for i in 0..<taps {
        var s = partials[i]
        for t in 1..<threads { s += partials[t * taps + i] }
        dw[i] += Float(s)
    }
    guard let dx else { return }
    conv2dDirectSmallInputGradient(dy, n: n, c: c, h: h, w: w, weight: weight, outChannels: o, dx, level: level)
}

/// dx (N, C, H, W) = dL/dx of `conv2dDirectSmall` (overwritten), from dy (N, O, H, W) and the weights alone: the
/// network backward lets the layer's kept input go before it makes dx.
public func conv2dDirectSmallInputGradient(
    _ dy: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, weight: UnsafePointer<Float>, outChannels o: Int,
    _ dx: UnsafeMutablePointer<Float>, level: SIMDLevel = .active
) {
    precondition(level >= .avx2)
    // dx = conv3x3_same(dy, w turned by 180° with C and O swapped): O input channels, C output channels.
    let wp = Workspace.shared.buffer(.directWeights, count: packedSmallConvolutionCount(o: c, c: o))
    packSmallConvolutionWeights(weight, o: o, c: c, flipped: true, wp)
    directConvolve(dy, n: n, c: o, h: h, w: w, packed: wp, outChannels: c, bias: nil, rectify: false, dx, level: level)
}
