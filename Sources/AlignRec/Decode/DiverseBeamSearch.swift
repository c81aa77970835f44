// Diverse beam search over the SID trie (Vijayakumar et al., "Diverse Beam Search", AAAI 2018), a decoding-time
// baseline for list diversity: the B beams of a prompt are split into D groups of W = B / D beams that search one
// after another at every step. A candidate of group d whose prefix (its trie node: the SID tokens so far) was kept
// by an earlier group at the same step is penalised by λ per such group, so groups spread over different first-level
// codes, then different prefixes below them (Hamming diversity on prefixes, the paper's best variant, with a
// prefix as the "token").
//
// Per step, prompt and group d in order: every candidate (beam, allowed edge) scores
//     s = s_beam + (logit − logsumexp over the allowed edges) − λ · n_<d(child),
// n_<d(child) the number of beams groups 0…d−1 kept on that node at this step; a candidate reaching an item goes into
// group d's finished pool (top K), the others compete for group d's W beams. A group stops when it has no beams, or
// its pool is full and its best beam cannot beat the pool's worst (penalties and log-probs only lower a score). The
// list takes the best ⌈K / D⌉ items of each group in turn (an item already taken is skipped), fills what is left with
// the best remaining items of any pool, and is sorted by the penalised scores, best first, as HF's group beam search
// ranks its hypotheses (`merge`). Every group thus reaches the list, not only the unpenalised group 0, and the list
// is K distinct items whenever K are reachable. With D = 1 this is plain beam search.
// Exclusions are those of ConstrainedBeamSearch; every row of every step is computed (no row skipping). Scratch is
// allocated once per call.
import Foundation

/// The search algorithm a `ShardedBeamSearch` runs on each worker's decoder.
public protocol TrieSearch: Sendable {
    /// Valid SIDs.
    var trie: SIDTrie { get }
    /// Top-`topK` distinct valid items per prompt (never in `exclude[g]`), best first, and the rows computed.
    func searchCounting(decoder: IncrementalDecoder, prompts: [[Int32]], beamWidth: Int, topK: Int,
                        exclude: [[Int]]?) throws -> (items: [[ScoredItem]], stats: BeamSearchStats)
}

extension ConstrainedBeamSearch: TrieSearch {}

/// Diverse beam search with `groups` groups and prefix penalty `penalty` (see the file header).
public struct DiverseBeamSearch: TrieSearch {
    public let trie: SIDTrie
    /// D.
    public let groups: Int
    /// λ.
    public let penalty: Float

    public init(trie: SIDTrie, groups: Int, penalty: Float) throws {
        guard groups >= 1 else { throw AlignError.invalidArgument("diverse beam search needs ≥ 1 group (got \(groups))") }
        guard penalty >= 0, penalty.isFinite else { throw AlignError.invalidArgument("the diversity penalty must be ≥ 0 (got \(penalty))") }
        self.trie = trie; self.groups = groups; self.penalty = penalty
    }

    public func searchCounting(decoder: IncrementalDecoder, prompts: [[Int32]], beamWidth B: Int, topK K: Int,
                               exclude: [[Int]]?) throws -> (items: [[ScoredItem]], stats: BeamSearchStats) {
        guard B >= 1, K >= 1 else { throw AlignError.invalidArgument("beam width and top-K must be ≥ 1 (got \(B), \(K))") }
        guard B % groups == 0 else {
            throw AlignError.invalidArgument("diverse beam search: beam width \(B) does not split into \(groups) groups")
        }
        let users = prompts.count, D = groups, W = B / D, rows = users * B
        if users == 0 { return ([], BeamSearchStats()) }
        var excl = TrieExclusions()
        try excl.reset(trie: trie, exclude: exclude, groups: users)
        let eStart = trie.edgeStart, eTok = trie.edgeTokens, eNode = trie.edgeNodes, nItem = trie.nodeItem
        let padToken = eTok[0]
        var rowNode = [Int32](repeating: 0, count: rows), rowScore = [Float](repeating: 0, count: rows)
        var nextNode = rowNode, nextScore = rowScore
        var parents = [Int](repeating: 0, count: rows), tokens = [Int32](repeating: padToken, count: rows)
        var active = [Int](repeating: 1, count: users * D)          // beams per (user, group); each starts at the root
        var poolItem = [Int32](repeating: 0, count: users * D * K), poolScore = [Float](repeating: 0, count: users * D * K)
        var poolCount = [Int](repeating: 0, count: users * D)
        let heapScore = UnsafeMutableBufferPointer<Float>.allocate(capacity: W)
        let heapKey = UnsafeMutableBufferPointer<Int64>.allocate(capacity: W)
        defer { heapScore.deallocate(); heapKey.deallocate() }
        var kept = [Float](repeating: 0, count: nItem.count)        // node → beams earlier groups kept there this step
        var keptNodes = [Int32](); keptNodes.reserveCapacity(B)      // the nodes to clear for the next prompt
        var computed = 0, slots = 0
        var logits = try decoder.prefill(prompts, width: B, logitRange: Int(eTok[Int(eStart[0])])..<Int(eTok[Int(eStart[1]) - 1]) + 1)
        var first = true
        while true {
            var anyActive = false
            for u in 0..<users {
                for n in keptNodes { kept[Int(n)] = 0 }
                keptNodes.removeAll(keepingCapacity: true)
                let hasExcl = !excl.isEmpty(group: u)
                let lp = logits.buffer.baseAddress!, stride = logits.rowStride, lo = logits.tokens.lowerBound
                for d in 0..<D {
                    let ud = u * D + d, base0 = u * B + d * W
                    var heapCount = 0
                    for j in 0..<active[ud] {
                        let r = base0 + j, node = Int(rowNode[r]), s0 = rowScore[r]
                        let base = (first ? u : r) * stride - lo
                        let e0 = Int(eStart[node]), e1 = Int(eStart[node + 1])
                        let touched = hasExcl && excl.remaining(group: u, node: Int32(node)) >= 0
                        var m = -Float.infinity
                        for e in e0..<e1 where !(touched && excl.remaining(group: u, node: eNode[e]) == 0) { m = max(m, lp[base + Int(eTok[e])]) }
                        if m == -.infinity { continue }                 // every continuation excluded
                        var sum: Float = 0
                        for e in e0..<e1 where !(touched && excl.remaining(group: u, node: eNode[e]) == 0) { sum += expf(lp[base + Int(eTok[e])] - m) }
                        let lse = m + logf(sum)
                        for e in e0..<e1 {
                            let child = eNode[e]
                            if touched && excl.remaining(group: u, node: child) == 0 { continue }
                            let s = s0 + (lp[base + Int(eTok[e])] - lse) - penalty * kept[Int(child)]
                            let item = nItem[Int(child)]
                            if item > 0 {
                                poolItem.withUnsafeMutableBufferPointer { pi in poolScore.withUnsafeMutableBufferPointer { ps in
                                    ConstrainedBeamSearch.poolInsert(item: item, score: s, items: pi.baseAddress! + ud * K,
                                                                     scores: ps.baseAddress! + ud * K, count: &poolCount[ud], capacity: K)
                                } }
                            } else {
                                ConstrainedBeamSearch.heapPush(score: s, key: Int64(j) << 32 | Int64(e), scores: heapScore, keys: heapKey,
                                                               count: &heapCount, capacity: W)
                            }
                        }
                    }
                    var n = heapCount
                    while n > 0 {   // heap → the group's beams, best first
                        let s = heapScore[0], key = heapKey[0]
                        ConstrainedBeamSearch.heapPopRoot(scores: heapScore, keys: heapKey, count: &n)
                        let j = Int(key >> 32), e = Int(key & 0xFFFF_FFFF), r = base0 + n
                        nextNode[r] = eNode[e]; nextScore[r] = s; parents[r] = base0 + j; tokens[r] = eTok[e]
                        if kept[Int(eNode[e])] == 0 { keptNodes.append(eNode[e]) }
                        kept[Int(eNode[e])] += 1
                    }
                    let full = poolCount[ud] == K
                    if heapCount == 0 || (full && nextScore[base0] <= poolScore[ud * K + K - 1]) {
                        active[ud] = 0
                    } else {
                        active[ud] = heapCount; anyActive = true
                    }
                }
            }
            if !anyActive { break }
            var lo = Int.max, hi = Int.min
            for u in 0..<users {
                for d in 0..<D {
                    let ud = u * D + d
                    for j in 0..<W {
                        let r = u * B + d * W + j
                        if j < active[ud] {
                            rowNode[r] = nextNode[r]; rowScore[r] = nextScore[r]
                            let node = Int(nextNode[r])
                            lo = min(lo, Int(eTok[Int(eStart[node])])); hi = max(hi, Int(eTok[Int(eStart[node + 1]) - 1]))
                        } else {
                            parents[r] = r; tokens[r] = padToken   // idle row
                        }
                    }
                }
            }
            first = false
            computed += rows; slots += rows
            logits = try decoder.step(parents: parents, tokens: tokens, logitRange: lo..<hi + 1)
        }
        var out: [[ScoredItem]] = []
        out.reserveCapacity(users)
        for u in 0..<users {
            let pools = (0..<D).map { d in
                (0..<poolCount[u * D + d]).map { ScoredItem(item: Int(poolItem[(u * D + d) * K + $0]), score: poolScore[(u * D + d) * K + $0]) }
            }
            out.append(Self.merge(pools: pools, k: K))
        }
        return (out, BeamSearchStats(prompts: users, stepRows: computed, rowSlots: slots))
    }

    /// The list of `k` distinct items from the groups' finished pools (each best first): every group in turn
    /// contributes its best ⌈k / D⌉ items not taken yet, remaining slots go to the best remaining items of any pool,
    /// and the list is sorted by score, best first (ties: the earlier group, then the earlier pool position). One
    /// pool: its first k items.
    public static func merge(pools: [[ScoredItem]], k: Int) -> [ScoredItem] {
        let quota = pools.isEmpty ? 0 : (k + pools.count - 1) / pools.count
        var taken = Set<Int>(), chosen: [(item: ScoredItem, order: Int)] = []
        func take(_ it: ScoredItem, _ order: Int) { if chosen.count < k, taken.insert(it.item).inserted { chosen.append((it, order)) } }
        for (d, pool) in pools.enumerated() {
            var n = 0
            for (j, it) in pool.enumerated() where n < quota && chosen.count < k && !taken.contains(it.item) {
                take(it, d * k + j); n += 1
            }
        }
        let rest = pools.enumerated().flatMap { d, pool in pool.enumerated().map { (item: $0.element, order: d * k + $0.offset) } }
            .sorted { $0.item.score != $1.item.score ? $0.item.score > $1.item.score : $0.order < $1.order }
        for r in rest { take(r.item, r.order) }
        return chosen.sorted { $0.item.score != $1.item.score ? $0.item.score > $1.item.score : $0.order < $1.order }.map(\.item)
    }
}
