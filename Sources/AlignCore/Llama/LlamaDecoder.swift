// KV-cached incremental decoding of a LLaMA model (the `IncrementalDecoder` contract). A prompt's keys and
// values are computed once per group and shared by its `width` rows; each row owns only its continuation
// suffix, so reordering beams (`parents`) copies a few suffix positions, never a prompt. All rows' one-token
// steps go through single sgemm calls per projection. Memory is planned once for
// (maxGroups, maxWidth, maxPrompt, maxSuffix); step allocates nothing on the model side.
//
// Work nobody reads is skipped: prefill runs the last layer's query, attention, o_proj and MLP only for each
// prompt's last position (the other positions only feed the cache, i.e. that layer's keys/values), and with
// a `logitRange` the LM head multiplies only those vocabulary rows (e.g. 256 SID codes instead of 4096).
//
// Item memory (`items` given; parameters with an item region): as in LlamaTrainer, the residual of every warm item
// completed at a position is added to its embedding — in prompts and in generated continuations (each row keeps
// its SID scan state, inherited from its parent). After prefill, `promptHidden` holds each prompt's final-norm
// hidden state at its last position, which the item-scoring head reads (ItemScorer).
// Products go through `gemm` at the decoder's precision (see LlamaTrainer): in bf16 the weights are a bf16 copy
// refreshed at each prefill (or shared and kept current by the owner of several decoders), activations rounded
// as the products take them; attention rounds its inputs (q, k, v — so the KV cache holds bf16 values — and the
// probabilities) as bf16 training does, runs its per-head products in bf16 (`AttentionProducts`, reading a bf16
// copy of the prompt cache) and sums in fp32; norms stay fp32.
import CKernels
import Foundation

/// Batched KV-cache decoder over shared prompts (beam search, sampling, GRPO rollouts).
public final class LlamaDecoder: IncrementalDecoder, @unchecked Sendable {
    public let params: LlamaParameters
    public var config: LlamaConfig { params.config }
    public let maxGroups: Int, maxWidth: Int, maxPrompt: Int, maxSuffix: Int
    public var vocabSize: Int { config.vocabSize }

    /// Number of groups / width / suffix length of the current batch.
    public private(set) var groups = 0
    public private(set) var width = 0
    public private(set) var suffixLength = 0

    let rope: RopeTable
    let C: Int, H: Int, KV: Int, hd: Int, W: Int, F: Int, V: Int, L: Int, kvW: Int
    let arena: UnsafeMutableBufferPointer<Float>
    // caches: per layer
    var promptK: [UnsafeMutablePointer<Float>] = [], promptV: [UnsafeMutablePointer<Float>] = []
    var suffixK: [UnsafeMutablePointer<Float>] = [], suffixV: [UnsafeMutablePointer<Float>] = []
    /// bf16: per layer, bf16 copies of the prompt keys/values (the step's attention products read them).
    var promptK16: [UnsafeMutablePointer<UInt16>] = [], promptV16: [UnsafeMutablePointer<UInt16>] = []
    let cache16: UnsafeMutableBufferPointer<UInt16>
    // working buffers sized for max(prefill tokens, rows)
    let x: UnsafeMutablePointer<Float>, ln: UnsafeMutablePointer<Float>, qkv: UnsafeMutablePointer<Float>
    let att: UnsafeMutablePointer<Float>, gu: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>, reorder: UnsafeMutablePointer<Float>
    let rstd: UnsafeMutablePointer<Float>, logitsBuf: UnsafeMutablePointer<Float>
    let tok: UnsafeMutableBufferPointer<Int32>, pos: UnsafeMutableBufferPointer<Int32>
    let promptLengths: UnsafeMutableBufferPointer<Int>
    // live-row step: compact row → row, per-group compact offsets, rows whose suffix cache is complete
    let liveRows: UnsafeMutableBufferPointer<Int32>, groupStart: UnsafeMutableBufferPointer<Int>
    let rowComplete: UnsafeMutableBufferPointer<Bool>
    /// The items of the item memory (nil: a plain LLaMA model).
    public let items: ItemTable?
    /// Per-row SID scan state (and the next step's copy), item added per computed position.
    var scan: [ItemTable.Scan], nextScan: [ItemTable.Scan]
    let added: UnsafeMutableBufferPointer<Int32>
    /// Final-norm hidden state of each prompt's last position [maxGroups, C], written by prefill.
    let hiddenBuf: UnsafeMutableBufferPointer<Float>

    /// The matrix-product engine (`gemm.threads`: 1 when decoders run side by side).
    public let gemm: Gemm
    /// Attention's per-head products (fp32 on OpenBLAS; bf16 on the products' backend, one engine per worker).
    let attention: AttentionProducts
    let weights16: BF16Weights?
    let ownsWeights16: Bool
    public var precision: Precision { gemm.precision }

    /// Plans memory for up to `maxGroups` prompts of ≤ `maxPrompt` tokens, `maxWidth` rows each, and
    /// ≤ `maxSuffix` steps. Positions must fit the rope table (maxPrompt + maxSuffix). `precision` of the products;
    /// in bf16 `sharedWeights` is a copy the caller keeps current (nil = refreshed here at each prefill).
    public init(params: LlamaParameters, maxGroups: Int, maxWidth: Int, maxPrompt: Int, maxSuffix: Int, items: ItemTable? = nil,
                precision: Precision = .fp32, backend: GemmBackend? = nil, sharedWeights: BF16Weights? = nil,
                gemmThreads: Int = Parallel.workers) {
        precondition(maxGroups > 0 && maxWidth > 0 && maxPrompt > 0 && maxSuffix > 0)
        precondition((items?.count ?? 0) == params.items, "item table of \(items?.count ?? 0) items for an item memory of \(params.items)")
        self.params = params
        self.items = items
        self.maxGroups = maxGroups; self.maxWidth = maxWidth; self.maxPrompt = maxPrompt; self.maxSuffix = maxSuffix
        let c = params.config
        C = c.hiddenSize; H = c.numAttentionHeads; KV = c.numKeyValueHeads; hd = c.headDim
        W = (H + 2 * KV) * hd; F = c.intermediateSize; V = c.vocabSize; L = c.numHiddenLayers; kvW = KV * hd
        let R = maxGroups * maxWidth, N = max(maxGroups * maxPrompt, R)
        let promptCache = maxGroups * maxPrompt * kvW, suffixCache = R * maxSuffix * kvW
        let scratchN = max(maxGroups * H * maxPrompt * maxPrompt, maxGroups * H * maxWidth * (maxPrompt + maxSuffix))
        let total = Self.arenaCount(c, maxGroups: maxGroups, maxWidth: maxWidth, maxPrompt: maxPrompt, maxSuffix: maxSuffix, as: Int.self)
        arena = .allocate(capacity: total)
        arena.initialize(repeating: 0)
        var cur = arena.baseAddress!
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { cur += n }; return cur }
        for _ in 0..<L {
            promptK.append(take(promptCache)); promptV.append(take(promptCache))
            suffixK.append(take(suffixCache)); suffixV.append(take(suffixCache))
        }
        cache16 = .allocate(capacity: precision == .bf16 ? L * 2 * promptCache : 0)
        cache16.initialize(repeating: 0)
        if precision == .bf16 {
            for l in 0..<L {
                promptK16.append(cache16.baseAddress! + 2 * l * promptCache)
                promptV16.append(cache16.baseAddress! + (2 * l + 1) * promptCache)
            }
        }
        reorder = take(2 * suffixCache)
        x = take(N * C); ln = take(N * C); qkv = take(N * W); att = take(N * H * hd)
        gu = take(N * 2 * F); h = take(N * F); scratch = take(scratchN)
        rstd = take(N); logitsBuf = take(R * V)
        precondition(cur == arena.baseAddress! + total)
        tok = .allocate(capacity: N); tok.initialize(repeating: 0)
        pos = .allocate(capacity: N); pos.initialize(repeating: 0)
        promptLengths = .allocate(capacity: maxGroups); promptLengths.initialize(repeating: 0)
        liveRows = .allocate(capacity: R); liveRows.initialize(repeating: 0)
        groupStart = .allocate(capacity: maxGroups + 1); groupStart.initialize(repeating: 0)
        rowComplete = .allocate(capacity: R); rowComplete.initialize(repeating: true)
        scan = [ItemTable.Scan](repeating: ItemTable.Scan(), count: items == nil ? 0 : R)
        nextScan = scan
        added = .allocate(capacity: items == nil ? 0 : N); added.initialize(repeating: 0)
        hiddenBuf = .allocate(capacity: maxGroups * C); hiddenBuf.initialize(repeating: 0)
        rope = RopeTable(config: c, maxPositions: maxPrompt + maxSuffix)
        gemm = Gemm(precision: precision, backend: backend, threads: gemmThreads)
        attention = precision == .fp32 ? .fp32
            : AttentionProducts(precision: precision, backend: backend,
                                rowsPerWorker: max(maxPrompt * maxPrompt, maxWidth * (maxPrompt + maxSuffix)))
        if precision == .bf16 {
            weights16 = sharedWeights ?? BF16Weights(layout: params.layout)
            ownsWeights16 = sharedWeights == nil
        } else {
            weights16 = nil; ownsWeights16 = false
        }
    }

    /// A product operand for the weight tensor at `offset` (bf16 copy in bf16, else the fp32 weights).
    @inline(__always) func weight(_ offset: Int) -> GemmOperand {
        if let w = weights16 { return .bf16(w.ptr(offset)) }
        return .f32(UnsafePointer(params.data.baseAddress! + offset))
    }

    /// A decoder planned for these sizes, after checking that it fits in the memory available: a beam or batch
    /// too large for this machine is an error with the estimate, not an allocator crash. `purpose` names the
    /// setting for the message (e.g. "beam search with beam 20 over 16 prompts").
    public static func planned(params: LlamaParameters, maxGroups: Int, maxWidth: Int, maxPrompt: Int, maxSuffix: Int,
                               purpose: String, items: ItemTable? = nil, precision: Precision = .fp32,
                               backend: GemmBackend? = nil, sharedWeights: BF16Weights? = nil,
                               gemmThreads: Int = Parallel.workers) throws -> LlamaDecoder {
        guard maxGroups > 0, maxWidth > 0, maxPrompt > 0, maxSuffix > 0 else {
            throw AlignError.invalidArgument("\(purpose): a decoder needs ≥ 1 prompt, width, prompt token and step (got \(maxGroups), \(maxWidth), \(maxPrompt), \(maxSuffix))")
        }
        var need = MemoryEstimate()
        need.add("decoder caches and scratch", floats: plannedFloats(params.config, maxGroups: maxGroups, maxWidth: maxWidth,
                                                                     maxPrompt: maxPrompt, maxSuffix: maxSuffix, precision: precision))
        try need.check("\(purpose) over \(maxGroups) prompts × width \(maxWidth), prompts up to \(maxPrompt) tokens,")
        return LlamaDecoder(params: params, maxGroups: maxGroups, maxWidth: maxWidth, maxPrompt: maxPrompt, maxSuffix: maxSuffix,
                            items: items, precision: precision, backend: backend, sharedWeights: sharedWeights, gemmThreads: gemmThreads)
    }

    /// Floats of the arena (caches and scratch): Int to allocate, Double to size it first. One formula for both.
    static func arenaCount<T: Numeric & Comparable>(_ c: LlamaConfig, maxGroups: Int, maxWidth: Int, maxPrompt: Int,
                                                    maxSuffix: Int, as: T.Type) -> T {
        func t(_ x: Int) -> T { T(exactly: x)! }
        let G = t(maxGroups), Wd = t(maxWidth), P = t(maxPrompt), S = t(maxSuffix)
        let C = t(c.hiddenSize), H = t(c.numAttentionHeads), hd = t(c.headDim), KV = t(c.numKeyValueHeads)
        let W = (H + 2 * KV) * hd, F = t(c.intermediateSize), V = t(c.vocabSize), L = t(c.numHiddenLayers), kvW = KV * hd
        let R = G * Wd, N = max(G * P, R)
        let promptCache = G * P * kvW, suffixCache = R * S * kvW
        let scratchN = max(G * H * P * P, G * H * Wd * (P + S))
        return L * 2 * (promptCache + suffixCache) + 2 * suffixCache
            + N * C * 2 + N * W + N * H * hd + N * 2 * F + N * F + scratchN + N + R * V
    }

    /// Every float (and index) a decoder planned for these sizes holds: arena, token buffers, rope table, and in
    /// bf16 the prompt caches' bf16 copies (two bf16 values per float).
    public static func plannedFloats(_ c: LlamaConfig, maxGroups: Int, maxWidth: Int, maxPrompt: Int, maxSuffix: Int,
                                     precision: Precision = .fp32) -> Double {
        let R = Double(maxGroups) * Double(maxWidth), N = max(Double(maxGroups) * Double(maxPrompt), R)
        let promptCache = Double(maxGroups) * Double(maxPrompt) * Double(c.numKeyValueHeads * c.headDim)
        return arenaCount(c, maxGroups: maxGroups, maxWidth: maxWidth, maxPrompt: maxPrompt, maxSuffix: maxSuffix, as: Double.self)
            + 2 * N + 4 * R + Double(maxPrompt + maxSuffix) * Double(c.headDim)
            + (precision == .bf16 ? Double(c.numHiddenLayers) * promptCache : 0)
    }

    deinit {
        arena.deallocate(); cache16.deallocate(); tok.deallocate(); pos.deallocate(); promptLengths.deallocate()
        liveRows.deallocate(); groupStart.deallocate(); rowComplete.deallocate(); added.deallocate(); hiddenBuf.deallocate()
    }

    /// Final-norm hidden state of each prompt's last position after the last prefill, [groups, C].
    public var promptHidden: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: hiddenBuf.baseAddress!, count: groups * C) }

    /// Adds the warm residual of the item completed by `token` (scan state `s`) to row `row` of x.
    @inline(__always) func addItem(_ items: ItemTable, _ s: inout ItemTable.Scan, _ token: Int32, row: Int) {
        let it = items.inputItem(&s, token)
        guard it > 0, items.warm[Int(it) - 1] else { return }
        let d = x + row * C, r = params.data.baseAddress! + params.layout.inputResidual! + (Int(it) - 1) * C
        for j in 0..<C { d[j] += r[j] }
    }

    func checkToken(_ t: Int32, _ what: String) throws {
        guard t >= 0 && Int(t) < V else {
            throw AlignError.invalidArgument("\(what): token id \(t) is outside the vocabulary 0..<\(V)")
        }
    }

    public func prefill(_ prompts: [[Int32]], width: Int) throws -> UnsafeBufferPointer<Float> {
        try prefill(prompts, width: width, logitRange: 0..<V).buffer
    }

    public func prefill(_ prompts: [[Int32]], width: Int, logitRange: Range<Int>) throws -> LogitRows {
        try checkLogitRange(logitRange, vocabSize: V)
        guard !prompts.isEmpty, prompts.count <= maxGroups, width >= 1, width <= maxWidth else {
            throw AlignError.invalidArgument("prefill: \(prompts.count) prompts × width \(width) exceed the planned \(maxGroups) × \(maxWidth) (or are empty)")
        }
        var starts: [Int] = [], lengths: [Int] = []
        var n = 0
        for (g, p) in prompts.enumerated() {
            guard !p.isEmpty, p.count <= maxPrompt else {
                throw AlignError.invalidArgument("prefill: prompt \(g) has \(p.count) tokens (allowed 1...\(maxPrompt))")
            }
            starts.append(n); lengths.append(p.count)
            for (t, id) in p.enumerated() {
                try checkToken(id, "prefill prompt \(g)")
                tok[n + t] = id; pos[n + t] = Int32(t)
            }
            promptLengths[g] = p.count
            n += p.count
        }
        groups = prompts.count; self.width = width; suffixLength = 0
        if ownsWeights16 { weights16!.refresh(from: params) }
        for r in 0..<(groups * width) { rowComplete[r] = true }
        let pr = params.data.baseAddress!, lay = params.layout, eps = config.rmsNormEps
        embeddingForward(x, tok.baseAddress!, pr + lay.embed, n, C)
        if let items {
            for g in 0..<groups {
                var s = ItemTable.Scan()
                for t in 0..<lengths[g] { addItem(items, &s, tok[starts[g] + t], row: starts[g] + t) }
                for j in 0..<width { scan[g * width + j] = s }
            }
        }
        for l in 0..<(L - 1) {
            let o = lay.layers[l]
            rmsnormForward(ln, rstd, x, pr + o.ln1, n, C, eps)
            gemm.mm(false, true, n, W, C, 1, .f32(ln), C, weight(o.qkv), C, 0, qkv, W)
            if let b = o.qkvBias { biasForward(qkv, ld: W, pr + b, rows: n, cols: W) }
            ropeForward(qkv, W, H + KV, pos.baseAddress!, n, rope)
            roundAttentionInputs(qkv, count: n * W)
            attentionPrefill(att, scratch, qkv, starts, lengths, heads: H, kvHeads: KV, headDim: hd, maxLen: maxPrompt,
                             products: attention)
            storePromptKV(layer: l, starts: starts, lengths: lengths)
            mlpBlock(n: n, layer: l, attOut: att)
        }
        prefillLastLayer(n: n, starts: starts, lengths: lengths)
        let out = head(rows: groups, logitRange)
        hiddenBuf.baseAddress!.update(from: ln, count: groups * C)
        return out
    }

    /// Copies the roped keys/values of every prompt position (qkv rows, packed by `starts`) into layer l's cache
    /// (and, in bf16, its bf16 copy: the values are already rounded, so the copy is exact).
    func storePromptKV(layer l: Int, starts: [Int], lengths: [Int]) {
        for g in 0..<groups {
            for t in 0..<lengths[g] {
                let src = qkv + (starts[g] + t) * W + H * hd, dst = (g * maxPrompt + t) * kvW
                (promptK[l] + dst).update(from: src, count: kvW)
                (promptV[l] + dst).update(from: src + kvW, count: kvW)
                if bf16Attention {
                    align_f32_to_bf16(promptK16[l] + dst, src, kvW)
                    align_f32_to_bf16(promptV16[l] + dst, src + kvW, kvW)
                }
            }
        }
    }

    /// Layer l's cache as the step's attention reads it, with `suffixLength` suffix positions.
    func cacheView(layer l: Int, suffixLength: Int) -> DecodeCacheView {
        DecodeCacheView(promptK: promptK[l], promptV: promptV[l], promptStride: maxPrompt,
                        promptLengths: UnsafePointer(promptLengths.baseAddress!), suffixK: suffixK[l], suffixV: suffixV[l],
                        suffixStride: maxSuffix, suffixLength: suffixLength,
                        promptK16: promptK16.isEmpty ? nil : UnsafePointer(promptK16[l]),
                        promptV16: promptV16.isEmpty ? nil : UnsafePointer(promptV16[l]))
    }

    /// The last layer of prefill over the packed x[n, C]: keys/values of all n positions into the cache, then
    /// query, attention (one query per prompt against its cached keys, as a width-1 step with no suffix),
    /// o_proj and MLP only for each prompt's last position. Leaves those hidden states in x rows 0..<groups.
    func prefillLastLayer(n: Int, starts: [Int], lengths: [Int]) {
        let l = L - 1, pr = params.data.baseAddress!, o = params.layout.layers[l], qW = H * hd
        rmsnormForward(ln, rstd, x, pr + o.ln1, n, C, config.rmsNormEps)
        // K and V columns of qkv[n, W] only: rows qW..<W of the [W, C] projection.
        gemm.mm(false, true, n, 2 * kvW, C, 1, .f32(ln), C, weight(o.qkv + qW * C), C, 0, qkv + qW, W)
        if let b = o.qkvBias { biasForward(qkv + qW, ld: W, pr + b + qW, rows: n, cols: 2 * kvW) }
        ropeForward(qkv + qW, W, KV, pos.baseAddress!, n, rope)
        if bf16Attention { for r in 0..<n { roundAttentionInputs(qkv + r * W + qW, count: 2 * kvW) } }
        storePromptKV(layer: l, starts: starts, lengths: lengths)
        // Gather prompt g's last position into row g of ln and x. In place is safe: the source row
        // starts[g] + lengths[g] − 1 is ≥ g, and every later group's source lies beyond row g.
        for g in 0..<groups {
            let src = starts[g] + lengths[g] - 1
            if src != g {
                (ln + g * C).update(from: ln + src * C, count: C)
                (x + g * C).update(from: x + src * C, count: C)
            }
            pos[g] = Int32(lengths[g] - 1)
        }
        // Queries of those rows into qkv rows 0..<groups (their K/V columns are already in the cache).
        gemm.mm(false, true, groups, qW, C, 1, .f32(ln), C, weight(o.qkv), C, 0, qkv, W)
        if let b = o.qkvBias { biasForward(qkv, ld: W, pr + b, rows: groups, cols: qW) }
        ropeForward(qkv, W, H, pos.baseAddress!, groups, rope)
        if bf16Attention { for r in 0..<groups { roundAttentionInputs(qkv + r * W, count: qW) } }
        attentionStep(att, scratch, qkv, W, cacheView(layer: l, suffixLength: 0), groups: groups, width: 1,
                      heads: H, kvHeads: KV, headDim: hd, products: attention)
        mlpBlock(n: groups, layer: l, attOut: att)
    }

    /// bf16: attention's inputs rounded like the trainer's (see the file header).
    var bf16Attention: Bool { precision == .bf16 }

    /// Rounds `count` attention inputs (roped q/k/v values) to bf16 in place, in bf16; nothing in fp32.
    @inline(__always)
    func roundAttentionInputs(_ x: UnsafeMutablePointer<Float>, count: Int) {
        if bf16Attention { align_round_to_bf16(x, x, count) }
    }

    /// Residual + o_proj, then the SwiGLU block, in place on `x` for `n` rows.
    @inline(__always)
    func mlpBlock(n: Int, layer l: Int, attOut: UnsafeMutablePointer<Float>) {
        let pr = params.data.baseAddress!, o = params.layout.layers[l]
        gemm.mm(false, true, n, C, H * hd, 1, .f32(attOut), H * hd, weight(o.o), H * hd, 1, x, C)
        rmsnormForward(ln, rstd, x, pr + o.ln2, n, C, config.rmsNormEps)
        gemm.mm(false, true, n, 2 * F, C, 1, .f32(ln), C, weight(o.gateUp), C, 0, gu, 2 * F)
        swigluForward(h, gu, n, F)
        gemm.mm(false, true, n, C, F, 1, .f32(h), F, weight(o.down), F, 1, x, C)
    }

    /// Final norm + LM head over the first `rows` rows of x, for the vocabulary rows `range` of the head
    /// only: logits [rows, range.count] (the head weight is [V, C], so those rows are contiguous).
    func head(rows: Int, _ range: Range<Int>) -> LogitRows {
        let pr = params.data.baseAddress!, lay = params.layout, cols = range.count
        rmsnormForward(ln, rstd, x, pr + lay.finalNorm, rows, C, config.rmsNormEps)
        gemm.mm(false, true, rows, cols, C, 1, .f32(ln), C, weight(lay.lmHead + range.lowerBound * C), C, 0, logitsBuf, cols)
        return LogitRows(buffer: UnsafeBufferPointer(start: logitsBuf, count: rows * cols), rowStride: cols, tokens: range)
    }

    public func step(parents: [Int], tokens: [Int32]) throws -> UnsafeBufferPointer<Float> {
        try step(parents: parents, tokens: tokens, logitRange: 0..<V).buffer
    }

    public func step(parents: [Int], tokens: [Int32], logitRange: Range<Int>) throws -> LogitRows {
        try step(parents: parents, tokens: tokens, logitRange: logitRange, live: nil)
    }

    /// `step` computing only the rows with `live[r]` (nil: every row). The other rows' logits are unspecified
    /// and their caches are not extended, so they may not continue as a live row's parent later (checked).
    public func step(parents: [Int], tokens: [Int32], logitRange: Range<Int>, live: [Bool]?) throws -> LogitRows {
        try checkLogitRange(logitRange, vocabSize: V)
        let R = groups * width
        guard groups > 0 else { throw AlignError.invalidArgument("step called before prefill") }
        guard parents.count == R, tokens.count == R, live.map({ $0.count == R }) ?? true else {
            throw AlignError.invalidArgument("step: \(parents.count) parents / \(tokens.count) tokens / \(live?.count ?? R) live flags for \(R) rows")
        }
        guard suffixLength < maxSuffix else {
            throw AlignError.invalidArgument("step: the planned \(maxSuffix) continuation tokens are used up")
        }
        var n = 0
        var g = 0
        groupStart[0] = 0
        for r in 0..<R {
            guard parents[r] >= 0, parents[r] < R, parents[r] / width == r / width else {
                throw AlignError.invalidArgument("step: parent \(parents[r]) of row \(r) is not a row of the same group")
            }
            while r / width > g { g += 1; groupStart[g] = n }
            if let live, !live[r] { continue }
            guard rowComplete[parents[r]] else {
                throw AlignError.invalidArgument("step: live row \(r) continues row \(parents[r]), which an earlier step did not compute")
            }
            try checkToken(tokens[r], "step row \(r)")
            tok[n] = tokens[r]
            pos[n] = Int32(promptLengths[r / width] + suffixLength)
            liveRows[n] = Int32(r)
            n += 1
        }
        while g < groups { g += 1; groupStart[g] = n }
        reorderSuffixes(parents, rows: n)
        for r in 0..<R { rowComplete[r] = false }
        for i in 0..<n { rowComplete[Int(liveRows[i])] = true }
        let s = suffixLength
        suffixLength += 1
        let cols = logitRange.count
        if n == 0 {
            return LogitRows(buffer: UnsafeBufferPointer(start: logitsBuf, count: R * cols), rowStride: cols, tokens: logitRange)
        }
        let pr = params.data.baseAddress!, lay = params.layout, eps = config.rmsNormEps
        embeddingForward(x, tok.baseAddress!, pr + lay.embed, n, C)
        if let items {   // each row continues its parent's scan; computed rows add their completed items
            for r in 0..<R { nextScan[r] = scan[parents[r]] }
            swap(&scan, &nextScan)
            for i in 0..<n {
                let r = Int(liveRows[i])
                addItem(items, &scan[r], tokens[r], row: i)
            }
        }
        for l in 0..<L {
            let o = lay.layers[l]
            rmsnormForward(ln, rstd, x, pr + o.ln1, n, C, eps)
            gemm.mm(false, true, n, W, C, 1, .f32(ln), C, weight(o.qkv), C, 0, qkv, W)
            if let b = o.qkvBias { biasForward(qkv, ld: W, pr + b, rows: n, cols: W) }
            ropeForward(qkv, W, H + KV, pos.baseAddress!, n, rope)
            roundAttentionInputs(qkv, count: n * W)
            for i in 0..<n {
                let src = qkv + i * W + H * hd, dst = (Int(liveRows[i]) * maxSuffix + s) * kvW
                (suffixK[l] + dst).update(from: src, count: kvW)
                (suffixV[l] + dst).update(from: src + kvW, count: kvW)
            }
            attentionStep(att, scratch, qkv, W, cacheView(layer: l, suffixLength: s + 1), groups: groups,
                          groupStart: UnsafePointer(groupStart.baseAddress!),
                          rowIds: UnsafePointer(liveRows.baseAddress!), heads: H, kvHeads: KV, headDim: hd,
                          products: attention)
            mlpBlock(n: n, layer: l, attOut: att)
        }
        _ = head(rows: n, logitRange)
        // Compact logit rows → their row positions, last first (liveRows is ascending with liveRows[i] ≥ i).
        if n < R {
            for i in stride(from: n - 1, through: 0, by: -1) where Int(liveRows[i]) != i {
                (logitsBuf + Int(liveRows[i]) * cols).update(from: logitsBuf + i * cols, count: cols)
            }
        }
        return LogitRows(buffer: UnsafeBufferPointer(start: logitsBuf, count: R * cols), rowStride: cols, tokens: logitRange)
    }

    /// Live row liveRows[i] (i < rows) takes over row parents[liveRows[i]]'s suffix cache (the first `suffixLength`
    /// positions of every layer). Rows not live keep stale caches, which nothing reads.
    func reorderSuffixes(_ parents: [Int], rows n: Int) {
        let S = suffixLength
        guard S > 0 else { return }
        let R = groups * width, rowN = S * kvW
        var moved = false
        for i in 0..<n where parents[Int(liveRows[i])] != Int(liveRows[i]) { moved = true; break }
        guard moved else { return }
        func permute(_ cache: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>) {
            for i in 0..<n {
                let r = Int(liveRows[i])
                if parents[r] != r { (tmp + r * maxSuffix * kvW).update(from: cache + parents[r] * maxSuffix * kvW, count: rowN) }
            }
            for i in 0..<n {
                let r = Int(liveRows[i])
                if parents[r] != r { (cache + r * maxSuffix * kvW).update(from: tmp + r * maxSuffix * kvW, count: rowN) }
            }
        }
        for l in 0..<L {
            permute(suffixK[l], reorder)
            permute(suffixV[l], reorder + R * maxSuffix * kvW)
        }
    }
}
