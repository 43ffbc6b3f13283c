import CKernels
import Foundation

// Letters: N batch, C input channels, O output channels, H/W image, tile rows ceil(H/4).
//
// The row-fused Winograd F(4x4, 3x3) driver for AVX-512 (CKernels' WinogradRows.h): each call takes whole rows of
// 4x4 output tiles of one image through the input transform, the 36 products and the output transform while they
// are in the core's cache, with the tiles across vector lanes. It replaces the chunked and the blocked drivers
// where it is measured faster (`useWinogradRows`): those write and read every transformed tile through memory
// (chunks) or call sgemm 36 times per small block (blocks), and at 16 to 64 channels that took most of the layer.

extension ConvolutionAlgorithms {
    /// The row-fused driver on AVX-512 CPUs. `UNET_WINOGRAD_ROWS=0` in the environment turns it off (the chunked
    /// and blocked drivers as before), to time one against the other (`unet-bench --conv`).
    nonisolated(unsafe) public static var winogradRowsEnabled: Bool =
        ProcessInfo.processInfo.environment["UNET_WINOGRAD_ROWS"].map { $0 != "0" } ?? true

    /// Layers whose larger channel count is at most this take the row-fused driver. Each 16-tile segment reads
    /// all of U (36, O, C): at 512 channels (38 MB) that streams from memory and the chunked driver's full-width
    /// sgemm was ahead (515 against 580 GFLOP/s at 64^2); at 256 (9 MB) the rows were (578 against 386).
    /// `UNET_WINOGRAD_ROWS_CHANNELS` sets it, to time whole models with another limit.
    nonisolated(unsafe) public static var winogradRowsChannels =
        ProcessInfo.processInfo.environment["UNET_WINOGRAD_ROWS_CHANNELS"].flatMap { Int($0) } ?? 256

    /// Whether a Winograd convolution of `c` -> `o` channels on rows `width` pixels wide takes the row-fused
    /// driver on `level`: its vectors hold 16 tiles of a row, or of two rows up to 8 tiles wide, or of four up to 4,
    /// so rows of 4·16·k pixels, of 32 and of 16 use every lane and a row of 72 pixels (18 tiles in 32 lanes) little more than half.
    /// Below three quarters the other drivers are left to it (before the paired rows: 170 against the direct
    /// kernels' 193 GFLOP/s at 16 channels and 32 pixels, with half the lanes used).
    public static func useWinogradRows(
        channels c: Int, outChannels o: Int, width: Int, level: SIMDLevel = .active
    ) -> Bool {
        guard winogradRowsEnabled, level == .avx512, max(c, o) <= winogradRowsChannels else { return false }
        let tiles = (width + 3) / 4
        if tiles <= 4 { return tiles >= 3 }  // four rows of tiles in 16 lanes
        if tiles <= 8 { return tiles >= 6 }  // two
        let segments = (tiles + 15) / 16
        return 4 * tiles >= 3 * 16 * segments
    }
}

/// Tile rows of one image a work item takes: enough items for two threads on one image's rows, and a multiple of
/// the four tile rows the kernel puts into one vector on rows of up to 16 pixels.
private let winogradRowsPerItem = 4

/// y (N, O, H, W) = conv3x3_same(x, kernels u (36, O, C)) + bias (max(·, 0) with `rectify`), by the row-fused
/// kernel. Images and runs of tile rows go to the threads; every output is one call's sum in a fixed order.
func winogradConvolveRows(
    _ x: UnsafePointer<Float>, _ plan: WinogradPlan, kernels u: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, rectify: Bool, _ y: UnsafeMutablePointer<Float>
) {
    let (c, o, h, w) = (plan.c, plan.o, plan.h, plan.w)
    let items = (plan.tilesH + winogradRowsPerItem - 1) / winogradRowsPerItem
    Workspace.shared.forEachChunk(
        plan.n * items, cost: winogradRowsPerItem * 4 * w * c * o * 4, scratch: Float.self,
        capacity: unet_winograd_rows_scratch_avx512(Int32(c), Int32(o), Int32(w)),
        with: (x, u, bias, rectify, y, c, o, h, w, items, plan.tilesH)
    ) { s, scratch, range in
        let (x, u, bias, rectify, y, c, o, h, w, items, tilesH) = s
        for item in range {
            let (img, r) = (item / items, item % items)
            let (t0, t1) = (r * winogradRowsPerItem, min(tilesH, (r + 1) * winogradRowsPerItem))
            let done = unet_winograd_rows_forward_avx512(
                x + img * c * h * w, Int32(c), Int32(h), Int32(w), u, Int32(o), bias, rectify,
                y + img * o * h * w, Int32(t0), Int32(t1), scratch)
            precondition(done, "row-fused Winograd called outside its sizes")
        }
    }
}

extension ConvolutionAlgorithms {
    /// The row-fused weight gradient (`winogradRowsWeightGradient`) for the layers whose forward takes the rows, up
    /// to `winogradRowsWeightGradientChannels` channels. `UNET_WINOGRAD_ROWS_WG=0` turns it off (the direct
    /// kernels' or the chunked driver's weight gradient as before).
    nonisolated(unsafe) public static var winogradRowsWeightGradientEnabled: Bool =
        ProcessInfo.processInfo.environment["UNET_WINOGRAD_ROWS_WG"].map { $0 != "0" } ?? true
    nonisolated(unsafe) public static var winogradRowsWeightGradientChannels =
        ProcessInfo.processInfo.environment["UNET_WINOGRAD_ROWS_WG_CHANNELS"].flatMap { Int($0) } ?? 64

    /// Whether the weight gradient of a Winograd-rows layer of `c` -> `o` channels takes the row-fused kernel: its
    /// products run along input channels in vectors of 16, so `c` is a multiple of 16 (at 12 channels, a quarter
    /// of every vector padding, lung segmentation's training pass ran 4-8% slower than with the direct kernels'
    /// weight gradient), and up to 64 channels (at 192 and 256 the chunked driver's sgemm was ahead).
    public static func useWinogradRowsWeightGradient(channels c: Int, outChannels o: Int, width: Int) -> Bool {
        winogradRowsWeightGradientEnabled && c % 16 == 0 && max(c, o) <= winogradRowsWeightGradientChannels
            && useWinogradRows(channels: c, outChannels: o, width: width)
    }
}

/// dw (O, C, 3, 3) += dL/dw of a 3x3 "same" stride-1 convolution, x (N, C, H, W), dy (N, O, H, W), by the
/// row-fused kernel: each thread sums the transformed products dU (36, O, C) of its own contiguous run of
/// (image, `winogradRowsPerItem` tile rows) items, the threads' sums are added in thread order, and dw += Gᵀ dU G. A given thread
/// count gives the same bits on every run.
func winogradRowsWeightGradient(
    _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, n: Int, c: Int, h: Int, w: Int, outChannels o: Int,
    weightGradient dw: UnsafeMutablePointer<Float>
) {
    let c16 = (c + 15) / 16 * 16, size = 36 * o * c16
    let tilesH = (h + 3) / 4, perImage = (tilesH + winogradRowsPerItem - 1) / winogradRowsPerItem
    let items = n * perImage
    let threads = max(1, min(Parallel.threads, items))
    let partials = Workspace.shared.buffer(.winogradProduct, count: size * threads)
    Workspace.shared.forEachChunk(
        threads, cost: Int(Int32.max), scratch: Float.self,
        capacity: unet_winograd_rows_weight_gradient_scratch_avx512(Int32(c), Int32(o), Int32(w)),
        with: (x, dy, c, h, w, o, partials, size, tilesH, perImage, items, threads)
    ) { s, scratch, range in
        let (x, dy, c, h, w, o, partials, size, tilesH, perImage, items, threads) = s
        for t in range {
            let du = partials + t * size
            du.update(repeating: 0, count: size)
            for item in (t * items / threads)..<((t + 1) * items / threads) {
                let (img, r) = (item / perImage, item % perImage)
                let (t0, t1) = (r * winogradRowsPerItem, min(tilesH, (r + 1) * winogradRowsPerItem))
                let done = unet_winograd_rows_weight_gradient_avx512(
                    x + img * c * h * w, dy + img * o * h * w, Int32(c), Int32(h), Int32(w), Int32(o), Int32(t0),
                    Int32(t1), du, scratch)
                precondition(done, "row-fused Winograd called outside its sizes")
            }
        }
    }
    let kernelGradient = TemporaryBuffer(.winogradWeights, count: 36 * o * c)
    defer { kernelGradient.release() }
    let du = kernelGradient.pointer
    for row in 0..<(36 * o) {
        for ci in 0..<c {
            var sum = partials[row * c16 + ci]
            for t in 1..<threads { sum += partials[t * size + row * c16 + ci] }
            du[row * c + ci] = sum
        }
    }
    winogradAccumulateKernelGradient(du, o: o, c: c, dw)
}
