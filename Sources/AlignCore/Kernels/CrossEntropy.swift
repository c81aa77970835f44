// Log-softmax of the target token (cross-entropy's building block) as a forward/backward pair, with a
// plain-loop reference. The backward takes an arbitrary per-position weight w = d objective / d logp, so
// the same kernel serves cross-entropy (w = −1/N), DPO (per-sequence weights) and GRPO (per-token weights).
// A second pair keeps the exponentials of the forward in place of the logits (for callers that never read the
// logits again), so its backward needs no second pass of exp.
import CKernels
import Foundation

/// Value of `targets` that marks a position as not trained (Hugging Face's ignore index).
public let ignoreIndex: Int32 = -100

/// logp[N] = log softmax(logits[n])[targets[n]] (0 where targets[n] == -100); lse[N] = logsumexp of each row.
public func logSoftmaxTargetForward(_ logp: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>,
                                    _ logits: UnsafePointer<Float>, _ targets: UnsafePointer<Int32>,
                                    _ n: Int, _ v: Int) {
    Parallel.chunks(n, minPerWorker: 4) { r in
        for i in r {
            let row = logits + i * v
            let m = rowMax(row, v)
            let l = m + logf(rowExpSum(row, v, sub: m))
            lse[i] = l
            let t = targets[i]
            logp[i] = t == ignoreIndex ? 0 : row[Int(t)] - l
        }
    }
}

/// dlogits[N,V] (written; may alias `logits`) = w[n] · (onehot(target) − softmax(logits[n])); rows whose
/// target is -100 get zeros.
public func logSoftmaxTargetBackward(_ dlogits: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>,
                                     _ lse: UnsafePointer<Float>, _ targets: UnsafePointer<Int32>,
                                     _ weights: UnsafePointer<Float>, _ n: Int, _ v: Int) {
    Parallel.chunks(n, minPerWorker: 4) { r in
        for i in r {
            let row = logits + i * v, d = dlogits + i * v
            let t = targets[i]
            if t == ignoreIndex {
                d.update(repeating: 0, count: v)
                continue
            }
            let w = weights[i]
            rowExpStore(d, row, v, sub: lse[i], mul: -w)
            d[Int(t)] += w
        }
    }
}

/// The same forward for rows whose logits are not needed afterwards (SFT's compact LM head), overwriting each
/// row with e = exp(logit − rowmax) and keeping invSum[N] = 1 / Σ e, so that the backward is a scale instead of a
/// second exp pass (`logSoftmaxTargetBackwardFromExp`). logp[N] as in `logSoftmaxTargetForward` (0 where the
/// target is -100).
public func logSoftmaxTargetForwardKeepingExp(_ logp: UnsafeMutablePointer<Float>, _ invSum: UnsafeMutablePointer<Float>,
                                              _ rows: UnsafeMutablePointer<Float>, _ targets: UnsafePointer<Int32>,
                                              _ n: Int, _ v: Int) {
    Parallel.chunks(n, minPerWorker: 4) { r in
        for i in r {
            let row = rows + i * v
            let t = targets[i]
            let m = rowMax(row, v)
            let xt = t == ignoreIndex ? 0 : row[Int(t)]
            let sum = rowExpStore(row, row, v, sub: m)
            invSum[i] = 1 / sum
            logp[i] = t == ignoreIndex ? 0 : xt - (m + logf(sum))
        }
    }
}

/// Where the backward of a kept-exp log-softmax writes its rows: fp32, or bf16 rounded as they are written (the same
/// bits as the fp32 rows followed by `convertToBF16`, without storing the fp32 rows).
public enum LogitGradientRows {
    case f32(UnsafeMutablePointer<Float>)
    case bf16(UnsafeMutablePointer<UInt16>)

    /// The rows as the operand of the products that back-propagate them.
    public var operand: GemmOperand {
        switch self {
        case .f32(let p): return .f32(UnsafePointer(p))
        case .bf16(let p): return .bf16(UnsafePointer(p))
        }
    }
}

/// Backward of `logSoftmaxTargetForwardKeepingExp`: row n of `out` [N,V] = w[n] · (onehot(target) − e[n] · invSum[n]);
/// rows whose target is -100 get zeros. fp32 rows may alias `expRows`; bf16 rows only read it.
public func logSoftmaxTargetBackwardFromExp(_ out: LogitGradientRows, _ expRows: UnsafePointer<Float>,
                                            _ invSum: UnsafePointer<Float>, _ targets: UnsafePointer<Int32>,
                                            _ weights: UnsafePointer<Float>, _ n: Int, _ v: Int) {
    Parallel.chunks(n, minPerWorker: 4) { r in
        for i in r {
            let e = expRows + i * v, t = targets[i]
            let w = t == ignoreIndex ? 0 : weights[i], k = -w * invSum[i]
            switch out {
            case .f32(let p):
                let d = p + i * v
                if t == ignoreIndex { d.update(repeating: 0, count: v); continue }
                if VectorKernels.avx512 { align_row_scale_avx512(d, e, v, k) } else { for j in 0..<v { d[j] = e[j] * k } }
                d[Int(t)] += w
            case .bf16(let p):
                let d = p + i * v
                if t == ignoreIndex { d.update(repeating: 0, count: v); continue }
                align_scale_to_bf16(d, e, v, k)
                var x = e[Int(t)] * k
                x += w
                align_f32_to_bf16(d + Int(t), &x, 1)
            }
        }
    }
}

/// The fp32 form of the backward above (dlogits may alias `expRows`).
public func logSoftmaxTargetBackwardFromExp(_ dlogits: UnsafeMutablePointer<Float>, _ expRows: UnsafePointer<Float>,
                                            _ invSum: UnsafePointer<Float>, _ targets: UnsafePointer<Int32>,
                                            _ weights: UnsafePointer<Float>, _ n: Int, _ v: Int) {
    logSoftmaxTargetBackwardFromExp(.f32(dlogits), expRows, invSum, targets, weights, n, v)
}

/// Reference for `logSoftmaxTargetForward` (double precision).
public func logSoftmaxTargetForwardNaive(_ logp: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>,
                                         _ logits: UnsafePointer<Float>, _ targets: UnsafePointer<Int32>,
                                         _ n: Int, _ v: Int) {
    for i in 0..<n {
        var m = -Double.infinity
        for j in 0..<v { m = max(m, Double(logits[i * v + j])) }
        var sum = 0.0
        for j in 0..<v { sum += exp(Double(logits[i * v + j]) - m) }
        let l = m + log(sum)
        lse[i] = Float(l)
        logp[i] = targets[i] == ignoreIndex ? 0 : Float(Double(logits[i * v + Int(targets[i])]) - l)
    }
}

/// Reference for `logSoftmaxTargetBackward` (double precision, recomputes the softmax).
public func logSoftmaxTargetBackwardNaive(_ dlogits: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>,
                                          _ targets: UnsafePointer<Int32>, _ weights: UnsafePointer<Float>,
                                          _ n: Int, _ v: Int) {
    for i in 0..<n {
        var m = -Double.infinity
        for j in 0..<v { m = max(m, Double(logits[i * v + j])) }
        var sum = 0.0
        for j in 0..<v { sum += exp(Double(logits[i * v + j]) - m) }
        for j in 0..<v {
            if targets[i] == ignoreIndex { dlogits[i * v + j] = 0; continue }
            let p = exp(Double(logits[i * v + j]) - m) / sum
            let onehot = j == Int(targets[i]) ? 1.0 : 0.0
            dlogits[i * v + j] = Float(Double(weights[i]) * (onehot - p))
        }
    }
}
