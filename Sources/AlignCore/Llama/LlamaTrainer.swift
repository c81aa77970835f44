// Training forward/backward of a LLaMA decoder over a right-padded [B,T] batch. All activation and
// gradient memory is planned once for (maxBatch, maxSeq); a step allocates nothing. The forward computes
// every position's target log-prob; the backward takes any per-token weight on those log-probs
// (d objective / d logp[b,t]), which covers SFT cross-entropy, DPO and GRPO. Gradients accumulate across
// calls (micro-batches) until `zeroGrads()`.
//
// Dropout (training only, `dropout` > 0 and a `dropoutKey` set): inverted dropout on the embedding output
// and on each attention and MLP branch before it joins the residual stream (GPT-2/SASRec placement; no
// dropout on attention probabilities). Masks [N,C] per site are rebuilt from the key at each forward and
// reused by the backward of that forward. Without a key the forward is the exact deterministic model.
//
// LM head on trained rows only (`logitsForAllPositions = false`, what SFT uses): the vocabulary projection,
// log-softmax and their backward run over the M positions whose target is not -100, gathered into a compact
// [M,C] block, instead of all N = B·T. With V = 2,097 and d 96 the head is ~45% of a step's GEMM FLOPs and a
// nextitem batch trains ~58% of its positions. Log-probs and gradients are those of the full path (the
// golden tests keep the full path; a test compares the two).
//
// Item memory (`items` set, parameters with an item region; see ItemMemory.swift): the residual of every warm item
// whose SID completes at a position is added to that position's embedding (before embedding dropout; in a training
// forward each addition is dropped with probability `itemInputDropout`), and with `itemHead` on, the positions
// trained to emit an item's first SID token also score every item: logits = final-norm row · V, V = Σ code rows of
// the LM head + residual, log-softmax over the catalogue. Its mean cross-entropy joins the token loss in
// `backwardMeanCrossEntropy(itemWeight:)`; DPO/GRPO weight each head row on its own (`backward(weights:itemHeadWeights:)`).
// How much of the head's gradient reaches the transformer is `itemHeadTrunkGradient` (full, balanced per sample, none).
// Matrix products go through `gemm` (Kernels/Gemm.swift) at the trainer's precision, attention's per-head products
// through `attention` (Kernels/AttentionProducts.swift). In bf16 the weights enter the products as a bf16 copy
// (`BF16Weights`, refreshed from the fp32 master weights at each forward, or shared and refreshed by the owner of
// data-parallel replicas); activations are rounded to bf16 as the products take them; accumulation, outputs,
// gradients and every element-wise op (the attention softmax included) stay fp32.
import Foundation

/// Forward/backward engine for one LLaMA model (parameters shared, gradients owned).
public final class LlamaTrainer: @unchecked Sendable {
    /// The weights (shared with the caller; an optimizer updates them in place).
    public let params: LlamaParameters
    public var config: LlamaConfig { params.config }
    /// Largest batch the memory was planned for.
    public let maxBatch: Int
    /// Longest sequence the memory was planned for.
    public let maxSeq: Int
    /// d objective / d parameter, same layout as `params.data`; accumulated by `backward`.
    public let grads: UnsafeMutableBufferPointer<Float>
    let rope: RopeTable
    /// The matrix-product engine (its precision is the trainer's; `gemm.threads` its oneDNN threads).
    public let gemm: Gemm
    /// Attention's per-head products, at the trainer's precision.
    let attention: AttentionProducts
    /// bf16 copies of the weights (bf16 only); refreshed at each forward when this trainer owns them.
    let weights16: BF16Weights?
    let ownsWeights16: Bool
    /// bf16 copies of the product inputs (bf16 only).
    let act16: BF16Activations?
    public var precision: Precision { gemm.precision }

    /// One layer's saved activations. In bf16, ln1, ln2 and the rotation of qkv are written only to their bf16 copies
    /// (BF16Activations): `ln1`/`ln2` stay unused and `qkv` keeps the projection before the rotation.
    struct LayerActs {
        var ln1: UnsafeMutablePointer<Float>, rstd1: UnsafeMutablePointer<Float>
        var qkv: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>
        var xmid: UnsafeMutablePointer<Float>
        var ln2: UnsafeMutablePointer<Float>, rstd2: UnsafeMutablePointer<Float>
        var gu: UnsafeMutablePointer<Float>
    }

    let arena: UnsafeMutableBufferPointer<Float>
    var acts: [LayerActs] = []
    /// residual stream at each layer input, plus the last layer's output: (L+1) × [N,C]
    var res: [UnsafeMutablePointer<Float>] = []
    var lnf: UnsafeMutablePointer<Float>, rstdf: UnsafeMutablePointer<Float>
    var logitsBuf: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, logp: UnsafeMutablePointer<Float>
    var wbuf: UnsafeMutablePointer<Float>
    /// Compact LM-head block: final-norm rows of the trained positions [M,C], their positions, targets,
    /// log-probs, log-sum-exps and backward weights [M].
    var lnfc: UnsafeMutablePointer<Float>, logpc: UnsafeMutablePointer<Float>, lsec: UnsafeMutablePointer<Float>
    var wc: UnsafeMutablePointer<Float>
    let rowIndex: UnsafeMutableBufferPointer<Int32>, targetsc: UnsafeMutableBufferPointer<Int32>
    var compactRows = 0
    /// false: the LM head runs only over trained positions (faster; `logits` is then unavailable). Set before
    /// a forward; the backward follows the mode of its forward.
    public var logitsForAllPositions = true
    var compactForward = false
    // backward scratch
    var dres: UnsafeMutablePointer<Float>, dln: UnsafeMutablePointer<Float>, dqkv: UnsafeMutablePointer<Float>
    var datt: UnsafeMutablePointer<Float>, dprobs: UnsafeMutablePointer<Float>
    var dh: UnsafeMutablePointer<Float>, dgu: UnsafeMutablePointer<Float>
    /// SwiGLU output [N,F]: written by every layer's forward and recomputed in the backward (not stored per layer).
    var hbuf: UnsafeMutablePointer<Float>
    /// Dropout probability planned at init (0 = none; no mask memory).
    public let dropout: Float
    /// Key of the next forward's dropout masks; nil = no dropout (evaluation, DPO/GRPO scoring).
    public var dropoutKey: UInt64?
    /// Rows (batch elements) of the next forward that get dropout; nil = every row. A row left out runs the
    /// exact deterministic model (its masks are all ones), e.g. SFT samples of tasks trained without dropout.
    public var dropoutRows: [Bool]?
    /// (1 + 2L) × [N,C] masks: embedding, then per layer attention branch and MLP branch.
    let masks: UnsafeMutableBufferPointer<Float>
    var masked = false
    let tokens: UnsafeMutableBufferPointer<Int32>
    let targets: UnsafeMutableBufferPointer<Int32>
    let positions: UnsafeMutableBufferPointer<Int32>

    /// The items of the item memory (nil: a plain LLaMA model).
    public let items: ItemTable?
    /// Whether forwards run the item-scoring head (needs `items`). Set before a forward.
    public var itemHead = false
    /// Probability that a completed item's residual is left out of a training forward's input (`dropoutKey` set).
    public var itemInputDropout: Float = 0
    /// How much of the item head's gradient reaches the transformer (see `ItemHeadTrunkGradient`).
    public var itemHeadTrunkGradient = ItemHeadTrunkGradient.full
    /// [N]: item completed at each position; item whose residual was added there (0: none).
    let completed: UnsafeMutableBufferPointer<Int32>, added: UnsafeMutableBufferPointer<Int32>
    /// [N] head targets by position; compact head rows: positions, targets (item − 1), log-probs, 1/Σexp, weights.
    let headTarget: UnsafeMutableBufferPointer<Int32>, headPos: UnsafeMutableBufferPointer<Int32>
    let headTgt: UnsafeMutableBufferPointer<Int32>
    let itemWarm: UnsafeMutableBufferPointer<Bool>, itemCodes: UnsafeMutableBufferPointer<Int32>
    /// Item vectors V [items, C] and their gradient; head rows [H, C]; head logits [H, items]; H = maxHeadRows.
    var itemVec: UnsafeMutablePointer<Float>, itemVecGrad: UnsafeMutablePointer<Float>
    var headIn: UnsafeMutablePointer<Float>, headLogits: UnsafeMutablePointer<Float>
    var headLogp: UnsafeMutablePointer<Float>, headInvSum: UnsafeMutablePointer<Float>, headW: UnsafeMutablePointer<Float>
    /// Most head rows a forward can have: an item needs its L SID tokens after the head position.
    let maxHeadRows: Int
    var headRows = 0
    var headForward = false

    /// Batch and sequence length of the last forward.
    public private(set) var batch = 0
    public private(set) var seq = 0
    enum State { case empty, forwarded, backwarded }
    var state = State.empty

    /// Plans all memory for batches up to [maxBatch, maxSeq]; `dropout` in [0, 1) (see the file header). `items`
    /// (same count as the parameters' item memory) turns the item memory on.
    /// `precision` of the matrix products; in bf16 `sharedWeights` is a bf16 copy kept current by the caller
    /// (data-parallel replicas), nil = the trainer keeps its own. `backend` nil = `GemmBackend.preferred`.
    public init(params: LlamaParameters, maxBatch: Int, maxSeq: Int, dropout: Float = 0, items: ItemTable? = nil,
                precision: Precision = .fp32, backend: GemmBackend? = nil, sharedWeights: BF16Weights? = nil,
                gemmThreads: Int = Parallel.workers) {
        precondition(maxBatch > 0 && maxSeq > 0)
        precondition(dropout >= 0 && dropout < 1, "dropout \(dropout) outside [0, 1)")
        precondition((items?.count ?? 0) == params.items, "item table of \(items?.count ?? 0) items for an item memory of \(params.items)")
        self.items = items
        self.dropout = dropout
        self.params = params
        self.maxBatch = maxBatch; self.maxSeq = maxSeq
        let c = params.config
        let N = maxBatch * maxSeq, C = c.hiddenSize, H = c.numAttentionHeads, hd = c.headDim
        let W = (H + 2 * c.numKeyValueHeads) * hd, F = c.intermediateSize, V = c.vocabSize, L = c.numHiddenLayers
        let P = maxBatch * H * maxSeq * maxSeq
        let NI = items?.count ?? 0, Lv = items?.levels ?? 1
        maxHeadRows = Self.maxHeadRows(maxBatch: maxBatch, maxSeq: maxSeq, items: items)
        let total = Self.arenaCount(c, maxBatch: maxBatch, maxSeq: maxSeq, items: NI, levels: Lv, as: Int.self)
        arena = .allocate(capacity: total)
        arena.initialize(repeating: 0)
        var cur = arena.baseAddress!
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { cur += n }; return cur }
        for _ in 0..<L {
            acts.append(LayerActs(ln1: take(N * C), rstd1: take(N), qkv: take(N * W), probs: take(P),
                                  att: take(N * H * hd), xmid: take(N * C), ln2: take(N * C), rstd2: take(N),
                                  gu: take(N * 2 * F)))
        }
        for _ in 0...L { res.append(take(N * C)) }
        lnf = take(N * C); rstdf = take(N); logitsBuf = take(N * V); lse = take(N); logp = take(N); wbuf = take(N)
        lnfc = take(N * C); logpc = take(N); lsec = take(N); wc = take(N)
        dres = take(N * C); dln = take(N * C); dqkv = take(N * W); datt = take(N * H * hd); dprobs = take(P)
        dh = take(N * F); dgu = take(N * 2 * F); hbuf = take(N * F)
        itemVec = take(NI * C); itemVecGrad = take(NI * C)
        headIn = take(maxHeadRows * C); headLogits = take(maxHeadRows * NI)
        headLogp = take(maxHeadRows); headInvSum = take(maxHeadRows); headW = take(maxHeadRows)
        precondition(cur == arena.baseAddress! + total)
        grads = .allocate(capacity: params.count)
        grads.initialize(repeating: 0)
        tokens = .allocate(capacity: N); tokens.initialize(repeating: 0)
        targets = .allocate(capacity: N); targets.initialize(repeating: ignoreIndex)
        positions = .allocate(capacity: N); positions.initialize(repeating: 0)
        rowIndex = .allocate(capacity: N); rowIndex.initialize(repeating: 0)
        targetsc = .allocate(capacity: N); targetsc.initialize(repeating: 0)
        let NP = items == nil ? 0 : N
        completed = .allocate(capacity: NP); completed.initialize(repeating: 0)
        added = .allocate(capacity: NP); added.initialize(repeating: 0)
        headTarget = .allocate(capacity: NP); headTarget.initialize(repeating: 0)
        headPos = .allocate(capacity: maxHeadRows); headPos.initialize(repeating: 0)
        headTgt = .allocate(capacity: maxHeadRows); headTgt.initialize(repeating: 0)
        itemWarm = .allocate(capacity: NI); itemCodes = .allocate(capacity: NI * Lv)
        if let items {
            _ = itemWarm.initialize(from: items.warm); _ = itemCodes.initialize(from: items.codes)
        }
        let maskCount = dropout > 0 ? (1 + 2 * L) * N * C : 0
        masks = .allocate(capacity: maskCount); masks.initialize(repeating: 0)
        rope = RopeTable(config: c, maxPositions: maxSeq)
        gemm = Gemm(precision: precision, backend: backend, threads: gemmThreads)
        attention = precision == .fp32 ? .fp32 : AttentionProducts(precision: precision, backend: backend, maxSeq: maxSeq)
        if precision == .bf16 {
            weights16 = sharedWeights ?? BF16Weights(layout: params.layout)
            ownsWeights16 = sharedWeights == nil
            act16 = BF16Activations(config: c, rows: N, headRows: maxHeadRows, items: NI)
        } else {
            weights16 = nil; ownsWeights16 = false; act16 = nil
        }
    }

    /// A product operand for the weight tensor at `offset`: the bf16 copy in bf16, the fp32 weights otherwise.
    @inline(__always) func weight(_ offset: Int) -> GemmOperand {
        if let w = weights16 { return .bf16(w.ptr(offset)) }
        return .f32(UnsafePointer(params.data.baseAddress! + offset))
    }

    /// Floats of the activation arena for [maxBatch, maxSeq]: Int to allocate it, Double to size it before
    /// allocating (MemoryEstimate). One formula for both.
    /// Most item-head rows of a [maxBatch, maxSeq] forward: each needs the L SID tokens of its item after it.
    static func maxHeadRows(maxBatch: Int, maxSeq: Int, items: ItemTable?) -> Int {
        guard let items else { return 0 }
        return maxBatch * max(0, (maxSeq - 1) / items.levels)
    }

    static func arenaCount<T: Numeric & Comparable>(_ c: LlamaConfig, maxBatch: Int, maxSeq: Int, items: Int = 0, levels: Int = 1,
                                                    as: T.Type) -> T {
        func t(_ x: Int) -> T { T(exactly: x)! }
        let B = t(maxBatch), S = t(maxSeq), N = B * S, C = t(c.hiddenSize), H = t(c.numAttentionHeads), hd = t(c.headDim)
        let W = (H + 2 * t(c.numKeyValueHeads)) * hd, F = t(c.intermediateSize), V = t(c.vocabSize), L = t(c.numHiddenLayers)
        let P = B * H * S * S
        let perLayer = N * C + N + N * W + P + N * H * hd + N * C + N * C + N + N * 2 * F
        let rest = (L + 1) * N * C + N * C + N + N * V + 3 * N + N * C + 3 * N
            + N * C + N * C + N * W + N * H * hd + P + N * F + N * 2 * F + N * F
        let heads = items > 0 ? t(maxBatch * max(0, (maxSeq - 1) / levels)) : 0, NI = t(items)
        let itemFloats = 2 * NI * C + heads * (C + NI + 3)   // V, dV; head rows, logits, log-probs, 1/Σ, weights
        return perLayer * L + rest + itemFloats
    }

    /// Every float (and 32-bit index) a trainer planned for [maxBatch, maxSeq] holds: arena, gradients, dropout
    /// masks, token buffers and the rope table.
    /// With item memory of `items` items and `levels` SID tokens each, its parameters and buffers are included.
    public static func plannedFloats(_ c: LlamaConfig, maxBatch: Int, maxSeq: Int, dropout: Bool, items: Int = 0, levels: Int = 1) -> Double {
        let N = Double(maxBatch) * Double(maxSeq), C = Double(c.hiddenSize), L = Double(c.numHiddenLayers)
        return arenaCount(c, maxBatch: maxBatch, maxSeq: maxSeq, items: items, levels: levels, as: Double.self) + c.parameterFloats
            + Double(items) * C + (items > 0 ? 3 * N + Double(items * (levels + 1)) : 0)
            + (dropout ? (1 + 2 * L) * N * C : 0) + 5 * N + Double(maxSeq) * Double(c.headDim)
    }

    deinit {
        arena.deallocate(); grads.deallocate(); tokens.deallocate(); targets.deallocate(); positions.deallocate()
        masks.deallocate(); rowIndex.deallocate(); targetsc.deallocate()
        completed.deallocate(); added.deallocate(); headTarget.deallocate(); headPos.deallocate(); headTgt.deallocate()
        itemWarm.deallocate(); itemCodes.deallocate()
    }

    /// Sets every gradient to zero (start of an accumulation window).
    public func zeroGrads() { grads.update(repeating: 0) }

    /// Forward over tokens[B,T] with targets[B,T] (next-token ids already shifted; -100 = not trained).
    /// Padding goes on the right with -100 targets (any valid input id); causal attention keeps it from
    /// affecting earlier positions. Afterwards `logits`, `tokenLogProbs` and the loss helpers are valid.
    public func forward(tokens tok: [Int32], targets tgt: [Int32], batch B: Int, seq T: Int) throws {
        guard B >= 1, T >= 1, B <= maxBatch, T <= maxSeq else {
            throw AlignError.invalidArgument("batch [\(B), \(T)] exceeds the planned [\(maxBatch), \(maxSeq)]")
        }
        guard tok.count == B * T, tgt.count == B * T else {
            throw AlignError.invalidArgument("tokens/targets have \(tok.count)/\(tgt.count) values, expected \(B)×\(T)")
        }
        let V = config.vocabSize
        for i in 0..<(B * T) {
            guard tok[i] >= 0 && Int(tok[i]) < V else {
                throw AlignError.invalidArgument("token id \(tok[i]) at position \(i) is outside the vocabulary 0..<\(V)")
            }
            guard tgt[i] == ignoreIndex || (tgt[i] >= 0 && Int(tgt[i]) < V) else {
                throw AlignError.invalidArgument("target id \(tgt[i]) at position \(i) is neither -100 nor in 0..<\(V)")
            }
            tokens[i] = tok[i]; targets[i] = tgt[i]; positions[i] = Int32(i % T)
        }
        if let rows = dropoutRows, rows.count != B {
            throw AlignError.invalidArgument("forward: \(rows.count) dropout rows for a batch of \(B)")
        }
        batch = B; seq = T
        if ownsWeights16 { weights16!.refresh(from: params) }
        runForward()
        state = .forwarded
    }

    func runForward() {
        let c = config, B = batch, T = seq, N = B * T
        let C = c.hiddenSize, H = c.numAttentionHeads, KV = c.numKeyValueHeads, hd = c.headDim
        let W = (H + 2 * KV) * hd, F = c.intermediateSize, V = c.vocabSize, eps = c.rmsNormEps
        let lay = params.layout, p = params.data.baseAddress!
        let shape = AttentionShape(batch: B, seq: T, heads: H, kvHeads: KV, headDim: hd)
        masked = dropout > 0 && dropoutKey != nil
        if masked {   // masks for this forward, one per site, all from the step's key
            for site in 0..<(1 + 2 * c.numHiddenLayers) {
                dropoutMask(mask(site), N * C, p: dropout, key: mix64(dropoutKey!) &+ UInt64(site))
            }
            if let rows = dropoutRows {   // rows without dropout: all-ones masks over their T positions
                for b in 0..<B where !rows[b] {
                    for site in 0..<(1 + 2 * c.numHiddenLayers) { (mask(site) + b * T * C).update(repeating: 1, count: T * C) }
                }
            }
        }
        embeddingForward(res[0], tokens.baseAddress!, p + lay.embed, N, C)
        if let items { itemInput(items, B, T) }
        if masked { dropoutInPlace(res[0], mask(0), N * C) }
        let branch = dln   // backward scratch, free during the forward: a dropped-out branch's output [N,C]
        for l in 0..<c.numHiddenLayers {
            let a = acts[l], o = lay.layers[l], x = res[l], xout = res[l + 1]
            if let act16 {
                rmsnormForward(act16.ln1[l], a.rstd1, x, p + o.ln1, N, C, eps, scratch: act16.scratch)
            } else {
                rmsnormForward(a.ln1, a.rstd1, x, p + o.ln1, N, C, eps)
            }
            gemm.mm(false, true, N, W, C, 1, savedOperand(a.ln1, act16?.ln1[l]), C, weight(o.qkv), C, 0, a.qkv, W)
            if let b = o.qkvBias { biasForward(a.qkv, ld: W, p + b, rows: N, cols: W) }
            // bf16: the rotated values only enter products, so they go straight into the bf16 copy
            if let act16 {
                ropeForward(act16.qkv[l], a.qkv, W, H + KV, positions.baseAddress!, N, rope, scratch: act16.scratch)
            } else {
                ropeForward(a.qkv, W, H + KV, positions.baseAddress!, N, rope)
            }
            let qkv16 = act16.map { UnsafePointer($0.qkv[l]) }
            attentionForward(a.att, a.probs, a.qkv, shape, products: attention, qkv16: qkv16)
            a.xmid.update(from: x, count: N * C)
            let att = productOperand(a.att, N * H * hd, act16?.att[l])
            if masked {
                gemm.mm(false, true, N, C, H * hd, 1, att, H * hd, weight(o.o), H * hd, 0, branch, C)
                dropoutAddForward(a.xmid, branch, mask(1 + 2 * l), N * C)
            } else {
                gemm.mm(false, true, N, C, H * hd, 1, att, H * hd, weight(o.o), H * hd, 1, a.xmid, C)
            }
            if let act16 {
                rmsnormForward(act16.ln2[l], a.rstd2, a.xmid, p + o.ln2, N, C, eps, scratch: act16.scratch)
            } else {
                rmsnormForward(a.ln2, a.rstd2, a.xmid, p + o.ln2, N, C, eps)
            }
            gemm.mm(false, true, N, 2 * F, C, 1, savedOperand(a.ln2, act16?.ln2[l]), C, weight(o.gateUp), C, 0, a.gu, 2 * F)
            if let act16 { swigluForward(act16.h[l], a.gu, N, F, scratch: act16.scratch) } else { swigluForward(hbuf, a.gu, N, F) }
            let h = savedOperand(hbuf, act16?.h[l])
            xout.update(from: a.xmid, count: N * C)
            if masked {
                gemm.mm(false, true, N, C, F, 1, h, F, weight(o.down), F, 0, branch, C)
                dropoutAddForward(xout, branch, mask(2 + 2 * l), N * C)
            } else {
                gemm.mm(false, true, N, C, F, 1, h, F, weight(o.down), F, 1, xout, C)
            }
        }
        rmsnormForward(lnf, rstdf, res[c.numHiddenLayers], p + lay.finalNorm, N, C, eps)
        compactForward = !logitsForAllPositions
        if compactForward {
            var m = 0
            for i in 0..<N {
                logp[i] = 0
                guard targets[i] != ignoreIndex else { continue }
                rowIndex[m] = Int32(i); targetsc[m] = targets[i]
                (lnfc + m * C).update(from: lnf + i * C, count: C)
                m += 1
            }
            compactRows = m
            gemm.mm(false, true, m, V, C, 1, productOperand(lnfc, m * C, act16?.lnf), C, weight(lay.lmHead), C, 0, logitsBuf, V)
            // The compact block's logits are never read again: keep exp(logit − max) in their place and 1/Σ in
            // lsec, so the backward scales instead of recomputing the exponentials.
            logSoftmaxTargetForwardKeepingExp(logpc, lsec, logitsBuf, targetsc.baseAddress!, m, V)
            for r in 0..<m { logp[Int(rowIndex[r])] = logpc[r] }
        } else {
            gemm.mm(false, true, N, V, C, 1, productOperand(lnf, N * C, act16?.lnf), C, weight(lay.lmHead), C, 0, logitsBuf, V)
            logSoftmaxTargetForward(logp, lse, logitsBuf, targets.baseAddress!, N, V)
        }
        headForward = itemHead && items != nil
        headRows = 0
        if headForward, let items { itemHeadForward(items, B, T) }
    }

    /// Finds the completed items of the batch and adds the warm ones' residuals to res[0] (each left out with
    /// probability `itemInputDropout` in a training forward, in the rows that get dropout: `dropoutRows`).
    func itemInput(_ items: ItemTable, _ B: Int, _ T: Int) {
        let N = B * T, C = config.hiddenSize
        items.completions(tokens.baseAddress!, batch: B, seq: T, into: completed.baseAddress!)
        if items.carry { items.inputItems(tokens.baseAddress!, batch: B, seq: T, into: added.baseAddress!) }
        let drop = dropoutKey != nil && itemInputDropout > 0
        let threshold = UInt64((Double(itemInputDropout) * 16_777_216).rounded()), base = mix64((dropoutKey ?? 0) ^ 0x17E3_3E30)
        for i in 0..<N {
            var it = items.carry ? added[i] : completed[i]
            if it > 0 && !itemWarm[Int(it) - 1] { it = 0 }
            if it > 0 && drop && (dropoutRows?[i / T] ?? true) && mix64(base &+ UInt64(i) &* 0xD1B5_4A32_D192_ED03) >> 40 < threshold { it = 0 }
            added[i] = it
        }
        itemInputForward(res[0], params.data.baseAddress! + params.layout.inputResidual!, added.baseAddress!, N, C)
    }

    /// The item-scoring head over the rows trained to emit an item's first SID token (see the file header).
    func itemHeadForward(_ items: ItemTable, _ B: Int, _ T: Int) {
        let N = B * T, C = config.hiddenSize, NI = items.count, lay = params.layout, p = params.data.baseAddress!
        items.headTargets(completions: completed.baseAddress!, tokens: tokens.baseAddress!, targets: targets.baseAddress!,
                          batch: B, seq: T, into: headTarget.baseAddress!)
        var m = 0
        for i in 0..<N where headTarget[i] > 0 {
            headPos[m] = Int32(i); headTgt[m] = headTarget[i] - 1
            (headIn + m * C).update(from: lnf + i * C, count: C)
            m += 1
        }
        headRows = m
        itemVectorsForward(itemVec, p + lay.lmHead, p + lay.itemMemory!.offset, itemCodes.baseAddress!, NI, items.levels, C)
        guard m > 0 else { return }
        gemm.mm(false, true, m, NI, C, 1, productOperand(headIn, m * C, act16?.headIn), C,
                productOperand(itemVec, NI * C, act16?.itemVec), C, 0, headLogits, NI)
        logSoftmaxTargetForwardKeepingExp(headLogp, headInvSum, headLogits, headTgt.baseAddress!, m, NI)
    }

    /// Rows the item head scored in the last forward.
    public var itemHeadRows: Int { headForward ? headRows : 0 }

    /// Mean item-head cross-entropy of the last forward (0 when it scored no rows).
    public func meanItemCrossEntropy() -> Float {
        guard headForward, headRows > 0 else { return 0 }
        var s = 0.0
        for r in 0..<headRows { s -= Double(headLogp[r]) }
        return Float(s / Double(headRows))
    }

    /// Per-row item-head log-probs of the target item [itemHeadRows] and the positions they sit at.
    public var itemHeadLogProbs: [(position: Int, logp: Float)] {
        (0..<itemHeadRows).map { (Int(headPos[$0]), headLogp[$0]) }
    }

    /// Dropout mask of `site` (0 = embedding, 1 + 2l = layer l's attention branch, 2 + 2l = its MLP), [N,C].
    @inline(__always) func mask(_ site: Int) -> UnsafeMutablePointer<Float> {
        masks.baseAddress! + site * maxBatch * maxSeq * config.hiddenSize
    }

    /// Logits of the last forward, [B,T,V]. Valid until `backward` (which reuses the buffer); only after a
    /// forward with `logitsForAllPositions`.
    public var logits: UnsafeBufferPointer<Float> {
        precondition(!compactForward, "logits of every position need logitsForAllPositions = true")
        return UnsafeBufferPointer(start: logitsBuf, count: batch * seq * config.vocabSize)
    }

    /// log p(target) per position, [B,T]; 0 where the target is -100.
    public var tokenLogProbs: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: logp, count: batch * seq) }

    /// Number of trained positions (targets ≠ -100) in the last forward.
    public var trainedCount: Int {
        var n = 0
        for i in 0..<(batch * seq) where targets[i] != ignoreIndex { n += 1 }
        return n
    }

    /// Mean cross-entropy over trained positions (0 when none).
    public func meanCrossEntropy() -> Float {
        var s = 0.0, n = 0
        for i in 0..<(batch * seq) where targets[i] != ignoreIndex { s -= Double(logp[i]); n += 1 }
        return n == 0 ? 0 : Float(s / Double(n))
    }

    /// Per-sequence SUM of the trained positions' log-probs, [B] (DPO/GRPO sequence log-likelihoods).
    public func sequenceLogProbs() -> [Float] {
        (0..<batch).map { b in
            var s = 0.0
            for t in 0..<seq { s += Double(logp[b * seq + t]) }
            return Float(s)
        }
    }

    /// Backward of Σ weights[b,t] · logp[b,t] (weights [B,T] = d objective / d logp; ignored where the
    /// target is -100), ACCUMULATED into `grads`. Call once per forward.
    public func backward(weights: [Float]) throws {
        guard weights.count == batch * seq else {
            throw AlignError.invalidArgument("backward: \(weights.count) weights for a [\(batch), \(seq)] batch")
        }
        for i in 0..<weights.count { wbuf[i] = weights[i] }
        try runBackward(itemHeadWeighted: false)
    }

    /// Backward of Σ weights[b,t] · logp[b,t] + Σ_r itemHeadWeights[r] · log p_item[r], accumulated into `grads`:
    /// the token term as `backward(weights:)`, and per item-head row r (`itemHeadRows` of them, in the order of
    /// `itemHeadLogProbs`) the weight d objective / d log p_head(target of r). Needs a forward with `itemHead` on;
    /// this is how DPO and GRPO train the item-memory mix (docs/alignment.md, "hybrid policy").
    public func backward(weights: [Float], itemHeadWeights hw: [Float]) throws {
        guard weights.count == batch * seq else {
            throw AlignError.invalidArgument("backward: \(weights.count) weights for a [\(batch), \(seq)] batch")
        }
        guard hw.count == itemHeadRows else {
            throw AlignError.invalidArgument("backward: \(hw.count) item-head weights for \(itemHeadRows) item-head rows")
        }
        for i in 0..<weights.count { wbuf[i] = weights[i] }
        for r in 0..<hw.count { headW[r] = hw[r] }
        try runBackward(itemHeadWeighted: !hw.isEmpty)
    }

    /// Backward of Σ_b sequenceWeights[b] · (Σ_t logp[b,t]) — DPO's per-sequence gradient (weights [B] =
    /// d objective / d sequence log-prob), accumulated into `grads`.
    public func backward(sequenceWeights sw: [Float]) throws {
        guard sw.count == batch else {
            throw AlignError.invalidArgument("backward: \(sw.count) sequence weights for a batch of \(batch)")
        }
        for b in 0..<batch { for t in 0..<seq { wbuf[b * seq + t] = sw[b] } }
        try runBackward(itemHeadWeighted: false)
    }

    /// Backward of `scale` × mean cross-entropy (weight −scale/N on every trained position), accumulated, plus
    /// `itemWeight` × the item head's mean cross-entropy (needs a forward with `itemHead`).
    /// For micro-batches pass scale = (this batch's trained count) / (window's trained count), and likewise
    /// `itemWeight` × (this batch's head rows) / (window's head rows).
    public func backwardMeanCrossEntropy(scale: Float = 1, itemWeight: Float = 0) throws {
        let n = trainedCount
        let w: Float = n == 0 ? 0 : -scale / Float(n)
        for i in 0..<(batch * seq) { wbuf[i] = w }
        let hw: Float = itemHeadRows == 0 ? 0 : -itemWeight / Float(itemHeadRows)
        for r in 0..<itemHeadRows { headW[r] = hw }
        try runBackward(itemHeadWeighted: hw != 0)
    }

    func runBackward(itemHeadWeighted: Bool) throws {
        guard state == .forwarded else {
            throw AlignError.invalidArgument("backward needs a fresh forward (it was \(state == .empty ? "never run" : "already used by a backward"))")
        }
        state = .backwarded
        let c = config, B = batch, T = seq, N = B * T
        let C = c.hiddenSize, H = c.numAttentionHeads, KV = c.numKeyValueHeads, hd = c.headDim
        let W = (H + 2 * KV) * hd, F = c.intermediateSize, V = c.vocabSize
        let lay = params.layout, p = params.data.baseAddress!, g = grads.baseAddress!
        let shape = AttentionShape(batch: B, seq: T, heads: H, kvHeads: KV, headDim: hd)
        let L = c.numHiddenLayers
        let dlogits = logitsBuf
        if compactForward {   // head backward over the M trained rows, scattered back into dln [N,C]
            let m = compactRows
            for r in 0..<m { wc[r] = wbuf[Int(rowIndex[r])] }
            let rows: LogitGradientRows = act16.map { .bf16($0.grad) } ?? .f32(dlogits)   // bf16: rounded as written
            logSoftmaxTargetBackwardFromExp(rows, logitsBuf, lsec, targetsc.baseAddress!, wc, m, V)
            let dl = rows.operand
            gemm.mm(true, false, V, C, m, 1, dl, V, savedOperand(lnfc, act16?.lnf), C, 1, g + lay.lmHead, C)
            gemm.mm(false, false, m, C, V, 1, dl, V, weight(lay.lmHead), C, 0, lnfc, C)
            dln.update(repeating: 0, count: N * C)
            for r in 0..<m { (dln + Int(rowIndex[r]) * C).update(from: lnfc + r * C, count: C) }
        } else {
            logSoftmaxTargetBackward(dlogits, logitsBuf, lse, targets.baseAddress!, wbuf, N, V)
            let dl = productOperand(dlogits, N * V, act16?.grad)
            gemm.mm(true, false, V, C, N, 1, dl, V, savedOperand(lnf, act16?.lnf), C, 1, g + lay.lmHead, C)
            gemm.mm(false, false, N, C, V, 1, dl, V, weight(lay.lmHead), C, 0, dln, C)
        }
        if itemHeadWeighted && headRows > 0, let items { itemHeadBackward(items) }
        dres.update(repeating: 0, count: N * C)
        rmsnormBackward(dres, g + lay.finalNorm, dln, res[L], p + lay.finalNorm, rstdf, N, C)
        for l in stride(from: L - 1, through: 0, by: -1) {
            let a = acts[l], o = lay.layers[l]
            // MLP (dres = d layer output; the branch gradient = d down-projection output, see branchGradient)
            if act16 == nil { swigluForward(hbuf, a.gu, N, F) }   // bf16 kept its rounded copy
            var dy = branchGradient(masked ? 2 + 2 * l : nil, N, C)
            gemm.mm(false, false, N, F, C, 1, dy, C, weight(o.down), F, 0, dh, F)
            gemm.mm(true, false, C, F, N, 1, dy, C, savedOperand(hbuf, act16?.h[l]), F, 1, g + o.down, F)
            if let act16 {
                swigluBackward(act16.grad, dh, a.gu, N, F, scratch: act16.scratch)
                dy = .bf16(UnsafePointer(act16.grad))
            } else {
                swigluBackward(dgu, dh, a.gu, N, F)
                dy = .f32(UnsafePointer(dgu))
            }
            gemm.mm(false, false, N, C, 2 * F, 1, dy, 2 * F, weight(o.gateUp), C, 0, dln, C)
            gemm.mm(true, false, 2 * F, C, N, 1, dy, 2 * F, savedOperand(a.ln2, act16?.ln2[l]), C, 1, g + o.gateUp, C)
            rmsnormBackward(dres, g + o.ln2, dln, a.xmid, p + o.ln2, a.rstd2, N, C)
            // attention (dres = d xmid)
            dy = branchGradient(masked ? 1 + 2 * l : nil, N, C)
            gemm.mm(false, false, N, H * hd, C, 1, dy, C, weight(o.o), H * hd, 0, datt, H * hd)
            gemm.mm(true, false, C, H * hd, N, 1, dy, C, savedOperand(a.att, act16?.att[l]), H * hd, 1, g + o.o, H * hd)
            let datt16 = act16.map { convertToBF16($0.grad, datt, N * H * hd); return UnsafePointer($0.grad) }
            attentionBackward(dqkv, dprobs, datt, a.qkv, a.probs, shape, products: attention,
                              qkv16: act16.map { UnsafePointer($0.qkv[l]) }, dout16: datt16)
            if let act16, o.qkvBias == nil {   // no bias to sum: the rotated-back gradient only enters products
                ropeForward(act16.grad, dqkv, W, H + KV, positions.baseAddress!, N, rope, sign: -1, scratch: act16.scratch)
                dy = .bf16(UnsafePointer(act16.grad))
            } else {
                ropeBackward(dqkv, W, H + KV, positions.baseAddress!, N, rope)
                if let b = o.qkvBias { biasBackward(g + b, dqkv, ld: W, rows: N, cols: W) }
                dy = productOperand(dqkv, N * W, act16?.grad)
            }
            gemm.mm(false, false, N, C, W, 1, dy, W, weight(o.qkv), C, 0, dln, C)
            gemm.mm(true, false, W, C, N, 1, dy, W, savedOperand(a.ln1, act16?.ln1[l]), C, 1, g + o.qkv, C)
            rmsnormBackward(dres, g + o.ln1, dln, res[l], p + o.ln1, a.rstd1, N, C)
        }
        let dx = masked ? dln : dres   // d embedding output (before dropout)
        if masked { dropoutBackward(dln, dres, mask(0), N * C) }
        embeddingBackward(g + lay.embed, dx, tokens.baseAddress!, N, C)
        if items != nil { itemInputBackward(g + lay.inputResidual!, dx, added.baseAddress!, N, C) }
    }

    /// The gradient of a residual branch's output as its two products take it: dres, times the dropout mask of
    /// `site` when there is one. fp32: in dln (or dres itself), which the next backward step overwrites only after
    /// both products; bf16: rounded into the gradient scratch.
    func branchGradient(_ site: Int?, _ N: Int, _ C: Int) -> GemmOperand {
        if let act16 {
            if let site {
                dropoutBackward(act16.grad, dres, mask(site), N, C, scratch: act16.scratch)
            } else {
                convertToBF16(act16.grad, dres, N * C)
            }
            return .bf16(UnsafePointer(act16.grad))
        }
        guard let site else { return .f32(UnsafePointer(dres)) }
        dropoutBackward(dln, dres, mask(site), N * C)
        return .f32(UnsafePointer(dln))
    }

    /// dln[head positions] += the head rows' gradients (headIn [m,C]): all of them (`full`), or (`balanced`) each batch
    /// row's scaled by min(1, ‖that row's token-loss gradient in dln‖ / ‖its head gradient‖), so the head never moves a
    /// sample's hidden states more than the token loss does. Rows (not micro-batches) are the unit, so data-parallel
    /// shards and MPI ranks compute the same scales as one trainer over the whole batch.
    func addHeadRowGradients(_ m: Int, _ C: Int) {
        let T = seq
        var r0 = 0
        while r0 < m {
            let b = Int(headPos[r0]) / T
            var r1 = r0 + 1
            while r1 < m && Int(headPos[r1]) / T == b { r1 += 1 }   // head rows are in position order
            var scale: Float = 1
            if itemHeadTrunkGradient == .balanced {
                let tok = gradNorm(dln + b * T * C, T * C), head = gradNorm(headIn + r0 * C, (r1 - r0) * C)
                if head > 0 { scale = min(1, tok / head) }
            }
            for r in r0..<r1 {
                let d = dln + Int(headPos[r]) * C, s = headIn + r * C
                for j in 0..<C { d[j] += scale * s[j] }
            }
            r0 = r1
        }
    }

    /// Backward of Σ_r headW[r] · log p_item[r]: into the LM-head rows of every item's codes, the warm residuals
    /// and dln at the head positions (after the LM head's backward has written dln).
    func itemHeadBackward(_ items: ItemTable) {
        let m = headRows, NI = items.count, C = config.hiddenSize, lay = params.layout, g = grads.baseAddress!
        let rows: LogitGradientRows = act16.map { .bf16($0.headGrad) } ?? .f32(headLogits)
        logSoftmaxTargetBackwardFromExp(rows, headLogits, headInvSum, headTgt.baseAddress!, headW, m, NI)
        let dz = rows.operand
        gemm.mm(true, false, NI, C, m, 1, dz, NI, savedOperand(headIn, act16?.headIn), C, 0, itemVecGrad, C)   // dV = dZᵀ · rows
        if itemHeadTrunkGradient != .none {
            gemm.mm(false, false, m, C, NI, 1, dz, NI, savedOperand(itemVec, act16?.itemVec), C, 0, headIn, C)   // d rows = dZ · V
            addHeadRowGradients(m, C)
        }
        itemVectorsBackward(g + lay.lmHead, g + lay.itemMemory!.offset, itemVecGrad, itemCodes.baseAddress!,
                            itemWarm.baseAddress!, NI, items.levels, C)
    }
}
