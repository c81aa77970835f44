// Paired comparison of two models on the same evaluation examples (`align compare`): is B's NDCG@K (or HR@K)
// different from A's by more than the split's noise? Both models rank every example; the per-example difference
// d_i = m_B(i) − m_A(i) is what varies, not the two means separately. On 671 users where ~95% score 0 under
// both models, the independent standard error of one mean (~0.004) is far larger than the paired one when the
// models mostly agree, so the paired test is the one that can see a small, real change (say, SFT → GRPO).
//
// Reported: both means, the mean difference with its paired standard error sd(d)/√n, a 95% percentile
// interval from a seeded paired bootstrap (resampling examples), and how many examples got better / worse.
//
// With a cluster (user) per example, also the cluster-robust standard error and a cluster bootstrap (resampling
// users with all their examples). Leave-one-out has one example per user, so both agree there; the chronological
// split does not: its 8,940 validation samples come from 96 users (one holds 448), and if a user's examples move
// together the per-example SE understates the noise (measured on SFT → GRPO there: within 0.0001 of it). With S_g = Σ_{i∈g} (d_i − d̄) over G clusters,
// SE² = G/(G−1) · Σ_g S_g² / n² (equal to sd(d)²/n when every cluster is one example).
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
    /// Distinct clusters (users) when clusters were given, with the cluster-robust standard error of mean(B − A)
    /// and the 95% interval of a cluster bootstrap (users resampled with their examples); nil otherwise.
    public var clusters: Int?
    public var clusterStandardError: Double?
    public var clusterInterval95: [Double]?

    enum CodingKeys: String, CodingKey {
        case metric, k, examples, bootstrap, better, worse, same, clusters
        case meanA = "mean_a", meanB = "mean_b", meanDifference = "mean_difference"
        case standardError = "standard_error", interval95 = "interval_95"
        case clusterStandardError = "cluster_standard_error", clusterInterval95 = "cluster_interval_95"
    }

    /// NDCG@k (1/log2(rank+1) within k) or HR@k of a 1-based rank (nil: not in the list).
    public static func value(rank: Int?, k: Int, metric: String) -> Double {
        guard let r = rank, r <= k else { return 0 }
        return metric == "hr" ? 1 : 1 / log2(Double(r) + 1)
    }

    /// Compares per-example ranks of A and B (same examples, same order). `bootstrap` ≥ 1 resamples drawn
    /// from `seed`. `clusters` (one id per example, e.g. the user) adds the cluster-robust statistics.
    public static func compute(ranksA: [Int?], ranksB: [Int?], k: Int, metric: String = "ndcg",
                               bootstrap: Int = 10_000, seed: UInt64 = 0, clusters: [Int]? = nil) throws -> PairedComparison {
        guard ranksA.count == ranksB.count, !ranksA.isEmpty else {
            throw AlignError.invalidArgument("paired comparison needs the same non-empty examples for both models (\(ranksA.count) vs \(ranksB.count))")
        }
        if let clusters, clusters.count != ranksA.count {
            throw AlignError.invalidArgument("paired comparison: \(clusters.count) cluster ids for \(ranksA.count) examples")
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
        let (lo, hi) = interval95(of: &means)
        var c = PairedComparison(metric: metric, k: k, examples: d.count, meanA: a.reduce(0, +) / n, meanB: b.reduce(0, +) / n,
                                 meanDifference: mean, standardError: (variance / n).squareRoot(), interval95: [lo, hi],
                                 bootstrap: bootstrap, better: d.filter { $0 > 0 }.count, worse: d.filter { $0 < 0 }.count,
                                 same: d.filter { $0 == 0 }.count)
        if let clusters { c.addClusterStatistics(d: d, clusters: clusters, seed: seed) }
        return c
    }

    /// Cluster-robust SE and cluster bootstrap of mean(d) (clusters in order of first appearance).
    mutating func addClusterStatistics(d: [Double], clusters ids: [Int], seed: UInt64) {
        var index: [Int: Int] = [:], sums: [Double] = [], counts: [Double] = []
        for (x, id) in zip(d, ids) {
            if index[id] == nil { index[id] = sums.count; sums.append(0); counts.append(0) }
            let g = index[id]!
            sums[g] += x; counts[g] += 1
        }
        let G = sums.count, n = Double(d.count), mean = meanDifference
        // S_g = Σ_{i∈g} (d_i − d̄) = sum_g − n_g·d̄
        let ss = zip(sums, counts).reduce(0.0) { acc, sc in let s = sc.0 - sc.1 * mean; return acc + s * s }
        clusters = G
        clusterStandardError = G > 1 ? (Double(G) / Double(G - 1) * ss).squareRoot() / n : 0
        // Users resampled with replacement: the resample's mean is Σ sums / Σ counts over the drawn users.
        var rng = Rng(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
        var means = [Double](repeating: 0, count: bootstrap)
        for s in 0..<bootstrap {
            var sum = 0.0, count = 0.0
            for _ in 0..<G { let g = rng.int(below: G); sum += sums[g]; count += counts[g] }
            means[s] = sum / count
        }
        let (lo, hi) = Self.interval95(of: &means)
        clusterInterval95 = [lo, hi]
    }

    /// 2.5th and 97.5th percentiles of bootstrap means (sorted in place).
    static func interval95(of means: inout [Double]) -> (Double, Double) {
        means.sort()
        let m = means.count
        return (means[min(m - 1, Int((0.025 * Double(m)).rounded(.down)))], means[min(m - 1, Int((0.975 * Double(m)).rounded(.down)))])
    }

    /// One human-readable paragraph.
    public var summary: String {
        let name = "\(metric == "hr" ? "HR" : "NDCG")@\(k)"
        var text = String(format: "%@ over %d examples: A %.4f, B %.4f; B − A = %+.4f (paired SE %.4f, 95%% bootstrap interval [%+.4f, %+.4f]); B better on %d, worse on %d, equal on %d",
                          name, examples, meanA, meanB, meanDifference, standardError, interval95[0], interval95[1], better, worse, same)
        if let clusters, let se = clusterStandardError, let iv = clusterInterval95 {
            text += String(format: "; by user (%d users): SE %.4f, 95%% cluster bootstrap interval [%+.4f, %+.4f]", clusters, se, iv[0], iv[1])
        }
        return text
    }
}
