// PairedComparison: hand-computed means, paired standard error and counts; the bootstrap interval brackets the
// mean and is reproducible for a seed; identical models give a zero difference; bad inputs are typed errors; the
// by-user (cluster) standard error against a hand computation and against the plain one for one example per user.
@testable import AlignRec
import AlignCore
import Foundation
import Testing

@Suite struct PairedComparisonTests {
    @Test func handComputedDifferenceAndStandardError() throws {
        // NDCG@10 per example: A = [1, 1/log2 3, 0, 0], B = [1, 1, 1/log2 11, 0] (rank 11 is outside 10 → 0).
        let a: [Int?] = [1, 2, nil, 15], b: [Int?] = [1, 1, 11, nil]
        let c = try PairedComparison.compute(ranksA: a, ranksB: b, k: 10, bootstrap: 2000, seed: 3)
        let d = [0.0, 1 - 1 / log2(3.0), 0, 0]
        let mean = d.reduce(0, +) / 4
        let sd = (d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3).squareRoot()
        #expect(abs(c.meanA - (1 + 1 / log2(3.0)) / 4) < 1e-12)
        #expect(abs(c.meanB - 0.5) < 1e-12)
        #expect(abs(c.meanDifference - mean) < 1e-12)
        #expect(abs(c.standardError - sd / 2) < 1e-12)
        #expect(c.better == 1 && c.worse == 0 && c.same == 3 && c.examples == 4)
        #expect(c.interval95[0] <= c.meanDifference && c.meanDifference <= c.interval95[1])
        #expect(c.interval95[0] >= 0 && c.interval95[1] <= d.max()!)
        #expect(try PairedComparison.compute(ranksA: a, ranksB: b, k: 10, bootstrap: 2000, seed: 3) == c)
        // HR@10: both hit the first two examples (B's rank 11 misses), so nothing changes.
        let h = try PairedComparison.compute(ranksA: a, ranksB: b, k: 10, metric: "hr", bootstrap: 100)
        #expect(h.meanA == 0.5 && h.meanB == 0.5 && h.meanDifference == 0 && h.better == 0 && h.worse == 0)
        // HR@20 sees B's rank 11 and A's rank 15.
        let h20 = try PairedComparison.compute(ranksA: a, ranksB: b, k: 20, metric: "hr", bootstrap: 100)
        #expect(h20.meanA == 0.75 && h20.meanB == 0.75 && h20.better == 1 && h20.worse == 1)
    }

    @Test func sameModelGivesZeroAndBadInputsThrow() throws {
        let r: [Int?] = [3, nil, 1, 7, nil]
        let c = try PairedComparison.compute(ranksA: r, ranksB: r, k: 5, bootstrap: 50)
        #expect(c.meanDifference == 0 && c.standardError == 0 && c.interval95 == [0, 0] && c.same == 5)
        #expect(throws: AlignError.self) { try PairedComparison.compute(ranksA: r, ranksB: [1], k: 5) }
        #expect(throws: AlignError.self) { try PairedComparison.compute(ranksA: [], ranksB: [], k: 5) }
        #expect(throws: AlignError.self) { try PairedComparison.compute(ranksA: r, ranksB: r, k: 0) }
        #expect(throws: AlignError.self) { try PairedComparison.compute(ranksA: r, ranksB: r, k: 5, metric: "mrr") }
    }

    @Test func clusteredStandardErrorByHand() throws {
        // HR@1: d = B − A = [1, 1, 1, −1, 0, 0], users [7, 7, 7, 9, 4, 4]; d̄ = 1/3.
        // S_7 = 3 − 3·(1/3) = 2, S_9 = −1 − 1/3 = −4/3, S_4 = 0 − 2/3 = −2/3; Σ S² = 56/9; G = 3, n = 6:
        // SE² = 3/2 · (56/9) / 36. The plain paired SE is √((30/9)/5/6) = 1/3: the users' examples move together.
        let a: [Int?] = [nil, nil, nil, 1, nil, nil], b: [Int?] = [1, 1, 1, nil, nil, nil]
        let users = [7, 7, 7, 9, 4, 4]
        let c = try PairedComparison.compute(ranksA: a, ranksB: b, k: 1, metric: "hr", bootstrap: 2000, seed: 5, clusters: users)
        #expect(abs(c.meanDifference - 1.0 / 3) < 1e-12)
        #expect(abs(c.standardError - 1.0 / 3) < 1e-12)
        #expect(c.clusters == 3)
        #expect(abs(c.clusterStandardError! - (1.5 * 56.0 / 9.0).squareRoot() / 6) < 1e-12)
        // Resampled means are Σ sums / Σ counts of drawn users: within [−1, 1] (user 9's and user 7's means).
        let iv = c.clusterInterval95!
        #expect(iv[0] <= c.meanDifference && c.meanDifference <= iv[1] && iv[0] >= -1 && iv[1] <= 1 && iv[0] < iv[1])
        #expect(try PairedComparison.compute(ranksA: a, ranksB: b, k: 1, metric: "hr", bootstrap: 2000, seed: 5, clusters: users) == c)
        #expect(c.summary.contains("by user (3 users)"))
        let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
        #expect(json.contains("\"cluster_standard_error\"") && json.contains("\"clusters\":3"))
        // Without clusters the fields stay empty.
        let plain = try PairedComparison.compute(ranksA: a, ranksB: b, k: 1, metric: "hr", bootstrap: 10)
        #expect(plain.clusters == nil && plain.clusterStandardError == nil && plain.clusterInterval95 == nil)
        #expect(throws: AlignError.self) { try PairedComparison.compute(ranksA: a, ranksB: b, k: 1, clusters: [1, 2]) }
    }

    @Test func oneExamplePerUserGivesThePlainStandardError() throws {
        let a: [Int?] = [1, 4, nil, 2, 9, nil, 1], b: [Int?] = [2, 1, 3, nil, 9, nil, 1]
        let c = try PairedComparison.compute(ranksA: a, ranksB: b, k: 10, bootstrap: 100, clusters: [10, 11, 12, 13, 14, 15, 16])
        #expect(c.clusters == 7)
        #expect(abs(c.clusterStandardError! - c.standardError) < 1e-12)
    }
}
