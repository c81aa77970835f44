// Fast exp and row reductions for the element-wise kernels (softmax rows, cross-entropy, SiLU).
// `expApprox` is the Cephes expf polynomial (≈1–2 ulp) with branch-free rounding, written as plain scalar
// code so that loops over it auto-vectorise; reductions use SIMD8 partial sums. Tests compare against libm.
// On CPUs with AVX-512 the row kernels (max, exp, scale) run the same polynomial sixteen lanes at a time in C
// (Sources/CKernels/kernels512.c); the Swift loops are the portable path and the reference.
import CKernels
import Foundation

/// e^x for x in the float range (inputs clamped to [-87.3, 88.3], so exp of very negative x is ~1e-38).
@inline(__always)
public func expApprox(_ x0: Float) -> Float {
    let x = Swift.min(Swift.max(x0, -87.3), 88.3)
    let t = x * 1.44269504088896341 + 12582912.0      // 1.5·2²³: rounds x·log2(e) to an integer in t's low bits
    let n = t - 12582912.0
    let r = x - n * 0.693359375 + n * 2.12194440e-4
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r * r + r + 1
    let bits = (t.bitPattern &- 0x4B40_0000 &+ 127) &* 0x80_0000   // (n + 127) << 23
    return p * Float(bitPattern: bits)
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// max of p[0..<n] (n ≥ 1).
@inline(__always)
public func rowMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    if VectorKernels.avx512 { return align_row_max_avx512(p, n) }
    var m0 = -Float.infinity, m1 = m0, m2 = m0, m3 = m0
    var j = 0
    while j + 4 <= n {
        m0 = Swift.max(m0, p[j]); m1 = Swift.max(m1, p[j + 1]); m2 = Swift.max(m2, p[j + 2]); m3 = Swift.max(m3, p[j + 3])
        j += 4
    }
    while j < n { m0 = Swift.max(m0, p[j]); j += 1 }
    return Swift.max(Swift.max(m0, m1), Swift.max(m2, m3))
}

/// Σ p[0..<n].
@inline(__always)
public func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var j = 0
    var s8 = SIMD8<Float>(repeating: 0)
    while j + 8 <= n { s8 += load8(p + j); j += 8 }
    var s = s8.sum()
    while j < n { s += p[j]; j += 1 }
    return s
}

/// dst[j] = exp(src[j] − sub) · mul for j < n (dst may alias src); returns Σ_j exp(src[j] − sub).
@inline(__always) @discardableResult
public func rowExpStore(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int,
                        sub: Float, mul: Float = 1) -> Float {
    if VectorKernels.avx512 { return align_row_exp_store_avx512(dst, src, n, sub, mul) }
    for j in 0..<n { dst[j] = expApprox(src[j] - sub) }
    let s = rowSum(dst, n)
    if mul != 1 { for j in 0..<n { dst[j] *= mul } }
    return s
}

/// Σ_j exp(src[j] − sub) without writing anything (blocks through a small stack buffer).
@inline(__always)
public func rowExpSum(_ src: UnsafePointer<Float>, _ n: Int, sub: Float) -> Float {
    if VectorKernels.avx512 { return align_row_exp_sum_avx512(src, n, sub) }
    return withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { buf in
        let b = buf.baseAddress!
        var s: Float = 0, j = 0
        while j < n {
            let k = Swift.min(256, n - j)
            rowExpStore(b, src + j, k, sub: sub)
            s += rowSum(b, k)
            j += k
        }
        return s
    }
}

/// In place: p[0..<n] = softmax(p[0..<n]).
@inline(__always)
public func rowSoftmax(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = rowMax(p, n)
    rowScale(p, n, 1 / rowExpStore(p, p, n, sub: m))
}

/// p[0..<n] *= k.
@inline(__always)
public func rowScale(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ k: Float) {
    if VectorKernels.avx512 { align_row_scale_avx512(p, p, n, k); return }
    for j in 0..<n { p[j] *= k }
}

/// Σ a[j]·b[j] for j < n.
@inline(__always)
public func rowDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var j = 0
    var s8 = SIMD8<Float>(repeating: 0)
    while j + 8 <= n { s8 += load8(a + j) * load8(b + j); j += 8 }
    var s = s8.sum()
    while j < n { s += a[j] * b[j]; j += 1 }
    return s
}
