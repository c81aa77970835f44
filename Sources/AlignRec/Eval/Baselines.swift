// Non-learned reference baselines (docs/protocol.md §6). Most-popular: score = number of training interactions of
// the item — under leave-one-out every item of every `loo_train` sequence; under chrono the number of training
// samples whose target is the item — ranked by the shared protocol (history excluded, ties by item index).
import Foundation

/// The most-popular baseline.
public struct MostPopular: Sendable {
    /// scores[j] = training count of item j (index 0 unused).
    public let scores: [Float]
    public let evalProtocol: EvalProtocol

    /// Counts training interactions of `dataset` under protocol `p`.
    public init(dataset: Dataset, protocol p: EvalProtocol) {
        var counts = [Float](repeating: 0, count: dataset.numItems + 1)
        switch p {
        case .loo: for t in dataset.looTrain { for i in t.items { counts[i] += 1 } }
        case .chrono: for ex in dataset.chronoTrain { counts[ex.target] += 1 }
        }
        scores = counts
        evalProtocol = p
    }

    /// HR/NDCG on a split of the protocol the counts were made for.
    public func evaluate(_ dataset: Dataset, split: Split, ks: [Int] = RankingMetrics.defaultKs) -> RankingMetrics {
        let s = scores
        return dataset.evaluate(evalProtocol, split, ks: ks) { _, out in
            out.withUnsafeMutableBufferPointer { o in s.withUnsafeBufferPointer { o.baseAddress!.update(from: $0.baseAddress!, count: $0.count) } }
        }
    }

    /// The top-k items for one example (candidates exclude its untruncated history), best first.
    public func recommend(_ dataset: Dataset, for ex: Example, k: Int) -> [Int] {
        let ex = Set(dataset.excluded(for: ex))
        let order = (1..<scores.count).filter { !ex.contains($0) }.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return Array(order.prefix(k))
    }
}
