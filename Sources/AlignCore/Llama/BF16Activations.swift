// bf16 copies of the activations a bf16 LlamaTrainer feeds to its matrix products, planned once beside the
// fp32 arena: per layer the inputs of the projections that the backward multiplies again for the weight
// gradients (ln1, attention output, ln2, SwiGLU output) and attention's q, k and v, the final-norm rows of the
// LM head, and one scratch for the output gradient of the product being back-propagated (or of attention); with
// item memory, the item head's rows, the item vectors and the head's logit gradient. Each value is rounded once and
// read by both the forward product and its weight-gradient product (and each output gradient by both of its
// products), instead of being rounded again per product; the SwiGLU output is kept rather than recomputed. Where the
// fp32 value has no other reader (ln1, ln2, the rotated q|k|v, the SwiGLU output and input gradient, a dropped-out
// branch's gradient, the rotated-back q|k|v gradient) its kernel writes bf16 directly (Kernels/BF16Output.swift) and the fp32 buffer is not touched. The LM
// head's and the item head's logit gradients are rounded as the cross-entropy backward writes them
// (`LogitGradientRows.bf16`), never stored in fp32.
import Foundation

/// bf16 activation memory of one trainer (bf16 precision only).
final class BF16Activations {
    let buffer: UnsafeMutableBufferPointer<UInt16>
    /// Per layer: ln1 [N,C], attention output [N,H·hd], ln2 [N,C], SwiGLU output [N,F], rotated qkv [N,W].
    let ln1: [UnsafeMutablePointer<UInt16>], att: [UnsafeMutablePointer<UInt16>]
    let ln2: [UnsafeMutablePointer<UInt16>], h: [UnsafeMutablePointer<UInt16>], qkv: [UnsafeMutablePointer<UInt16>]
    /// Final-norm rows of the LM head's input [N,C] (all rows, or the compact trained rows).
    let lnf: UnsafeMutablePointer<UInt16>
    /// The output gradient of the product being back-propagated (or of attention): [N, max(V, 2F, W, C, H·hd)].
    let grad: UnsafeMutablePointer<UInt16>
    /// Item head (empty without item memory): its input rows [R,C], the item vectors [NI,C] and the gradient of
    /// its logits [R,NI], R = the planned head rows.
    let headIn: UnsafeMutablePointer<UInt16>, itemVec: UnsafeMutablePointer<UInt16>, headGrad: UnsafeMutablePointer<UInt16>
    /// Blocks for the kernels that write bf16 directly (Kernels/BF16Output.swift): RMSNorm into ln1/ln2, the rotation
    /// into qkv, SwiGLU into h, and the SwiGLU, dropout and rotation backwards into `grad`.
    let scratch: BF16Scratch

    init(config c: LlamaConfig, rows N: Int, headRows R: Int = 0, items NI: Int = 0) {
        let C = c.hiddenSize, A = c.numAttentionHeads * c.headDim, F = c.intermediateSize, L = c.numHiddenLayers
        let W = (c.numAttentionHeads + 2 * c.numKeyValueHeads) * c.headDim
        let perLayer = N * (2 * C + A + F + W), widest = max(c.vocabSize, 2 * F, W, C, A)
        let head = NI == 0 ? 0 : R * C + NI * C + R * NI
        buffer = .allocate(capacity: L * perLayer + N * C + N * widest + head)
        buffer.initialize(repeating: 0)
        var cur = buffer.baseAddress!
        func take(_ n: Int) -> UnsafeMutablePointer<UInt16> { defer { cur += n }; return cur }
        var l1: [UnsafeMutablePointer<UInt16>] = [], at: [UnsafeMutablePointer<UInt16>] = []
        var l2: [UnsafeMutablePointer<UInt16>] = [], hh: [UnsafeMutablePointer<UInt16>] = [], qq: [UnsafeMutablePointer<UInt16>] = []
        for _ in 0..<L {
            l1.append(take(N * C)); at.append(take(N * A)); l2.append(take(N * C)); hh.append(take(N * F)); qq.append(take(N * W))
        }
        ln1 = l1; att = at; ln2 = l2; h = hh; qkv = qq
        lnf = take(N * C); grad = take(N * widest)
        let r = NI == 0 ? 0 : R
        headIn = take(r * C); itemVec = take(NI * C); headGrad = take(r * NI)
        precondition(cur == buffer.baseAddress! + buffer.count)
        scratch = BF16Scratch(widest: max(2 * F, C))
    }

    deinit { buffer.deallocate() }
}

/// `x` [count] as a product operand: rounded into `copy` when there is one (bf16), else x itself (fp32).
@inline(__always)
func productOperand(_ x: UnsafePointer<Float>, _ count: Int, _ copy: UnsafeMutablePointer<UInt16>?) -> GemmOperand {
    guard let copy else { return .f32(x) }
    convertToBF16(copy, x, count)
    return .bf16(UnsafePointer(copy))
}

/// An operand rounded earlier into `copy` (bf16), else the fp32 values `x`.
@inline(__always)
func savedOperand(_ x: UnsafePointer<Float>, _ copy: UnsafeMutablePointer<UInt16>?) -> GemmOperand {
    if let copy { return .bf16(UnsafePointer(copy)) }
    return .f32(x)
}
