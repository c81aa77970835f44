// Ranking metrics of protocol.md §5, shared by every model: the rank of the target from a full score vector
// (candidates = all items minus the user's untruncated earlier history; ties broken by ascending item index)
// or from a generative model's top-K list (rank = position + 1, a miss when absent), and HR@K / NDCG@K for
// K = 1, 5, 10, 20 accumulated in Float64 and reported as plain means.
import Foundation

/// Ranks of targets.
public enum Ranking {
    /// Rank (1-based) of `target` among items 1...N, where `scores[j]` is item j's score (`scores.count == N + 1`,
    /// index 0 is padding and ignored). Items in `excluded` are not candidates (the target never is excluded,
    /// even if listed). `rank = 1 + #{candidate j: s[j] > s[t] or (s[j] == s[t] and j < t)}`. A NaN target score
    /// ranks last among the candidates; NaN scores of other items never beat the target.
    public static func rank<E: Sequence>(scores: UnsafeBufferPointer<Float>, target: Int, excluded: E) -> Int where E.Element == Int {
        let n = scores.count - 1
        precondition(target >= 1 && target <= n, "target \(target) outside 1...\(n)")
        let st = scores[target]
        // Whether candidate j beats the target.
        @inline(__always) func beats(_ j: Int) -> Bool { scores[j] > st || (scores[j] == st && j < target) }
        var seen = Set<Int>()
        var excludedCount = 0, excludedBeating = 0
        for j in excluded where j != target && j >= 1 && j <= n && seen.insert(j).inserted {
            excludedCount += 1
            if beats(j) { excludedBeating += 1 }
        }
        if st.isNaN { return n - excludedCount }
        var better = 0
        for j in 1...n where beats(j) { better += 1 }
        return 1 + better - excludedBeating
    }

    /// Array convenience for `rank(scores:target:excluded:)`.
    public static func rank<E: Sequence>(scores: [Float], target: Int, excluded: E) -> Int where E.Element == Int {
        scores.withUnsafeBufferPointer { rank(scores: $0, target: target, excluded: excluded) }
    }

    /// Double-precision scores (same rule).
    public static func rank<E: Sequence>(scores: [Double], target: Int, excluded: E) -> Int where E.Element == Int {
        let n = scores.count - 1
        precondition(target >= 1 && target <= n, "target \(target) outside 1...\(n)")
        let st = scores[target]
        func beats(_ j: Int) -> Bool { scores[j] > st || (scores[j] == st && j < target) }
        var seen = Set<Int>()
        var excludedCount = 0, excludedBeating = 0
        for j in excluded where j != target && j >= 1 && j <= n && seen.insert(j).inserted {
            excludedCount += 1
            if beats(j) { excludedBeating += 1 }
        }
        if st.isNaN { return n - excludedCount }
        var better = 0
        for j in 1...n where beats(j) { better += 1 }
        return 1 + better - excludedBeating
    }

    /// Rank from a ranked list of recommended items (best first): position + 1 of the first occurrence of
    /// `target`, or nil (a miss at every K) when absent. The list should already exclude history items.
    public static func rank(topK: [Int], target: Int) -> Int? {
        topK.firstIndex(of: target).map { $0 + 1 }
    }
}

/// HR@K and NDCG@K means over a set of examples.
public struct RankingMetrics: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The cut-offs reported everywhere.
    public static let defaultKs = [1, 5, 10, 20]

    public var ks: [Int]
    /// hr[i] = HR@ks[i] (mean), ndcg[i] = NDCG@ks[i] (mean).
    public var hr: [Double]
    public var ndcg: [Double]
    /// Number of examples averaged.
    public var count: Int
    /// Mean reciprocal rank over all examples (0 for misses of a top-K list).
    public var mrr: Double

    /// HR@k (k must be one of `ks`).
    public func hr(at k: Int) -> Double { hr[ks.firstIndex(of: k)!] }
    /// NDCG@k (k must be one of `ks`).
    public func ndcg(at k: Int) -> Double { ndcg[ks.firstIndex(of: k)!] }

    public var description: String {
        var parts: [String] = []
        for (i, k) in ks.enumerated() { parts.append(String(format: "HR@%d %.4f NDCG@%d %.4f", k, hr[i], k, ndcg[i])) }
        return parts.joined(separator: "  ") + "  (n=\(count))"
    }
}

/// Accumulates ranks and yields `RankingMetrics` (sums in Float64, means at the end).
public struct MetricAccumulator: Sendable {
    public let ks: [Int]
    private var hrSum: [Double]
    private var ndcgSum: [Double]
    private var rrSum = 0.0
    public private(set) var count = 0

    public init(ks: [Int] = RankingMetrics.defaultKs) {
        self.ks = ks
        hrSum = [Double](repeating: 0, count: ks.count)
        ndcgSum = [Double](repeating: 0, count: ks.count)
    }

    /// Adds one example; `rank` nil means the target was not retrieved.
    public mutating func add(rank: Int?) {
        count += 1
        guard let r = rank else { return }
        precondition(r >= 1, "rank must be >= 1")
        rrSum += 1.0 / Double(r)
        let gain = 1.0 / log2(Double(r) + 1.0)
        for (i, k) in ks.enumerated() where r <= k {
            hrSum[i] += 1
            ndcgSum[i] += gain
        }
    }

    /// Merges another accumulator (for parallel evaluation).
    public mutating func merge(_ o: MetricAccumulator) {
        precondition(o.ks == ks)
        for i in ks.indices { hrSum[i] += o.hrSum[i]; ndcgSum[i] += o.ndcgSum[i] }
        rrSum += o.rrSum
        count += o.count
    }

    /// Plain means (zeros when empty).
    public var metrics: RankingMetrics {
        let d = Double(max(count, 1))
        return RankingMetrics(ks: ks, hr: hrSum.map { $0 / d }, ndcg: ndcgSum.map { $0 / d }, count: count, mrr: rrSum / d)
    }
}

extension Dataset {
    /// Evaluates a scoring model on a protocol split: `score(example, scores)` fills `scores` (N + 1 entries,
    /// index 0 ignored) for one example; ranks follow protocol §5 with the untruncated history excluded.
    public func evaluate(_ p: EvalProtocol, _ split: Split, ks: [Int] = RankingMetrics.defaultKs,
                         score: (Example, inout [Float]) throws -> Void) rethrows -> RankingMetrics {
        var acc = MetricAccumulator(ks: ks)
        var scores = [Float](repeating: 0, count: numItems + 1)
        for ex in examples(p, split) {
            try score(ex, &scores)
            acc.add(rank: Ranking.rank(scores: scores, target: ex.target, excluded: excluded(for: ex)))
        }
        return acc.metrics
    }

    /// Evaluates a generative model's ranked lists: `recommend(example)` returns items best first.
    public func evaluateTopK(_ p: EvalProtocol, _ split: Split, ks: [Int] = RankingMetrics.defaultKs,
                             recommend: (Example) throws -> [Int]) rethrows -> RankingMetrics {
        var acc = MetricAccumulator(ks: ks)
        for ex in examples(p, split) { acc.add(rank: Ranking.rank(topK: try recommend(ex), target: ex.target)) }
        return acc.metrics
    }
}
