// AdamW (decoupled weight decay, PyTorch's torch.optim.AdamW semantics), global gradient-norm clipping and
// the warm-up + cosine learning-rate schedule. Operates on flat parameter/gradient buffers split into
// named groups; each group says whether it is decayed (matrices) or not (norm vectors, biases).
import CKernels
import Foundation

/// Hyper-parameters of AdamW.
public struct AdamWConfig: Codable, Sendable, Equatable {
    public var lr: Float
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    public init(lr: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0.1) {
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }
}

/// One parameter group: a contiguous range of the flat buffer, decayed or not.
public struct ParamGroup: Sendable, Equatable, Codable {
    public var range: Range<Int>
    public var decay: Bool
    public init(range: Range<Int>, decay: Bool) { self.range = range; self.decay = decay }
}

/// AdamW state (first and second moments) for a flat parameter buffer of `count` floats.
public final class AdamW {
    public var config: AdamWConfig
    public let groups: [ParamGroup]
    public let count: Int
    /// Number of steps taken (t in the bias corrections).
    public private(set) var step: Int = 0
    public let m: UnsafeMutableBufferPointer<Float>
    public let v: UnsafeMutableBufferPointer<Float>

    public init(count: Int, groups: [ParamGroup], config: AdamWConfig) {
        self.count = count
        self.groups = groups
        self.config = config
        m = .allocate(capacity: count); m.initialize(repeating: 0)
        v = .allocate(capacity: count); v.initialize(repeating: 0)
    }

    deinit { m.deallocate(); v.deallocate() }

    /// Restores a saved state (moments and step counter).
    public func restore(step: Int, m mSrc: [Float], v vSrc: [Float]) throws {
        guard mSrc.count == count, vSrc.count == count else {
            throw AlignError.invalidArgument("optimizer state has \(mSrc.count)/\(vSrc.count) values, the model has \(count) parameters")
        }
        self.step = step
        for i in 0..<count { m[i] = mSrc[i]; v[i] = vSrc[i] }
    }

    /// One AdamW update of `params` with `grads` at learning rate `lr` (defaults to config.lr).
    /// PyTorch order: p ← p·(1 − lr·wd); m,v update; p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps).
    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, lr: Float? = nil) {
        step += 1
        let c = config
        let lr = lr ?? c.lr
        let bc1 = 1 - powf(c.beta1, Float(step))
        let bc2 = 1 - powf(c.beta2, Float(step))
        let stepSize = lr / bc1
        let bc2Sqrt = bc2.squareRoot()
        let m = self.m.baseAddress!, v = self.v.baseAddress!
        for g in groups {
            let decay: Float = g.decay ? 1 - lr * c.weightDecay : 1
            Parallel.chunks(g.count, minPerWorker: 1 << 15) { r in
                let lo = g.range.lowerBound + r.lowerBound
                if VectorKernels.avx512 {
                    align_adamw_avx512(params + lo, grads + lo, m + lo, v + lo, r.count, decay, c.beta1, c.beta2, stepSize, bc2Sqrt, c.eps)
                } else {
                    adamwUpdatePortable(params + lo, grads + lo, m + lo, v + lo, r.count, decay: decay, beta1: c.beta1,
                                        beta2: c.beta2, stepSize: stepSize, bc2Sqrt: bc2Sqrt, eps: c.eps)
                }
            }
        }
    }
}

extension ParamGroup {
    var count: Int { range.count }
}

/// One AdamW update of `n` values (the reference of align_adamw_avx512, which gives the same bits).
public func adamwUpdatePortable(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                                _ v: UnsafeMutablePointer<Float>, _ n: Int, decay: Float, beta1: Float, beta2: Float,
                                stepSize: Float, bc2Sqrt: Float, eps: Float) {
    for i in 0..<n {
        let gi = g[i]
        p[i] *= decay
        m[i] = beta1 * m[i] + (1 - beta1) * gi
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
        p[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2Sqrt + eps)
    }
}

/// Σ x[i]² in double (the reference of align_sum_squares_avx512, which gives the same bits): lane l of eight sums
/// the i ≡ l (mod 8), then ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)).
public func sumSquaresPortable(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    var acc = SIMD8<Double>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        var d = SIMD8<Double>(repeating: 0)
        for l in 0..<8 { d[l] = Double(x[i + l]) }
        acc += d * d
        i += 8
    }
    for l in 0..<(n - i) { let d = Double(x[i + l]); acc[l] += d * d }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// Values per block of `gradNorm`: the blocks' sums are added in block order, so the norm is the same for any
/// number of workers.
let gradNormBlock = 1 << 14

/// Global L2 norm of `grads[0..<n]` (double accumulation): Σ over blocks of `gradNormBlock` values, in block
/// order, of each block's `sumSquaresPortable` (the AVX-512 kernel where the CPU has it, same bits); the blocks
/// run on every core when there are several.
public func gradNorm(_ grads: UnsafePointer<Float>, _ n: Int) -> Float {
    let blocks = (n + gradNormBlock - 1) / gradNormBlock
    func block(_ b: Int) -> Double {
        let lo = b * gradNormBlock, count = min(n, lo + gradNormBlock) - lo
        return VectorKernels.avx512 ? align_sum_squares_avx512(grads + lo, count) : sumSquaresPortable(grads + lo, count)
    }
    if blocks <= 1 { return Float(block(0).squareRoot()) }
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: blocks) { sums in
        let out = UncheckedSendable(sums.baseAddress!)
        Parallel.forEach(blocks, minPerWorker: 4) { b in out.value[b] = block(b) }
        var s = 0.0
        for b in 0..<blocks { s += sums[b] }
        return Float(s.squareRoot())
    }
}

/// Scales gradients so their global norm is at most `maxNorm` (PyTorch clip_grad_norm_: factor
/// maxNorm / (norm + 1e-6), applied only when < 1). Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ grads: UnsafeMutablePointer<Float>, _ n: Int, maxNorm: Float) -> Float {
    let norm = gradNorm(grads, n)
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 {
        let g = UncheckedSendable(grads)
        Parallel.chunks(n, minPerWorker: 1 << 15) { r in for i in r { g.value[i] *= coef } }
    }
    return norm
}

/// Linear warm-up to `peak` over `warmup` steps, then cosine decay to `peak * minRatio` at `total`.
public struct LRSchedule: Codable, Sendable, Equatable {
    public var peak: Float
    public var warmup: Int
    public var total: Int
    public var minRatio: Float
    public init(peak: Float, warmup: Int, total: Int, minRatio: Float = 0.1) {
        self.peak = peak; self.warmup = warmup; self.total = total; self.minRatio = minRatio
    }
    /// Learning rate for 0-based step `s`.
    public func lr(at s: Int) -> Float {
        if warmup > 0 && s < warmup { return peak * Float(s + 1) / Float(warmup) }
        let span = max(1, total - warmup)
        let p = min(1, max(0, Float(s - warmup) / Float(span)))
        let cos = 0.5 * (1 + cosf(Float.pi * p))
        return peak * (minRatio + (1 - minRatio) * cos)
    }
}
