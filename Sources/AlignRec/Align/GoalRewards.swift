// Goal rewards: credit for what SFT's accuracy objective does not ask for (docs/alignment.md, "Goals"). Each scores
// the completions of one group (items best first, as rolled out) on a recommendation prompt; K = `goal_k` (0: the
// whole group) is how far down a group's ranking the list-level goals look. H, c_1 and the training counts are the
// GoalCatalogue's (GoalMetrics.swift), built from training interactions only.
//
//   longtail   r_i = 1[i ∉ H]: an item outside the head earns 1. Only the policy's own top G are ever scored, so
//              the credit goes to items the model already ranks as relevant; the advantage moves probability
//              from the group's head items to its tail items.
//   diversity  r_i = 1 when rank(i) < K and no item ranked above i shares its first-level SID code c_1(i), else 0.
//              Over a group Σ_i r_i = |{c_1(i) : rank(i) < K}|, the list's distinct first-level codes; each code's
//              best-ranked item gets the credit (greedy, as MMR), the items that repeat a code get none.
//   coverage   r_i = 1[rank(i) < K] / n(i), n(i) the number of recommendation groups of the batch whose top K holds
//              i. Over the batch Σ r = |∪_g top_K(g)|, the batch's distinct items: an item many users get earns
//              little, one only this user gets earns 1.
// Groups of translation prompts (title2sid) score 0 on every goal and do not count in n(i).
// goal_groups: hit (GRPO) pays the goal rewards only in groups whose completions hold the target, the groups where the
// ranking reward already says which item was right: the goal then re-orders the wrong items around a target that
// keeps the highest reward (longtail at a weight below 1), instead of moving probability toward the tail in groups
// where nothing is known about relevance. Groups without a hit still count in n(i).
import Foundation

/// Which recommendation groups earn the goal rewards.
public enum GoalGroups: String, Codable, Sendable, CaseIterable, ConfigChoice {
    /// Every recommendation group.
    case all
    /// Only groups whose completions contain the target.
    case hit
}

extension GRPORewards {
    /// 1 for items outside the head, else 0.
    public static func longtail(items: [Int], catalogue c: GoalCatalogue) -> [Double] {
        items.map { $0 >= 1 && $0 <= c.count && !c.isHead[$0] ? 1 : 0 }
    }

    /// 1 for the best-ranked item of each first-level code within the top `k` (0: every rank), else 0.
    public static func diversity(items: [Int], catalogue c: GoalCatalogue, k: Int) -> [Double] {
        let cut = k > 0 ? min(k, items.count) : items.count
        var seen = Set<Int>()
        return items.indices.map { r in
            guard r < cut, items[r] >= 1, items[r] <= c.count else { return 0 }
            return seen.insert(c.firstCode[items[r]]).inserted ? 1 : 0
        }
    }

    /// 1 / n(i) within each group's top `k` (0: every rank), n(i) = groups among `counted` whose top k holds i;
    /// groups with `counted[g]` false score 0 and are not counted.
    public static func coverage(groups: [[Int]], counted: [Bool], k: Int) -> [[Double]] {
        precondition(groups.count == counted.count)
        var n: [Int: Int] = [:]
        func top(_ g: [Int]) -> ArraySlice<Int> { g.prefix(k > 0 ? k : g.count) }
        for (g, on) in zip(groups, counted) where on { for i in Set(top(g)) { n[i, default: 0] += 1 } }
        return zip(groups, counted).map { g, on in
            let cut = k > 0 ? min(k, g.count) : g.count
            return g.indices.map { r in on && r < cut ? 1 / Double(n[g[r]]!) : 0 }
        }
    }
}

/// One group to reward: its completions (best first), the prompt's target, the user's later training items (future
/// reward) and whether it is a recommendation prompt (goal rewards) or a translation one.
public struct RewardGroup: Sendable {
    public var items: [Int]
    public var target: Int
    public var ahead: [Int: Int]
    public var recommendation: Bool
    public init(items: [Int], target: Int, ahead: [Int: Int] = [:], recommendation: Bool = true) {
        self.items = items; self.target = target; self.ahead = ahead; self.recommendation = recommendation
    }
}

/// What the reward kinds read besides the groups.
public struct RewardContext {
    /// Item vectors (semantic reward).
    public var embeddings: ItemEmbeddings?
    /// Future reward's decay.
    public var decay: Double
    /// Popularity, head and first-level codes (goal rewards).
    public var catalogue: GoalCatalogue?
    /// How far down a group the diversity and coverage rewards look (0: the whole group).
    public var goalK: Int
    /// Which recommendation groups earn the goal rewards.
    public var goalGroups: GoalGroups
    public init(embeddings: ItemEmbeddings? = nil, decay: Double = 0.7, catalogue: GoalCatalogue? = nil, goalK: Int = 0,
                goalGroups: GoalGroups = .all) {
        self.embeddings = embeddings; self.decay = decay; self.catalogue = catalogue; self.goalK = goalK
        self.goalGroups = goalGroups
    }

    /// Whether group `g` earns the goal rewards.
    func earnsGoals(_ g: RewardGroup) -> Bool {
        g.recommendation && (goalGroups == .all || g.items.contains(g.target))
    }

    /// Σ_k w_k r_k for every group of a batch (coverage needs the whole batch).
    public func rewards(_ groups: [RewardGroup], mix: RewardMix) throws -> [[Double]] {
        var out = try groups.map { g in
            try GRPORewards.mixed(items: g.items, target: g.target, mix: mix, embeddings: embeddings, ahead: g.ahead, decay: decay)
        }
        guard mix.needsCatalogue else { return out }
        guard let c = catalogue else { throw AlignError.invalidArgument("the longtail, diversity and coverage rewards need the goal catalogue") }
        for (k, g) in groups.enumerated() where earnsGoals(g) {
            if mix.longtail > 0 { for (j, r) in GRPORewards.longtail(items: g.items, catalogue: c).enumerated() { out[k][j] += mix.longtail * r } }
            if mix.diversity > 0 {
                for (j, r) in GRPORewards.diversity(items: g.items, catalogue: c, k: goalK).enumerated() { out[k][j] += mix.diversity * r }
            }
        }
        if mix.coverage > 0 {
            let cov = GRPORewards.coverage(groups: groups.map(\.items), counted: groups.map(\.recommendation), k: goalK)
            for k in out.indices where earnsGoals(groups[k]) { for j in out[k].indices { out[k][j] += mix.coverage * cov[k][j] } }
        }
        return out
    }
}
