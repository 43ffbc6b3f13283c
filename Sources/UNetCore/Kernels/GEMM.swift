import COpenBLAS

/// The engine's one door to BLAS: every matrix product in the engine goes through `gemm`, and this is the only
/// file that calls cblas. Matrices are row-major.
public enum BLAS {
    /// Sets the number of threads OpenBLAS may use (the engine's `--threads`).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
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
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha,
        a, blasint(lda ?? (transA ? m : k)), b, blasint(ldb ?? (transB ? k : n)),
        beta, c, blasint(ldc ?? n))
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
