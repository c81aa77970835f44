// Inference-only attention for the KV-cached decoder (no backward needed):
// - prefill: causal attention over packed prompts of different lengths (one pair of products per (prompt, head));
// - step: one new query per row against its group's shared prompt keys plus the row's own suffix keys
//   (the prompt part as one product over all `width` rows of a group, the short suffix part by hand).
// Each has a plain-loop reference beside it. The products run on `AttentionProducts` engines, one per worker, as
// the trainer's attention does: fp32 on OpenBLAS, or bf16 (oneDNN, or the portable reference: fp32 products of
// the rounded inputs). In bf16 the caller rounds q, k and v (so the KV cache holds bf16 values) and the
// probabilities are rounded before they weight the values; scores, softmax and the suffix part's sums stay fp32.
import CKernels
import Foundation

/// Causal attention over packed sequences: sequence s occupies rows starts[s]..<starts[s]+lengths[s] of
/// qkv[N, W] (W = (H+2KV)·hd, q/k roped). out[N, H·hd]. scratch: sequences·H·maxLen² floats.
public func attentionPrefill(_ out: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                             _ qkv: UnsafePointer<Float>, _ starts: [Int], _ lengths: [Int],
                             heads H: Int, kvHeads KV: Int, headDim hd: Int, maxLen: Int,
                             products: AttentionProducts = .fp32) {
    let W = (H + 2 * KV) * hd, G = H / KV, outW = H * hd, scale = 1 / Float(hd).squareRoot()
    let bf16 = products.precision == .bf16
    products.forEach(starts.count * H) { sh, e, rows16 in
        let sq = sh / H, h = sh % H, g = h / G, T = lengths[sq], base = starts[sq]
        let q = qkv + base * W + h * hd, k = qkv + base * W + (H + g) * hd, v = qkv + base * W + (H + KV + g) * hd
        let p = scratch + sh * maxLen * maxLen
        e.mm(false, true, T, T, hd, scale, .f32(q), W, .f32(k), W, 0, p, T)
        for i in 0..<T {
            let row = p + i * T
            rowSoftmax(row, i + 1)
            if bf16 { align_round_to_bf16(row, row, i + 1) }
            (row + i + 1).update(repeating: 0, count: T - i - 1)
        }
        e.mm(false, false, T, hd, T, 1, products.rowsOperand(p, rows16, T * T), T, .f32(v), W,
             0, out + base * outW + h * hd, outW)
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
    /// bf16 copies of the prompt keys/values in the same layout (optional): bf16 products read them instead of
    /// rounding the fp32 values again for every head and step. Ignored by fp32 products.
    public var promptK16: UnsafePointer<UInt16>?, promptV16: UnsafePointer<UInt16>?
    public init(promptK: UnsafePointer<Float>, promptV: UnsafePointer<Float>, promptStride: Int,
                promptLengths: UnsafePointer<Int>, suffixK: UnsafePointer<Float>, suffixV: UnsafePointer<Float>,
                suffixStride: Int, suffixLength: Int, promptK16: UnsafePointer<UInt16>? = nil,
                promptV16: UnsafePointer<UInt16>? = nil) {
        self.promptK = promptK; self.promptV = promptV; self.promptStride = promptStride
        self.promptLengths = promptLengths; self.suffixK = suffixK; self.suffixV = suffixV
        self.suffixStride = suffixStride; self.suffixLength = suffixLength
        self.promptK16 = promptK16; self.promptV16 = promptV16
    }

    /// The prompt keys (or values) of group `group`, head group `kh`, as a product operand: the bf16 copy when
    /// there is one and the products are bf16, else the fp32 values.
    @inline(__always)
    func promptOperand(values: Bool, group: Int, kvHead kh: Int, kvWidth kvW: Int, headDim hd: Int, bf16: Bool) -> GemmOperand {
        let offset = group * promptStride * kvW + kh * hd
        if bf16, let copy = values ? promptV16 : promptK16 { return .bf16(copy + offset) }
        return .f32((values ? promptV : promptK) + offset)
    }
}

/// One query per row: out[R, H·hd] from q (rows of stride qStride, H heads), R = groups·width.
/// scratch: groups·H·width·(promptStride + suffixStride) floats.
public func attentionStep(_ out: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                          _ q: UnsafePointer<Float>, _ qStride: Int, _ c: DecodeCacheView,
                          groups: Int, width: Int, heads H: Int, kvHeads KV: Int, headDim hd: Int,
                          products: AttentionProducts = .fp32) {
    attentionStepCore(out, scratch, q, qStride, c, groups: groups, width: width, groupStart: nil, rowIds: nil,
                      heads: H, kvHeads: KV, headDim: hd, products: products)
}

/// `attentionStep` over a compact subset of rows: group g's queries are compact rows
/// groupStart[g] ..< groupStart[g+1] of q (and of out), and compact row i reads the suffix keys/values of cache
/// row rowIds[i]. n = groupStart[groups] rows; scratch: n·H·(promptStride + suffixStride) floats.
public func attentionStep(_ out: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                          _ q: UnsafePointer<Float>, _ qStride: Int, _ c: DecodeCacheView,
                          groups: Int, groupStart: UnsafePointer<Int>, rowIds: UnsafePointer<Int32>,
                          heads H: Int, kvHeads KV: Int, headDim hd: Int, products: AttentionProducts = .fp32) {
    attentionStepCore(out, scratch, q, qStride, c, groups: groups, width: 0, groupStart: groupStart, rowIds: rowIds,
                      heads: H, kvHeads: KV, headDim: hd, products: products)
}

/// Shared body: without `groupStart`/`rowIds`, group g owns rows g·width ..< (g+1)·width and cache rows equal
/// compact rows.
@inline(__always)
func attentionStepCore(_ out: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                       _ q: UnsafePointer<Float>, _ qStride: Int, _ c: DecodeCacheView,
                       groups: Int, width: Int, groupStart: UnsafePointer<Int>?, rowIds: UnsafePointer<Int32>?,
                       heads H: Int, kvHeads KV: Int, headDim hd: Int, products: AttentionProducts) {
    let G = H / KV, kvW = KV * hd, outW = H * hd, scale = 1 / Float(hd).squareRoot()
    let S = c.suffixLength, span = c.promptStride + c.suffixStride, bf16 = products.precision == .bf16
    products.forEach(groups * H) { gh, e, rows16 in
        let grp = gh / H, h = gh % H, kh = h / G, P = c.promptLengths[grp], n = P + S
        let first = groupStart.map { $0[grp] } ?? grp * width
        let count = groupStart.map { $0[grp + 1] - $0[grp] } ?? width
        if count == 0 { return }
        let sc = scratch + (first * H + h * count) * span   // [count, n] rows of stride span
        let q0 = q + first * qStride + h * hd
        let pk = c.promptOperand(values: false, group: grp, kvHead: kh, kvWidth: kvW, headDim: hd, bf16: bf16)
        let pv = c.promptOperand(values: true, group: grp, kvHead: kh, kvWidth: kvW, headDim: hd, bf16: bf16)
        e.mm(false, true, count, P, hd, scale, .f32(q0), qStride, pk, kvW, 0, sc, span)
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
        let probs = products.rowsOperand(sc, rows16, (count - 1) * span + P)   // the first P columns of each row
        e.mm(false, false, count, hd, P, 1, probs, span, pv, kvW, 0, o0, outW)
        for j in 0..<count {
            let r = rowIds.map { Int($0[first + j]) } ?? first + j, row = sc + j * span, o = o0 + j * outW
            for t in 0..<S {
                let vr = c.suffixV + (r * c.suffixStride + t) * kvW + kh * hd, w = row[P + t]
                for i in 0..<hd { o[i] += w * vr[i] }
            }
        }
    }
}

/// Reference for `attentionStep` (plain loops, double precision; `bf16`: the probabilities rounded to bf16 before
/// they weight the values, as the bf16 products take them).
public func attentionStepNaive(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>, _ qStride: Int,
                               _ c: DecodeCacheView, groups: Int, width: Int, heads H: Int, kvHeads KV: Int, headDim hd: Int,
                               bf16: Bool = false) {
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
            let p = s.map { bf16 ? Double(roundedToBF16(Float(exp($0 - m) / z))) : exp($0 - m) / z }
            for e in 0..<hd {
                var acc = 0.0
                for t in 0..<s.count { acc += p[t] * Double(vals[t][e]) }
                out[r * H * hd + h * hd + e] = Float(acc)
            }
        }
    }
}
