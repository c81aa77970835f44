// Causal grouped-query self-attention over a [B,T] batch: forward/backward pair (parallel over
// (batch, head) with small per-head products on one thread each, fp32 or bf16: AttentionProducts.swift) and a
// plain-loop reference.
// Layout: qkv[B,T,W] with W = (H + 2·KV)·hd holds each token's H query heads, then KV key heads, then
// KV value heads (q and k already rotated). Query head h reads key/value head h / (H / KV).
// Causal blocks: every product runs in blocks of query rows (or key rows: 64 in fp32, all T in bf16, see
// `AttentionProducts.blockRows`) and skips the part above the diagonal's block, whose probabilities are zero:
// rows [r0, r1) read keys [0, r1) only, keys [c0, c1) are read by query rows [c0, T) only (with blocks of 64,
// about 40% fewer multiply-adds at T = 256 than full T×T products).
import CKernels
import Foundation

/// Rows per causal block of the attention products.
let attentionBlock = 64

/// Shape of one attention call.
public struct AttentionShape: Sendable {
    public var batch: Int, seq: Int, heads: Int, kvHeads: Int, headDim: Int
    public init(batch: Int, seq: Int, heads: Int, kvHeads: Int, headDim: Int) {
        self.batch = batch; self.seq = seq; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
    }
    /// Row width of the fused qkv buffer.
    public var qkvWidth: Int { (heads + 2 * kvHeads) * headDim }
    var group: Int { heads / kvHeads }
    var scale: Float { 1 / Float(headDim).squareRoot() }
}

/// Runs `body` with OpenBLAS on one thread (inside loops that are already parallel), then restores it.
@inline(__always)
public func withSingleThreadedBlas(_ body: () -> Void) {
    let saved = Blas.threads
    if saved != 1 { Blas.setThreads(1) }
    body()
    if saved != 1 { Blas.setThreads(saved) }
}

/// out[B,T,H·hd] = softmax(q·kᵀ/√hd + causal mask)·v; probs[B,H,T,T] saved (zero above the diagonal).
/// bf16 `products`: the products read `qkv16` (qkv rounded to bf16) and the probabilities rounded to bf16.
public func attentionForward(_ out: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>,
                             _ qkv: UnsafePointer<Float>, _ s: AttentionShape,
                             products: AttentionProducts = .fp32, qkv16: UnsafePointer<UInt16>? = nil) {
    let T = s.seq, hd = s.headDim, W = s.qkvWidth, H = s.heads, G = s.group
    let outW = H * hd
    let src = products.operand(qkv, qkv16), block = products.blockRows(T)
    products.forEach(s.batch * H) { bh, e, rows16 in
        let b = bh / H, h = bh % H, g = h / G
        let q = src + (b * T * W + h * hd)
        let k = src + (b * T * W + (H + g) * hd)
        let v = src + (b * T * W + (H + s.kvHeads + g) * hd)
        let p = probs + bh * T * T
        // Scores row blocks: rows [r0, r1) only need keys [0, r1).
        var r0 = 0
        while r0 < T {
            let r1 = min(T, r0 + block)
            e.mm(false, true, r1 - r0, r1, hd, s.scale, q + r0 * W, W, k, W, 0, p + r0 * T, T)
            r0 = r1
        }
        for i in 0..<T {
            let row = p + i * T
            rowSoftmax(row, i + 1)
            (row + i + 1).update(repeating: 0, count: T - i - 1)
        }
        let pOp = products.rowsOperand(p, rows16, T * T)
        r0 = 0
        while r0 < T {   // out rows [r0, r1) = P[r0:r1, 0:r1] · V[0:r1]
            let r1 = min(T, r0 + block)
            e.mm(false, false, r1 - r0, hd, r1, 1, pOp + r0 * T, T, v, W, 0, out + (b * T + r0) * outW + h * hd, outW)
            r0 = r1
        }
    }
}

/// dqkv[B,T,W] (written) from dout[B,T,H·hd]; dprobs[B,H,T,T] is scratch. Parallel over (batch, kv head):
/// the query heads of a group run in order so their dK/dV sums never race. bf16 `products`: the products read
/// `qkv16`, `dout16` (dout rounded to bf16) and the probabilities and score gradients rounded to bf16.
public func attentionBackward(_ dqkv: UnsafeMutablePointer<Float>, _ dprobs: UnsafeMutablePointer<Float>,
                              _ dout: UnsafePointer<Float>, _ qkv: UnsafePointer<Float>,
                              _ probs: UnsafePointer<Float>, _ s: AttentionShape,
                              products: AttentionProducts = .fp32, qkv16: UnsafePointer<UInt16>? = nil,
                              dout16: UnsafePointer<UInt16>? = nil) {
    let T = s.seq, hd = s.headDim, W = s.qkvWidth, H = s.heads, KV = s.kvHeads, G = s.group
    let outW = H * hd
    let src = products.operand(qkv, qkv16), dsrc = products.operand(dout, dout16), block = products.blockRows(T)
    products.forEach(s.batch * KV) { bg, e, rows16 in
        let b = bg / KV, g = bg % KV
        let k = src + (b * T * W + (H + g) * hd)
        let v = src + (b * T * W + (H + KV + g) * hd)
        let dk = dqkv + b * T * W + (H + g) * hd
        let dv = dqkv + b * T * W + (H + KV + g) * hd
        for h in (g * G)..<(g * G + G) {
            let bh = b * H + h
            let p = probs + bh * T * T, dp = dprobs + bh * T * T
            let q = src + (b * T * W + h * hd)
            let dq = dqkv + b * T * W + h * hd
            let dO = dsrc + (b * T * outW + h * hd)
            let beta: Float = h == g * G ? 0 : 1
            let pOp = products.rowsOperand(p, rows16, T * T)
            var r0 = 0
            while r0 < T {   // dP = dO·Vᵀ for query rows [r0, r1) over keys [0, r1); dV += Pᵀ·dO for key
                let r1 = min(T, r0 + block)   // rows [r0, r1) over queries [r0, T)
                e.mm(false, true, r1 - r0, r1, hd, 1, dO + r0 * outW, outW, v, W, 0, dp + r0 * T, T)
                e.mm(true, false, r1 - r0, hd, T - r0, 1, pOp + (r0 * T + r0), T, dO + r0 * outW, outW, beta, dv + r0 * W, W)
                r0 = r1
            }
            for i in 0..<T {                                                    // dS = P∘(dP − Σ P·dP)·scale
                let pr = p + i * T, dr = dp + i * T
                let dot = rowDot(pr, dr, i + 1)
                for j in 0...i { dr[j] = pr[j] * (dr[j] - dot) * s.scale }
                (dr + i + 1).update(repeating: 0, count: T - i - 1)
            }
            let dsOp = products.rowsOperand(UnsafePointer(dp), rows16, T * T)
            r0 = 0
            while r0 < T {   // dQ = dS·K for query rows [r0, r1) over keys [0, r1); dK += dSᵀ·Q for key
                let r1 = min(T, r0 + block)   // rows [r0, r1) over queries [r0, T)
                e.mm(false, false, r1 - r0, hd, r1, 1, dsOp + r0 * T, T, k, W, 0, dq + r0 * W, W)
                e.mm(true, false, r1 - r0, hd, T - r0, 1, dsOp + (r0 * T + r0), T, q + r0 * W, W, beta, dk + r0 * W, W)
                r0 = r1
            }
        }
    }
}

/// Reference for `attentionForward` (plain loops, double precision). `bf16`: the probabilities that weight the
/// values are rounded to bf16 first (the bf16 products' rounding; the caller passes qkv rounded to bf16).
public func attentionForwardNaive(_ out: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>,
                                  _ qkv: UnsafePointer<Float>, _ s: AttentionShape, bf16: Bool = false) {
    let T = s.seq, hd = s.headDim, W = s.qkvWidth, H = s.heads
    for b in 0..<s.batch {
        for h in 0..<H {
            let g = h / s.group
            let p = probs + (b * H + h) * T * T
            for i in 0..<T {
                var sc = [Double](repeating: 0, count: i + 1)
                for j in 0...i {
                    var d = 0.0
                    for e in 0..<hd { d += Double(qkv[(b * T + i) * W + h * hd + e]) * Double(qkv[(b * T + j) * W + (H + g) * hd + e]) }
                    sc[j] = d * Double(s.scale)
                }
                let m = sc.max()!
                let z = sc.reduce(0) { $0 + exp($1 - m) }
                for j in 0..<T { p[i * T + j] = j <= i ? Float(exp(sc[j] - m) / z) : 0 }
                for e in 0..<hd {
                    var acc = 0.0
                    for j in 0...i {
                        let w = bf16 ? Double(roundedToBF16(p[i * T + j])) : exp(sc[j] - m) / z
                        acc += w * Double(qkv[(b * T + j) * W + (H + s.kvHeads + g) * hd + e])
                    }
                    out[(b * T + i) * H * hd + h * hd + e] = Float(acc)
                }
            }
        }
    }
}

/// Reference for `attentionBackward` (plain loops, double precision, uses the saved probs). `bf16`: the
/// probabilities and the score gradients are rounded to bf16 where they enter a product (the caller passes qkv
/// and dout rounded to bf16).
public func attentionBackwardNaive(_ dqkv: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                   _ qkv: UnsafePointer<Float>, _ probs: UnsafePointer<Float>, _ s: AttentionShape,
                                   bf16: Bool = false) {
    let T = s.seq, hd = s.headDim, W = s.qkvWidth, H = s.heads, KV = s.kvHeads
    for i in 0..<(s.batch * T * W) { dqkv[i] = 0 }
    for b in 0..<s.batch {
        for h in 0..<H {
            let g = h / s.group
            let p = probs + (b * H + h) * T * T
            for i in 0..<T {
                var dp = [Double](repeating: 0, count: i + 1)
                for j in 0...i {
                    for e in 0..<hd {
                        let d = Double(dout[(b * T + i) * H * hd + h * hd + e])
                        dp[j] += d * Double(qkv[(b * T + j) * W + (H + KV + g) * hd + e])
                        let pw = bf16 ? roundedToBF16(p[i * T + j]) : p[i * T + j]
                        dqkv[(b * T + j) * W + (H + KV + g) * hd + e] += Float(Double(pw) * d)
                    }
                }
                var dot = 0.0
                for j in 0...i { dot += Double(p[i * T + j]) * dp[j] }
                for j in 0...i {
                    var ds = Double(p[i * T + j]) * (dp[j] - dot) * Double(s.scale)
                    if bf16 { ds = Double(roundedToBF16(Float(ds))) }
                    for e in 0..<hd {
                        dqkv[(b * T + i) * W + h * hd + e] += Float(ds * Double(qkv[(b * T + j) * W + (H + g) * hd + e]))
                        dqkv[(b * T + j) * W + (H + g) * hd + e] += Float(ds * Double(qkv[(b * T + i) * W + h * hd + e]))
                    }
                }
            }
        }
    }
}

/// x rounded to the nearest bf16 value (ties to even), as fp32.
@inline(__always)
func roundedToBF16(_ x: Float) -> Float {
    var v = x, r: Float = 0
    align_round_to_bf16(&r, &v, 1)
    return r
}
