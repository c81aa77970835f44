// The lines SFT writes to metrics.jsonl (Run/MetricRecord.swift): a training line every 10 steps, one per
// validation, and one when a step diverges. Keys are those of the file format; `align report` reads them back.
import Foundation

/// `sft_train`, every 10 steps: losses averaged over the steps since the last line.
public struct SFTTrainRecord: StageMetricRecord {
    public static let stage = "sft_train"
    public var step: Int
    public var loss: Double
    /// Item-head loss (item memory only).
    public var itemLoss: Double?
    public var lr: Double
    public var gradNorm: Double
    public var tokensPerSecond: Double
    public var epoch: Int
    /// Input tokens seen since the start of the run.
    public var tokens: Int

    public init(step: Int, loss: Double, itemLoss: Double? = nil, lr: Double, gradNorm: Double, tokensPerSecond: Double,
                epoch: Int, tokens: Int) {
        self.step = step; self.loss = loss; self.itemLoss = itemLoss; self.lr = lr; self.gradNorm = gradNorm
        self.tokensPerSecond = tokensPerSecond; self.epoch = epoch; self.tokens = tokens
    }

    enum CodingKeys: String, CodingKey {
        case step, loss, itemLoss = "item_loss", lr, gradNorm = "grad_norm", tokensPerSecond = "tokens_per_s", epoch, tokens
    }
}

/// NDCG@10 of one SID weight of the item-memory mix.
public struct SIDWeightScore: Codable, Sendable, Equatable {
    public var sidWeight: Float
    public var ndcg10: Double
    public init(sidWeight: Float, ndcg10: Double) { self.sidWeight = sidWeight; self.ndcg10 = ndcg10 }
}

/// `sft_valid`: one validation. Keys `ndcg10_w<weight>` hold `mix`, one per SID weight tried.
public struct SFTValidRecord: StageMetricRecord {
    public static let stage = "sft_valid"
    public var step: Int
    public var hr10: Double
    public var ndcg10: Double
    public var users: Int
    public var seconds: Double
    /// A new best (saved to best/).
    public var best: Bool
    /// The raw weights' scores when validation used a moving average.
    public var rawHR10: Double?
    public var rawNDCG10: Double?
    /// Item memory: the SID weight chosen, every weight's NDCG@10 and the SID beam's own scores.
    public var sidWeight: Double?
    public var mix: [SIDWeightScore] = []
    public var sidNDCG10: Double?
    public var sidHR10: Double?

    public init(step: Int, hr10: Double, ndcg10: Double, users: Int, seconds: Double, best: Bool) {
        self.step = step; self.hr10 = hr10; self.ndcg10 = ndcg10; self.users = users; self.seconds = seconds; self.best = best
    }

    enum CodingKeys: String, CodingKey {
        case step, hr10, ndcg10, users, seconds, best, rawHR10 = "raw_hr10", rawNDCG10 = "raw_ndcg10"
        case sidWeight = "sid_weight", sidNDCG10 = "ndcg10_sid", sidHR10 = "hr10_sid"
    }

    /// The key of a mix entry: "ndcg10_w0.5".
    static func mixKey(_ w: Float) -> String { String(format: "ndcg10_w%g", Double(w)) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        hr10 = try c.decode(Double.self, forKey: .hr10)
        ndcg10 = try c.decode(Double.self, forKey: .ndcg10)
        users = try c.decode(Int.self, forKey: .users)
        seconds = try c.decode(Double.self, forKey: .seconds)
        best = try c.decode(Bool.self, forKey: .best)
        rawHR10 = try c.decodeIfPresent(Double.self, forKey: .rawHR10)
        rawNDCG10 = try c.decodeIfPresent(Double.self, forKey: .rawNDCG10)
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
        try c.encode(step, forKey: .step); try c.encode(hr10, forKey: .hr10); try c.encode(ndcg10, forKey: .ndcg10)
        try c.encode(users, forKey: .users); try c.encode(seconds, forKey: .seconds); try c.encode(best, forKey: .best)
        try c.encodeIfPresent(rawHR10, forKey: .rawHR10); try c.encodeIfPresent(rawNDCG10, forKey: .rawNDCG10)
        try c.encodeIfPresent(sidWeight, forKey: .sidWeight)
        try c.encodeIfPresent(sidNDCG10, forKey: .sidNDCG10); try c.encodeIfPresent(sidHR10, forKey: .sidHR10)
        var any = encoder.container(keyedBy: MetricKey.self)
        for m in mix { try any.encode(m.ndcg10, forKey: MetricKey(Self.mixKey(m.sidWeight))) }
    }
}

/// `sft_diverged`: the step whose loss or gradient norm was not finite.
public struct SFTDivergedRecord: StageMetricRecord {
    public static let stage = "sft_diverged"
    public var step: Int
    /// The value that was not finite, under its quantity's key.
    public var loss: Double?
    public var gradNorm: Double?

    public init(_ d: TrainingDiverged) {
        step = d.step
        if d.quantity == "loss" { loss = d.value } else { gradNorm = d.value }
    }

    enum CodingKeys: String, CodingKey { case step, loss, gradNorm = "grad_norm" }
}
