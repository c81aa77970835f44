// Collaborative item vectors from the protocol's TRAINING sequences only (no validation/test target is ever
// seen): item–item co-occurrence within a sliding window, positive PMI with context-distribution smoothing
// (Levy, Goldberg & Dagan 2015: c_j^0.75), then a rank-k truncated eigendecomposition of the symmetric PPMI
// matrix by randomized subspace iteration (Halko, Martinsson & Tropp 2011), vectors U_k·|Λ_k|^½, each row
// L2-normalised. Items that never co-occur get a zero vector.
//
// `hybrid` concatenates √(1−w)·text and √w·collaborative unit vectors, so every row stays unit-norm (rows
// without collaborative signal keep their text direction at norm √(1−w), then are re-normalised). Semantic
// IDs built on hybrid vectors group items that are both described alike and consumed alike.
import AlignCore
import Foundation

/// Symmetric sparse matrix in CSR form over items 0..<n.
struct SymmetricCSR {
    var n: Int
    var rowStart: [Int]
    var cols: [Int32]
    var values: [Float]

    /// y[n, k] = M · x[n, k] (row-major, k columns).
    func multiply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, k: Int) {
        Parallel.forEach(n, minPerWorker: 64) { i in
            let yi = y + i * k
            for c in 0..<k { yi[c] = 0 }
            for e in rowStart[i]..<rowStart[i + 1] {
                let v = values[e], xj = x + Int(cols[e]) * k
                for c in 0..<k { yi[c] += v * xj[c] }
            }
        }
    }
}

/// Options of the collaborative embedding.
public struct CollaborativeOptions: Sendable, Equatable {
    /// Output dimension k.
    public var dim: Int = 64
    /// Co-occurrence window: items at distance 1...window in a sequence count as a pair (weight 1/distance).
    public var window: Int = 10
    /// Extra subspace columns and power iterations of the randomized eigensolver.
    public var oversample: Int = 16
    public var powerIterations: Int = 4
    /// Seed of the random test matrix.
    public var seed: UInt64 = 0
    public init() {}
}

/// Builds collaborative and hybrid item vectors.
public enum CollaborativeEmbeddings {
    /// PPMI matrix of `sequences` (item indices 1...itemCount) as CSR over rows 0..<itemCount.
    static func ppmi(sequences: [[Int]], itemCount n: Int, window: Int) throws -> SymmetricCSR {
        for (u, s) in sequences.enumerated() {
            if let bad = s.first(where: { $0 < 1 || $0 > n }) {
                throw AlignError.invalidArgument("training sequence \(u) holds item index \(bad), outside 1...\(n)")
            }
        }
        var rows = [[Int32: Float]](repeating: [:], count: n)
        for s in sequences {
            for (a, item) in s.enumerated() {
                var d = 1
                while d <= window && a + d < s.count {
                    let other = s[a + d]
                    if other != item {
                        let w = 1 / Float(d)
                        rows[item - 1][Int32(other - 1), default: 0] += w
                        rows[other - 1][Int32(item - 1), default: 0] += w
                    }
                    d += 1
                }
            }
        }
        var rowSum = [Double](repeating: 0, count: n)
        for i in 0..<n { rowSum[i] = rows[i].values.reduce(0) { $0 + Double($1) } }
        let total = rowSum.reduce(0, +)
        let smoothed = rowSum.map { Foundation.pow($0, 0.75) }
        let smoothedTotal = smoothed.reduce(0, +)
        var csr = SymmetricCSR(n: n, rowStart: [0], cols: [], values: [])
        for i in 0..<n {
            for (j, c) in rows[i].sorted(by: { $0.key < $1.key }) {
                // PMI = log( P(i,j) / (P(i) · P_α(j)) )
                let pmi = Foundation.log(Double(c) / total / (rowSum[i] / total) / (smoothed[Int(j)] / smoothedTotal))
                if pmi > 0 { csr.cols.append(j); csr.values.append(Float(pmi)) }
            }
            csr.rowStart.append(csr.cols.count)
        }
        // PMI with α-smoothed contexts is not exactly symmetric; symmetrise as (M + Mᵀ)/2 for the eigensolver.
        return symmetrised(csr)
    }

    static func symmetrised(_ m: SymmetricCSR) -> SymmetricCSR {
        var rows = [[Int32: Float]](repeating: [:], count: m.n)
        for i in 0..<m.n {
            for e in m.rowStart[i]..<m.rowStart[i + 1] {
                let j = Int(m.cols[e]), v = m.values[e] / 2
                rows[i][Int32(j), default: 0] += v
                rows[j][Int32(i), default: 0] += v
            }
        }
        var out = SymmetricCSR(n: m.n, rowStart: [0], cols: [], values: [])
        for i in 0..<m.n {
            for (j, v) in rows[i].sorted(by: { $0.key < $1.key }) { out.cols.append(j); out.values.append(v) }
            out.rowStart.append(out.cols.count)
        }
        return out
    }

    /// Unit-norm collaborative vectors [itemCount, dim] from training sequences.
    public static func build(sequences: [[Int]], itemCount n: Int, options o: CollaborativeOptions) throws -> [Float] {
        guard o.dim >= 1, o.window >= 1, o.oversample >= 0, o.powerIterations >= 0 else {
            throw AlignError.invalidArgument("collaborative embedding needs dim ≥ 1, window ≥ 1 (got \(o.dim), \(o.window))")
        }
        let m = try ppmi(sequences: sequences, itemCount: n, window: o.window)
        let k = o.dim
        guard k <= n else { throw AlignError.invalidArgument("collaborative dim \(k) exceeds the \(n) items") }
        let (lambda, vectors) = truncatedEigen(m, k: k, oversample: o.oversample, powerIterations: o.powerIterations, seed: o.seed)
        var out = vectors
        for r in 0..<n { for c in 0..<k { out[r * k + c] *= Float(abs(lambda[c]).squareRoot()) } }
        normalizeRows(&out, dim: k)
        return out
    }

    /// The k eigenpairs of largest |λ| of a symmetric sparse matrix by randomized subspace iteration:
    /// (λ [k], eigenvectors as unit columns of a row-major [n, k]).
    static func truncatedEigen(_ m: SymmetricCSR, k: Int, oversample: Int, powerIterations: Int,
                               seed: UInt64) -> ([Double], [Float]) {
        let n = m.n, p = min(n, k + oversample)
        var rng = Rng(seed: seed)
        var q = (0..<(n * p)).map { _ in Float(rng.normal()) }
        var y = [Float](repeating: 0, count: n * p)
        orthonormalizeColumns(&q, rows: n, cols: p)
        for _ in 0..<(powerIterations + 1) {
            q.withUnsafeBufferPointer { qb in y.withUnsafeMutableBufferPointer { yb in m.multiply(qb.baseAddress!, yb.baseAddress!, k: p) } }
            swap(&q, &y)
            orthonormalizeColumns(&q, rows: n, cols: p)
        }
        // B = Qᵀ M Q  [p, p], symmetric
        q.withUnsafeBufferPointer { qb in y.withUnsafeMutableBufferPointer { yb in m.multiply(qb.baseAddress!, yb.baseAddress!, k: p) } }
        var b = [Float](repeating: 0, count: p * p)
        sgemm(true, false, p, p, n, 1, q, p, y, p, 0, &b, p)
        for i in 0..<p { for j in (i + 1)..<p { let v = (b[i * p + j] + b[j * p + i]) / 2; b[i * p + j] = v; b[j * p + i] = v } }
        let (lambda, vecs) = symmetricEigen(b.map(Double.init), n: p)
        let order = (0..<p).sorted { abs(lambda[$0]) > abs(lambda[$1]) || (abs(lambda[$0]) == abs(lambda[$1]) && $0 < $1) }
        var u = [Float](repeating: 0, count: p * k)   // [p, k]: the chosen eigenvectors of B
        for (c, e) in order.prefix(k).enumerated() { for r in 0..<p { u[r * k + c] = Float(vecs[r * p + e]) } }
        var out = [Float](repeating: 0, count: n * k)
        sgemm(false, false, n, k, p, 1, q, p, u, k, 0, &out, k)
        return (order.prefix(k).map { lambda[$0] }, out)
    }

    /// Row-wise √(1−w)·text ⊕ √w·collab, each part unit (or zero) first, rows re-normalised. [n, dt + dc].
    public static func hybrid(text: [Float], textDim dt: Int, collaborative: [Float], collabDim dc: Int, count n: Int,
                              weight w: Float) throws -> [Float] {
        guard w >= 0 && w <= 1 else { throw AlignError.invalidArgument("collaborative weight must be in [0, 1] (got \(w))") }
        guard text.count == n * dt, collaborative.count == n * dc else {
            throw AlignError.invalidArgument("hybrid: text [\(text.count)] / collaborative [\(collaborative.count)] do not match \(n) items")
        }
        var t = text, c = collaborative
        normalizeRows(&t, dim: dt); normalizeRows(&c, dim: dc)
        let a = (1 - w).squareRoot(), b = w.squareRoot(), d = dt + dc
        var out = [Float](repeating: 0, count: n * d)
        for i in 0..<n {
            for j in 0..<dt { out[i * d + j] = a * t[i * dt + j] }
            for j in 0..<dc { out[i * d + dt + j] = b * c[i * dc + j] }
        }
        normalizeRows(&out, dim: d)
        return out
    }

    /// In-place L2 normalisation of each row (zero rows stay zero).
    static func normalizeRows(_ v: inout [Float], dim: Int) {
        for r in 0..<(v.count / dim) {
            var s: Float = 0
            for j in 0..<dim { s += v[r * dim + j] * v[r * dim + j] }
            if s > 0 { let inv = 1 / s.squareRoot(); for j in 0..<dim { v[r * dim + j] *= inv } }
        }
    }

    /// Modified Gram–Schmidt with re-orthogonalisation ("twice is enough") on the columns of a row-major
    /// [rows, cols] matrix. A column that is (numerically) in the span of the previous ones is replaced by the
    /// first unit basis vector that is not, so the result always has orthonormal columns (cols ≤ rows).
    static func orthonormalizeColumns(_ a: inout [Float], rows: Int, cols: Int) {
        precondition(cols <= rows)
        func norm2(_ c: Int) -> Double { (0..<rows).reduce(0.0) { $0 + Double(a[$1 * cols + c]) * Double(a[$1 * cols + c]) } }
        func project(_ c: Int) {
            for _ in 0..<2 {
                for prev in 0..<c {
                    var dot = 0.0
                    for r in 0..<rows { dot += Double(a[r * cols + c]) * Double(a[r * cols + prev]) }
                    let d = Float(dot)
                    for r in 0..<rows { a[r * cols + c] -= d * a[r * cols + prev] }
                }
            }
        }
        for c in 0..<cols {
            let before = norm2(c)
            project(c)
            var s = norm2(c)
            var basis = 0
            while s <= 1e-8 * max(before, 1e-30) && basis < rows {   // collapsed: try e_basis
                for r in 0..<rows { a[r * cols + c] = r == basis ? 1 : 0 }
                project(c)
                s = norm2(c)
                basis += 1
            }
            let inv = Float(1 / s.squareRoot())
            for r in 0..<rows { a[r * cols + c] *= inv }
        }
    }

    /// Cyclic Jacobi eigendecomposition of a symmetric [n, n] matrix: (eigenvalues, eigenvectors as columns
    /// of a row-major [n, n]).
    static func symmetricEigen(_ m: [Double], n: Int) -> ([Double], [Double]) {
        var a = m
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<100 {
            var off = 0.0
            for i in 0..<n { for j in (i + 1)..<n { off += a[i * n + j] * a[i * n + j] } }
            if off < 1e-22 { break }
            for p in 0..<n {
                for q in (p + 1)..<n where abs(a[p * n + q]) > 1e-300 {
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {   // rotate columns p, q
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq; a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {   // rotate rows p, q
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk; a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq; v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }
}

extension EmbeddingPipeline {
    /// `align embed --collaborative`: collaborative vectors from `protocol`'s training sequences of the dataset
    /// in `dataDir`, mixed with the text vectors of `textFile` at `weight` (1 = collaborative only), written
    /// atomically to `out`.
    @discardableResult
    public static func collaborative(dataDir: URL, protocol p: EvalProtocol, textFile: URL, weight: Float,
                                     options: CollaborativeOptions, out: URL,
                                     log: (String) -> Void = { _ in }) throws -> ItemEmbeddings {
        let start = Date()
        let dataset = try Dataset.load(from: dataDir)
        let n = dataset.items.count
        let text = try ItemEmbeddings.load(textFile)
        guard text.count == n else {
            throw AlignError.invalidArgument("\(textFile.path) has \(text.count) vectors, the dataset \(n) items (re-run `align embed`)")
        }
        let seqs = dataset.trainingSequences(p)
        let cf = try CollaborativeEmbeddings.build(sequences: seqs, itemCount: n, options: options)
        var covered = 0
        for i in 0..<n where (0..<options.dim).contains(where: { cf[i * options.dim + $0] != 0 }) { covered += 1 }
        let v = try CollaborativeEmbeddings.hybrid(text: text.vectors, textDim: text.dim, collaborative: cf,
                                                   collabDim: options.dim, count: n, weight: weight)
        var result = ItemEmbeddings(vectors: v, count: n, dim: text.dim + options.dim,
                                    encoder: "\(text.encoder)+ppmi-svd\(options.dim)(\(p.rawValue),w=\(weight))",
                                    normalized: true)
        result.interactions = p
        try result.write(to: out)
        log(String(format: "collaborative: %d training sequences (%@), %d/%d items with co-occurrences, %d-d PPMI eigenvectors, text weight %.2f / collaborative %.2f, %.1f s",
                   seqs.count, p.rawValue, covered, n, options.dim, 1 - weight, weight, Date().timeIntervalSince(start)))
        log("wrote \(out.path)")
        return result
    }
}
