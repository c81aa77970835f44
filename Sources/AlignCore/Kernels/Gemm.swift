// The matrix-product seam: every product of the LLaMA trainer and decoder goes through a `Gemm` engine, which
// runs it in fp32 or bf16 on one of two libraries.
//
// - OpenBLAS (`sgemm`): fp32, the reference and the fallback. Asked for bf16 it computes the portable
//   reference of the bf16 path: fp32 products of bf16-rounded inputs (slow, any CPU; what tests use to check
//   the bf16 numerics on machines without bf16 instructions).
// - oneDNN (Sources/CDnnl): matmul primitives in f32 or bf16 (bf16 inputs, fp32 accumulation and output),
//   created once per shape and thread count and cached in the engine; a call only swaps data pointers.
//
// Operands are fp32 or bf16 pointers (`GemmOperand`). In bf16 an fp32 operand is rounded into the engine's
// own scratch first, so a caller can hand over fp32 activations and keep bf16 weight copies (`BF16Weights`).
// One engine belongs to one thread of work at a time (a trainer, a decoder).
//
// Threads: every oneDNN primitive runs on ONE thread. A large product is cut into `threads` blocks of output
// rows (or columns, when there are few rows), and align's own workers (`Parallel`, the pool of the
// element-wise kernels) run one block each. oneDNN's OpenMP threads would otherwise spin-wait between
// products while align's workers run the element-wise kernels on the same cores (measured: 21% of a bf16
// training step's samples in libgomp's wait loop); this way one pool owns the cores. Inside loops that are
// already parallel (data-parallel replicas, side-by-side decoders) an engine has `threads` = 1.
import CDnnl
import CKernels
import Foundation

/// The library that runs the products.
public enum GemmBackend: String, Sendable, CaseIterable {
    case openblas, onednn

    /// ALIGN_GEMM=openblas|onednn when set, else oneDNN for bf16 on a CPU with bf16 instructions and OpenBLAS
    /// otherwise (fp32 stays on OpenBLAS by default: see docs/engine.md for the measurements).
    public static func preferred(for precision: Precision) -> GemmBackend {
        if let forced = forced { return forced }
        return precision == .bf16 && Precision.cpuHasBF16 ? .onednn : .openblas
    }

    /// The backend ALIGN_GEMM names (nil when unset or not a backend name).
    public static let forced: GemmBackend? = ProcessInfo.processInfo.environment["ALIGN_GEMM"].flatMap(GemmBackend.init(rawValue:))
}

/// One matrix operand: fp32 or bf16 (raw UInt16 bit patterns) values.
public enum GemmOperand {
    case f32(UnsafePointer<Float>)
    case bf16(UnsafePointer<UInt16>)
}

/// A matrix-product engine (see the file header). Not thread-safe: one engine per thread of work.
public final class Gemm: @unchecked Sendable {
    public let precision: Precision
    public let backend: GemmBackend
    /// Workers a large oneDNN product is split over (ignored by OpenBLAS, which keeps its own setting).
    public var threads: Int
    /// One oneDNN primitive per exact shape, never cut into pieces (for callers whose shapes take few values,
    /// such as attention's per-head products, which depend on the sequence length alone).
    public let exactShapes: Bool

    struct Key: Hashable {
        var bf16: Bool, transA: Bool, transB: Bool
        var m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
        var alpha: UInt32, beta: UInt32
        /// Which block of a split product (blocks of equal shape still need their own primitive objects).
        var part: Int
    }
    private var primitives: [Key: OpaquePointer] = [:]
    /// Conversion scratch for fp32 operands of bf16 products (grown on first use of a larger shape).
    private var scratchA = Scratch(), scratchB = Scratch()
    /// oneDNN failed to create a primitive once: everything after runs on OpenBLAS.
    private var dnnlFailed = false

    /// Cached primitives at most (then the cache starts over, between two products; shapes that recur are
    /// re-created once).
    static let maxPrimitives = 2048

    public init(precision: Precision, backend: GemmBackend? = nil, threads: Int = Parallel.workers, exactShapes: Bool = false) {
        self.precision = precision
        self.backend = backend ?? GemmBackend.preferred(for: precision)
        self.threads = max(1, threads)
        self.exactShapes = exactShapes
    }

    deinit {
        for p in primitives.values { align_mm_destroy(p) }
        scratchA.free(); scratchB.free()
    }

    /// Number of oneDNN primitives created and cached so far.
    public var cachedPrimitives: Int { primitives.count }

    /// C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, row-major, the contract of `sgemm`: op(A) = A[m,k]
    /// (lda ≥ k) or, with `transA`, Aᵀ where A is [k,m] (lda ≥ m); likewise B. In fp32 both operands must be
    /// fp32; in bf16 fp32 operands are rounded to bf16 first.
    public func mm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                   _ alpha: Float, _ a: GemmOperand, _ lda: Int, _ b: GemmOperand, _ ldb: Int,
                   _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {   // empty sum: C = beta · C
            for i in 0..<m { let r = c + i * ldc; for j in 0..<n { r[j] = beta == 0 ? 0 : beta * r[j] } }
            return
        }
        switch precision {
        case .fp32:
            guard case .f32(let pa) = a, case .f32(let pb) = b else {
                preconditionFailure("an fp32 Gemm takes fp32 operands")
            }
            if backend == .onednn && !dnnlFailed,
               dnnl(false, transA, transB, m, n, k, alpha, UnsafeRawPointer(pa), lda, UnsafeRawPointer(pb), ldb, beta, c, ldc, elem: 4) {
                return
            }
            sgemm(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, c, ldc)
        case .bf16:
            // stored shapes: A is [m,k] or (transA) [k,m]; B is [k,n] or (transB) [n,k]
            let (ar, ac, br, bc) = (transA ? k : m, transA ? m : k, transB ? n : k, transB ? k : n)
            if backend == .onednn && !dnnlFailed {
                let (pa, la) = bf16Operand(a, rows: ar, cols: ac, ld: lda, into: &scratchA)
                let (pb, lb) = bf16Operand(b, rows: br, cols: bc, ld: ldb, into: &scratchB)
                if dnnl(true, transA, transB, m, n, k, alpha, UnsafeRawPointer(pa), la, UnsafeRawPointer(pb), lb, beta, c, ldc, elem: 2) {
                    return
                }
            }
            // Portable reference: fp32 products of the bf16-rounded operands.
            let (fa, la) = roundedOperand(a, rows: ar, cols: ac, ld: lda, into: &scratchA)
            let (fb, lb) = roundedOperand(b, rows: br, cols: bc, ld: ldb, into: &scratchB)
            sgemm(transA, transB, m, n, k, alpha, fa, la, fb, lb, beta, c, ldc)
        }
    }

    /// fp32 convenience: `mm` with fp32 operands (rounded to bf16 in a bf16 engine).
    @inline(__always)
    public func mm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                   _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                   _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        mm(transA, transB, m, n, k, alpha, .f32(a), lda, .f32(b), ldb, beta, c, ldc)
    }

    /// Products below this many multiply-adds run whole on the calling thread (a split costs a hand-off).
    static let splitMinimum = 1 << 20

    /// Runs the product on oneDNN; false when oneDNN failed (then nothing was written). Operand pointers are
    /// raw, `elem` bytes per value. Row and inner counts that vary from call to call (live beam rows, prompt
    /// and batch lengths) would each need their own primitive: m and k are cut into a multiple of 16 and a
    /// remainder below 16 (the remainder's products accumulate onto the first's), so a run creates at most
    /// about max/16 + 16 primitives per product family (`exactShapes`: not cut, one primitive per shape). Every
    /// primitive is created before anything runs.
    private func dnnl(_ bf16: Bool, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                      _ a: UnsafeRawPointer, _ lda: Int, _ b: UnsafeRawPointer, _ ldb: Int, _ beta: Float,
                      _ c: UnsafeMutablePointer<Float>, _ ldc: Int, elem: Int) -> Bool {
        if primitives.count > Gemm.maxPrimitives - 4 * 64 {   // start over before, never during, a product
            for p in primitives.values { align_mm_destroy(p) }
            primitives.removeAll(keepingCapacity: true)
        }
        let mMain = exactShapes ? m : m / 16 * 16, kMain = exactShapes ? k : k / 16 * 16
        let mPieces = mMain > 0 && mMain < m ? 2 : 1, kPieces = kMain > 0 && kMain < k ? 2 : 1
        for pass in 0..<2 {
            let execute = pass == 1
            for mi in 0..<mPieces {
                let m0 = mi == 0 ? 0 : mMain, ml = mPieces == 1 ? m : (mi == 0 ? mMain : m - mMain)
                for ki in 0..<kPieces {
                    let k0 = ki == 0 ? 0 : kMain, kl = kPieces == 1 ? k : (ki == 0 ? kMain : k - kMain)
                    let ao = (transA ? m0 : m0 * lda) + (transA ? k0 * lda : k0)
                    let bo = transB ? k0 : k0 * ldb
                    guard block(bf16, transA, transB, ml, n, kl, alpha, a + ao * elem, lda, b + bo * elem, ldb,
                                ki == 0 ? beta : 1, c + m0 * ldc, ldc, elem: elem, execute: execute) else { return false }
                }
            }
        }
        return true
    }

    /// One product of `dnnl`: creates its primitives (`execute` false) or runs it, split over `threads` workers
    /// when it is large.
    private func block(_ bf16: Bool, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                       _ a: UnsafeRawPointer, _ lda: Int, _ b: UnsafeRawPointer, _ ldb: Int, _ beta: Float,
                       _ c: UnsafeMutablePointer<Float>, _ ldc: Int, elem: Int, execute: Bool) -> Bool {
        let parts = m * n * k < Gemm.splitMinimum ? 1 : min(threads, 64, max(m, n) / 16)
        func key(_ bm: Int, _ bn: Int, _ part: Int) -> Key {
            Key(bf16: bf16, transA: transA, transB: transB, m: bm, n: bn, k: k, lda: lda, ldb: ldb, ldc: ldc,
                alpha: alpha.bitPattern, beta: beta.bitPattern, part: part)
        }
        if parts <= 1 {
            guard let p = primitive(key(m, n, 0)) else { return false }
            if execute { run(p, a, b, c) }
            return true
        }
        // Blocks of rows of C (A's rows: a row offset, or a column offset of the stored [k,m] when transA), or,
        // with fewer rows than columns, blocks of columns (B's columns likewise).
        let byRows = m >= n, total = byRows ? m : n
        @inline(__always) func bound(_ i: Int) -> Int { i == parts ? total : total * i / parts / 16 * 16 }
        return withUnsafeTemporaryAllocation(of: OpaquePointer.self, capacity: parts) { prims -> Bool in
            for i in 0..<parts {
                let len = bound(i + 1) - bound(i)
                guard let p = primitive(byRows ? key(len, n, i) : key(m, len, i)) else { return false }
                prims.initializeElement(at: i, to: p)
            }
            if !execute { return true }
            let box = UncheckedSendable(prims.baseAddress!)
            Parallel.forEach(parts) { i in
                let lo = bound(i)
                // (the call stays outside `precondition`, whose condition -Ounchecked never evaluates)
                let status: Int32
                if byRows {
                    let ao = transA ? lo : lo * lda
                    status = align_mm_run(box.value[i], a + ao * elem, b, c + lo * ldc)
                } else {
                    let bo = transB ? lo * ldb : lo
                    status = align_mm_run(box.value[i], a, b + bo * elem, c + lo)
                }
                precondition(status == 0, "oneDNN matmul failed to execute")
            }
            return true
        }
    }

    /// The cached primitive for `key`, created on first use; nil (and OpenBLAS from then on) when oneDNN fails.
    private func primitive(_ key: Key) -> OpaquePointer? {
        if let p = primitives[key] { return p }
        var err = [CChar](repeating: 0, count: 256)
        let p = align_mm_create(key.bf16 ? 1 : 0, key.transA ? 1 : 0, key.transB ? 1 : 0, key.m, key.n, key.k,
                                key.lda, key.ldb, key.ldc, Float(bitPattern: key.alpha), Float(bitPattern: key.beta),
                                1, &err, Int32(err.count))
        guard let p else {
            dnnlFailed = true
            let msg = err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            FileHandle.standardError.write(Data("warning: \(msg); matrix products continue on OpenBLAS\n".utf8))
            return nil
        }
        primitives[key] = p
        return p
    }

    @inline(__always)
    private func run(_ p: OpaquePointer, _ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ c: UnsafeMutablePointer<Float>) {
        let status = align_mm_run(p, a, b, c)
        precondition(status == 0, "oneDNN matmul failed to execute")
    }

    /// A bf16 view of an operand stored as `rows` rows of `cols` values with row stride `ld`: bf16 operands as
    /// they are, fp32 ones rounded into `scratch` (packed, stride `cols`).
    private func bf16Operand(_ o: GemmOperand, rows: Int, cols: Int, ld: Int, into s: inout Scratch)
        -> (UnsafePointer<UInt16>, Int) {
        switch o {
        case .bf16(let p): return (p, ld)
        case .f32(let p):
            let dst = s.half(rows * cols)
            if ld == cols { convertToBF16(dst, p, rows * cols) } else {
                for r in 0..<rows { align_f32_to_bf16(dst + r * cols, p + r * ld, cols) }
            }
            return (UnsafePointer(dst), cols)
        }
    }

    /// An fp32 operand whose values are bf16-representable (the reference path): bf16 widened, fp32 rounded.
    private func roundedOperand(_ o: GemmOperand, rows: Int, cols: Int, ld: Int, into s: inout Scratch)
        -> (UnsafePointer<Float>, Int) {
        let dst = s.single(rows * cols)
        for r in 0..<rows {
            switch o {
            case .bf16(let p): align_bf16_to_f32(dst + r * cols, p + r * ld, cols)
            case .f32(let p): align_round_to_bf16(dst + r * cols, p + r * ld, cols)
            }
        }
        return (UnsafePointer(dst), cols)
    }
}

/// Growable conversion buffer of a Gemm (raw bytes, viewed as bf16 or fp32).
struct Scratch {
    private var raw: UnsafeMutableRawPointer?
    private var bytes = 0

    mutating func reserve(_ n: Int) -> UnsafeMutableRawPointer {
        if n > bytes {
            raw?.deallocate()
            bytes = max(n, bytes * 3 / 2)
            raw = .allocate(byteCount: bytes, alignment: 64)
        }
        return raw!
    }
    mutating func half(_ count: Int) -> UnsafeMutablePointer<UInt16> {
        reserve(count * 2).bindMemory(to: UInt16.self, capacity: count)
    }
    mutating func single(_ count: Int) -> UnsafeMutablePointer<Float> {
        reserve(count * 4).bindMemory(to: Float.self, capacity: count)
    }
    func free() { raw?.deallocate() }
}

/// dst[n] = bf16(src[n]) (round to nearest even), in parallel chunks for large n.
public func convertToBF16(_ dst: UnsafeMutablePointer<UInt16>, _ src: UnsafePointer<Float>, _ n: Int) {
    if n < 1 << 16 { align_f32_to_bf16(dst, src, n); return }
    Parallel.chunks(n, minPerWorker: 1 << 15) { r in
        align_f32_to_bf16(dst + r.lowerBound, src + r.lowerBound, r.count)
    }
}
