// Which validated weights an alignment run keeps as best/ (`eval.select`). The default keeps the highest validation
// NDCG@10, the starting (SFT) weights at step 0 included. A goal selection keeps the highest value of a goal metric
// (GoalMetrics.swift) among the checks whose validation NDCG@10 is at least min_ndcg_ratio × the starting weights'
// NDCG@10 on the same validation examples — step 0 always qualifies, so a run whose goal never improves within the
// accuracy budget keeps the SFT weights. Ties keep the earlier step.
import Foundation

/// What `eval.select` maximises.
public enum SelectionMetric: String, Codable, Sendable, CaseIterable, ConfigChoice {
    case ndcg10 = "ndcg@10"
    case longtail10 = "longtail@10"
    case coverage10 = "coverage@10"
    case distinctCodes10 = "distinct_codes@10"
    case novelty10 = "novelty@10"

    /// The goal metric it names (nil for NDCG@10).
    public var goal: GoalMetric? { GoalMetric(rawValue: rawValue) }
}

/// `eval.select`: the metric and, for a goal metric, the accuracy it may cost.
public struct CheckpointSelection: Codable, Sendable, Equatable {
    public var metric: SelectionMetric = .ndcg10
    /// A goal check qualifies when its NDCG@10 ≥ this × the starting weights' (ignored for ndcg@10).
    public var minNDCGRatio: Double = 0.97
    public init(metric: SelectionMetric = .ndcg10, minNDCGRatio: Double = 0.97) {
        self.metric = metric; self.minNDCGRatio = minNDCGRatio
    }
    enum CodingKeys: String, CodingKey { case metric, minNDCGRatio = "min_ndcg_ratio" }
    public init(from decoder: Decoder) throws {
        let d = CheckpointSelection(), c = try decoder.container(keyedBy: CodingKeys.self)
        metric = try c.decodeIfPresent(SelectionMetric.self, forKey: .metric) ?? d.metric
        minNDCGRatio = try c.decodeIfPresent(Double.self, forKey: .minNDCGRatio) ?? d.minNDCGRatio
    }

    func validate(_ check: FieldCheck) throws {
        try check.number("min_ndcg_ratio", minNDCGRatio, .closed(0, 1))
    }

    /// The score a check is ranked by, or nil when it does not qualify: `ndcg` and `goals` of the check, `startNDCG`
    /// the starting weights' NDCG@10 on the same examples.
    public func score(ndcg: Double, goals: GoalMetrics?, startNDCG: Double) -> Double? {
        guard let g = metric.goal else { return ndcg }
        guard ndcg >= minNDCGRatio * startNDCG, let goals else { return nil }
        return goals.value(g)
    }
}
