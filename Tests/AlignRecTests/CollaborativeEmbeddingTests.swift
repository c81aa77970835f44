// Collaborative item vectors: the Jacobi eigensolver against a hand-checkable matrix, Gram–Schmidt
// orthonormality, the randomized eigensolver against the dense one on a PPMI matrix, and the end result on a
// synthetic catalogue with two consumption communities that text cannot separate.
@testable import AlignRec
import AlignCore
import Foundation
import Testing

@Suite struct CollaborativeEmbeddingTests {
    @Test func jacobiFindsTheEigenpairs() {
        // [[2,1,0],[1,2,0],[0,0,5]]: eigenvalues 1, 3, 5
        let (l, v) = CollaborativeEmbeddings.symmetricEigen([2, 1, 0, 1, 2, 0, 0, 0, 5], n: 3)
        #expect(l.sorted().enumerated().allSatisfy { abs($0.element - [1.0, 3, 5][$0.offset]) < 1e-12 })
        let m: [Double] = [2, 1, 0, 1, 2, 0, 0, 0, 5]
        for e in 0..<3 {   // M v = λ v
            for r in 0..<3 {
                let mv = (0..<3).reduce(0.0) { $0 + m[r * 3 + $1] * v[$1 * 3 + e] }
                #expect(abs(mv - l[e] * v[r * 3 + e]) < 1e-12)
            }
        }
    }

    @Test func gramSchmidtGivesOrthonormalColumns() {
        var rng = Rng(seed: 3)
        let rows = 40, cols = 7
        var a = (0..<(rows * cols)).map { _ in Float(rng.normal()) }
        for r in 0..<rows { a[r * cols + 6] = a[r * cols + 2] }   // a dependent column is replaced, not NaN
        CollaborativeEmbeddings.orthonormalizeColumns(&a, rows: rows, cols: cols)
        for i in 0..<cols {
            for j in 0..<cols {
                let d = (0..<rows).reduce(Float(0)) { $0 + a[$1 * cols + i] * a[$1 * cols + j] }
                #expect(abs(d - (i == j ? 1 : 0)) < 1e-5, "column \(i)·\(j) = \(d)")
            }
        }
    }

    /// Two communities of 20 items each; users only consume inside one community. Items are otherwise
    /// indistinguishable, so only co-occurrence can separate them.
    static func communities(users: Int, seed: UInt64) -> [[Int]] {
        var rng = Rng(seed: seed)
        return (0..<users).map { u in
            let base = u % 2 == 0 ? 1 : 21
            return (0..<15).map { _ in base + rng.int(below: 20) }
        }
    }

    @Test func randomizedEigensolverMatchesTheDenseOne() throws {
        let seqs = Self.communities(users: 60, seed: 1)
        let m = try CollaborativeEmbeddings.ppmi(sequences: seqs, itemCount: 40, window: 3)
        var dense = [Double](repeating: 0, count: 40 * 40)
        for i in 0..<40 { for e in m.rowStart[i]..<m.rowStart[i + 1] { dense[i * 40 + Int(m.cols[e])] = Double(m.values[e]) } }
        for i in 0..<40 { for j in 0..<40 { #expect(dense[i * 40 + j] == dense[j * 40 + i]) } }   // symmetric
        #expect(dense.allSatisfy { $0 >= 0 })                                                     // positive PMI
        let (l, dv) = CollaborativeEmbeddings.symmetricEigen(dense, n: 40)
        let order = (0..<40).sorted { abs(l[$0]) > abs(l[$1]) }
        let (fast, vecs) = CollaborativeEmbeddings.truncatedEigen(m, k: 3, oversample: 12, powerIterations: 8, seed: 5)
        for c in 0..<3 {
            let e = order[c]
            #expect(abs(fast[c] - l[e]) <= 1e-4 * abs(l[e]), "λ\(c): \(fast[c]) vs dense \(l[e])")
            // same eigenvector up to sign (the top eigenvalues of this matrix are well separated)
            let dot = (0..<40).reduce(0.0) { $0 + Double(vecs[$1 * 3 + c]) * dv[$1 * 40 + e] }
            #expect(abs(abs(dot) - 1) < 1e-3, "eigenvector \(c): |cos| \(abs(dot))")
        }
        var o = CollaborativeOptions(); o.dim = 4
        let v = try CollaborativeEmbeddings.build(sequences: seqs, itemCount: 40, options: o)
        #expect(v.count == 160 && v.allSatisfy(\.isFinite))
        for i in 0..<40 {
            let n = (0..<4).reduce(Float(0)) { $0 + v[i * 4 + $1] * v[i * 4 + $1] }
            #expect(abs(n - 1) < 1e-4)
        }
    }

    @Test func communitiesSeparateAndHybridStaysUnit() throws {
        let seqs = Self.communities(users: 80, seed: 2)
        var o = CollaborativeOptions(); o.dim = 8; o.window = 4
        let cf = try CollaborativeEmbeddings.build(sequences: seqs + [[41]], itemCount: 41, options: o)
        func cos(_ a: Int, _ b: Int) -> Float { (0..<8).reduce(Float(0)) { $0 + cf[a * 8 + $1] * cf[b * 8 + $1] } }
        var within = 0.0, across = 0.0
        for a in 0..<20 { for b in 0..<20 where a != b { within += Double(cos(a, b)); across += Double(cos(a, 20 + b)) } }
        within /= 380; across /= 380
        #expect(within > 0.5 && across < 0.1, "within \(within), across \(across)")
        #expect((0..<8).allSatisfy { cf[40 * 8 + $0] == 0 }, "an item without co-occurrences gets a zero vector")
        // hybrid with identical text vectors: rows unit, the zero-collaborative row keeps its text direction
        let text = [Float](repeating: 1, count: 41 * 3)
        let h = try CollaborativeEmbeddings.hybrid(text: text, textDim: 3, collaborative: cf, collabDim: 8, count: 41, weight: 0.5)
        for i in 0..<41 {
            let n = (0..<11).reduce(Float(0)) { $0 + h[i * 11 + $1] * h[i * 11 + $1] }
            #expect(abs(n - 1) < 1e-5)
        }
        #expect(abs(h[40 * 11] - 1 / Float(3).squareRoot()) < 1e-6)
        #expect(throws: AlignError.self) { try CollaborativeEmbeddings.hybrid(text: text, textDim: 3, collaborative: cf, collabDim: 8, count: 41, weight: 1.5) }
        #expect(throws: AlignError.self) { try CollaborativeEmbeddings.build(sequences: [[1, 99]], itemCount: 41, options: o) }
    }
}
