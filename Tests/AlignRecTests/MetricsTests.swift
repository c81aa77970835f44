// Ranking metrics (docs/protocol.md §5) against an independent computation: sort all candidates by
// (score descending, item ascending) and take the target's position.
import AlignRec
import Foundation
import Testing

private func referenceRank(_ scores: [Float], target: Int, excluded: Set<Int>) -> Int {
    let cands = (1..<scores.count).filter { !excluded.contains($0) || $0 == target }
    let order = cands.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    return order.firstIndex(of: target)! + 1
}

@Test func rankMatchesSortedReferenceWithTiesAndExclusions() {
    var rng = Rng(seed: 7)
    for _ in 0..<200 {
        let n = 1 + rng.int(below: 40)
        // Few distinct values → many ties.
        let scores = [Float(0)] + (0..<n).map { _ in Float(rng.int(below: 4)) }
        let target = 1 + rng.int(below: n)
        let excluded = Set((0..<rng.int(below: n + 1)).map { _ in 1 + rng.int(below: n) })
        let r = Ranking.rank(scores: scores, target: target, excluded: Array(excluded) + Array(excluded))  // duplicates ignored
        #expect(r == referenceRank(scores, target: target, excluded: excluded))
        #expect(Ranking.rank(scores: scores.map(Double.init), target: target, excluded: excluded) == r)
    }
}

@Test func rankTieRuleAndExclusionByHand() {
    // Items 1..5 scores 3, 5, 5, 1, 5; target 3. Beating it: item 2 (5, index < 3); item 5 ties but has a larger
    // index; item 1 and 4 score lower. Rank 2. Excluding item 2 makes it rank 1; the target itself is never excluded.
    let s: [Float] = [99, 3, 5, 5, 1, 5]
    #expect(Ranking.rank(scores: s, target: 3, excluded: [Int]()) == 2)
    #expect(Ranking.rank(scores: s, target: 3, excluded: [2, 3]) == 1)
    #expect(Ranking.rank(scores: s, target: 5, excluded: [Int]()) == 3)
    // NaN target: last among the 5 - 1 candidates left after excluding item 4.
    #expect(Ranking.rank(scores: [Float(0), 1, .nan, 2, 0, 3], target: 2, excluded: [4]) == 4)
    #expect(Ranking.rank(topK: [7, 3, 9], target: 9) == 3)
    #expect(Ranking.rank(topK: [7, 3, 9], target: 4) == nil)
}

@Test func hrAndNdcgValues() {
    var acc = MetricAccumulator()
    for r in [1, 3, 7, 15, nil, 25] as [Int?] { acc.add(rank: r) }
    let m = acc.metrics
    #expect(m.count == 6)
    #expect(m.hr(at: 1) == 1.0 / 6)
    #expect(m.hr(at: 5) == 2.0 / 6)
    #expect(m.hr(at: 10) == 3.0 / 6)
    #expect(m.hr(at: 20) == 4.0 / 6)
    // NDCG gains: rank 1 → 1, 3 → 1/log2(4) = 0.5, 7 → 1/log2(8) = 1/3, 15 → 1/log2(16) = 0.25.
    #expect(abs(m.ndcg(at: 1) - 1.0 / 6) < 1e-15)
    #expect(abs(m.ndcg(at: 5) - 1.5 / 6) < 1e-15)
    #expect(abs(m.ndcg(at: 10) - (1.5 + 1.0 / 3) / 6) < 1e-15)
    #expect(abs(m.ndcg(at: 20) - (1.75 + 1.0 / 3) / 6) < 1e-15)
    var a = MetricAccumulator(), b = MetricAccumulator()
    for r in [1, 3, 7] { a.add(rank: r) }
    for r in [15, nil, 25] as [Int?] { b.add(rank: r) }
    a.merge(b)
    #expect(a.metrics == m)  // exact sums: merge order does not matter
}

@Test func evaluateTopKAgreesWithScores() throws {
    // A top-K list built from the same scores (history removed) yields the same metrics as full-vector ranking.
    let raw = try MovieLensReader.readCSV(directory: dataFixture("movielens-tiny"), policy: BadLinePolicy(skip: false))
    let ds = try DatasetBuilder.build(raw, config: ProtocolConfig(minCount: 2))
    let pop = MostPopular(dataset: ds, protocol: .chrono)
    for split in [Split.train, .valid, .test] {
        let full = pop.evaluate(ds, split: split)
        let topk = ds.evaluateTopK(.chrono, split) { pop.recommend(ds, for: $0, k: 20) }
        #expect(full == topk)
    }
}

@Test func exactSumIsCorrectlyRounded() {
    // 1e16 + 1 + (-1e16) is 1 exactly; a naive sum gives 0 (1 is lost next to 1e16).
    var s = ExactSum()
    for v in [1e16, 1.0, -1e16] { s.add(v) }
    #expect(s.value == 1)
    // 0.1 added ten times: the exactly rounded sum is 1.0 (the naive sum is 0.9999999999999999).
    var t = ExactSum()
    for _ in 0..<10 { t.add(0.1) }
    #expect(t.value == 1.0)
    // Order independence on random data of mixed magnitudes.
    var rng = Rng(seed: 3)
    let xs = (0..<1000).map { _ in (rng.uniform() - 0.5) * pow(10, Double(rng.int(below: 12))) }
    var a = ExactSum(), b = ExactSum()
    for x in xs { a.add(x) }
    for x in xs.reversed() { b.add(x) }
    #expect(a.value == b.value)
}
