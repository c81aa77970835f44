// RMSNorm (Hugging Face LlamaRMSNorm): y = x · rsqrt(mean(x²) + eps) · w, computed in fp32.
// Forward/backward pair plus plain-loop references (double precision) for the tests.
import Foundation

/// out[N,C] = x · rstd · w with rstd[N] = 1/√(mean_c x² + eps) (rstd is saved for the backward).
public func rmsnormForward(_ out: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                           _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                           _ n: Int, _ c: Int, _ eps: Float) {
    Parallel.chunks(n, minPerWorker: 32) { r in
        let i = r.lowerBound
        rmsnormForwardRows(out + i * c, rstd + i, x + i * c, w, r.count, c, eps)
    }
}

/// `rmsnormForward` over `n` rows on the calling thread (out, rstd and x start at the first row).
@inline(__always)
func rmsnormForwardRows(_ out: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ n: Int, _ c: Int, _ eps: Float) {
    for i in 0..<n {
        let xi = x + i * c, oi = out + i * c
        let s = 1 / (rowDot(xi, xi, c) / Float(c) + eps).squareRoot()
        rstd[i] = s
        for j in 0..<c { oi[j] = w[j] * (xi[j] * s) }
    }
}

/// dx[N,C] += d/dx (ACCUMULATES, so dx can be the residual-stream gradient), dw[C] += Σ_n dout·x·rstd.
/// dx = rstd·(w·dout) − x·rstd³/C · Σ_c(w·dout·x).
public func rmsnormBackward(_ dx: UnsafeMutablePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                            _ dout: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                            _ rstd: UnsafePointer<Float>, _ n: Int, _ c: Int) {
    Parallel.chunks(n, minPerWorker: 32) { r in
        for i in r {
            let xi = x + i * c, di = dout + i * c, dxi = dx + i * c
            let s = rstd[i]
            var j = 0, dot8 = SIMD8<Float>(repeating: 0)
            while j + 8 <= c { dot8 += load8(w + j) * load8(di + j) * load8(xi + j); j += 8 }
            var dot = dot8.sum()
            while j < c { dot += w[j] * di[j] * xi[j]; j += 1 }
            let k = dot * s * s * s / Float(c)
            for j in 0..<c { dxi[j] += s * w[j] * di[j] - k * xi[j] }
        }
    }
    Parallel.chunks(c, minPerWorker: 32) { cols in
        for i in 0..<n {
            let xi = x + i * c, di = dout + i * c, s = rstd[i]
            for j in cols { dw[j] += di[j] * xi[j] * s }
        }
    }
}

/// Reference for `rmsnormForward` (double precision).
public func rmsnormForwardNaive(_ out: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                                _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                _ n: Int, _ c: Int, _ eps: Float) {
    for i in 0..<n {
        var ss = 0.0
        for j in 0..<c { ss += Double(x[i * c + j]) * Double(x[i * c + j]) }
        let s = 1 / (ss / Double(c) + Double(eps)).squareRoot()
        rstd[i] = Float(s)
        for j in 0..<c { out[i * c + j] = Float(Double(w[j]) * Double(x[i * c + j]) * s) }
    }
}

/// Reference for `rmsnormBackward` (double precision, recomputes rstd from x).
public func rmsnormBackwardNaive(_ dx: UnsafeMutablePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                 _ dout: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                 _ n: Int, _ c: Int, _ eps: Float) {
    for i in 0..<n {
        var ss = 0.0
        for j in 0..<c { ss += Double(x[i * c + j]) * Double(x[i * c + j]) }
        let s = 1 / (ss / Double(c) + Double(eps)).squareRoot()
        var dot = 0.0
        for j in 0..<c { dot += Double(w[j]) * Double(dout[i * c + j]) * Double(x[i * c + j]) }
        for j in 0..<c {
            let g = s * Double(w[j]) * Double(dout[i * c + j]) - dot * s * s * s / Double(c) * Double(x[i * c + j])
            dx[i * c + j] += Float(g)
            dw[j] += Float(Double(dout[i * c + j]) * Double(x[i * c + j]) * s)
        }
    }
}
