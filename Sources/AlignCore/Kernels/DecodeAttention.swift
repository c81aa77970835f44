// Inference-only attention for the KV-cached decoder (no backward needed):
// - prefill: causal attention over packed prompts of different lengths (one sgemm pair per (prompt, head));
// - step: one new query per row against its group's shared prompt keys plus the row's own suffix keys
//   (the prompt part as one sgemm over all `width` rows of a group, the short suffix part by hand).
// Each has a plain-loop reference beside it. With `bf16` the probabilities are rounded to bf16 before they weight
// the values, as bf16 training rounds them (the caller rounds q, k and v): the fp32 products of bf16-rounded
// inputs, the portable form of the trainer's bf16 attention.
import CKernels
import Foundation

/// Causal attention over packed sequences: sequence s occupies rows starts[s]..<starts[s]+lengths[s] of
/// qkv[N, W] (W = (H+2KV)·hd, q/k roped). out[N, H·hd]. scratch: sequences·H·maxLen² floats.
public func attentionPrefill(_ out: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                             _ qkv: UnsafePointer<Float>, _ starts: [Int], _ lengths: [Int],
                             heads H: Int, kvHeads KV: Int, headDim hd: Int, maxLen: Int, bf16: Bool = false) {
    let W = (H + 2 * KV) * hd, G = H / KV, outW = H * hd, scale = 1 / Float(hd).squareRoot()
    withSingleThreadedBlas {
        Parallel.forEach(starts.count * H) { sh in
            let sq = sh / H, h = sh % H, g = h / G, T = lengths[sq], base = starts[sq]
            let q = qkv + base * W + h * hd, k = qkv + base * W + (H + g) * hd, v = qkv + base * W + (H + KV + g) * hd
            let p = scratch + sh * maxLen * maxLen
            sgemm(false, true, T, T, hd, scale, q, W, k, W, 0, p, T)
            for i in 0..<T {
                let row = p + i * T
                rowSoftmax(row, i + 1)
                if bf16 { align_round_to_bf16(row, row, i + 1) }
                (row + i + 1).update(repeating: 0, count: T - i - 1)
            }
            sgemm(false, false, T, hd, T, 1, p, T, v, W, 0, out + base * outW + h * hd, outW)
        }
    }
}

/// Where the step attention finds its keys/values.
public struct DecodeCacheView {
    /// Prompt keys/values: group g's position j at (g·promptStride + j)·KV·hd.
    public var promptK: UnsafePointer<Float>, promptV: UnsafePointer<Float>
    public var promptStride: Int
    /// Per-group prompt lengths.
    public var promptLengths: UnsafePointer<Int>
    /// Suffix keys/values: row r's position j at (r·suffixStride + j)·KV·hd.
    public var suffixK: UnsafePointer<Float>, suffixV: UnsafePointer<Float>
    public var suffixStride: Int
    /// Number of suffix positions every row attends to (including the one just written).
    public var suffixLength: Int
    public init(promptK: UnsafePointer<Float>, promptV: UnsafePointer<Float>, promptStride: Int,
                promptLengths: UnsafePointer<Int>, suffixK: UnsafePointer<Float>, suffixV: UnsafePointer<Float>,
                suffixStride: Int, suffixLength: Int) {
        self.promptK = promptK; self.promptV = promptV; self.promptStride = promptStride
        self.promptLengths = promptLengths; self.suffixK = suffixK; self.suffixV = suffixV
        self.suffixStride = suffixStride; self.suffixLength = suffixLength
    }
}

/// One query per row: out[R, H·hd] from q (rows of stride qStride, H heads), R = groups·width.
/// scratch: groups·H·width·(promptStride + suffixStride) floats.
public func attentionStep(_ out: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                          _ q: UnsafePointer<Float>, _ qStride: Int, _ c: DecodeCacheView,
                          groups: Int, width: Int, heads H: Int, kvHeads KV: Int, headDim hd: Int, bf16: Bool = false) {
    attentionStepCore(out, scratch, q, qStride, c, groups: groups, width: width, groupStart: nil, rowIds: nil,
                      heads: H, kvHeads: KV, headDim: hd, bf16: bf16)
}

/// `attentionStep` over a compact subset of rows: group g's queries are compact rows
/// groupStart[g] ..< groupStart[g+1] of q (and of out), and compact row i reads the suffix keys/values of cache
/// row rowIds[i]. n = groupStart[groups] rows; scratch: n·H·(promptStride + suffixStride) floats.
public func attentionStep(_ out: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                          _ q: UnsafePointer<Float>, _ qStride: Int, _ c: DecodeCacheView,
                          groups: Int, groupStart: UnsafePointer<Int>, rowIds: UnsafePointer<Int32>,
                          heads H: Int, kvHeads KV: Int, headDim hd: Int, bf16: Bool = false) {
    attentionStepCore(out, scratch, q, qStride, c, groups: groups, width: 0, groupStart: groupStart, rowIds: rowIds,
                      heads: H, kvHeads: KV, headDim: hd, bf16: bf16)
}

/// Shared body: without `groupStart`/`rowIds`, group g owns rows g·width ..< (g+1)·width and cache rows equal
/// compact rows.
@inline(__always)
func attentionStepCore(_ out: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                       _ q: UnsafePointer<Float>, _ qStride: Int, _ c: DecodeCacheView,
                       groups: Int, width: Int, groupStart: UnsafePointer<Int>?, rowIds: UnsafePointer<Int32>?,
                       heads H: Int, kvHeads KV: Int, headDim hd: Int, bf16: Bool) {
    let G = H / KV, kvW = KV * hd, outW = H * hd, scale = 1 / Float(hd).squareRoot()
    let S = c.suffixLength, span = c.promptStride + c.suffixStride
    withSingleThreadedBlas {
        Parallel.forEach(groups * H) { gh in
            let grp = gh / H, h = gh % H, kh = h / G, P = c.promptLengths[grp], n = P + S
            let first = groupStart.map { $0[grp] } ?? grp * width
            let count = groupStart.map { $0[grp + 1] - $0[grp] } ?? width
            if count == 0 { return }
            let sc = scratch + (first * H + h * count) * span   // [count, n] rows of stride span
            let q0 = q + first * qStride + h * hd
            let pk = c.promptK + grp * c.promptStride * kvW + kh * hd
            let pv = c.promptV + grp * c.promptStride * kvW + kh * hd
            sgemm(false, true, count, P, hd, scale, q0, qStride, pk, kvW, 0, sc, span)
            for j in 0..<count {
                let r = rowIds.map { Int($0[first + j]) } ?? first + j, qr = q0 + j * qStride, row = sc + j * span
                for t in 0..<S {
                    let kr = c.suffixK + (r * c.suffixStride + t) * kvW + kh * hd
                    row[P + t] = rowDot(qr, kr, hd) * scale
                }
                rowSoftmax(row, n)
                if bf16 { align_round_to_bf16(row, row, n) }
            }
            let o0 = out + first * outW + h * hd
            sgemm(false, false, count, hd, P, 1, sc, span, pv, kvW, 0, o0, outW)
            for j in 0..<count {
                let r = rowIds.map { Int($0[first + j]) } ?? first + j, row = sc + j * span, o = o0 + j * outW
                for t in 0..<S {
                    let vr = c.suffixV + (r * c.suffixStride + t) * kvW + kh * hd, w = row[P + t]
                    for e in 0..<hd { o[e] += w * vr[e] }
                }
            }
        }
    }
}

/// Reference for `attentionStep` (plain loops, double precision).
public func attentionStepNaive(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>, _ qStride: Int,
                               _ c: DecodeCacheView, groups: Int, width: Int, heads H: Int, kvHeads KV: Int, headDim hd: Int) {
    let G = H / KV, kvW = KV * hd, scale = 1 / Double(hd).squareRoot()
    for r in 0..<(groups * width) {
        let grp = r / width, P = c.promptLengths[grp]
        for h in 0..<H {
            let kh = h / G
            var keys: [UnsafePointer<Float>] = [], vals: [UnsafePointer<Float>] = []
            for t in 0..<P {
                keys.append(c.promptK + (grp * c.promptStride + t) * kvW + kh * hd)
                vals.append(c.promptV + (grp * c.promptStride + t) * kvW + kh * hd)
            }
            for t in 0..<c.suffixLength {
                keys.append(c.suffixK + (r * c.suffixStride + t) * kvW + kh * hd)
                vals.append(c.suffixV + (r * c.suffixStride + t) * kvW + kh * hd)
            }
            let s = keys.map { k in (0..<hd).reduce(0.0) { $0 + Double(q[r * qStride + h * hd + $1]) * Double(k[$1]) } * scale }
            let m = s.max()!, z = s.reduce(0) { $0 + exp($1 - m) }
            for e in 0..<hd {
                var acc = 0.0
                for t in 0..<s.count { acc += exp(s[t] - m) / z * Double(vals[t][e]) }
                out[r * H * hd + h * hd + e] = Float(acc)
            }
        }
    }
}
