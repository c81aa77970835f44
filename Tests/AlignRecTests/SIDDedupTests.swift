// De-duplication: forced collisions with tiny codebooks must end unique, by extra level and by Sinkhorn.
import AlignRec
import Foundation
import Testing

@Test func sidExtraLevelRanks() {
    let codes = [[1, 2], [0, 0], [1, 2], [3, 1], [1, 2], [0, 0]]
    let (out, size) = Dedup.appendExtraLevel(codes)
    #expect(size == 3)
    #expect(out == [[1, 2, 0], [0, 0, 0], [1, 2, 1], [3, 1, 0], [1, 2, 2], [0, 0, 1]])
    let stats = Dedup.collisionStats(codes)
    #expect(abs(stats.rate - 3.0 / 6.0) < 1e-12)  // 6 items, 3 distinct tuples
    #expect(stats.maxGroup == 3 && stats.colliding == 5)
    #expect(Dedup.appendExtraLevel([[1], [2]]).size == nil)
}

@Test func sidUniqueAfterExtraLevel() throws {
    // 300 items into 2 levels × 3 codes (≤ 9 tuples): collisions are certain.
    let (x, _) = SIDTestData.mixture(n: 300, dim: 8, components: 5, seed: 21)
    for method in [SIDMethod.rqkmeans, .rqkmeansBalanced] {
        let b = try SIDBuilder.build(SIDVectors(values: x, n: 300, dim: 8), config: SIDBuildConfig(method: method, levels: 2, codes: 3, seed: 2))
        #expect(b.report.collisionRateBeforeDedup > 0.9)
        #expect(b.map.levels == 3 && b.report.extraLevel)
        #expect(Set(b.map.codesByRow).count == 300)
        #expect(b.report.unique)
        #expect(b.map.codebookSizes[2] == b.report.maxGroupSizeBeforeDedup)
    }
}

@Test func sidSinkhornAssignSpreadsRows() {
    // 3 rows that all prefer code 0 slightly; Sinkhorn's column balancing spreads them over codes.
    let d: [Double] = [0.0, 0.1, 0.2, 0.3,
                       0.0, 0.05, 0.3, 0.2,
                       0.0, 0.3, 0.1, 0.2]
    let a = Dedup.sinkhornAssign(d, rows: 3, cols: 4, epsilon: 0.003, iterations: 100)
    #expect(Set(a).count == 3)
    #expect(a == [0, 1, 2])
    // Identical rows: argmax cannot separate them, the distinct rounding does.
    let same = [Double](repeating: 0, count: 4) + [0.5, 0.1, 0.9, 0.3] + [0.5, 0.1, 0.9, 0.3]
    let s = Array(same.dropFirst(4)) + [0.5, 0.1, 0.9, 0.3]
    #expect(Set(Dedup.sinkhornAssign(s, rows: 3, cols: 4, epsilon: 0.003, iterations: 50)).count == 1)
    let r = Dedup.sinkhornAssign(s, rows: 3, cols: 4, epsilon: 0.003, iterations: 50, distinct: true)
    #expect(Set(r).count == 3)
}

@Test func sidSinkhornDedupUnique() throws {
    // Few items, many tuples (2 levels × 16 codes = 256): tight clusters collide, Sinkhorn alone
    // spreads them over the last level (LC-Rec's setting) without the extra level.
    let (x, _) = SIDTestData.mixture(n: 80, dim: 8, components: 20, spread: 3, sigma: 0.05, seed: 5)
    let v = SIDVectors(values: x, n: 80, dim: 8)
    let plain = try SIDBuilder.build(v, config: SIDBuildConfig(method: .rqkmeans, levels: 2, codes: 16, seed: 3))
    let b = try SIDBuilder.build(v, config: SIDBuildConfig(method: .rqkmeans, levels: 2, codes: 16, seed: 3, dedup: .sinkhorn))
    #expect(plain.report.extraLevel && b.report.collisionRateBeforeDedup > 0)
    #expect(b.report.sinkhornRounds >= 1 && b.report.sinkhornReassigned > 0)
    #expect(!b.report.sinkhornFellBack && b.map.levels == 2 && b.map.dedup == "sinkhorn")
    #expect(Set(b.map.codesByRow).count == 80)
    // Only the last level moved.
    #expect(zip(b.map.codesByRow, plain.map.codesByRow).allSatisfy { $0[0] == $1[0] })
    // Forced failure (identical vectors cannot be separated): falls back to the extra level, still unique.
    let same = SIDVectors(values: [Float](repeating: 1, count: 20 * 4) + x[0..<(20 * 4)], n: 40, dim: 4)
    let f = try SIDBuilder.build(same, config: SIDBuildConfig(levels: 2, codes: 4, seed: 1, dedup: .sinkhorn))
    #expect(f.report.sinkhornFellBack && f.map.dedup == "sinkhorn+extra-level")
    #expect(Set(f.map.codesByRow).count == 40)
    #expect(f.report.notes.contains { $0.contains("extra level") })
}
