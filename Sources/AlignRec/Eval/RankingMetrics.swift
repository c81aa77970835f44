// Ranking metrics of docs/protocol.md §5, shared by every model: the rank of the target from a full score vector
// (candidates = all items minus the user's untruncated earlier history; ties broken by ascending item index)
// or from a generative model's top-K list (rank = position + 1, a miss when absent), and HR@K / NDCG@K for
// K = 1, 5, 10, 20 accumulated in Float64 and reported as plain means. Sums are exactly rounded (Shewchuk's
// algorithm, as Python's math.fsum), so a mean does not depend on the order examples are added or merged in,
// and it matches numpy's/fsum's reference figures digit for digit (a naive running sum can differ in the last bit).
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

/// An exactly rounded floating-point sum (Shewchuk's non-overlapping partials; the final rounding as in
/// CPython's `math.fsum`).
public struct ExactSum: Sendable, Equatable {
    private var partials: [Double] = []
    public init() {}

    /// Adds `value` without rounding error.
    public mutating func add(_ value: Double) {
        var x = value
        var i = 0
        for j in partials.indices {
            var y = partials[j]
            if abs(x) < abs(y) { swap(&x, &y) }
            let hi = x + y
            let lo = y - (hi - x)
            if lo != 0 { partials[i] = lo; i += 1 }
            x = hi
        }
        partials.removeSubrange(i...)
        partials.append(x)
    }

    /// Adds every partial of another sum.
    public mutating func add(_ other: ExactSum) { for p in other.partials { add(p) } }

    /// The correctly rounded total.
    public var value: Double {
        var n = partials.count
        guard n > 0 else { return 0 }
        n -= 1
        var hi = partials[n]
        var lo = 0.0
        while n > 0 {
            let x = hi
            n -= 1
            let y = partials[n]
            hi = x + y
            let yr = hi - x
            lo = y - yr
            if lo != 0 { break }
        }
        if n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0)) {
            let y = lo * 2
            let x = hi + y
            if y == x - hi { hi = x }
        }
        return hi
    }
}

/// Accumulates ranks and yields `RankingMetrics` (exact Float64 sums, means at the end).
public struct MetricAccumulator: Sendable {
    public let ks: [Int]
    private var hrSum: [ExactSum]
    private var ndcgSum: [ExactSum]
    private var rrSum = ExactSum()
    public private(set) var count = 0

    public init(ks: [Int] = RankingMetrics.defaultKs) {
        self.ks = ks
        hrSum = [ExactSum](repeating: ExactSum(), count: ks.count)
        ndcgSum = [ExactSum](repeating: ExactSum(), count: ks.count)
    }

    /// Adds one example; `rank` nil means the target was not retrieved.
    public mutating func add(rank: Int?) {
        count += 1
        guard let r = rank else { return }
        precondition(r >= 1, "rank must be >= 1")
        rrSum.add(1.0 / Double(r))
        let gain = 1.0 / log2(Double(r) + 1.0)
        for (i, k) in ks.enumerated() where r <= k {
            hrSum[i].add(1)
            ndcgSum[i].add(gain)
        }
    }

    /// Merges another accumulator (for parallel evaluation); the result is independent of the merge order.
    public mutating func merge(_ o: MetricAccumulator) {
        precondition(o.ks == ks)
        for i in ks.indices { hrSum[i].add(o.hrSum[i]); ndcgSum[i].add(o.ndcgSum[i]) }
        rrSum.add(o.rrSum)
        count += o.count
    }

    /// Plain means (zeros when empty).
    public var metrics: RankingMetrics {
        let d = Double(max(count, 1))
        return RankingMetrics(ks: ks, hr: hrSum.map { $0.value / d }, ndcg: ndcgSum.map { $0.value / d }, count: count, mrr: rrSum.value / d)
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
