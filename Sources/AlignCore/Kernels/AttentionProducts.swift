// The matrix products of attention at a precision — the trainer's causal attention (Attention.swift) and the
// KV-cached decoder's (DecodeAttention.swift): one `Gemm` engine per worker, each on one thread, and in bf16 one
// bf16 scratch per worker ([maxSeq, maxSeq] for the trainer) that a head's probabilities (and, in the backward,
// its score gradients) are rounded into before they enter a product.
//
// fp32 (`AttentionProducts.fp32`): OpenBLAS on one thread per worker, the products attention always ran. bf16:
// the products' inputs — q, k, v, the probabilities, the output gradient and the score gradients — are bf16
// with fp32 accumulation and output (oneDNN, or the portable reference: fp32 products of the rounded inputs);
// the softmax, its backward and every sum stay fp32. The caller rounds qkv (and the output gradient) once per
// layer; this type rounds the [T,T] rows per head.
import CKernels
import Foundation

public final class AttentionProducts: @unchecked Sendable {
    public let precision: Precision
    private let engines: [Gemm]
    /// bf16: workers × `rowsPerWorker` rounded probabilities or score gradients (nil in fp32).
    private let rows16: UnsafeMutablePointer<UInt16>?
    /// Values of one worker's bf16 scratch ([maxSeq, maxSeq] for the trainer's causal attention).
    private let rowsPerWorker: Int

    /// OpenBLAS fp32 products (its engines hold no state: one instance serves every caller).
    public static let fp32 = AttentionProducts(precision: .fp32, maxSeq: 0)

    /// Engines for sequences of up to `maxSeq` tokens. `backend` as `Gemm` takes it (fp32 always runs OpenBLAS).
    public convenience init(precision: Precision, backend: GemmBackend? = nil, maxSeq: Int, workers: Int = Parallel.workers) {
        self.init(precision: precision, backend: backend, rowsPerWorker: maxSeq * maxSeq, workers: workers)
    }

    /// Engines whose bf16 scratch holds `rowsPerWorker` values per worker (the largest block of rows one call of
    /// `rowsOperand` rounds: a decoder's prompt scores or one group's step scores).
    public init(precision: Precision, backend: GemmBackend? = nil, rowsPerWorker: Int, workers: Int = Parallel.workers) {
        self.precision = precision
        self.rowsPerWorker = rowsPerWorker
        let w = max(1, workers)
        engines = (0..<w).map { _ in
            Gemm(precision: precision, backend: precision == .fp32 ? .openblas : backend, threads: 1, exactShapes: true)
        }
        if precision == .bf16 {
            rows16 = .allocate(capacity: w * rowsPerWorker)
            rows16!.initialize(repeating: 0, count: w * rowsPerWorker)
        } else {
            rows16 = nil
        }
    }

    deinit { rows16?.deallocate() }

    /// Runs `body(i, engine, scratch)` for i in 0..<n on the workers (contiguous chunks), each worker with its
    /// own engine and bf16 scratch (nil in fp32), OpenBLAS on one thread meanwhile.
    @inline(__always)
    func forEach(_ n: Int, _ body: (Int, Gemm, UnsafeMutablePointer<UInt16>?) -> Void) {
        let w = min(engines.count, n)
        withSingleThreadedBlas {
            Parallel.forEach(w) { t in
                let scratch = rows16.map { $0 + t * rowsPerWorker }
                for i in (n * t / w)..<(n * (t + 1) / w) { body(i, engines[t], scratch) }
            }
        }
    }

    /// Query (and key) rows per causal block of the products: blocks of `attentionBlock` in fp32, whose OpenBLAS
    /// products cost what they compute; one block of all T rows in bf16, where fewer, larger oneDNN calls measured
    /// faster (docs/engine.md) although they compute the zeros above the diagonal too.
    @inline(__always)
    func blockRows(_ T: Int) -> Int { precision == .fp32 ? attentionBlock : max(1, T) }

    /// The product operand of a [B,T,·] activation: its bf16 copy in bf16 (required), the fp32 values in fp32.
    @inline(__always)
    func operand(_ x: UnsafePointer<Float>, _ x16: UnsafePointer<UInt16>?) -> GemmOperand {
        guard precision == .bf16 else { return .f32(x) }
        guard let x16 else { preconditionFailure("bf16 attention needs the bf16 copy of its inputs") }
        return .bf16(x16)
    }

    /// The product operand of one head's [T,T] rows: rounded into the worker's `scratch` in bf16, `x` in fp32.
    @inline(__always)
    func rowsOperand(_ x: UnsafePointer<Float>, _ scratch: UnsafeMutablePointer<UInt16>?, _ count: Int) -> GemmOperand {
        guard let scratch else { return .f32(x) }
        precondition(count <= rowsPerWorker, "attention rows beyond the planned sequence length")
        align_f32_to_bf16(scratch, x, count)
        return .bf16(UnsafePointer(scratch))
    }
}

extension GemmOperand {
    /// The operand `n` values further on.
    @inline(__always)
    public static func + (o: GemmOperand, n: Int) -> GemmOperand {
        switch o {
        case .f32(let p): return .f32(p + n)
        case .bf16(let p): return .bf16(p + n)
        }
    }
}
