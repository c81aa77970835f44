// Element-wise LLaMA kernels as forward/backward pairs over flat row-major buffers: token embedding,
// residual add and the SwiGLU gate. Conventions (all kernel files): outputs come first; parameter
// gradients are accumulated (+=); activation gradients are written unless the doc says "accumulates".
// Each fast (parallel) kernel has a plain-loop `...Naive` reference beside it, tested against it.
import CKernels
import Foundation

// MARK: - Embedding

/// out[N,C] = wte[tokens[n], :]. Tokens must be in 0..<V (callers validate).
public func embeddingForward(_ out: UnsafeMutablePointer<Float>, _ tokens: UnsafePointer<Int32>,
                             _ wte: UnsafePointer<Float>, _ n: Int, _ c: Int) {
    Parallel.chunks(n, minPerWorker: 64) { r in
        for i in r { (out + i * c).update(from: wte + Int(tokens[i]) * c, count: c) }
    }
}

/// dwte[tokens[n], :] += dout[n, :]   (dout [N,C]). Parallel over column chunks, so repeated tokens never race.
public func embeddingBackward(_ dwte: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                              _ tokens: UnsafePointer<Int32>, _ n: Int, _ c: Int) {
    Parallel.chunks(c, minPerWorker: 32) { cols in
        for i in 0..<n {
            let d = dwte + Int(tokens[i]) * c, s = dout + i * c
            for j in cols { d[j] += s[j] }
        }
    }
}

/// Reference for `embeddingForward`.
public func embeddingForwardNaive(_ out: UnsafeMutablePointer<Float>, _ tokens: UnsafePointer<Int32>,
                                  _ wte: UnsafePointer<Float>, _ n: Int, _ c: Int) {
    for i in 0..<n { for j in 0..<c { out[i * c + j] = wte[Int(tokens[i]) * c + j] } }
}

/// Reference for `embeddingBackward`.
public func embeddingBackwardNaive(_ dwte: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                   _ tokens: UnsafePointer<Int32>, _ n: Int, _ c: Int) {
    for i in 0..<n { for j in 0..<c { dwte[Int(tokens[i]) * c + j] += dout[i * c + j] } }
}

// MARK: - Residual add

/// out[N] = a[N] + b[N]. (The model fuses this into its output projections with sgemm beta = 1.)
public func residualForward(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
                            _ b: UnsafePointer<Float>, _ n: Int) {
    Parallel.chunks(n, minPerWorker: 1 << 14) { r in for i in r { out[i] = a[i] + b[i] } }
}

/// da[N] += dout, db[N] += dout (accumulates).
public func residualBackward(_ da: UnsafeMutablePointer<Float>, _ db: UnsafeMutablePointer<Float>,
                             _ dout: UnsafePointer<Float>, _ n: Int) {
    Parallel.chunks(n, minPerWorker: 1 << 14) { r in for i in r { da[i] += dout[i]; db[i] += dout[i] } }
}

/// Reference for `residualForward`.
public func residualForwardNaive(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
                                 _ b: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { out[i] = a[i] + b[i] }
}

// MARK: - SwiGLU

@inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + expApprox(-x)) }

/// h[N,F] = silu(gate) * up, where gu[N,2F] holds each row's gate (first F) then up (next F).
public func swigluForward(_ h: UnsafeMutablePointer<Float>, _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int) {
    Parallel.chunks(n, minPerWorker: 16) { r in
        swigluForwardRows(h + r.lowerBound * f, gu + r.lowerBound * 2 * f, r.count, f)
    }
}

/// `swigluForward` over `n` rows on the calling thread (the widest kernel the CPU runs).
@inline(__always)
func swigluForwardRows(_ h: UnsafeMutablePointer<Float>, _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int) {
    if VectorKernels.avx512 {
        align_swiglu_forward_avx512(h, gu, n, f)
    } else if VectorKernels.avx2 {
        align_swiglu_forward_avx2(h, gu, n, f)
    } else {
        swigluForwardPortable(h, gu, n, f)
    }
}

/// dgu[N,2F] (written) from dh[N,F]: dgate = dh·up·σ(g)(1 + g(1 − σ(g))), dup = dh·silu(g).
public func swigluBackward(_ dgu: UnsafeMutablePointer<Float>, _ dh: UnsafePointer<Float>,
                           _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int) {
    Parallel.chunks(n, minPerWorker: 16) { r in
        swigluBackwardRows(dgu + r.lowerBound * 2 * f, dh + r.lowerBound * f, gu + r.lowerBound * 2 * f, r.count, f)
    }
}

/// `swigluBackward` over `n` rows on the calling thread.
@inline(__always)
func swigluBackwardRows(_ dgu: UnsafeMutablePointer<Float>, _ dh: UnsafePointer<Float>,
                        _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int) {
    if VectorKernels.avx512 {
        align_swiglu_backward_avx512(dgu, dh, gu, n, f)
    } else if VectorKernels.avx2 {
        align_swiglu_backward_avx2(dgu, dh, gu, n, f)
    } else {
        swigluBackwardPortable(dgu, dh, gu, n, f)
    }
}

/// `swigluForward`'s portable single-threaded body (what runs without AVX2 + FMA).
public func swigluForwardPortable(_ h: UnsafeMutablePointer<Float>, _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int) {
    for i in 0..<n {
        let g = gu + i * 2 * f, u = g + f, o = h + i * f
        for j in 0..<f { let x = g[j]; o[j] = x / (1 + expApprox(-x)) * u[j] }
    }
}

/// `swigluBackward`'s portable single-threaded body.
public func swigluBackwardPortable(_ dgu: UnsafeMutablePointer<Float>, _ dh: UnsafePointer<Float>,
                                   _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int) {
    for i in 0..<n {
        let g = gu + i * 2 * f, u = g + f, d = dh + i * f
        let dg = dgu + i * 2 * f, du = dg + f
        for j in 0..<f {
            let x = g[j], s = sigmoid(x)
            dg[j] = d[j] * u[j] * s * (1 + x * (1 - s))
            du[j] = d[j] * x * s
        }
    }
}

/// Reference for `swigluForward` (double precision).
public func swigluForwardNaive(_ h: UnsafeMutablePointer<Float>, _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int) {
    for i in 0..<n {
        for j in 0..<f {
            let g = Double(gu[i * 2 * f + j]), u = Double(gu[i * 2 * f + f + j])
            h[i * f + j] = Float(g / (1 + _exp(-g)) * u)
        }
    }
}

/// Reference for `swigluBackward` (double precision).
public func swigluBackwardNaive(_ dgu: UnsafeMutablePointer<Float>, _ dh: UnsafePointer<Float>,
                                _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int) {
    for i in 0..<n {
        for j in 0..<f {
            let g = Double(gu[i * 2 * f + j]), u = Double(gu[i * 2 * f + f + j]), d = Double(dh[i * f + j])
            let s = 1 / (1 + _exp(-g))
            dgu[i * 2 * f + j] = Float(d * u * (s + g * s * (1 - s)))
            dgu[i * 2 * f + f + j] = Float(d * g * s)
        }
    }
}

@inline(__always) func _exp(_ x: Double) -> Double { Foundation.exp(x) }

/// Which element-wise kernels run: the AVX2 + FMA C versions (Sources/CKernels) when the CPU has both and
/// ALIGN_NO_AVX2 is unset, the AVX-512 row kernels (softmax, cross-entropy) when the CPU has AVX-512 and
/// neither ALIGN_NO_AVX512 nor ALIGN_NO_AVX2 is set, else the portable Swift loops. Read once.
public enum VectorKernels {
    /// Whether the CPU has AVX2 and FMA (the C kernels can run).
    public static let available: Bool = align_kernels_avx2() != 0
    /// Whether the AVX2 + FMA kernels are in use.
    public static let avx2: Bool = available && ProcessInfo.processInfo.environment["ALIGN_NO_AVX2"] == nil
    /// Whether the AVX-512 row kernels are in use.
    public static let avx512: Bool = avx2 && align_kernels_avx512() != 0
        && ProcessInfo.processInfo.environment["ALIGN_NO_AVX512"] == nil
}
