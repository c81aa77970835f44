// Ranking with item memory: the trie-constrained beam proposes items with their SID log-probabilities and the item
// head scores the whole catalogue; an item's score is
//     s_i = log p_head(i) + w · log p_SID(i),
// where items outside the beam's pool take the pool's lowest SID score (an upper bound of theirs). w = 0 ranks by
// the item head alone; w is chosen on validation (SFT tries `item_memory.sid_weights` at every validation).
//
// Exactness with few candidates: outside the beam pool every item gets the same SID term, so their order is the head's
// order; the top k of any mix therefore lies in (beam pool) ∪ (head top k). `HybridCandidates` keeps exactly those,
// so any w can be ranked afterwards without decoding again.
import AlignCore
import Foundation

/// The candidates of one request from which every mix ranks exactly (see the file header).
public struct HybridCandidates: Sendable, Equatable {
    /// Beam pool: items with their summed SID log-probs, best first.
    public var beam: [ScoredItem]
    /// Item-head log-prob of each beam item (same order).
    public var beamHead: [Float]
    /// Head top k over the catalogue (excluded items left out), best first, with head log-probs.
    public var head: [ScoredItem]

    public init(beam: [ScoredItem], beamHead: [Float], head: [ScoredItem]) {
        self.beam = beam; self.beamHead = beamHead; self.head = head
    }

    /// Collects the candidates from the head's log-probs over the catalogue (`logp[i − 1]` for item i).
    public init(beam: [ScoredItem], headLogProbs logp: UnsafeBufferPointer<Float>, exclude: Set<Int>, k: Int) {
        self.beam = beam
        beamHead = beam.map { logp[$0.item - 1] }
        head = HybridCandidates.topK(logp, exclude: exclude, k: k)
    }

    /// Top `k` of the mix with SID weight `w`, best first; ties go to the smaller item index. `poolOnly` ranks the beam
    /// pool's items alone (diverse beam search: the head's own top items are left out).
    public func ranked(sidWeight w: Float, k: Int, poolOnly: Bool = false) -> [ScoredItem] {
        let floor = beam.map(\.score).min() ?? 0
        var score: [Int: Float] = [:]
        for (b, h) in zip(beam, beamHead) { score[b.item] = h + w * b.score }
        if !poolOnly { for h in head where score[h.item] == nil { score[h.item] = h.score + w * floor } }
        return score.map { ScoredItem(item: $0.key, score: $0.value) }
            .sorted { $0.score != $1.score ? $0.score > $1.score : $0.item < $1.item }
            .prefix(k).map { $0 }
    }

    /// The `k` largest of logp (item i at i − 1), skipping `exclude`; ties to the smaller index.
    static func topK(_ logp: UnsafeBufferPointer<Float>, exclude: Set<Int>, k: Int) -> [ScoredItem] {
        var top: [ScoredItem] = []
        top.reserveCapacity(k + 1)
        for i in 0..<logp.count where !exclude.contains(i + 1) {
            let s = logp[i]
            if top.count == k, let last = top.last, !(s > last.score) { continue }
            var j = top.count
            top.append(ScoredItem(item: i + 1, score: s))
            while j > 0 && top[j - 1].score < s { top[j] = top[j - 1]; j -= 1 }
            top[j] = ScoredItem(item: i + 1, score: s)
            if top.count > k { top.removeLast() }
        }
        return top
    }
}
