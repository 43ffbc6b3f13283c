import COpenBLAS
import Foundation

/// The engine's one door to BLAS: every matrix product in the engine goes through `gemm`, and this is the only
/// file that calls cblas. Matrices are row-major.
public enum BLAS {
    /// Sets the number of threads OpenBLAS may use (the engine's `--threads`).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
}

/// `C = alpha * op(A) * op(B) + beta * C`, row-major.
///
/// - Parameters:
///   - transA: use Aᵀ; A is stored (k, m) instead of (m, k).
///   - transB: use Bᵀ; B is stored (n, k) instead of (k, n).
///   - m, n, k: op(A) is (m, k), op(B) is (k, n), C is (m, n).
///   - lda, ldb, ldc: row strides; by default the packed width of each stored matrix.
@inline(__always)
public func gemm(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    _ a: UnsafePointer<Float>, lda: Int? = nil, _ b: UnsafePointer<Float>, ldb: Int? = nil,
    beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int? = nil
) {
    if m == 0 || n == 0 { return }
    if k == 0 {  // BLAS leaves C untouched when k == 0 only if beta == 1; be explicit.
        for i in 0..<(m * (ldc ?? n)) { c[i] = beta == 0 ? 0 : c[i] * beta }
        return
    }
    let call = SGEMMCall(
        transA: transA, transB: transB, k: k, alpha: alpha, lda: lda ?? (transA ? m : k),
        ldb: ldb ?? (transB ? k : n), beta: beta, ldc: ldc ?? n)
    let threads = Parallel.threads
    guard GEMMThreading.splitEnabled, threads > 1, !GEMMThreading.insideProducts,
        m * n * k >= GEMMThreading.minimumSplitWork
    else {
        call.product(m, n, a, b, c)
        return
    }
    // Split the larger of C's two sides into one block per thread (multiples of 16 columns or rows), each a
    // single-threaded OpenBLAS call. Every element of C is still summed over k in the same order.
    let splitColumns = n >= m
    let side = splitColumns ? n : m
    let block = ((side + threads - 1) / threads + 15) / 16 * 16
    let split = (call: call, m: m, n: n, a: a, b: b, c: c, splitColumns: splitColumns, side: side, block: block)
    GEMMThreading.runSingleThreaded(
        (side + block - 1) / block,
        ChunkIndexJob(state: split) { s, t in
            let (start, size) = (t * s.block, min(s.block, s.side - t * s.block))
            if s.splitColumns {
                s.call.product(s.m, size, s.a, s.b + (s.call.transB ? start * s.call.ldb : start), s.c + start)
            } else {
                s.call.product(
                    size, s.n, s.a + (s.call.transA ? start : start * s.call.lda), s.b, s.c + start * s.call.ldc)
            }
        })
}

/// One `gemm`'s transpositions, inner dimension, scalars and strides: what every block of a split product shares.
private struct SGEMMCall {
    let transA, transB: Bool
    let k: Int
    let alpha: Float
    let lda, ldb: Int
    let beta: Float
    let ldc: Int

    /// C's rows×columns block at `c` from A's rows at `a` and B's columns at `b`.
    @inline(__always)
    func product(
        _ rows: Int, _ columns: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ c: UnsafeMutablePointer<Float>
    ) {
        guard SmallKernelAllocation.applies(transA: transA, transB: transB, rows: rows, columns: columns, k: k) else {
            sgemm(rows, columns, k, a, b, beta, c)
            return
        }
        if beta == 0 && columns > 16 {
            // The columns up to the last multiple of 16, then the last 16 columns again: both shapes the small
            // kernel takes without its buffer, and with beta 0 the columns computed twice are only overwritten.
            let whole = columns - columns % 16
            sgemm(rows, whole, k, a, b, 0, c)
            let last = columns - 16
            sgemm(rows, 16, k, a, b + last, 0, c + last)
            return
        }
        // In equal pieces of k (32 as 16 + 16, not 31 + 1) that OpenBLAS's small kernel takes without its buffer:
        // the first with this call's beta, the others adding to C.
        let pieces = (k + SmallKernelAllocation.maximumK - 1) / SmallKernelAllocation.maximumK
        let size = (k + pieces - 1) / pieces
        var start = 0
        while start < k {
            let piece = min(size, k - start)
            sgemm(rows, columns, piece, a + start, b + start * ldb, start == 0 ? beta : 1, c)
            start += piece
        }
    }

    @inline(__always)
    private func sgemm(
        _ rows: Int, _ columns: Int, _ depth: Int, _ a: UnsafePointer<Float>,
        _ b: UnsafePointer<Float>, _ beta: Float, _ c: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasint(rows), blasint(columns), blasint(depth), alpha, a, blasint(lda), b, blasint(ldb), beta, c,
            blasint(ldc))
    }
}

/// OpenBLAS 0.3.21's AVX-512 cores (SkylakeX, Cooperlake) send small products to `sgemm_small_kernel_b0_nn`
/// and its beta != 0 twin, which `malloc` a buffer (1 KiB at k = 32) on every call when, in row-major terms,
/// neither operand is transposed, k >= 32, the column count leaves a remainder of 1 to 8 over 16, and
/// m·n·k is at most about 100³ (swept on the Intel Xeon of issue 21; no transposed product and no k < 32
/// allocated). The Winograd tile blocks at <= 32 channels make such calls by the thousand per step, which broke
/// "no heap allocation per warm step" on that CPU (36,936 per pneumonia-model inference step). Such a product goes
/// to OpenBLAS as two calls of whole 16-column groups instead (beta 0, more than 16 columns), or else in pieces of
/// at most 31 along k.
enum SmallKernelAllocation {
    static let maximumK = 31
    /// Whether the running core's small kernels allocate; the others are left alone. A variable so that the tests
    /// can take the path on any CPU.
    nonisolated(unsafe) static var affected: Bool = ["SkylakeX", "Cooperlake", "SapphireRapids"].contains(
        BLASCore.current)

    @inline(__always)
    static func applies(transA: Bool, transB: Bool, rows: Int, columns: Int, k: Int) -> Bool {
        affected && !transA && !transB && k > maximumK && (1...8).contains(columns % 16)
            && rows * columns * k <= 1 << 21
    }
}

/// How `gemm` uses the engine's threads.
enum GEMMThreading {
    /// Split products across threads ourselves (the default). `UNET_GEMM_SPLIT=0` leaves threading to OpenBLAS
    /// instead, to compare the two (`unet-bench`).
    nonisolated(unsafe) static var splitEnabled = ProcessInfo.processInfo.environment["UNET_GEMM_SPLIT"] != "0"
    /// Set while threads run whole products (`independentProducts`, or the blocks of one split product), so a
    /// `gemm` called from them runs single-threaded rather than splitting again.
    nonisolated(unsafe) static var insideProducts = false
    /// Below m·n·k of 2^18 (about 0.5 MFLOP), one thread finishes before two would have started.
    static let minimumSplitWork = 1 << 18

    /// `Parallel.run(chunks, job)` with OpenBLAS single-threaded and `insideProducts` set meanwhile.
    static func runSingleThreaded<Job: ChunkJob>(_ chunks: Int, _ job: Job) {
        ComputeThread.check("GEMMThreading.runSingleThreaded")
        openblas_set_num_threads(1)
        insideProducts = true
        Parallel.run(chunks, job)
        insideProducts = false
        openblas_set_num_threads(Int32(Parallel.threads))
    }
}

/// Runs `count` independent products, `body(state, i)` each making its own `gemm` calls, spread over the engine's threads
/// with OpenBLAS single-threaded inside each call.
///
/// Why: Winograd's 36 products per chunk are small (O x C times C x tiles, with O and C as low as 64). Split
/// across threads inside OpenBLAS, each pays a fork and join, which at 64->64 channels costs most of the
/// products' time (Examples/benchmarks/RESULTS.md). Each thread running whole products on its own avoids the joins. Products
/// go to threads in a fixed pattern, and each product is computed by one thread alone, so results do not depend
/// on timing. OpenBLAS (0.3.7 and later) may be called from several threads at once when each call is
/// single-threaded.
///
/// `body(state, i)` captures nothing (see `Parallel`).
public func independentProducts<State>(_ count: Int, with state: State, _ body: @escaping (State, Int) -> Void) {
    let threads = min(Parallel.threads, count)
    guard threads > 1 else { for i in 0..<count { body(state, i) }; return }
    GEMMThreading.runSingleThreaded(threads, StridedJob(state: state, body: body, count: count, chunks: threads))
}

/// The naive triple loop with the same contract as `gemm`: the test oracle for it.
public func gemmNaive(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, beta: Float = 0, _ c: UnsafeMutablePointer<Float>
) {
    for i in 0..<m {
        for j in 0..<n {
            var s: Double = 0
            for p in 0..<k {
                let av = transA ? a[p * m + i] : a[i * k + p]
                let bv = transB ? b[j * k + p] : b[p * n + j]
                s += Double(av) * Double(bv)
            }
            c[i * n + j] = alpha * Float(s) + (beta == 0 ? 0 : beta * c[i * n + j])
        }
    }
}
