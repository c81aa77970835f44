// K-means, balanced assignment and RQ-KMeans: sgemm distances vs the plain-loop reference, mixture recovery,
// the ±1 size property, empty-cluster handling and determinism.
import AlignRec
import Foundation
import Testing

@Test func sidNearestMatchesNaive() {
    var rng = Rng(seed: 3)
    let n = 300, dim = 7, k = 11
    let x = (0..<(n * dim)).map { _ in Float(rng.normal()) }
    let c = (0..<(k * dim)).map { _ in Float(rng.normal()) }
    var a = [Int32](repeating: 0, count: n), d = [Float](repeating: 0, count: n)
    x.withUnsafeBufferPointer { xp in c.withUnsafeBufferPointer { cp in
        KMeans.nearest(xp.baseAddress!, n: n, dim: dim, centroids: cp.baseAddress!, k: k, assign: &a, dist: &d)
    } }
    let ref = KMeans.nearestNaive(x, n: n, dim: dim, centroids: c, k: k)
    for i in 0..<n {
        // Same cluster, or a near-tie the float path may break the other way.
        if a[i] != ref.assign[i] {
            var dd = 0.0
            for t in 0..<dim { let v = Double(x[i * dim + t] - c[Int(a[i]) * dim + t]); dd += v * v }
            #expect(abs(dd - Double(ref.dist[i])) < 1e-4)
        }
        #expect(abs(d[i] - ref.dist[i]) < 1e-3 * max(1, ref.dist[i]))
    }
}

@Test func sidFirstLevelRecoversMixture() throws {
    let (x, labels) = SIDTestData.mixture(n: 800, dim: 16, components: 8, seed: 11)
    let q = try RQKMeans.fit(x, n: 800, dim: 16, config: RQKMeansConfig(levels: 2, codes: 8), seed: 1)
    let first = (0..<800).map { q.codes(row: $0)[0] }
    #expect(SIDTestData.purity(groups: first, labels: labels) >= 0.95)
    #expect(SIDTestData.purity(groups: labels, labels: first) >= 0.95)
    // Σ codewords approximates x far better than the zero vector.
    let meanSq = x.reduce(0.0) { $0 + Double($1 * $1) } / 800
    #expect(q.reconstructionError < 0.2 * meanSq)
}

@Test func sidBalancedSizesWithinOne() throws {
    for (n, k, seed) in [(503, 8, UInt64(1)), (400, 16, 2), (97, 10, 3)] {
        // Skewed mixture: plain k-means would give very unequal clusters.
        let (x, _) = SIDTestData.mixture(n: n, dim: 6, components: 3, seed: seed)
        var rng = Rng(seed: seed)
        let r = try x.withUnsafeBufferPointer {
            try KMeans.fit($0.baseAddress!, n: n, dim: 6, k: k, config: KMeansConfig(iterations: 10, balanced: true), rng: &rng)
        }
        let sizes = SIDTestData.sizes(r.assign, k: k)
        let target = Double(n) / Double(k)
        #expect(sizes.allSatisfy { abs(Double($0) - target) < 1 }, "n \(n) k \(k): \(sizes)")
        #expect(sizes.reduce(0, +) == n)
    }
    // Every level of balanced RQ-KMeans.
    let (x, _) = SIDTestData.mixture(n: 300, dim: 8, components: 4, seed: 9)
    let q = try RQKMeans.fit(x, n: 300, dim: 8, config: RQKMeansConfig(levels: 3, codes: 7, kmeans: KMeansConfig(balanced: true)), seed: 5)
    for d in 0..<3 {
        let s = SIDTestData.sizes((0..<300).map { Int32(q.codes(row: $0)[d]) }, k: 7)
        #expect(s.allSatisfy { abs(Double($0) - 300.0 / 7) < 1 }, "level \(d): \(s)")
    }
}

@Test func sidBalancedSecondPassPlacesEveryRow() {
    // 40 centroids on a line, all 410 rows near the first ones: every row's 16 nearest clusters are
    // (about) the same, so most rows need the all-clusters second pass.
    var rng = Rng(seed: 6)
    let n = 410, k = 40
    var x: [Float] = []
    for _ in 0..<n { x.append(Float(rng.normal() * 0.5)); x.append(Float(rng.normal() * 0.5)) }
    let c: [Float] = (0..<k).flatMap { j -> [Float] in [Float(j), 0] }
    var a = [Int32](repeating: 0, count: n), d = [Float](repeating: 0, count: n)
    x.withUnsafeBufferPointer { xp in c.withUnsafeBufferPointer { cp in
        BalancedAssign.assign(xp.baseAddress!, n: n, dim: 2, centroids: cp.baseAddress!, k: k, assign: &a, dist: &d)
    } }
    let sizes = SIDTestData.sizes(a, k: k)
    #expect(sizes.allSatisfy { $0 == 10 || $0 == 11 }, "\(sizes)")
    #expect(sizes.filter { $0 == 11 }.count == 10)
    for i in 0..<n {  // dist is the distance to the assigned centroid
        let dx = Double(x[2 * i] - c[2 * Int(a[i])]), dy = Double(x[2 * i + 1])
        #expect(abs(Double(d[i]) - (dx * dx + dy * dy)) < 1e-3)
    }
}

@Test func sidBalancedGreedyPrefersNearest() {
    // Two tight groups of 4 around two centroids: balanced = nearest here, all distances tiny.
    let x: [Float] = [0, 0, 0.1, 0, 0, 0.1, 0.1, 0.1, 5, 5, 5.1, 5, 5, 5.1, 5.1, 5.1]
    let c: [Float] = [5, 5, 0, 0]
    var a = [Int32](repeating: 0, count: 8), d = [Float](repeating: 0, count: 8)
    x.withUnsafeBufferPointer { xp in c.withUnsafeBufferPointer { cp in
        BalancedAssign.assign(xp.baseAddress!, n: 8, dim: 2, centroids: cp.baseAddress!, k: 2, assign: &a, dist: &d)
    } }
    #expect(a == [1, 1, 1, 1, 0, 0, 0, 0])
    #expect(d.allSatisfy { $0 < 0.03 })
}

@Test func sidEmptyClustersAndDuplicates() throws {
    // 20 copies of 3 distinct points, 5 clusters: must not crash or loop; at most 3 distinct codes used.
    var x: [Float] = []
    for i in 0..<20 { let p = i % 3; x += [Float(p), Float(p * p)] }
    var rng = Rng(seed: 1)
    let r = try x.withUnsafeBufferPointer {
        try KMeans.fit($0.baseAddress!, n: 20, dim: 2, k: 5, config: KMeansConfig(iterations: 10), rng: &rng)
    }
    #expect(r.distances.allSatisfy { $0 < 1e-6 })
    #expect(Set(r.assign).count <= 3)
    #expect(throws: AlignError.self) {
        var g = Rng(seed: 1)
        _ = try x.withUnsafeBufferPointer { try KMeans.fit($0.baseAddress!, n: 3, dim: 2, k: 5, config: KMeansConfig(), rng: &g) }
    }
}

@Test func sidRQKMeansDeterministic() throws {
    let (x, _) = SIDTestData.mixture(n: 400, dim: 12, components: 6, seed: 4)
    let cfg = RQKMeansConfig(levels: 3, codes: 8)
    let a = try RQKMeans.fit(x, n: 400, dim: 12, config: cfg, seed: 77)
    let b = try RQKMeans.fit(x, n: 400, dim: 12, config: cfg, seed: 77)
    #expect(a.codes == b.codes)
    #expect(a.codebooks == b.codebooks)
}
