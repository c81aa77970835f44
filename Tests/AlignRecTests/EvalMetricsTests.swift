// align eval's list statistics and ranking metrics on crafted cases computed by hand.
import AlignCore
import AlignRec
import Foundation
import Testing

@Test func listStatsByHand() {
    // Catalogue 1...6; genres: 1,2 → A; 3 → B; 4,5,6 → C. Item 9 does not exist.
    let genre: (Int) -> String = { [1: "A", 2: "A", 3: "B", 4: "C", 5: "C", 6: "C"][$0] ?? "?" }
    let lists = [[1, 2, 3, 9], [1, 4, 4]]
    let s = ListStats.compute(lists: lists, validItems: Set(1...6), catalogueSize: 6, category: genre)
    #expect(s.returned == 7 && s.invalid == 1 && s.duplicates == 1)
    #expect(s.validity == 6.0 / 7)
    // Valid top-10 entries: 1,2,3 | 1,4,4 → distinct {1,2,3,4} → coverage 4/6; genres A,A,B,A,C,C → A 3, B 1, C 2.
    #expect(s.coverage10 == 4.0 / 6)
    let h = -(0.5 * log(0.5) + (1.0 / 6) * log(1.0 / 6) + (1.0 / 3) * log(1.0 / 3))
    #expect(abs(s.entropy10 - h) < 1e-12)
    // Only the first 10 positions count for coverage/entropy.
    let long = ListStats.compute(lists: [Array(1...6) + [1, 1, 1, 1, 5]], validItems: Set(1...6), catalogueSize: 6, category: genre)
    #expect(long.coverage10 == 1 && long.duplicates == 5)
    #expect(ListStats.compute(lists: [], validItems: [], catalogueSize: 6, category: genre).validity == 1)
}

@Test func rankingMetricsOfListsByHand() {
    func ex(_ target: Int) -> Example { Example(user: 1, userId: "1", pos: 1, timestamp: 0, history: [], target: target) }
    // Targets at rank 1, 3, 7, absent.
    let lists = [[5, 1, 2], [1, 2, 5, 3], Array(10...15) + [5] + Array(20...30), [1, 2]]
    let m = Evaluation.metrics(lists: lists, examples: [ex(5), ex(5), ex(5), ex(5)])
    #expect(m.count == 4)
    #expect(m.hr(at: 1) == 0.25 && m.hr(at: 5) == 0.5 && m.hr(at: 10) == 0.75 && m.hr(at: 20) == 0.75)
    #expect(abs(m.ndcg(at: 5) - (1 + 1 / log2(4.0)) / 4) < 1e-12)
    #expect(abs(m.ndcg(at: 10) - (1 + 0.5 + 1 / log2(8.0)) / 4) < 1e-12)
}

@Test func evaluationSubsampleIsDeterministicAndSpread() {
    let exs = (0..<10).map { Example(user: $0 + 1, userId: "\($0)", pos: 1, timestamp: 0, history: [], target: 1) }
    #expect(Evaluation.subsample(exs, max: 0).count == 10)
    #expect(Evaluation.subsample(exs, max: 20).count == 10)
    #expect(Evaluation.subsample(exs, max: 4).map(\.user) == [1, 3, 6, 8])   // ⌊i·10/4⌋ = 0, 2, 5, 7
}
