// Inverted dropout over flat buffers (training only). The mask is a pure function of (key, index):
// mask[i] = 1/(1−p) when the 24-bit hash of (key, i) is ≥ p·2^24, else 0. A training step's masks are
// therefore rebuilt from its key alone — an exact resume needs no stored generator — and the kernels
// are plain loops (memory-bound; they are their own reference). The mask's hashing runs eight lanes at a time
// in C on CPUs with AVX-512 (same integers, same mask; `dropoutMaskPortable` is the reference).
import CKernels
import Foundation

/// SplitMix64 finaliser: a well-mixed 64-bit hash of `x`.
@inline(__always) public func mix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// mask[n] ∈ {0, 1/(1−p)}: element i is dropped with probability p, decided by hash(key, i).
/// p must be in [0, 1).
public func dropoutMask(_ mask: UnsafeMutablePointer<Float>, _ n: Int, p: Float, key: UInt64) {
    precondition(p >= 0 && p < 1, "dropout probability \(p) outside [0, 1)")
    if VectorKernels.avx512 {
        let threshold = UInt64((Double(p) * 16_777_216).rounded())
        align_dropout_mask_avx512(mask, n, mix64(key), threshold, 1 / (1 - p))
        return
    }
    dropoutMaskPortable(mask, n, p: p, key: key)
}

/// The portable body of `dropoutMask` (plain Swift).
public func dropoutMaskPortable(_ mask: UnsafeMutablePointer<Float>, _ n: Int, p: Float, key: UInt64) {
    let threshold = UInt64((Double(p) * 16_777_216).rounded())   // p · 2^24
    let scale = 1 / (1 - p)
    let base = mix64(key)
    for i in 0..<n {
        let u = mix64(base &+ UInt64(i) &* 0xD1B5_4A32_D192_ED03) >> 40   // 24 uniform bits
        mask[i] = u >= threshold ? scale : 0
    }
}

/// x[n] *= mask[n]   (in place: the embedding output).
public func dropoutInPlace(_ x: UnsafeMutablePointer<Float>, _ mask: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { x[i] *= mask[i] }
}

/// out[n] += branch[n] · mask[n]   (a dropped-out residual branch added to the stream).
public func dropoutAddForward(_ out: UnsafeMutablePointer<Float>, _ branch: UnsafePointer<Float>,
                              _ mask: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { out[i] += branch[i] * mask[i] }
}

/// dbranch[n] = dout[n] · mask[n]   (backward of both forwards above with respect to their input).
public func dropoutBackward(_ dbranch: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                            _ mask: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { dbranch[i] = dout[i] * mask[i] }
}
