// One validation path for SFT and alignment: ranking metrics of the current weights on (a deterministic subset of)
// a split, from the same lists `align eval` ranks by. With item memory the beam and item head are decoded once and
// every SID weight of the mix is scored from those candidates (HybridRanking.swift); the best weight is the result,
// and the SID beam's own scores come beside it. Both stages log the result as the same keys (`ValidationScores`).
import AlignCore
import Foundation

/// What one validation measured.
public struct ValidationResult: Sendable {
    /// The model's ranking: at the chosen SID weight with item memory, the beam's otherwise.
    public var metrics: RankingMetrics
    /// Item memory: the SID weight chosen, every weight's metrics, and the SID beam alone.
    public var sidWeight: Float?
    public var mix: [(weight: Float, metrics: RankingMetrics)] = []
    public var sidOnly: RankingMetrics?
    public var seconds: Double = 0
}

public enum Validation {
    /// Scores `examples` (history, exclusions and targets as `align eval` uses them) from top-20 lists, so the beam
    /// is at least 20. `sidWeights` are the mixes tried with item memory (nil: the model's own weight only); ties keep
    /// the earlier weight.
    public static func run(model: RecModel, dataset: Dataset, examples: [Example], beam: Int, sidWeights: [Float]? = nil,
                           progress: Bool = false) throws -> ValidationResult {
        let t0 = Date(), beam = max(beam, 20)
        guard model.itemTable != nil else {
            let lists = try Evaluation.recommendLists(model: model, dataset: dataset, examples: examples, beam: beam, progress: progress)
            var r = ValidationResult(metrics: Evaluation.metrics(lists: lists.map { $0.map(\.item) }, examples: examples))
            r.seconds = Date().timeIntervalSince(t0)
            return r
        }
        let cands = try Evaluation.hybridCandidates(model: model, dataset: dataset, examples: examples, beam: beam)
        let weights = sidWeights ?? [model.itemMemoryInfo?.sidWeight ?? 0]
        let mix = weights.map { w in
            (weight: w, metrics: Evaluation.metrics(lists: cands.map { $0.ranked(sidWeight: w, k: 20).map(\.item) }, examples: examples))
        }
        var best = mix[0]
        for m in mix.dropFirst() where m.metrics.ndcg(at: 10) > best.metrics.ndcg(at: 10) { best = m }
        var r = ValidationResult(metrics: best.metrics, sidWeight: best.weight, mix: mix,
                                 sidOnly: Evaluation.metrics(lists: cands.map { $0.beam.map(\.item) }, examples: examples))
        r.seconds = Date().timeIntervalSince(t0)
        return r
    }

    /// The split's examples to validate on: all, or an evenly strided `maxExamples` of them.
    public static func examples(_ dataset: Dataset, _ p: EvalProtocol, _ split: Split, maxExamples: Int) -> [Example] {
        Evaluation.subsample(dataset.examples(p, split), max: maxExamples)
    }

    /// One line of text for a result.
    public static func describe(_ r: ValidationResult) -> String {
        var s = String(format: "HR@10 %.4f NDCG@10 %.4f", r.metrics.hr(at: 10), r.metrics.ndcg(at: 10))
        if let w = r.sidWeight, let sid = r.sidOnly {
            s += String(format: " (mix sid weight %g; SID beam alone NDCG@10 %.4f)", w, sid.ndcg(at: 10))
        }
        return s
    }
}

/// The keys every validation line holds (SFT's `sft_valid` and the alignment stages' `valid` lines alike).
public struct ValidationScores: Codable, Sendable, Equatable {
    public var hr10: Double
    public var ndcg10: Double
    public var users: Int
    public var seconds: Double
    /// Item memory: the SID weight chosen, every weight's NDCG@10 (keys `ndcg10_w<weight>`) and the SID beam's own.
    public var sidWeight: Double?
    public var mix: [SIDWeightScore] = []
    public var sidNDCG10: Double?
    public var sidHR10: Double?

    public init(hr10: Double, ndcg10: Double, users: Int, seconds: Double) {
        self.hr10 = hr10; self.ndcg10 = ndcg10; self.users = users; self.seconds = seconds
    }

    public init(_ r: ValidationResult) {
        self.init(hr10: r.metrics.hr(at: 10), ndcg10: r.metrics.ndcg(at: 10), users: r.metrics.count, seconds: r.seconds)
        sidWeight = r.sidWeight.map(Double.init)
        mix = r.mix.map { SIDWeightScore(sidWeight: $0.weight, ndcg10: $0.metrics.ndcg(at: 10)) }
        sidNDCG10 = r.sidOnly?.ndcg(at: 10); sidHR10 = r.sidOnly?.hr(at: 10)
    }

    enum CodingKeys: String, CodingKey {
        case hr10, ndcg10, users, seconds, sidWeight = "sid_weight", sidNDCG10 = "ndcg10_sid", sidHR10 = "hr10_sid"
    }

    /// The key of a mix entry: "ndcg10_w0.5".
    static func mixKey(_ w: Float) -> String { String(format: "ndcg10_w%g", Double(w)) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hr10 = try c.decode(Double.self, forKey: .hr10)
        ndcg10 = try c.decode(Double.self, forKey: .ndcg10)
        users = try c.decode(Int.self, forKey: .users)
        seconds = try c.decode(Double.self, forKey: .seconds)
        sidWeight = try c.decodeIfPresent(Double.self, forKey: .sidWeight)
        sidNDCG10 = try c.decodeIfPresent(Double.self, forKey: .sidNDCG10)
        sidHR10 = try c.decodeIfPresent(Double.self, forKey: .sidHR10)
        let any = try decoder.container(keyedBy: MetricKey.self)
        mix = try any.allKeys.compactMap { k -> SIDWeightScore? in
            guard k.stringValue.hasPrefix("ndcg10_w"), let w = Float(k.stringValue.dropFirst("ndcg10_w".count)) else { return nil }
            return SIDWeightScore(sidWeight: w, ndcg10: try any.decode(Double.self, forKey: k))
        }.sorted { $0.sidWeight < $1.sidWeight }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(hr10, forKey: .hr10); try c.encode(ndcg10, forKey: .ndcg10)
        try c.encode(users, forKey: .users); try c.encode(seconds, forKey: .seconds)
        try c.encodeIfPresent(sidWeight, forKey: .sidWeight)
        try c.encodeIfPresent(sidNDCG10, forKey: .sidNDCG10); try c.encodeIfPresent(sidHR10, forKey: .sidHR10)
        var any = encoder.container(keyedBy: MetricKey.self)
        for m in mix { try any.encode(m.ndcg10, forKey: MetricKey(Self.mixKey(m.sidWeight))) }
    }
}
