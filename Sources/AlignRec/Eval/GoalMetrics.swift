// Goals beside accuracy, measured on top-10 lists (docs/alignment.md, "Goals"): how much of a list lies outside the
// most popular part of the catalogue, how much of the catalogue the lists reach, and how varied one list is.
//
//   long-tail share@10   L = (1 / Σ_u |T_u|) Σ_u Σ_{i ∈ T_u} 1[i ∉ H], T_u the top 10 of list u, H the head: the
//                        ⌈head_fraction · N⌉ items with the most training interactions (MostPopular's counts: loo
//                        training sequences, chrono training targets; ties to the smaller item index). Training
//                        counts only, so no validation or test interaction shapes H. head_fraction 0.2 (the Pareto
//                        "short head").
//   coverage@10          |∪_u T_u| / N (the same number as eval.json's lists.coverage@10).
//   distinct codes@10    (1 / U) Σ_u |{c_1(i) : i ∈ T_u}|, c_1 the first-level SID code: 1 … 10 per list.
//   novelty@10           (1 / Σ_u |T_u|) Σ_u Σ_{i ∈ T_u} −log2 p_i, p_i = (n_i + 1) / (Σ_j n_j + N) the smoothed
//                        training popularity (mean self-information, bits).
import Foundation

/// What the goal metrics and goal rewards know about the catalogue: training popularity, the head set and each
/// item's first-level SID code.
public struct GoalCatalogue: Sendable, Equatable {
    /// Items N.
    public let count: Int
    /// Training interactions of item i at index i (index 0 unused).
    public let counts: [Float]
    /// Whether item i (index i) is in the head.
    public let isHead: [Bool]
    /// First-level SID code of item i (index i; index 0 unused).
    public let firstCode: [Int]
    /// Share of the catalogue in the head.
    public let headFraction: Double
    /// The default head: the top 20% of items by training interactions.
    public static let defaultHeadFraction = 0.2

    /// `counts[i]` (index 0 unused) training interactions, `firstCode[i]` codes.
    public init(counts: [Float], firstCode: [Int], headFraction: Double = GoalCatalogue.defaultHeadFraction) throws {
        guard counts.count >= 2, firstCode.count == counts.count else {
            throw AlignError.invalidArgument("goal catalogue: \(counts.count) counts and \(firstCode.count) codes (index 0 unused)")
        }
        guard headFraction >= 0, headFraction <= 1 else {
            throw AlignError.invalidArgument("head fraction \(headFraction) outside [0, 1]")
        }
        let n = counts.count - 1
        count = n; self.counts = counts; self.firstCode = firstCode; self.headFraction = headFraction
        let headSize = Int((headFraction * Double(n)).rounded(.up))
        let order = (1...n).sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1 }
        var head = [Bool](repeating: false, count: n + 1)
        for i in order.prefix(headSize) { head[i] = true }
        isHead = head
    }

    /// The catalogue of a dataset under a protocol (MostPopular's training counts) and a model's SID map.
    public init(dataset: Dataset, protocol p: EvalProtocol, sidMap: SIDMap, headFraction: Double = GoalCatalogue.defaultHeadFraction) throws {
        let mp = MostPopular(dataset: dataset, protocol: p)
        var codes = [Int](repeating: -1, count: dataset.numItems + 1)
        for i in 1...dataset.numItems { codes[i] = sidMap.codes(for: i)?.first ?? -1 }
        try self.init(counts: mp.scores, firstCode: codes, headFraction: headFraction)
    }

    /// Self-information −log2 p_i of the smoothed training popularity (bits).
    public func selfInformation(_ item: Int) -> Double {
        let total = counts.dropFirst().reduce(0.0) { $0 + Double($1) }
        return -log2((Double(counts[item]) + 1) / (total + Double(count)))
    }
}

/// Goal metrics of a set of top-10 lists (see the file header).
public struct GoalMetrics: Codable, Sendable, Equatable {
    /// Share of top-10 entries outside the head.
    public var longTail10: Double
    /// Share of the catalogue in at least one top-10 list.
    public var coverage10: Double
    /// Mean number of distinct first-level SID codes in a top-10 list.
    public var distinctCodes10: Double
    /// Mean self-information (bits) of the top-10 entries.
    public var novelty10: Double
    /// Share of the catalogue in the head (how the long tail was defined).
    public var headFraction: Double

    enum CodingKeys: String, CodingKey {
        case longTail10 = "longtail@10", coverage10 = "coverage@10", distinctCodes10 = "distinct_codes@10"
        case novelty10 = "novelty@10", headFraction = "head_fraction"
    }

    /// The metrics of `lists` (best first; only the first 10 entries of each count).
    public static func compute(lists: [[Int]], catalogue c: GoalCatalogue) -> GoalMetrics {
        let total = c.counts.dropFirst().reduce(0.0) { $0 + Double($1) }
        var entries = 0, tail = 0, distinctSum = 0
        var info = 0.0
        var covered = [Bool](repeating: false, count: c.count + 1)
        var coveredCount = 0
        for list in lists {
            var codes = Set<Int>()
            for i in list.prefix(10) where i >= 1 && i <= c.count {
                entries += 1
                if !c.isHead[i] { tail += 1 }
                if !covered[i] { covered[i] = true; coveredCount += 1 }
                codes.insert(c.firstCode[i])
                info -= log2((Double(c.counts[i]) + 1) / (total + Double(c.count)))
            }
            distinctSum += codes.count
        }
        return GoalMetrics(longTail10: entries == 0 ? 0 : Double(tail) / Double(entries),
                           coverage10: Double(coveredCount) / Double(c.count),
                           distinctCodes10: lists.isEmpty ? 0 : Double(distinctSum) / Double(lists.count),
                           novelty10: entries == 0 ? 0 : info / Double(entries), headFraction: c.headFraction)
    }

    /// The value of one goal.
    public func value(_ g: GoalMetric) -> Double {
        switch g {
        case .longtail10: longTail10
        case .coverage10: coverage10
        case .distinctCodes10: distinctCodes10
        case .novelty10: novelty10
        }
    }
}

/// A goal metric by name (checkpoint selection, the report's trade-off plot).
public enum GoalMetric: String, Codable, Sendable, CaseIterable, ConfigChoice {
    case longtail10 = "longtail@10"
    case coverage10 = "coverage@10"
    case distinctCodes10 = "distinct_codes@10"
    case novelty10 = "novelty@10"
}
