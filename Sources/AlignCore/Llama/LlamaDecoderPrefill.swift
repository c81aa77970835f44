// LlamaDecoder.prefill: runs the packed prompts (prompt g at rows starts[g] ..< starts[g] + lengths[g] of the
// working buffers), fills every layer's prompt key/value cache and returns the next-token logits of each
// prompt's last position. Prompts are independent, so each shard (a run of whole prompts, balanced by token
// count) goes through all layers on its own worker. The last layer computes keys/values for every position
// (the cache) but query, attention, o_proj and MLP only for each prompt's last position: nothing else reads them.
import Foundation

extension LlamaDecoder {
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
        let groups = prompts.count
        setBatch(groups: groups, width: width)
        // Shard boundaries: group g starts shard s once the tokens before it reach s/shards of the total.
        let shards = shardCount
        var bounds = [0]
        for g in 1..<groups where bounds.count < shards && starts[g] * shards >= n * bounds.count { bounds.append(g) }
        bounds.append(groups)
        Parallel.shards(bounds.count - 1) { sh in
            let g0 = bounds[sh], g1 = bounds[sh + 1]
            prefillGroups(g0, g1, starts: Array(starts[g0..<g1]), lengths: Array(lengths[g0..<g1]), logitRange: logitRange)
        }
        return logits(rows: groups, logitRange)
    }

    /// Prompts g0..<g1 (their `starts` are absolute packed rows) through every layer; logits rows g0..<g1.
    func prefillGroups(_ g0: Int, _ g1: Int, starts: [Int], lengths: [Int], logitRange: Range<Int>) {
        let r0 = starts[0], n = starts[starts.count - 1] + lengths[lengths.count - 1] - r0
        let b = rows(from: r0), pr = params.data.baseAddress!, lay = params.layout
        embeddingForward(b.x, b.tok, pr + lay.embed, n, C)
        for l in 0..<(L - 1) {
            let o = lay.layers[l]
            rmsnormForward(b.ln, b.rstd, b.x, pr + o.ln1, n, C, config.rmsNormEps)
            sgemm(false, true, n, W, C, 1, b.ln, C, pr + o.qkv, C, 0, b.qkv, W)
            ropeForward(b.qkv, W, H + KV, b.pos, n, rope)
            attentionPrefill(att, scratch + g0 * H * maxPrompt * maxPrompt, qkv, starts, lengths,
                             heads: H, kvHeads: KV, headDim: hd, maxLen: maxPrompt)
            storePromptKV(layer: l, group: g0, starts: starts, lengths: lengths)
            mlpBlock(b, n: n, layer: l)
        }
        lastLayer(b, n: n, group: g0, starts: starts, lengths: lengths)
        head(b, n: g1 - g0, outRow: g0, logitRange)
    }

    /// Copies the roped keys/values of prompts g0, g0+1, … (qkv rows from starts[i]) into layer l's cache.
    func storePromptKV(layer l: Int, group g0: Int, starts: [Int], lengths: [Int]) {
        for i in 0..<starts.count {
            for t in 0..<lengths[i] {
                let src = qkv + (starts[i] + t) * W + H * hd, dst = ((g0 + i) * maxPrompt + t) * kvW
                (promptK[l] + dst).update(from: src, count: kvW)
                (promptV[l] + dst).update(from: src + kvW, count: kvW)
            }
        }
    }

    /// The last layer over this shard's n packed rows b: keys/values of every position into the cache, then
    /// query, attention (one query per prompt against its cached keys: a width-1 step with no suffix),
    /// o_proj and MLP for each prompt's last position only. Leaves those hidden states in b rows 0..<prompts.
    func lastLayer(_ b: Rows, n: Int, group g0: Int, starts: [Int], lengths: [Int]) {
        let l = L - 1, pr = params.data.baseAddress!, o = params.layout.layers[l], qW = H * hd, r0 = starts[0]
        let m = starts.count
        rmsnormForward(b.ln, b.rstd, b.x, pr + o.ln1, n, C, config.rmsNormEps)
        // K and V columns of qkv[n, W] only: rows qW..<W of the [W, C] projection.
        sgemm(false, true, n, 2 * kvW, C, 1, b.ln, C, pr + o.qkv + qW * C, C, 0, b.qkv + qW, W)
        ropeForward(b.qkv + qW, W, KV, b.pos, n, rope)
        storePromptKV(layer: l, group: g0, starts: starts, lengths: lengths)
        // Gather prompt i's last position into shard row i of ln and x. In place is safe: its source row
        // starts[i] + lengths[i] − 1 − r0 is ≥ i, and every later prompt's source lies beyond row i.
        for i in 0..<m {
            let src = starts[i] + lengths[i] - 1 - r0
            if src != i {
                (b.ln + i * C).update(from: b.ln + src * C, count: C)
                (b.x + i * C).update(from: b.x + src * C, count: C)
            }
            b.pos[i] = Int32(lengths[i] - 1)
        }
        // Queries of those rows into qkv rows 0..<m (their K/V columns are already in the cache).
        sgemm(false, true, m, qW, C, 1, b.ln, C, pr + o.qkv, C, 0, b.qkv, W)
        ropeForward(b.qkv, W, H, b.pos, m, rope)
        attentionStep(b.att, scratch + g0 * H * (maxPrompt + maxSuffix), b.qkv, W,
                      cacheView(layer: l, fromGroup: g0, width: 1, suffixLength: 0),
                      groups: m, width: 1, heads: H, kvHeads: KV, headDim: hd)
        mlpBlock(b, n: m, layer: l)
    }
}
