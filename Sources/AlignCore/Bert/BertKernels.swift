// Forward-only kernels of the BERT encoder over flat row-major buffers (llm.c style), each fast kernel
// with a plain-loop reference (`...Naive`, double accumulation) that the tests compare it with.
// Shapes: rows = B*T token rows, C = hidden size, H heads of size hs = C/H, padded batches carry a
// `lengths[b]` (real tokens of sequence b; positions ≥ lengths[b] are padding).
import Foundation

// MARK: - Linear

/// out[rows, outDim] = inp[rows, inDim] · weight[outDim, inDim]ᵀ + bias[outDim] (HF Linear layout), via sgemm.
public func linearForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                          _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                          rows: Int, inDim: Int, outDim: Int) {
    for r in 0..<rows { (out + r * outDim).update(from: bias, count: outDim) }
    sgemm(false, true, rows, outDim, inDim, 1, inp, inDim, weight, inDim, 1, out, outDim)
}

/// Reference for `linearForward`.
public func linearNaive(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                        _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                        rows: Int, inDim: Int, outDim: Int) {
    for r in 0..<rows {
        for o in 0..<outDim {
            var s = Double(bias[o])
            for i in 0..<inDim { s += Double(inp[r * inDim + i]) * Double(weight[o * inDim + i]) }
            out[r * outDim + o] = Float(s)
        }
    }
}

// MARK: - LayerNorm

/// out[rows, C] = LayerNorm(inp + residual) · weight + bias, per row (biased variance, eps inside the
/// square root). `residual` may be nil; `out` may alias `inp`.
public func layerNormForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                             _ residual: UnsafePointer<Float>?, _ weight: UnsafePointer<Float>,
                             _ bias: UnsafePointer<Float>, rows: Int, dim c: Int, eps: Float) {
    let o = UncheckedSendable(out), x = UncheckedSendable(inp), res = UncheckedSendable(residual)
    let w = UncheckedSendable(weight), bb = UncheckedSendable(bias)
    Parallel.chunks(rows, minPerWorker: 16) { range in
        for r in range {
            let xr = x.value + r * c, orow = o.value + r * c
            if let rp = res.value {
                let rr = rp + r * c
                for i in 0..<c { orow[i] = xr[i] + rr[i] }
            } else if orow != UnsafeMutablePointer(mutating: xr) {
                orow.update(from: xr, count: c)
            }
            var mean: Float = 0
            for i in 0..<c { mean += orow[i] }
            mean /= Float(c)
            var v: Float = 0
            for i in 0..<c { let d = orow[i] - mean; v += d * d }
            let rstd = 1 / (v / Float(c) + eps).squareRoot()
            for i in 0..<c { orow[i] = (orow[i] - mean) * rstd * w.value[i] + bb.value[i] }
        }
    }
}

/// Reference for `layerNormForward`.
public func layerNormNaive(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>,
                           _ residual: UnsafePointer<Float>?, _ weight: UnsafePointer<Float>,
                           _ bias: UnsafePointer<Float>, rows: Int, dim c: Int, eps: Float) {
    var row = [Double](repeating: 0, count: c)
    for r in 0..<rows {
        for i in 0..<c { row[i] = Double(inp[r * c + i]) + (residual.map { Double($0[r * c + i]) } ?? 0) }
        let mean = row.reduce(0, +) / Double(c)
        let v = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(c)
        let rstd = 1 / (v + Double(eps)).squareRoot()
        for i in 0..<c { out[r * c + i] = Float((row[i] - mean) * rstd * Double(weight[i]) + Double(bias[i])) }
    }
}

// MARK: - GELU

/// x[n] = GELU(x) in place, the exact form 0.5·x·(1 + erf(x/√2)).
public func geluForward(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    let p = UncheckedSendable(x)
    Parallel.chunks(n, minPerWorker: 4096) { range in
        let s: Float = 0.70710678118654752440
        for i in range { let v = p.value[i]; p.value[i] = 0.5 * v * (1 + erf(v * s)) }
    }
}

/// Reference for `geluForward` (double precision).
public func geluNaive(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    for i in 0..<n { let v = Double(x[i]); x[i] = Float(0.5 * v * (1 + erf(v / 2.0.squareRoot()))) }
}

// MARK: - Attention

/// Scratch floats `attentionForward` needs for sequences of up to `maxLength` tokens.
public func attentionScratchCount(maxLength t: Int) -> Int { Parallel.workers * t * t }

/// Bidirectional multi-head attention with a key padding mask.
/// qkv[B, T, 3C] holds q | k | v per token (head h at columns h*hs ..< (h+1)*hs of each part);
/// out[B, T, C] gets softmax(q·kᵀ/√hs over keys < lengths[b]) · v for real query rows and 0 for padded rows.
/// Parallel over (batch, head); each worker uses its own T×T slice of `scratch` (attentionScratchCount).
/// Both products go through sgemm (OpenBLAS is kept single-threaded inside the parallel region).
public func attentionForward(_ out: UnsafeMutablePointer<Float>, _ qkv: UnsafePointer<Float>,
                             _ lengths: UnsafePointer<Int32>, _ scratch: UnsafeMutablePointer<Float>,
                             batch b: Int, length t: Int, heads h: Int, headSize hs: Int) {
    let c = h * hs, c3 = 3 * c
    let scale = 1 / Float(hs).squareRoot()
    let pairs = b * h
    let workers = min(Parallel.workers, pairs)
    let o = UncheckedSendable(out), q = UncheckedSendable(qkv), lens = UncheckedSendable(lengths)
    let scr = UncheckedSendable(scratch)
    let blasThreads = Blas.threads
    if workers > 1 { Blas.setThreads(1) }
    defer { if workers > 1 { Blas.setThreads(blasThreads) } }
    Parallel.forEach(workers) { w in
        let att = scr.value + w * t * t
        for p in (pairs * w / workers)..<(pairs * (w + 1) / workers) {
            let bi = p / h, hi = p % h
            let len = Int(lens.value[bi])
            let base = q.value + bi * t * c3 + hi * hs
            let ob = o.value + bi * t * c + hi * hs
            if len > 0 {
                // att[len, len] = scale · Q Kᵀ
                sgemm(false, true, len, len, hs, scale, base, c3, base + c, c3, 0, att, len)
                for i in 0..<len {
                    let row = att + i * len
                    var mx = -Float.infinity
                    for j in 0..<len { mx = max(mx, row[j]) }
                    var sum: Float = 0
                    for j in 0..<len { let e = expf(row[j] - mx); row[j] = e; sum += e }
                    let inv = 1 / sum
                    for j in 0..<len { row[j] *= inv }
                }
                // out[len, hs] = att · V
                sgemm(false, false, len, hs, len, 1, att, len, base + 2 * c, c3, 0, ob, c)
            }
            for i in len..<t { (ob + i * c).update(repeating: 0, count: hs) }
        }
    }
}

/// Reference for `attentionForward`: the full T×T scores with masked keys at -∞.
public func attentionNaive(_ out: UnsafeMutablePointer<Float>, _ qkv: UnsafePointer<Float>,
                           _ lengths: UnsafePointer<Int32>, batch b: Int, length t: Int, heads h: Int, headSize hs: Int) {
    let c = h * hs, c3 = 3 * c
    let scale = 1 / Double(hs).squareRoot()
    var s = [Double](repeating: 0, count: t)
    for bi in 0..<b {
        let len = Int(lengths[bi])
        for hi in 0..<h {
            for i in 0..<t {
                let orow = out + (bi * t + i) * c + hi * hs
                if i >= len { for d in 0..<hs { orow[d] = 0 }; continue }
                let qrow = qkv + (bi * t + i) * c3 + hi * hs
                for j in 0..<t {
                    if j >= len { s[j] = -.infinity; continue }
                    let krow = qkv + (bi * t + j) * c3 + c + hi * hs
                    var dot = 0.0
                    for d in 0..<hs { dot += Double(qrow[d]) * Double(krow[d]) }
                    s[j] = dot * scale
                }
                let mx = s.max()!
                var sum = 0.0
                for j in 0..<t { s[j] = exp(s[j] - mx); sum += s[j] }
                for d in 0..<hs {
                    var acc = 0.0
                    for j in 0..<len { acc += s[j] / sum * Double(qkv[(bi * t + j) * c3 + 2 * c + hi * hs + d]) }
                    orow[d] = Float(acc)
                }
            }
        }
    }
}

// MARK: - Pooling

/// out[B, C] = L2-normalised mean of x[b, 0..<lengths[b], :] (sentence-transformers' mean pooling followed
/// by Normalize: the mean divides by max(len, 1e-9), the norm by max(‖v‖, 1e-12)).
public func meanPoolNormalizeForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                     _ lengths: UnsafePointer<Int32>, batch b: Int, length t: Int, dim c: Int) {
    for bi in 0..<b {
        let len = Int(lengths[bi])
        let orow = out + bi * c
        orow.update(repeating: 0, count: c)
        for i in 0..<len {
            let xr = x + (bi * t + i) * c
            for d in 0..<c { orow[d] += xr[d] }
        }
        let inv = 1 / max(Float(len), 1e-9)
        var ss: Float = 0
        for d in 0..<c { orow[d] *= inv; ss += orow[d] * orow[d] }
        let n = 1 / max(ss.squareRoot(), 1e-12)
        for d in 0..<c { orow[d] *= n }
    }
}

/// Reference for `meanPoolNormalizeForward` (double accumulation).
public func meanPoolNormalizeNaive(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                   _ lengths: UnsafePointer<Int32>, batch b: Int, length t: Int, dim c: Int) {
    for bi in 0..<b {
        let len = Int(lengths[bi])
        var v = [Double](repeating: 0, count: c)
        for i in 0..<len { for d in 0..<c { v[d] += Double(x[(bi * t + i) * c + d]) } }
        for d in 0..<c { v[d] /= max(Double(len), 1e-9) }
        let n = max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        for d in 0..<c { out[bi * c + d] = Float(v[d] / n) }
    }
}
