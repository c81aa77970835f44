// Benchmark hook for `align bench`: times a SID build on seeded random unit vectors (the shape of sentence
// embeddings), the worst case for Lloyd's early stop since random data has no cluster structure.
import Foundation

public enum SIDBench {
    /// Seeded random vectors [n, dim], each row L2-normalised.
    public static func randomVectors(n: Int, dim: Int, seed: UInt64) -> SIDVectors {
        var rng = Rng(seed: seed)
        var v = [Float](repeating: 0, count: n * dim)
        for i in 0..<n {
            var s: Float = 0
            for t in 0..<dim { let x = Float(rng.normal()); v[i * dim + t] = x; s += x * x }
            let inv = 1 / max(s.squareRoot(), 1e-12)
            for t in 0..<dim { v[i * dim + t] *= inv }
        }
        return SIDVectors(values: v, n: n, dim: dim)
    }

    /// Seconds to quantize n random dim-dimensional vectors with `levels` × `codes` (data generation not
    /// timed), plus the report of that build.
    public static func measure(n: Int = 100_000, dim: Int = 384, levels: Int = 3, codes: Int = 256,
                               method: SIDMethod = .rqkmeans, iterations: Int = 25, seed: UInt64 = 1) throws -> (seconds: Double, report: SIDReport) {
        let v = randomVectors(n: n, dim: dim, seed: seed)
        let t0 = Date()
        let b = try SIDBuilder.build(v, config: SIDBuildConfig(method: method, levels: levels, codes: codes, seed: seed,
                                                               kmeans: KMeansConfig(iterations: iterations)))
        return (Date().timeIntervalSince(t0), b.report)
    }

    /// Seconds for an RQ-KMeans build of n × dim random vectors (levels × codes).
    public static func run(n: Int = 100_000, dim: Int = 384, levels: Int = 3, codes: Int = 256) throws -> Double {
        try measure(n: n, dim: dim, levels: levels, codes: codes).seconds
    }
}
