// Paired comparison of two models on the same evaluation examples (`align compare`): is B's NDCG@K (or HR@K)
// different from A's by more than the split's noise? Both models rank every example; the per-example difference
// d_i = m_B(i) − m_A(i) is what varies, not the two means separately. On 671 users where ~95% score 0 under
// both models, the independent standard error of one mean (~0.004) is far larger than the paired one when the
// models mostly agree, so the paired test is the one that can see a small, real change (say, SFT → GRPO).
//
// Reported: both means, the mean difference with its paired standard error sd(d)/√n, a 95% percentile
// interval from a seeded paired bootstrap (resampling examples), and how many examples got better / worse.
// Owns the statistics only; the lists come from Evaluation.recommendLists.
import AlignCore
import Foundation

/// Result of a paired comparison. JSON keys snake_case.
public struct PairedComparison: Codable, Sendable, Equatable {
    /// "ndcg" or "hr", at cut-off `k`.
    public var metric: String
    public var k: Int
    public var examples: Int
    /// Mean metric of A and of B.
    public var meanA: Double
    public var meanB: Double
    /// mean(B − A) and its paired standard error sd(B − A)/√n.
    public var meanDifference: Double
    public var standardError: Double
    /// 95% percentile interval of mean(B − A) over `bootstrap` paired resamples.
    public var interval95: [Double]
    public var bootstrap: Int
    /// Examples where B scores higher / lower / the same as A.
    public var better: Int
    public var worse: Int
    public var same: Int

    enum CodingKeys: String, CodingKey {
        case metric, k, examples, bootstrap, better, worse, same
        case meanA = "mean_a", meanB = "mean_b", meanDifference = "mean_difference"
        case standardError = "standard_error", interval95 = "interval_95"
    }

    /// NDCG@k (1/log2(rank+1) within k) or HR@k of a 1-based rank (nil: not in the list).
    public static func value(rank: Int?, k: Int, metric: String) -> Double {
        guard let r = rank, r <= k else { return 0 }
        return metric == "hr" ? 1 : 1 / log2(Double(r) + 1)
    }

    /// Compares per-example ranks of A and B (same examples, same order). `bootstrap` ≥ 1 resamples drawn
    /// from `seed`.
    public static func compute(ranksA: [Int?], ranksB: [Int?], k: Int, metric: String = "ndcg",
                               bootstrap: Int = 10_000, seed: UInt64 = 0) throws -> PairedComparison {
        guard ranksA.count == ranksB.count, !ranksA.isEmpty else {
            throw AlignError.invalidArgument("paired comparison needs the same non-empty examples for both models (\(ranksA.count) vs \(ranksB.count))")
        }
        guard k >= 1, bootstrap >= 1, metric == "ndcg" || metric == "hr" else {
            throw AlignError.invalidArgument("paired comparison: k and bootstrap must be ≥ 1 and the metric ndcg or hr (got k \(k), \(bootstrap), '\(metric)')")
        }
        let a = ranksA.map { value(rank: $0, k: k, metric: metric) }, b = ranksB.map { value(rank: $0, k: k, metric: metric) }
        let d = zip(b, a).map { $0 - $1 }
        let n = Double(d.count)
        let mean = d.reduce(0, +) / n
        let variance = d.count > 1 ? d.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1) : 0
        var rng = Rng(seed: seed)
        var means = [Double](repeating: 0, count: bootstrap)
        for s in 0..<bootstrap {
            var sum = 0.0
            for _ in 0..<d.count { sum += d[rng.int(below: d.count)] }
            means[s] = sum / n
        }
        means.sort()
        let lo = means[min(bootstrap - 1, Int((0.025 * Double(bootstrap)).rounded(.down)))]
        let hi = means[min(bootstrap - 1, Int((0.975 * Double(bootstrap)).rounded(.down)))]
        return PairedComparison(metric: metric, k: k, examples: d.count, meanA: a.reduce(0, +) / n, meanB: b.reduce(0, +) / n,
                                meanDifference: mean, standardError: (variance / n).squareRoot(), interval95: [lo, hi],
                                bootstrap: bootstrap, better: d.filter { $0 > 0 }.count, worse: d.filter { $0 < 0 }.count,
                                same: d.filter { $0 == 0 }.count)
    }

    /// One human-readable paragraph.
    public var summary: String {
        let name = "\(metric == "hr" ? "HR" : "NDCG")@\(k)"
        return String(format: "%@ over %d examples: A %.4f, B %.4f; B − A = %+.4f (paired SE %.4f, 95%% bootstrap interval [%+.4f, %+.4f]); B better on %d, worse on %d, equal on %d",
                      name, examples, meanA, meanB, meanDifference, standardError, interval95[0], interval95[1], better, worse, same)
    }
}
