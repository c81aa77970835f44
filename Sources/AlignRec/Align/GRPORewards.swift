// GRPO rewards for one group of G completions (items) of a prompt whose true next item is `target`
// (docs/design.md §8), and the weighted mix the config asks for.
//
//   rule      r_i = 1 if items[i] == target else 0.
//   ranking   MiniOneRec's rank-aware reward: rule plus, in a group that contains the target, a penalty
//             p_i = −(1/log2(i+2)) / Σ_{j=0}^{G−1} 1/log2(j+2) for every wrong item at 0-based rank i; in a
//             group without a hit every reward is 0. The normaliser runs over the G rank slots of the group
//             (not only the wrong ones), so the penalties of a full group of wrong items would sum to −1 and a
//             wrong item ranked first costs most. Beam rollouts are ranked by beam order (best first); sampled
//             rollouts by their sampled log-prob (best first, ties by sample order).
//   semantic  r_i = cos(e_items[i], e_target) of the item embeddings (1 for the target itself).
//   future    graded relevance from the user's own later training items: 1 for the target, decay^d for the
//             item the user consumed d positions after the target (1 ≤ d ≤ window, training positions only, so
//             no validation or test target is ever a reward), 0 otherwise. MovieLens users rate many films in
//             one sitting (84% of consecutive ratings ≤ 1 minute apart, scripts/rating-gaps), so the order of
//             nearby items is weak evidence; this reward credits the model for ranking what the user watched next-but-one instead of penalising it like any wrong item.
//   longtail, diversity, coverage: the goal rewards of GoalRewards.swift (recommendation prompts only).
// A mix is Σ_k w_k r_k over the kinds with a weight; `ranking` already contains `rule`, so a typical mix is
// ranking alone, or ranking + a small weight of another kind (`ranking=1,longtail=0.3`).
import Foundation

/// The reward kinds.
public enum GRPORewardKind: String, Codable, Sendable, CaseIterable {
    case rule, ranking, semantic, future, longtail, diversity, coverage
}

/// Weights of the reward kinds (keys rule/ranking/semantic/future/longtail/diversity/coverage, missing = 0).
public struct RewardMix: Codable, Sendable, Equatable {
    /// Weight of the rule reward.
    public var rule: Double
    /// Weight of the ranking reward (which includes rule).
    public var ranking: Double
    /// Weight of the semantic reward.
    public var semantic: Double
    /// Weight of the future reward.
    public var future: Double
    /// Weights of the goal rewards (GoalRewards.swift).
    public var longtail: Double
    public var diversity: Double
    public var coverage: Double

    /// A mix with the given weights.
    public init(rule: Double = 0, ranking: Double = 0, semantic: Double = 0, future: Double = 0, longtail: Double = 0,
                diversity: Double = 0, coverage: Double = 0) {
        self.rule = rule; self.ranking = ranking; self.semantic = semantic; self.future = future
        self.longtail = longtail; self.diversity = diversity; self.coverage = coverage
    }

    enum CodingKeys: String, CodingKey { case rule, ranking, semantic, future, longtail, diversity, coverage }

    /// Missing keys are 0.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rule = try c.decodeIfPresent(Double.self, forKey: .rule) ?? 0
        ranking = try c.decodeIfPresent(Double.self, forKey: .ranking) ?? 0
        semantic = try c.decodeIfPresent(Double.self, forKey: .semantic) ?? 0
        future = try c.decodeIfPresent(Double.self, forKey: .future) ?? 0
        longtail = try c.decodeIfPresent(Double.self, forKey: .longtail) ?? 0
        diversity = try c.decodeIfPresent(Double.self, forKey: .diversity) ?? 0
        coverage = try c.decodeIfPresent(Double.self, forKey: .coverage) ?? 0
    }

    /// Every kind with its weight, in declaration order.
    public var weights: [(kind: GRPORewardKind, weight: Double)] {
        [(.rule, rule), (.ranking, ranking), (.semantic, semantic), (.future, future), (.longtail, longtail),
         (.diversity, diversity), (.coverage, coverage)]
    }

    /// Parses one kind (weight 1) or a list `ranking=1,longtail=0.3`.
    public static func parse(_ text: String) throws -> RewardMix {
        var mix = RewardMix()
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let kind = GRPORewardKind(rawValue: kv[0]) else {
                throw AlignError.invalidArgument("unknown reward '\(kv[0])' in '\(text)'; use \(GRPORewardKind.allCases.map(\.rawValue).joined(separator: ", ")) or e.g. ranking=1,longtail=0.3")
            }
            var w = 1.0
            if kv.count == 2 {
                guard let v = Double(kv[1]), v.isFinite, v >= 0 else {
                    throw AlignError.invalidArgument("reward weight '\(kv[1])' for \(kv[0]) is not a number ≥ 0")
                }
                w = v
            }
            switch kind {
            case .rule: mix.rule = w
            case .ranking: mix.ranking = w
            case .semantic: mix.semantic = w
            case .future: mix.future = w
            case .longtail: mix.longtail = w
            case .diversity: mix.diversity = w
            case .coverage: mix.coverage = w
            }
        }
        try mix.validate()
        return mix
    }

    /// Weights must be finite, ≥ 0, and at least one positive.
    public func validate() throws {
        let ws = weights.map(\.weight)
        guard ws.allSatisfy({ $0.isFinite && $0 >= 0 }), ws.contains(where: { $0 > 0 }) else {
            throw AlignError.invalidArgument("reward mix needs weights ≥ 0 with at least one positive (got \(weights.map { "\($0.kind.rawValue) \($0.weight)" }.joined(separator: ", ")))")
        }
    }

    /// Whether a goal reward (and so the goal catalogue) is needed.
    public var needsCatalogue: Bool { longtail > 0 || diversity > 0 || coverage > 0 }

    /// Whether the semantic reward (and so item embeddings) is needed.
    public var needsEmbeddings: Bool { semantic > 0 }

    /// Short text such as "ranking=1,semantic=0.5".
    public var description: String {
        weights.filter { $0.weight > 0 }.map { "\($0.kind.rawValue)=\($0.weight)" }.joined(separator: ",")
    }
}

/// Reward functions over one group (items in rank order, best first).
public enum GRPORewards {
    /// 1 for the target, 0 otherwise.
    public static func rule(items: [Int], target: Int) -> [Double] {
        items.map { $0 == target ? 1 : 0 }
    }

    /// The rank penalties p_i = −(1/log2(i+2)) / Σ_{j<G} 1/log2(j+2), i = 0..<G.
    public static func rankPenalties(groupSize g: Int) -> [Double] {
        let d = (0..<g).map { 1 / log2(Double($0) + 2) }
        let s = d.reduce(0, +)
        return d.map { -$0 / s }
    }

    /// rule + rank penalty on wrong items, only in groups with a hit (all 0 without one).
    public static func ranking(items: [Int], target: Int) -> [Double] {
        guard items.contains(target) else { return [Double](repeating: 0, count: items.count) }
        let p = rankPenalties(groupSize: items.count)
        return items.indices.map { items[$0] == target ? 1 : p[$0] }
    }

    /// Cosine of each item's embedding to the target's (row i of `embeddings` = item i+1).
    public static func semantic(items: [Int], target: Int, embeddings: ItemEmbeddings) throws -> [Double] {
        func row(_ i: Int) throws -> ArraySlice<Float> {
            guard i >= 1 && i <= embeddings.count else {
                throw AlignError.invalidArgument("item \(i) has no embedding (the file holds items 1...\(embeddings.count))")
            }
            return embeddings.vectors[((i - 1) * embeddings.dim)..<(i * embeddings.dim)]
        }
        func norm(_ v: ArraySlice<Float>) -> Double { sqrt(v.reduce(0) { $0 + Double($1) * Double($1) }) }
        let t = try row(target), nt = norm(t)
        return try items.map { i in
            let v = try row(i), nv = norm(v)
            guard nt > 0, nv > 0 else { return i == target ? 1 : 0 }
            var dot = 0.0
            for (a, b) in zip(v, t) { dot += Double(a) * Double(b) }
            return dot / (nv * nt)
        }
    }

    /// 1 for the target, decay^d for an item `ahead` places d positions after the target, 0 otherwise.
    public static func future(items: [Int], target: Int, ahead: [Int: Int], decay: Double) -> [Double] {
        items.map { i in
            if i == target { return 1 }
            guard let d = ahead[i] else { return 0 }
            return pow(decay, Double(d))
        }
    }

    /// Each training example's later items: for example k, item → distance d (1...window) from its target to
    /// the user's training target d positions later (the nearest when an item repeats). Built from the
    /// training examples alone, so validation and test targets never appear.
    /// A window ≤ 0 gives empty maps.
    public static func aheadMaps(of examples: [Example], in training: [Example], window: Int) -> [[Int: Int]] {
        guard window > 0 else { return [[Int: Int]](repeating: [:], count: examples.count) }
        var byUser: [Int: [Int: Int]] = [:]   // user → pos → item
        for e in training { byUser[e.user, default: [:]][e.pos] = e.target }
        return examples.map { e in
            var m: [Int: Int] = [:]
            guard let later = byUser[e.user] else { return m }
            for d in stride(from: window, through: 1, by: -1) {   // nearest last, so it wins on repeats
                if let item = later[e.pos + d], item != e.target { m[item] = d }
            }
            return m
        }
    }

    /// Σ_k w_k r_k for one group (`ahead` and `decay` are used by the future reward only).
    public static func mixed(items: [Int], target: Int, mix: RewardMix, embeddings: ItemEmbeddings?,
                             ahead: [Int: Int] = [:], decay: Double = 0.7) throws -> [Double] {
        var r = [Double](repeating: 0, count: items.count)
        func add(_ w: Double, _ v: [Double]) { for i in r.indices { r[i] += w * v[i] } }
        if mix.rule > 0 { add(mix.rule, rule(items: items, target: target)) }
        if mix.ranking > 0 { add(mix.ranking, ranking(items: items, target: target)) }
        if mix.semantic > 0 {
            guard let e = embeddings else {
                throw AlignError.invalidArgument("the semantic reward needs item embeddings (pass --embeddings or set embeddings in the config)")
            }
            add(mix.semantic, try semantic(items: items, target: target, embeddings: e))
        }
        if mix.future > 0 { add(mix.future, future(items: items, target: target, ahead: ahead, decay: decay)) }
        return r
    }
}
