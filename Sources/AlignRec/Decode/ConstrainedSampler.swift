// Trie-constrained sampling over an `IncrementalDecoder`: G samples per prompt (GRPO rollouts, diversity)
// drawn with temperature from the renormalised distribution over the trie's allowed tokens (excluded items'
// subtrees removed), and greedy constrained decoding (temperature 0). Every sample is a valid item.
// Samples of one prompt are independent (they may repeat an item); the seeded `Rng` makes runs repeatable.
import Foundation

/// One constrained sample.
public struct ConstrainedSample: Sendable, Equatable {
    /// The item reached.
    public var item: Int
    /// The tokens emitted (the item's SID path).
    public var tokens: [Int32]
    /// Σ log p of the emitted tokens under the distribution sampled from (temperature-scaled logits
    /// renormalised over allowed tokens; for greedy, temperature 1).
    public var logProb: Float
}

/// Trie-constrained temperature sampling and greedy decoding.
public struct ConstrainedSampler: Sendable {
    /// Valid SIDs.
    public let trie: SIDTrie

    /// A sampler over `trie`.
    public init(trie: SIDTrie) { self.trie = trie }

    /// `samplesPerPrompt` samples for each prompt; `temperature` 0 = greedy (ties → smallest token).
    /// Throws when a prompt's exclusions remove every item.
    public func sample(decoder: IncrementalDecoder, prompts: [[Int32]], samplesPerPrompt: Int, temperature: Float,
                       rng: inout Rng, exclude: [[Int]]? = nil) throws -> [[ConstrainedSample]] {
        guard samplesPerPrompt >= 1 else { throw AlignError.invalidArgument("samples per prompt must be ≥ 1 (got \(samplesPerPrompt))") }
        guard temperature >= 0, temperature.isFinite else { throw AlignError.invalidArgument("temperature must be ≥ 0 (got \(temperature))") }
        let groups = prompts.count
        if groups == 0 { return [] }
        let G = samplesPerPrompt, V = decoder.vocabSize, rows = groups * G
        var excl = TrieExclusions()
        try excl.reset(trie: trie, exclude: exclude, groups: groups)
        let rowNode = UnsafeMutableBufferPointer<Int32>.allocate(capacity: rows)
        let rowLogProb = UnsafeMutableBufferPointer<Float>.allocate(capacity: rows)
        let weights = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, trie.maxFanout))
        defer { rowNode.deallocate(); rowLogProb.deallocate(); weights.deallocate() }
        var parents = Array(0..<rows)
        var tokens = [Int32](repeating: trie.edgeTokens[0], count: rows)
        for r in 0..<rows { rowNode[r] = 0; rowLogProb[r] = 0 }
        let eStart = trie.edgeStart, eTok = trie.edgeTokens, eNode = trie.edgeNodes, nItem = trie.nodeItem
        let invT: Float = temperature > 0 ? 1 / temperature : 1

        var logits = try decoder.prefill(prompts, width: G)
        var depth = 0
        while true {
            var anyOpen = false
            for r in 0..<rows {
                let node = Int(rowNode[r])
                parents[r] = r
                if nItem[node] > 0 { tokens[r] = eTok[0]; continue }    // finished: idle row
                let g = r / G
                let base = (depth == 0 ? g : r) * V
                let e0 = Int(eStart[node]), e1 = Int(eStart[node + 1])
                let touched = !excl.isEmpty(group: g) && excl.remaining(group: g, node: Int32(node)) >= 0
                var m = -Float.infinity
                var best = -1
                for e in e0..<e1 {
                    if touched && excl.remaining(group: g, node: eNode[e]) == 0 { weights[e - e0] = -.infinity; continue }
                    let z = logits[base + Int(eTok[e])] * invT
                    weights[e - e0] = z
                    if z > m { m = z; best = e }
                }
                guard best >= 0 else {
                    throw AlignError.invalidArgument("prompt \(g): every item is excluded; nothing to sample")
                }
                var sum: Float = 0
                for i in 0..<(e1 - e0) {
                    let w = weights[i] == -.infinity ? 0 : expf(weights[i] - m)
                    weights[i] = w; sum += w
                }
                var pick = best
                if temperature > 0 {
                    let u = rng.uniformFloat() * sum
                    var acc: Float = 0
                    pick = -1
                    for i in 0..<(e1 - e0) where weights[i] > 0 {
                        acc += weights[i]
                        pick = e0 + i
                        if u < acc { break }
                    }
                }
                rowLogProb[r] += logf(weights[pick - e0] / sum)
                rowNode[r] = eNode[pick]
                tokens[r] = eTok[pick]
                if nItem[Int(eNode[pick])] == 0 { anyOpen = true }
            }
            depth += 1
            if !anyOpen { break }
            logits = try decoder.step(parents: parents, tokens: tokens)
        }
        var out: [[ConstrainedSample]] = []
        out.reserveCapacity(groups)
        for g in 0..<groups {
            var list: [ConstrainedSample] = []
            for j in 0..<G {
                let r = g * G + j
                let node = Int(rowNode[r])
                let path = trie.tokens(of: Int(nItem[node]))!
                list.append(ConstrainedSample(item: Int(nItem[node]), tokens: path, logProb: rowLogProb[r]))
            }
            out.append(list)
        }
        return out
    }

    /// Greedy constrained decoding: one item per prompt, argmax of the allowed tokens at each step.
    public func greedy(decoder: IncrementalDecoder, prompts: [[Int32]], exclude: [[Int]]? = nil) throws -> [ConstrainedSample] {
        var rng = Rng(seed: 0)   // unused at temperature 0
        return try sample(decoder: decoder, prompts: prompts, samplesPerPrompt: 1, temperature: 0,
                          rng: &rng, exclude: exclude).map { $0[0] }
    }
}
