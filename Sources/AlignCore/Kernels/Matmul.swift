// Matrix products. All of align's matrix products go through `sgemm` (OpenBLAS cblas_sgemm, row-major);
// `sgemmNaive` is the plain-loop reference kernel the fast path is tested against.
import CBLAS

public enum Blas {
    /// Sets OpenBLAS's own thread count (call with 1 inside loops that are already parallel).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    /// OpenBLAS's current thread count.
    public static var threads: Int { Int(openblas_get_num_threads()) }
}

/// C[m,n] = alpha * op(A)[m,k] · op(B)[k,n] + beta * C[m,n], all row-major.
/// op(A) = A[m,k] (lda ≥ k) or, with `transA`, Aᵀ where A is [k,m] (lda ≥ m); likewise for B.
@inline(__always)
public func sgemm(
    _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
    _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
    _ b: UnsafePointer<Float>, _ ldb: Int,
    _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
) {
    if m == 0 || n == 0 { return }
    var beta = beta
    if beta == 0 {
        // OpenBLAS clears C with its own scalar "beta" kernel before accumulating (5% of a decode or SFT step in
        // perf); memset then beta = 1 is the same arithmetic (0 + x = x), just faster.
        if ldc == n { c.update(repeating: 0, count: m * n) } else { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        beta = 1
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Reference kernel with the same contract as `sgemm` (double accumulation).
public func sgemmNaive(
    _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
    _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
    _ b: UnsafePointer<Float>, _ ldb: Int,
    _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            let prev = beta == 0 ? 0 : beta * c[i * ldc + j]
            c[i * ldc + j] = alpha * Float(s) + prev
        }
    }
}
