// Trie-constrained beam search over an `IncrementalDecoder` (docs/design.md §7): many prompts (users) batched as
// groups of B rows, one token per beam per step through the KV cache, only the trie's allowed tokens scored,
// top-K distinct existing items by summed log-probability, optional per-prompt exclusions.
//
// Scoring (`.renormalized`, the default and docs/design.md §7): disallowed logits are −∞ before the softmax, so
// a token's log-prob is logit − logsumexp(logits of allowed tokens). This equals log-softmax over the full
// vocabulary followed by renormalisation over the allowed set (the full-vocabulary normaliser cancels), so
// it is computed over the allowed set only. Excluded items' subtrees count as disallowed. `.fullSoftmax`
// scores with the unrenormalised full-vocabulary log-softmax (what HF `prefix_allowed_tokens_fn` ranks by).
// Since renormalised scoring reads only allowed tokens, each decoder call asks for the logits of the token
// range spanned by the live beams' trie edges (one SID level's codes), not the whole vocabulary.
//
// Rows nobody reads are not computed (`skipRows`, on by default; renormalised scoring only for the third kind):
// idle rows of groups with fewer than B beams, groups that have stopped, and beams whose subtree holds a single
// allowed item. Such a beam's remaining steps are forced, each with renormalised log-prob exactly 0, so its
// score is final and its cache is never read again; it keeps its beam slot, so the beams, the pool and the
// result are those of computing every row (tested). On sparse tries (few items per deep prefix, e.g. 10k items
// over 4 × 256 codes) most beams are settled after two levels.
//
// Per step and group: candidates (beam, edge) are scored from the logits; a candidate reaching a leaf goes
// into the group's finished pool (top K kept), the others compete in a size-B min-heap; the heap's contents,
// best first, become the next beams. A group stops when it has no beams, or its pool is full and no beam
// can still beat the pool's worst (log-probs are ≤ 0, so scores only fall). With B ≥ the number of items
// nothing is pruned and the result is the exhaustive ranking. All scratch is allocated once per call.
import Foundation

/// An item with its summed log-probability.
public struct ScoredItem: Sendable, Equatable, Codable {
    /// Catalogue item index.
    public var item: Int
    /// Summed constrained log-probability of its SID.
    public var score: Float
    /// Plain memberwise init.
    public init(item: Int, score: Float) { self.item = item; self.score = score }
}

/// How constrained steps score tokens (see the file header).
public enum SIDScoring: String, Codable, Sendable {
    case renormalized
    case fullSoftmax = "full_softmax"
}

/// What a search asked of the decoder after prefill.
public struct BeamSearchStats: Sendable, Equatable {
    /// Prompts searched.
    public var prompts = 0
    /// Step rows computed (one token of one beam each).
    public var stepRows = 0
    /// Step rows a search computing every row of every step would have run (groups × width per step).
    public var rowSlots = 0
    public init(prompts: Int = 0, stepRows: Int = 0, rowSlots: Int = 0) {
        self.prompts = prompts; self.stepRows = stepRows; self.rowSlots = rowSlots
    }
    /// Sum of two searches' counts.
    public static func + (a: Self, b: Self) -> Self {
        Self(prompts: a.prompts + b.prompts, stepRows: a.stepRows + b.stepRows, rowSlots: a.rowSlots + b.rowSlots)
    }
}

/// Trie-constrained beam search. A value type holding only the trie: safe to share, no state between calls.
public struct ConstrainedBeamSearch: Sendable {
    /// Valid SIDs.
    public let trie: SIDTrie
    /// Renormalised (default) or full-softmax scores.
    public var scoring: SIDScoring
    /// Whether steps skip the rows whose logits are never read (idle rows, stopped groups, beams with one item
    /// left). Off: every row of every step is computed, as before this option existed (same results).
    public var skipRows: Bool

    /// A search over `trie`.
    public init(trie: SIDTrie, scoring: SIDScoring = .renormalized, skipRows: Bool = true) {
        self.trie = trie; self.scoring = scoring; self.skipRows = skipRows
    }

    /// Top-`topK` items per prompt, best first, each distinct, valid and not in `exclude[g]`; fewer when the
    /// trie (minus exclusions) has fewer items. `prompts` are token ids ([bos] + prompt); `beamWidth` = B.
    public func search(decoder: IncrementalDecoder, prompts: [[Int32]], beamWidth: Int, topK: Int,
                       exclude: [[Int]]? = nil) throws -> [[ScoredItem]] {
        try searchCounting(decoder: decoder, prompts: prompts, beamWidth: beamWidth, topK: topK, exclude: exclude).items
    }

    /// `search`, also reporting how many step rows the decoder was asked to compute.
    public func searchCounting(decoder: IncrementalDecoder, prompts: [[Int32]], beamWidth: Int, topK: Int,
                               exclude: [[Int]]? = nil) throws -> (items: [[ScoredItem]], stats: BeamSearchStats) {
        guard beamWidth >= 1, topK >= 1 else {
            throw AlignError.invalidArgument("beam width and top-K must be ≥ 1 (got \(beamWidth), \(topK))")
        }
        let groups = prompts.count
        if groups == 0 { return ([], BeamSearchStats()) }
        let B = beamWidth, K = topK, V = decoder.vocabSize, rows = groups * B
        var excl = TrieExclusions()
        try excl.reset(trie: trie, exclude: exclude, groups: groups)

        // Scratch, planned once for the whole search.
        let rowNode = UnsafeMutableBufferPointer<Int32>.allocate(capacity: rows)
        let rowScore = UnsafeMutableBufferPointer<Float>.allocate(capacity: rows)
        let nextNode = UnsafeMutableBufferPointer<Int32>.allocate(capacity: rows)
        let nextScore = UnsafeMutableBufferPointer<Float>.allocate(capacity: rows)
        let active = UnsafeMutableBufferPointer<Int>.allocate(capacity: groups)
        let heapScore = UnsafeMutableBufferPointer<Float>.allocate(capacity: B)
        let heapKey = UnsafeMutableBufferPointer<Int64>.allocate(capacity: B)
        let poolItem = UnsafeMutableBufferPointer<Int32>.allocate(capacity: groups * K)
        let poolScore = UnsafeMutableBufferPointer<Float>.allocate(capacity: groups * K)
        let poolCount = UnsafeMutableBufferPointer<Int>.allocate(capacity: groups)
        defer {
            rowNode.deallocate(); rowScore.deallocate(); nextNode.deallocate(); nextScore.deallocate()
            active.deallocate(); heapScore.deallocate(); heapKey.deallocate()
            poolItem.deallocate(); poolScore.deallocate(); poolCount.deallocate()
        }
        var parents = [Int](repeating: 0, count: rows)
        var tokens = [Int32](repeating: 0, count: rows)
        var live = [Bool](repeating: false, count: rows)
        var computedRows = 0, stepSlots = 0
        for g in 0..<groups {
            active[g] = 1; poolCount[g] = 0
            rowNode[g * B] = 0; rowScore[g * B] = 0
        }
        let eStart = trie.edgeStart, eTok = trie.edgeTokens, eNode = trie.edgeNodes, nItem = trie.nodeItem
        let padToken = eTok[0]
        let renorm = scoring == .renormalized

        var logits = renorm
            ? try decoder.prefill(prompts, width: B, logitRange: Int(eTok[Int(eStart[0])])..<Int(eTok[Int(eStart[1]) - 1]) + 1)
            : LogitRows(full: try decoder.prefill(prompts, width: B), vocabSize: V)
        var first = true
        while true {
            var anyActive = false
            for g in 0..<groups {
                let nb = active[g]
                if nb == 0 { continue }
                let hasExcl = !excl.isEmpty(group: g)
                let lp = logits.buffer.baseAddress!, lStride = logits.rowStride, lFirst = logits.tokens.lowerBound
                var heapCount = 0
                for j in 0..<nb {
                    let r = g * B + j
                    let node = Int(rowNode[r])
                    let base = (first ? g : r) * lStride - lFirst   // logit of token t: lp[base + t]
                    let e0 = Int(eStart[node]), e1 = Int(eStart[node + 1])
                    let touched = hasExcl && excl.remaining(group: g, node: Int32(node)) >= 0
                    let s0 = rowScore[r]
                    if renorm {
                        // A single allowed continuation has renormalised log-prob exactly 0: no logits are
                        // read (a row whose remaining subtree is one item is not even computed, see below).
                        var allowed = e1 - e0, only = e0
                        if touched {
                            allowed = 0
                            for e in e0..<e1 where excl.remaining(group: g, node: eNode[e]) != 0 { allowed += 1; only = e }
                        }
                        if allowed == 0 { continue }  // dead beam: every continuation excluded
                        if allowed == 1 {
                            let item = nItem[Int(eNode[only])]
                            if item > 0 {
                                Self.poolInsert(item: item, score: s0, items: poolItem.baseAddress! + g * K,
                                                scores: poolScore.baseAddress! + g * K, count: &poolCount[g], capacity: K)
                            } else {
                                Self.heapPush(score: s0, key: Int64(j) << 32 | Int64(only), scores: heapScore, keys: heapKey,
                                              count: &heapCount, capacity: B)
                            }
                            continue
                        }
                    }
                    // Normaliser over allowed (non-excluded) tokens, or the full row.
                    var m = -Float.infinity
                    if renorm {
                        for e in e0..<e1 {
                            if touched && excl.remaining(group: g, node: eNode[e]) == 0 { continue }
                            m = max(m, lp[base + Int(eTok[e])])
                        }
                    } else {
                        for v in 0..<V { m = max(m, lp[base + v]) }
                    }
                    if m == -.infinity { continue }  // dead beam: every continuation excluded
                    var sum: Float = 0
                    if renorm {
                        for e in e0..<e1 {
                            if touched && excl.remaining(group: g, node: eNode[e]) == 0 { continue }
                            sum += expf(lp[base + Int(eTok[e])] - m)
                        }
                    } else {
                        for v in 0..<V { sum += expf(lp[base + v] - m) }
                    }
                    let lse = m + logf(sum)
                    for e in e0..<e1 {
                        let child = eNode[e]
                        if touched && excl.remaining(group: g, node: child) == 0 { continue }
                        let s = s0 + (lp[base + Int(eTok[e])] - lse)
                        let item = nItem[Int(child)]
                        if item > 0 {
                            Self.poolInsert(item: item, score: s, items: poolItem.baseAddress! + g * K,
                                            scores: poolScore.baseAddress! + g * K, count: &poolCount[g], capacity: K)
                        } else {
                            let key = Int64(j) << 32 | Int64(e)
                            Self.heapPush(score: s, key: key, scores: heapScore, keys: heapKey, count: &heapCount, capacity: B)
                        }
                    }
                }
                // Heap → beams, best first (pop the worst into the last slot).
                var n = heapCount
                while n > 0 {
                    let s = heapScore[0], key = heapKey[0]
                    Self.heapPopRoot(scores: heapScore, keys: heapKey, count: &n)
                    let j = Int(key >> 32), e = Int(key & 0xFFFF_FFFF)
                    let r = g * B + n
                    nextNode[r] = eNode[e]; nextScore[r] = s
                    parents[r] = g * B + j; tokens[r] = eTok[e]
                }
                let full = poolCount[g] == K
                if heapCount == 0 || (full && nextScore[g * B] <= poolScore[g * K + K - 1]) {
                    active[g] = 0
                } else {
                    active[g] = heapCount
                    anyActive = true
                }
            }
            if !anyActive { break }
            // Rows to compute: active beams whose subtree still holds more than one allowed item. Under
            // renormalised scoring a beam with one item left only takes forced steps (log-prob 0), so its
            // logits are never read again; idle rows and stopped groups are never computed.
            var lo = Int.max, hi = Int.min   // token range spanned by the live beams' edges (sorted per node)
            var anyLive = false
            for g in 0..<groups {
                let hasExcl = !excl.isEmpty(group: g)
                for j in 0..<B {
                    let r = g * B + j
                    if j < active[g] {
                        rowNode[r] = nextNode[r]; rowScore[r] = nextScore[r]
                        let node = Int(nextNode[r])
                        var left = Int(trie.subtreeItems[node])
                        if hasExcl { let k = excl.remaining(group: g, node: Int32(node)); if k >= 0 { left = Int(k) } }
                        live[r] = !renorm || left > 1
                        if live[r] {
                            anyLive = true
                            lo = min(lo, Int(eTok[Int(eStart[node])])); hi = max(hi, Int(eTok[Int(eStart[node + 1]) - 1]))
                        }
                    } else {
                        parents[r] = r; tokens[r] = padToken   // idle row
                        live[r] = false
                    }
                }
            }
            first = false
            if !skipRows {   // every row computed; the logit range stays what the reading rows need
                for r in 0..<rows { live[r] = true }
                if !anyLive { lo = Int(padToken); hi = lo; anyLive = true }
            }
            computedRows += live.reduce(0) { $1 ? $0 + 1 : $0 }
            stepSlots += rows
            // Every beam forced: the next scoring reads no logits, so the decoder is not called.
            if !anyLive { continue }
            logits = renorm
                ? try decoder.step(parents: parents, tokens: tokens, logitRange: lo..<hi + 1, live: skipRows ? live : nil)
                : LogitRows(full: try decoder.step(parents: parents, tokens: tokens), vocabSize: V)
        }
        var out: [[ScoredItem]] = []
        out.reserveCapacity(groups)
        for g in 0..<groups {
            out.append((0..<poolCount[g]).map { ScoredItem(item: Int(poolItem[g * K + $0]), score: poolScore[g * K + $0]) })
        }
        return (out, BeamSearchStats(prompts: groups, stepRows: computedRows, rowSlots: stepSlots))
    }

    // MARK: - Fixed-capacity selection (no allocation)

    /// Keeps the `capacity` best (score desc, earlier insertion first on ties) in a sorted array.
    @inline(__always)
    static func poolInsert(item: Int32, score: Float, items: UnsafeMutablePointer<Int32>,
                           scores: UnsafeMutablePointer<Float>, count: inout Int, capacity: Int) {
        if count == capacity && !(score > scores[capacity - 1]) { return }
        var i = count == capacity ? capacity - 1 : count
        if count < capacity { count += 1 }
        while i > 0 && scores[i - 1] < score {
            scores[i] = scores[i - 1]; items[i] = items[i - 1]; i -= 1
        }
        scores[i] = score; items[i] = item
    }

    /// a is worse than b: lower score, or equal score and larger key (later candidate).
    @inline(__always)
    static func worse(_ sa: Float, _ ka: Int64, _ sb: Float, _ kb: Int64) -> Bool {
        sa < sb || (sa == sb && ka > kb)
    }

    /// Min-heap (root = worst) of at most `capacity` candidates.
    @inline(__always)
    static func heapPush(score: Float, key: Int64, scores: UnsafeMutableBufferPointer<Float>,
                         keys: UnsafeMutableBufferPointer<Int64>, count: inout Int, capacity: Int) {
        if count < capacity {
            var i = count
            count += 1
            while i > 0 {
                let p = (i - 1) >> 1
                if worse(score, key, scores[p], keys[p]) {
                    scores[i] = scores[p]; keys[i] = keys[p]; i = p
                } else { break }
            }
            scores[i] = score; keys[i] = key
        } else if worse(scores[0], keys[0], score, key) {
            siftDown(score: score, key: key, scores: scores, keys: keys, count: count)
        }
    }

    /// Removes the root (worst) element.
    @inline(__always)
    static func heapPopRoot(scores: UnsafeMutableBufferPointer<Float>, keys: UnsafeMutableBufferPointer<Int64>, count: inout Int) {
        count -= 1
        if count > 0 { siftDown(score: scores[count], key: keys[count], scores: scores, keys: keys, count: count) }
    }

    /// Places (score, key) at the root and restores the heap over `count` elements.
    @inline(__always)
    static func siftDown(score: Float, key: Int64, scores: UnsafeMutableBufferPointer<Float>,
                         keys: UnsafeMutableBufferPointer<Int64>, count: Int) {
        var i = 0
        while true {
            let l = 2 * i + 1
            if l >= count { break }
            var c = l
            let r = l + 1
            if r < count && worse(scores[r], keys[r], scores[l], keys[l]) { c = r }
            if worse(scores[c], keys[c], score, key) {
                scores[i] = scores[c]; keys[i] = keys[c]; i = c
            } else { break }
        }
        scores[i] = score; keys[i] = key
    }
}
