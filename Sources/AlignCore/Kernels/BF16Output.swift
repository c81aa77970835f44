// Element-wise kernels whose output only feeds bf16 matrix products, written straight to bf16. Each is its fp32
// kernel followed by `convertToBF16`, bit for bit: the fp32 kernel's own row code writes a block of rows into a
// per-worker scratch that stays in cache, and the block is rounded as soon as it is written, so the fp32 result
// never goes through memory. A bf16 trainer uses them where it would otherwise keep an fp32 buffer only to round
// it: the RMSNorm outputs that enter the projections, the rotated q, k (and v), the SwiGLU output, the SwiGLU
// input gradient, a dropped-out branch's gradient and the rotated-back qkv gradient. The references are the fp32 kernels themselves (tested bit for bit).
import CKernels
import Foundation

/// Per-worker fp32 blocks for the kernels below, planned once by their owner.
public final class BF16Scratch: @unchecked Sendable {
    /// Floats of one worker's block (32 KB: an L1 data cache) unless one row is wider.
    public static let blockFloats = 8192
    let buffer: UnsafeMutableBufferPointer<Float>
    /// Floats each worker owns.
    let perWorker: Int
    let workers: Int

    /// Blocks for rows up to `widest` floats, one per `Parallel` worker.
    public init(widest: Int) {
        perWorker = max(Self.blockFloats, widest)
        workers = Parallel.workers
        buffer = .allocate(capacity: workers * perWorker)
        buffer.initialize(repeating: 0)
    }

    deinit { buffer.deallocate() }

    @inline(__always) func block(_ worker: Int) -> UnsafeMutablePointer<Float> {
        buffer.baseAddress! + worker * perWorker
    }
}

/// dst16[n, width] = bf16 of the rows `produce(first, count, out)` writes in fp32 to out[count, width]: in blocks
/// that fit a worker's scratch, each rounded right after it is written.
@inline(__always)
func roundedRows(_ dst16: UnsafeMutablePointer<UInt16>, rows n: Int, width: Int, scratch: BF16Scratch, minPerWorker: Int,
                 _ produce: (_ first: Int, _ count: Int, _ out: UnsafeMutablePointer<Float>) -> Void) {
    precondition(width <= scratch.perWorker, "row of \(width) floats for a scratch block of \(scratch.perWorker)")
    let per = max(1, scratch.perWorker / width)
    Parallel.workerChunks(n, minPerWorker: minPerWorker) { t, r in
        let out = scratch.block(t)
        var i = r.lowerBound
        while i < r.upperBound {
            let k = min(per, r.upperBound - i)
            produce(i, k, out)
            align_f32_to_bf16(dst16 + i * width, out, k * width)
            i += k
        }
    }
}

/// out16[N,C] = bf16(rmsnormForward's out); rstd[N] as `rmsnormForward` writes it.
public func rmsnormForward(_ out16: UnsafeMutablePointer<UInt16>, _ rstd: UnsafeMutablePointer<Float>,
                           _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                           _ n: Int, _ c: Int, _ eps: Float, scratch: BF16Scratch) {
    roundedRows(out16, rows: n, width: c, scratch: scratch, minPerWorker: 32) { i, k, out in
        rmsnormForwardRows(out, rstd + i, x + i * c, w, k, c, eps)
    }
}

/// h16[N,F] = bf16(swigluForward's h) (gu [N,2F]).
public func swigluForward(_ h16: UnsafeMutablePointer<UInt16>, _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int,
                          scratch: BF16Scratch) {
    roundedRows(h16, rows: n, width: f, scratch: scratch, minPerWorker: 16) { i, k, out in
        swigluForwardRows(out, gu + i * 2 * f, k, f)
    }
}

/// dgu16[N,2F] = bf16(swigluBackward's dgu) from dh[N,F].
public func swigluBackward(_ dgu16: UnsafeMutablePointer<UInt16>, _ dh: UnsafePointer<Float>,
                           _ gu: UnsafePointer<Float>, _ n: Int, _ f: Int, scratch: BF16Scratch) {
    roundedRows(dgu16, rows: n, width: 2 * f, scratch: scratch, minPerWorker: 16) { i, k, out in
        swigluBackwardRows(out, dh + i * f, gu + i * 2 * f, k, f)
    }
}

/// dbranch16[N,C] = bf16(dout · mask): `dropoutBackward` rounded.
public func dropoutBackward(_ dbranch16: UnsafeMutablePointer<UInt16>, _ dout: UnsafePointer<Float>,
                            _ mask: UnsafePointer<Float>, _ n: Int, _ c: Int, scratch: BF16Scratch) {
    roundedRows(dbranch16, rows: n, width: c, scratch: scratch, minPerWorker: 64) { i, k, out in
        dropoutBackward(out, dout + i * c, mask + i * c, k * c)
    }
}

/// out16[N, rowStride] = bf16 of x with the first `heads` heads of every row rotated: `ropeForward` (sign 1) or
/// `ropeBackward` (sign −1) of a copy of x, rounded; x is only read.
public func ropeForward(_ out16: UnsafeMutablePointer<UInt16>, _ x: UnsafePointer<Float>, _ rowStride: Int, _ heads: Int,
                        _ positions: UnsafePointer<Int32>, _ n: Int, _ table: RopeTable, sign: Float = 1,
                        scratch: BF16Scratch) {
    roundedRows(out16, rows: n, width: rowStride, scratch: scratch, minPerWorker: 64) { i, k, out in
        out.update(from: x + i * rowStride, count: k * rowStride)
        ropeRows(out, rowStride, heads, positions + i, k, table, sign: sign)
    }
}
