// `align sid build` end to end: vectors → quantizer (rqkmeans | rqkmeans-balanced | rqvae) → unique SIDs
// (extra level or Sinkhorn) → SIDMap + SIDReport, and the files `sid/sid_map.json`, `sid/report.json` and
// `sid/lcrec.index.json` (LC-Rec form), each written atomically.
import Foundation

/// Quantization method.
public enum SIDMethod: String, Codable, Sendable, CaseIterable {
    case rqkmeans
    case rqkmeansBalanced = "rqkmeans-balanced"
    case rqvae
}

/// Everything a SID build needs besides the vectors.
public struct SIDBuildConfig: Codable, Sendable, Equatable {
    public var method: SIDMethod
    public var levels: Int
    public var codes: Int
    public var seed: UInt64
    /// Lloyd iterations per level (k-means methods and RQ-VAE codebook initialisation use `kmeans`).
    public var kmeans: KMeansConfig
    public var dedup: SIDDedup
    public var sinkhorn: SinkhornConfig
    public var rqvae: RQVAEConfig

    public init(method: SIDMethod = .rqkmeans, levels: Int = 3, codes: Int = 256, seed: UInt64 = 42,
                kmeans: KMeansConfig = KMeansConfig(), dedup: SIDDedup = .extraLevel,
                sinkhorn: SinkhornConfig = SinkhornConfig(), rqvae: RQVAEConfig = RQVAEConfig()) {
        self.method = method; self.levels = levels; self.codes = codes; self.seed = seed
        self.kmeans = kmeans; self.dedup = dedup; self.sinkhorn = sinkhorn; self.rqvae = rqvae
    }
}

/// A finished build.
public struct SIDBuild: Sendable {
    public var map: SIDMap
    public var report: SIDReport
    /// The quantizer output before de-duplication.
    public var quantized: RQCodes
}

public enum SIDBuilder {
    /// Runs the quantizer only.
    public static func quantize(_ v: SIDVectors, config c: SIDBuildConfig) throws -> RQCodes {
        switch c.method {
        case .rqkmeans, .rqkmeansBalanced:
            var km = c.kmeans
            km.balanced = c.method == .rqkmeansBalanced
            return try RQKMeans.fit(v.values, n: v.n, dim: v.dim, config: RQKMeansConfig(levels: c.levels, codes: c.codes, kmeans: km), seed: c.seed)
        case .rqvae:
            var rc = c.rqvae
            rc.levels = c.levels; rc.codes = c.codes; rc.kmeansIterations = c.kmeans.iterations
            return try RQVAE.fit(v.values, n: v.n, dim: v.dim, config: rc, seed: c.seed)
        }
    }

    /// Builds unique SIDs and the quality report. `items` (optional) supplies genres for the purity.
    public static func build(_ v: SIDVectors, items: [Item]? = nil, config c: SIDBuildConfig) throws -> SIDBuild {
        let t0 = Date()
        if let items, items.count != v.n {
            throw AlignError.invalidArgument("the catalogue has \(items.count) items but there are \(v.n) vectors; re-run `align embed`")
        }
        let q = try quantize(v, config: c)
        let out = Dedup.run(q, method: c.dedup, sinkhorn: c.sinkhorn)
        let dedupName: String
        switch (c.dedup, out.fellBack) {
        case (.sinkhorn, true): dedupName = "sinkhorn+extra-level"
        default: dedupName = c.dedup.rawValue
        }
        var map = try SIDMap(codebookSizes: out.codebookSizes, method: c.method.rawValue, dedup: dedupName, codesByRow: out.codes)
        map.interactions = v.interactions
        var stats: [SIDLevelStats] = []
        for d in 0..<map.levels {
            stats.append(.of(out.codes.map { $0[d] }, level: d, size: out.codebookSizes[d], extra: d >= q.levels))
        }
        var purity: Double? = nil, genreItems = 0
        if let items {
            let labels = items.map { $0.genres.first }
            (purity, genreItems) = SIDReport.purity(firstCodes: out.codes.map { $0[0] }, labels: labels)
        }
        var norm = 0.0
        for x in v.values { norm += Double(x) * Double(x) }
        var notes: [String] = []
        if out.fellBack {
            notes.append("Sinkhorn re-assignment left \(out.groupsLeftAfterSinkhorn) colliding groups after \(out.sinkhornRounds) rounds; the extra level made them unique")
        }
        if out.extraLevel && c.dedup == .extraLevel {
            notes.append("extra level \(SIDMap.letter(q.levels)) added: \(out.collidingItemsBefore) items shared a tuple")
        }
        if c.dedup == .sinkhorn {
            notes.append("reconstruction error is the quantizer's, before Sinkhorn moved \(out.sinkhornReassigned) last-level codes")
        }
        let report = SIDReport(
            method: c.method.rawValue, dedup: dedupName, seed: c.seed, items: v.n, dim: v.dim, quantizerLevels: q.levels,
            levelStats: stats, collisionRateBeforeDedup: out.collisionRateBefore, maxGroupSizeBeforeDedup: out.maxGroupBefore,
            collidingItemsBeforeDedup: out.collidingItemsBefore, unique: Set(out.codes).count == v.n,
            extraLevel: out.extraLevel, sinkhornRounds: out.sinkhornRounds, sinkhornReassigned: out.sinkhornReassigned,
            sinkhornFellBack: out.fellBack, reconstructionError: q.reconstructionError,
            meanSquaredNorm: v.n > 0 ? norm / Double(v.n) : 0, firstLevelGenrePurity: purity, genreItems: genreItems,
            iterations: q.iterations, lossHistory: q.lossHistory, seconds: Date().timeIntervalSince(t0), notes: notes)
        return SIDBuild(map: map, report: report, quantized: q)
    }

    /// Writes `sid_map.json`, `report.json` and `lcrec.index.json` into `dir` (each atomically).
    public static func write(_ b: SIDBuild, to dir: URL) throws {
        try b.map.write(dir.appendingPathComponent("sid_map.json"))
        try AtomicFile.write(try b.report.jsonData(), to: dir.appendingPathComponent("report.json"))
        try b.map.writeIndexJSON(dir.appendingPathComponent("lcrec.index.json"))
    }

    /// The whole command: reads `<dataset>/embeddings.safetensors` (or `embeddings`) and, when present,
    /// `<dataset>/items.jsonl`; writes into `out` (default `<dataset>/sid`).
    public static func run(dataset: URL, embeddings: URL? = nil, out: URL? = nil, config: SIDBuildConfig) throws -> SIDBuild {
        let embURL = embeddings ?? dataset.appendingPathComponent("embeddings.safetensors")
        guard FileManager.default.fileExists(atPath: embURL.path) else {
            throw AlignError.io(path: embURL.path, message: "no item vectors; run `align embed` first (or pass --embeddings FILE)")
        }
        let v = try SIDInputs.loadEmbeddings(embURL)
        let itemsURL = dataset.appendingPathComponent("items.jsonl")
        let items = FileManager.default.fileExists(atPath: itemsURL.path) ? try SIDInputs.loadItems(itemsURL) : nil
        let b = try build(v, items: items, config: config)
        try write(b, to: out ?? dataset.appendingPathComponent("sid"))
        return b
    }
}
