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

/// `sft_valid`: one validation — the validation keys every stage writes (`ValidationScores`), the step, whether it
/// is a new best, and the raw weights' scores when validation used a moving average.
public struct SFTValidRecord: StageMetricRecord {
    public static let stage = "sft_valid"
    public var step: Int
    public var scores: ValidationScores
    /// A new best validation NDCG@10 (saved to best/ under `eval.keep: best`).
    public var best: Bool
    /// Under `eval.keep: final`: whether these are the final weights, saved to best/ (absent under `best`).
    public var kept: Bool?
    /// The raw weights' scores when validation used a moving average.
    public var rawHR10: Double?
    public var rawNDCG10: Double?

    public init(step: Int, scores: ValidationScores, best: Bool) { self.step = step; self.scores = scores; self.best = best }

    enum CodingKeys: String, CodingKey { case step, best, kept, rawHR10 = "raw_hr10", rawNDCG10 = "raw_ndcg10" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        best = try c.decode(Bool.self, forKey: .best)
        kept = try c.decodeIfPresent(Bool.self, forKey: .kept)
        rawHR10 = try c.decodeIfPresent(Double.self, forKey: .rawHR10)
        rawNDCG10 = try c.decodeIfPresent(Double.self, forKey: .rawNDCG10)
        scores = try ValidationScores(from: decoder)
    }

    public func encode(to encoder: Encoder) throws {
        try scores.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step); try c.encode(best, forKey: .best); try c.encodeIfPresent(kept, forKey: .kept)
        try c.encodeIfPresent(rawHR10, forKey: .rawHR10); try c.encodeIfPresent(rawNDCG10, forKey: .rawNDCG10)
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
