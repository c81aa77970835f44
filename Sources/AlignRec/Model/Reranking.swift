// Decoding-time remedies for list diversity, the baselines a goal reward has to beat (docs/alignment.md, "Goals"):
//
//   MMR (Carbonell & Goldstein 1998): the model's top `pool` items are re-ranked greedily; step t picks
//       argmax_{i ∉ S} λ · rel(i) − (1 − λ) · max_{j ∈ S} sim(i, j)
//   with rel(i) = (s_i − min s) / (max s − min s) over the pool (s the score the model ranks by: the item-memory mix
//   or the SID log-prob; 1 for every item when all are equal), sim(i, j) = (shared SID prefix length) / L, and S the
//   items picked so far; ties go to the better-ranked item. λ = 1 keeps the model's order: a SID-only model's plain
//   list; with item memory, the first k of the mix's top-`pool` list (the mix scores items outside the beam with the
//   pool's lowest SID score, so the pool size can move them). λ = 0 spreads the list over first-level codes first.
//   Only the pool's items are re-ranked, so the list is valid, distinct and free of history items as the pool is.
//   Diverse beam search (DiverseBeamSearch.swift): B beams in D groups with a penalty λ on prefixes earlier groups
//   kept; the list takes each group's best ⌈k / D⌉ items. For a model with item memory the mix then ranks the diverse
//   beam's items only (the head's own top items are not added), so the diversity of the pool reaches the list. Each
//   group searches with B / D beams, so a list can be shorter than k where plain beam search of width B fills it.
import Foundation

/// How a recommender turns the model's scores into a list.
public enum Reranking: Sendable, Equatable {
    /// The model's own ranking.
    case none
    /// MMR over the top `pool` items with trade-off λ.
    case mmr(lambda: Double, pool: Int)
    /// Diverse beam search with `groups` groups and prefix penalty λ.
    case diverseBeam(groups: Int, penalty: Float)

    /// Checks the values against a beam width and list length.
    public func validate(beam: Int, k: Int) throws {
        switch self {
        case .none: return
        case let .mmr(lambda, pool):
            guard lambda >= 0, lambda <= 1 else { throw AlignError.invalidArgument("MMR λ \(lambda) outside [0, 1]") }
            guard pool >= k else { throw AlignError.invalidArgument("the MMR pool (\(pool)) must hold at least the \(k) items asked for") }
        case let .diverseBeam(groups, penalty):
            guard groups >= 2, beam % groups == 0 else {
                throw AlignError.invalidArgument("diverse beam search needs ≥ 2 groups that divide the beam width \(beam) (got \(groups))")
            }
            guard penalty >= 0, penalty.isFinite else { throw AlignError.invalidArgument("the diversity penalty must be ≥ 0 (got \(penalty))") }
        }
    }

    /// "mmr λ 0.7 pool 50", "diverse beam 4 groups λ 1", or "none".
    public var description: String {
        switch self {
        case .none: "none"
        case let .mmr(l, p): String(format: "mmr λ %g pool %d", l, p)
        case let .diverseBeam(g, p): String(format: "diverse beam %d groups λ %g", g, Double(p))
        }
    }
}

/// MMR over lists, with SID-prefix similarity.
public struct MMRReranker: Sendable {
    public let lambda: Double
    /// SID codes of item i at index i (index 0 unused).
    let codes: [[Int]]

    public init(lambda: Double, codes: [[Int]]) { self.lambda = lambda; self.codes = codes }

    /// The codes of every catalogue item of a SID map.
    public init(lambda: Double, sidMap: SIDMap) {
        self.init(lambda: lambda, codes: [[]] + (1...max(1, sidMap.count)).map { sidMap.codes(for: $0) ?? [] })
    }

    /// (shared prefix length) / L of two items.
    public func similarity(_ a: Int, _ b: Int) -> Double {
        let x = codes[a], y = codes[b]
        let L = max(x.count, y.count)
        guard L > 0 else { return 0 }
        var n = 0
        while n < min(x.count, y.count) && x[n] == y[n] { n += 1 }
        return Double(n) / Double(L)
    }

    /// The first `k` items of `list` (best first) in MMR order, with their original scores.
    public func rerank(_ list: [ScoredItem], k: Int) -> [ScoredItem] {
        guard !list.isEmpty else { return [] }
        let hi = list.map(\.score).max()!, lo = list.map(\.score).min()!
        let rel = list.map { hi > lo ? Double($0.score - lo) / Double(hi - lo) : 1 }
        var left = Array(list.indices), out: [ScoredItem] = []
        var maxSim = [Double](repeating: 0, count: list.count)
        while out.count < k && !left.isEmpty {
            var best = 0, bestValue = -Double.infinity
            for (p, i) in left.enumerated() {
                let v = lambda * rel[i] - (1 - lambda) * (out.isEmpty ? 0 : maxSim[i])
                if v > bestValue { best = p; bestValue = v }
            }
            let pick = left.remove(at: best)
            out.append(list[pick])
            for i in left { maxSim[i] = max(maxSim[i], similarity(list[i].item, list[pick].item)) }
        }
        return out
    }
}
