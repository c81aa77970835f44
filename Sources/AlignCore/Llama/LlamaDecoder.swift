// KV-cached incremental decoding of a LLaMA model (the `IncrementalDecoder` contract). A prompt's keys and
// values are computed once per group and shared by its `width` rows; each row owns only its continuation
// suffix, so reordering beams (`parents`) copies a few suffix positions, never a prompt. Memory is planned
// once for (maxGroups, maxWidth, maxPrompt, maxSuffix); step allocates nothing on the model side.
//
// Groups never read each other's state, so a call splits the batch into one shard of whole groups per
// worker (`Parallel.shards`): each shard runs its rows through every layer with single-threaded BLAS (one
// sgemm per projection over the shard's rows) and touches only its own rows of the working buffers
// (`Rows`), its groups' caches and scratch. One fork/join per call; a single group runs on the calling
// thread with the kernels' own parallelism. Prefill lives in LlamaDecoderPrefill.swift.
//
// Work nobody reads is skipped: prefill runs the last layer's query, attention, o_proj and MLP only for each
// prompt's last position (the other positions only feed the cache, i.e. that layer's keys/values), and with
// a `logitRange` the LM head multiplies only those vocabulary rows (e.g. 256 SID codes instead of 4096).
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
    // working buffers sized for max(prefill tokens, rows)
    let x: UnsafeMutablePointer<Float>, ln: UnsafeMutablePointer<Float>, qkv: UnsafeMutablePointer<Float>
    let att: UnsafeMutablePointer<Float>, gu: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>, reorder: UnsafeMutablePointer<Float>
    let rstd: UnsafeMutablePointer<Float>, logitsBuf: UnsafeMutablePointer<Float>
    let tok: UnsafeMutableBufferPointer<Int32>, pos: UnsafeMutableBufferPointer<Int32>
    let promptLengths: UnsafeMutableBufferPointer<Int>

    /// Plans memory for up to `maxGroups` prompts of ≤ `maxPrompt` tokens, `maxWidth` rows each, and
    /// ≤ `maxSuffix` steps. Positions must fit the rope table (maxPrompt + maxSuffix).
    public init(params: LlamaParameters, maxGroups: Int, maxWidth: Int, maxPrompt: Int, maxSuffix: Int) {
        precondition(maxGroups > 0 && maxWidth > 0 && maxPrompt > 0 && maxSuffix > 0)
        self.params = params
        self.maxGroups = maxGroups; self.maxWidth = maxWidth; self.maxPrompt = maxPrompt; self.maxSuffix = maxSuffix
        let c = params.config
        C = c.hiddenSize; H = c.numAttentionHeads; KV = c.numKeyValueHeads; hd = c.headDim
        W = (H + 2 * KV) * hd; F = c.intermediateSize; V = c.vocabSize; L = c.numHiddenLayers; kvW = KV * hd
        let R = maxGroups * maxWidth, N = max(maxGroups * maxPrompt, R)
        let promptCache = maxGroups * maxPrompt * kvW, suffixCache = R * maxSuffix * kvW
        let scratchN = max(maxGroups * H * maxPrompt * maxPrompt, maxGroups * H * maxWidth * (maxPrompt + maxSuffix))
        let total = L * 2 * (promptCache + suffixCache) + 2 * suffixCache
            + N * C * 2 + N * W + N * H * hd + N * 2 * F + N * F + scratchN + N + R * V
        arena = .allocate(capacity: total)
        arena.initialize(repeating: 0)
        var cur = arena.baseAddress!
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { defer { cur += n }; return cur }
        for _ in 0..<L {
            promptK.append(take(promptCache)); promptV.append(take(promptCache))
            suffixK.append(take(suffixCache)); suffixV.append(take(suffixCache))
        }
        reorder = take(2 * suffixCache)
        x = take(N * C); ln = take(N * C); qkv = take(N * W); att = take(N * H * hd)
        gu = take(N * 2 * F); h = take(N * F); scratch = take(scratchN)
        rstd = take(N); logitsBuf = take(R * V)
        precondition(cur == arena.baseAddress! + total)
        tok = .allocate(capacity: N); tok.initialize(repeating: 0)
        pos = .allocate(capacity: N); pos.initialize(repeating: 0)
        promptLengths = .allocate(capacity: maxGroups); promptLengths.initialize(repeating: 0)
        rope = RopeTable(headDim: hd, theta: c.ropeTheta, maxPositions: maxPrompt + maxSuffix)
    }

    deinit { arena.deallocate(); tok.deallocate(); pos.deallocate(); promptLengths.deallocate() }

    /// Starts a batch of `groups` prompts × `width` rows (prefill).
    func setBatch(groups: Int, width: Int) {
        self.groups = groups; self.width = width; suffixLength = 0
    }

    func checkToken(_ t: Int32, _ what: String) throws {
        guard t >= 0 && Int(t) < V else {
            throw AlignError.invalidArgument("\(what): token id \(t) is outside the vocabulary 0..<\(V)")
        }
    }

    /// The working buffers seen from packed row `r0` on (one shard's rows; shards never overlap).
    struct Rows {
        let x: UnsafeMutablePointer<Float>, ln: UnsafeMutablePointer<Float>, qkv: UnsafeMutablePointer<Float>
        let att: UnsafeMutablePointer<Float>, gu: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>
        let rstd: UnsafeMutablePointer<Float>, tok: UnsafeMutablePointer<Int32>, pos: UnsafeMutablePointer<Int32>
    }

    @inline(__always)
    func rows(from r0: Int) -> Rows {
        Rows(x: x + r0 * C, ln: ln + r0 * C, qkv: qkv + r0 * W, att: att + r0 * H * hd, gu: gu + r0 * 2 * F,
             h: h + r0 * F, rstd: rstd + r0, tok: tok.baseAddress! + r0, pos: pos.baseAddress! + r0)
    }

    /// Layer l's caches seen from group g0 (and its first row g0·width) on, with `suffixLength` suffix positions.
    @inline(__always)
    func cacheView(layer l: Int, fromGroup g0: Int, width: Int, suffixLength: Int) -> DecodeCacheView {
        let r0 = g0 * width
        return DecodeCacheView(promptK: promptK[l] + g0 * maxPrompt * kvW, promptV: promptV[l] + g0 * maxPrompt * kvW,
                               promptStride: maxPrompt, promptLengths: UnsafePointer(promptLengths.baseAddress! + g0),
                               suffixK: suffixK[l] + r0 * maxSuffix * kvW, suffixV: suffixV[l] + r0 * maxSuffix * kvW,
                               suffixStride: maxSuffix, suffixLength: suffixLength)
    }

    /// Number of shards for `groups` groups: one per worker, at most one per group.
    var shardCount: Int { max(1, min(Parallel.workers, groups)) }

    /// Residual + o_proj (attention output in b.att), then the SwiGLU block, in place on b.x for `n` rows.
    @inline(__always)
    func mlpBlock(_ b: Rows, n: Int, layer l: Int) {
        let pr = params.data.baseAddress!, o = params.layout.layers[l]
        sgemm(false, true, n, C, H * hd, 1, b.att, H * hd, pr + o.o, H * hd, 1, b.x, C)
        rmsnormForward(b.ln, b.rstd, b.x, pr + o.ln2, n, C, config.rmsNormEps)
        sgemm(false, true, n, 2 * F, C, 1, b.ln, C, pr + o.gateUp, C, 0, b.gu, 2 * F)
        swigluForward(b.h, b.gu, n, F)
        sgemm(false, true, n, C, F, 1, b.h, F, pr + o.down, F, 1, b.x, C)
    }

    /// Final norm + LM head over the first `n` rows of b.x into logits rows out0..<out0+n, for the vocabulary
    /// rows `range` of the head only: logits [·, range.count] (the head weight is [V, C]: those rows are contiguous).
    func head(_ b: Rows, n: Int, outRow out0: Int, _ range: Range<Int>) {
        let pr = params.data.baseAddress!, lay = params.layout, cols = range.count
        rmsnormForward(b.ln, b.rstd, b.x, pr + lay.finalNorm, n, C, config.rmsNormEps)
        sgemm(false, true, n, cols, C, 1, b.ln, C, pr + lay.lmHead + range.lowerBound * C, C, 0,
              logitsBuf + out0 * cols, cols)
    }

    /// The logits of `rows` rows written by `head` for `range`.
    func logits(rows: Int, _ range: Range<Int>) -> LogitRows {
        LogitRows(buffer: UnsafeBufferPointer(start: logitsBuf, count: rows * range.count), rowStride: range.count, tokens: range)
    }

    public func step(parents: [Int], tokens: [Int32]) throws -> UnsafeBufferPointer<Float> {
        try step(parents: parents, tokens: tokens, logitRange: 0..<V).buffer
    }

    public func step(parents: [Int], tokens: [Int32], logitRange: Range<Int>) throws -> LogitRows {
        try checkLogitRange(logitRange, vocabSize: V)
        let R = groups * width
        guard groups > 0 else { throw AlignError.invalidArgument("step called before prefill") }
        guard parents.count == R, tokens.count == R else {
            throw AlignError.invalidArgument("step: \(parents.count) parents / \(tokens.count) tokens for \(R) rows")
        }
        guard suffixLength < maxSuffix else {
            throw AlignError.invalidArgument("step: the planned \(maxSuffix) continuation tokens are used up")
        }
        for r in 0..<R {
            guard parents[r] >= 0, parents[r] < R, parents[r] / width == r / width else {
                throw AlignError.invalidArgument("step: parent \(parents[r]) of row \(r) is not a row of the same group")
            }
            try checkToken(tokens[r], "step row \(r)")
            tok[r] = tokens[r]
            pos[r] = Int32(promptLengths[r / width] + suffixLength)
        }
        let s = suffixLength
        suffixLength += 1
        // Groups are independent: each shard runs its groups' rows through every layer on its own worker.
        let shards = shardCount, width = self.width
        Parallel.shards(shards) { sh in
            let g0 = groups * sh / shards, g1 = groups * (sh + 1) / shards
            stepRows(g0 * width, g1 * width, group: g0, suffix: s, parents: parents, logitRange: logitRange)
        }
        return logits(rows: R, logitRange)
    }

    /// One step for rows r0..<r1 (whole groups from g0 on): suffix reorder, all layers, the head.
    func stepRows(_ r0: Int, _ r1: Int, group g0: Int, suffix s: Int, parents: [Int], logitRange: Range<Int>) {
        let n = r1 - r0, b = rows(from: r0), pr = params.data.baseAddress!, lay = params.layout
        reorderSuffixes(parents, r0, r1, positions: s)
        embeddingForward(b.x, b.tok, pr + lay.embed, n, C)
        for l in 0..<L {
            let o = lay.layers[l]
            rmsnormForward(b.ln, b.rstd, b.x, pr + o.ln1, n, C, config.rmsNormEps)
            sgemm(false, true, n, W, C, 1, b.ln, C, pr + o.qkv, C, 0, b.qkv, W)
            ropeForward(b.qkv, W, H + KV, b.pos, n, rope)
            for r in r0..<r1 {
                let src = qkv + r * W + H * hd, dst = (r * maxSuffix + s) * kvW
                (suffixK[l] + dst).update(from: src, count: kvW)
                (suffixV[l] + dst).update(from: src + kvW, count: kvW)
            }
            attentionStep(b.att, scratch + g0 * H * width * (maxPrompt + maxSuffix), b.qkv, W,
                          cacheView(layer: l, fromGroup: g0, width: width, suffixLength: s + 1),
                          groups: n / width, width: width, heads: H, kvHeads: KV, headDim: hd)
            mlpBlock(b, n: n, layer: l)
        }
        head(b, n: n, outRow: r0, logitRange)
    }

    /// Rows r0..<r1 take over row parents[r]'s suffix cache (its first S positions, every layer). Parents
    /// lie in the same group, hence in the same shard; the staging area `reorder` is indexed by row.
    func reorderSuffixes(_ parents: [Int], _ r0: Int, _ r1: Int, positions S: Int) {
        guard S > 0 else { return }
        let R = groups * width, rowN = S * kvW
        var moved = false
        for r in r0..<r1 where parents[r] != r { moved = true; break }
        guard moved else { return }
        func permute(_ cache: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>) {
            for r in r0..<r1 where parents[r] != r {
                (tmp + r * maxSuffix * kvW).update(from: cache + parents[r] * maxSuffix * kvW, count: rowN)
            }
            for r in r0..<r1 where parents[r] != r {
                (cache + r * maxSuffix * kvW).update(from: tmp + r * maxSuffix * kvW, count: rowN)
            }
        }
        for l in 0..<L {
            permute(suffixK[l], reorder)
            permute(suffixV[l], reorder + R * maxSuffix * kvW)
        }
    }
}
