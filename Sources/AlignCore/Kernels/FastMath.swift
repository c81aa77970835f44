// Vectorised exp and row reductions (SIMD8) for the element-wise kernels: softmax rows, cross-entropy,
// SiLU. `expApprox` is the Cephes expf polynomial (≈1–2 ulp over the float range) applied lane-wise;
// the tests compare it against libm's exp.
import Foundation

/// Lane-wise e^x (inputs clamped to [-87.3, 88.3]; exp of very negative inputs underflows to ~0).
@inline(__always)
public func expApprox(_ xIn: SIMD8<Float>) -> SIMD8<Float> {
    let x = xIn.clamped(lowerBound: SIMD8(repeating: -87.3), upperBound: SIMD8(repeating: 88.3))
    let n = (x * 1.44269504088896341).rounded(.toNearestOrEven)
    var r = x - n * 0.693359375
    r = r + n * 2.12194440e-4
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r * r + r + 1
    let bits = (SIMD8<Int32>(truncatingIfNeeded: SIMD8<Int32>(n) &+ 127)) &<< 23
    return p * unsafeBitCast(bits, to: SIMD8<Float>.self)
}

/// Scalar e^x through the same polynomial (used for tails so every lane agrees).
@inline(__always)
public func expApprox(_ x: Float) -> Float { expApprox(SIMD8<Float>(repeating: x))[0] }

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// max of p[0..<n] (n ≥ 1).
@inline(__always)
public func rowMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var j = 0
    var m8 = SIMD8<Float>(repeating: -.infinity)
    while j + 8 <= n { m8 = pointwiseMax(m8, load8(p + j)); j += 8 }
    var m = m8.max()
    while j < n { m = max(m, p[j]); j += 1 }
    return m
}

/// dst[j] = exp((src[j] − sub)) · mul for j < n; returns Σ exp(src[j] − sub). dst may alias src; pass
/// nil to only sum.
@inline(__always)
public func rowExp(_ dst: UnsafeMutablePointer<Float>?, _ src: UnsafePointer<Float>, _ n: Int,
                   sub: Float, mul: Float = 1) -> Float {
    var j = 0
    var s8 = SIMD8<Float>(repeating: 0)
    let sub8 = SIMD8<Float>(repeating: sub), mul8 = SIMD8<Float>(repeating: mul)
    while j + 8 <= n {
        let e = expApprox(load8(src + j) - sub8)
        s8 += e
        if let d = dst { store8(e * mul8, d + j) }
        j += 8
    }
    var s = s8.sum()
    while j < n {
        let e = expApprox(src[j] - sub)
        s += e
        if let d = dst { d[j] = e * mul }
        j += 1
    }
    return s
}

/// p[0..<n] *= k.
@inline(__always)
public func rowScale(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ k: Float) {
    var j = 0
    let k8 = SIMD8<Float>(repeating: k)
    while j + 8 <= n { store8(load8(p + j) * k8, p + j); j += 8 }
    while j < n { p[j] *= k; j += 1 }
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
