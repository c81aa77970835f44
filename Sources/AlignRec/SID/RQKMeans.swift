// Residual quantization by k-means (RQ-KMeans) and its balanced variant: level d clusters the residuals left
// by levels 0..<d, so Σ_d codeword_d approximates each vector. Produces `RQCodes`, the quantizer output
// every SID method shares (codes, codebooks, the last level's input residuals for Sinkhorn de-duplication).
import Foundation

/// The output of a residual quantizer over n items.
public struct RQCodes: Sendable {
    /// Number of items.
    public var n: Int
    /// Number of quantization levels L.
    public var levels: Int
    /// Codebook size per level.
    public var codebookSizes: [Int]
    /// codes[i * levels + d] = code of item i (0-based row) at level d.
    public var codes: [Int32]
    /// Dimension of the quantized space (input dim for RQ-KMeans, latent dim for RQ-VAE).
    public var quantDim: Int
    /// codebooks[d] = [codebookSizes[d], quantDim] row-major.
    public var codebooks: [[Float]]
    /// Residuals entering the last level, [n, quantDim] (what the last codebook quantizes).
    public var lastResidual: [Float]
    /// Mean ‖x − x̂‖² over items (x̂ = Σ codewords for RQ-KMeans, the decoder output for RQ-VAE).
    public var reconstructionError: Double
    /// Lloyd iterations (RQ-KMeans) or epochs (RQ-VAE) run per level / in total, for the report.
    public var iterations: [Int]
    /// Mean training loss per epoch (RQ-VAE only; empty for RQ-KMeans).
    public var lossHistory: [Double] = []

    /// Codes of row i.
    public func codes(row i: Int) -> [Int] { (0..<levels).map { Int(codes[i * levels + $0]) } }
}

/// Configuration of (balanced) RQ-KMeans.
public struct RQKMeansConfig: Codable, Sendable, Equatable {
    public var levels: Int
    public var codes: Int
    public var kmeans: KMeansConfig
    public init(levels: Int = 3, codes: Int = 256, kmeans: KMeansConfig = KMeansConfig()) {
        self.levels = levels; self.codes = codes; self.kmeans = kmeans
    }
}

public enum RQKMeans {
    /// Quantizes x[n, dim] with `config.levels` residual k-means levels. Deterministic for a seed.
    public static func fit(_ x: [Float], n: Int, dim: Int, config: RQKMeansConfig, seed: UInt64) throws -> RQCodes {
        guard config.levels >= 1 else { throw AlignError.invalidArgument("--levels must be ≥ 1 (got \(config.levels))") }
        guard config.codes >= 2 else { throw AlignError.invalidArgument("--codes must be ≥ 2 (got \(config.codes))") }
        guard x.count == n * dim else { throw AlignError.invalidArgument("vectors hold \(x.count) floats, expected \(n) × \(dim)") }
        var rng = Rng(seed: seed)
        var residual = x
        var lastResidual: [Float] = []
        var codes = [Int32](repeating: 0, count: n * config.levels)
        var books: [[Float]] = []
        var its: [Int] = []
        for d in 0..<config.levels {
            if d == config.levels - 1 { lastResidual = residual }
            var levelRng = rng.split()
            let res = try residual.withUnsafeBufferPointer { rp in
                try KMeans.fit(rp.baseAddress!, n: n, dim: dim, k: config.codes, config: config.kmeans, rng: &levelRng)
            }
            books.append(res.centroids)
            its.append(res.iterations)
            residual.withUnsafeMutableBufferPointer { rp in
                res.centroids.withUnsafeBufferPointer { cp in
                    codes.withUnsafeMutableBufferPointer { op in
                        res.assign.withUnsafeBufferPointer { ap in
                            let r = rp.baseAddress!, c = cp.baseAddress!, o = op.baseAddress!, a = ap.baseAddress!
                            let L = config.levels
                            Parallel.forEach(n, minPerWorker: 256) { i in
                                let ai = Int(a[i])
                                o[i * L + d] = a[i]
                                for t in 0..<dim { r[i * dim + t] -= c[ai * dim + t] }
                            }
                        }
                    }
                }
            }
        }
        // x − Σ codewords is exactly the final residual.
        var err = 0.0
        for i in 0..<n {
            var s = 0.0
            for t in 0..<dim { let v = Double(residual[i * dim + t]); s += v * v }
            err += s
        }
        return RQCodes(n: n, levels: config.levels, codebookSizes: Array(repeating: config.codes, count: config.levels),
                       codes: codes, quantDim: dim, codebooks: books, lastResidual: lastResidual,
                       reconstructionError: n > 0 ? err / Double(n) : 0, iterations: its)
    }
}
