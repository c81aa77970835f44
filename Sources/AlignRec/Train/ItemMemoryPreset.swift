// `item_memory:` in an SFT config: per-item vectors beside the SID tokens and the item-scoring head trained with a
// full-catalogue softmax beside the token loss (Sources/AlignCore/Llama/ItemMemory.swift), and the ranking mix
// tried on validation (Sources/AlignRec/Model/HybridRanking.swift).
import AlignCore
import Foundation

extension ItemHeadTrunkGradient: ConfigChoice {}

/// Item-memory settings of a training preset.
public struct ItemMemoryPreset: Codable, Sendable, Equatable {
    /// Per-item vectors and the item head (false: the SID-only model).
    public var enabled = false
    /// Weight of the item head's mean cross-entropy beside the token loss's.
    public var headWeight: Float = 1
    /// Probability that a history item's vector is left out of a training input, so the model also learns to read
    /// items by their SID tokens alone (what it does for cold items, which have no vector).
    public var inputDropout: Float = 0.1
    /// Standard deviation of the initial vectors.
    public var initStd: Float = 0.02
    /// Carry the last item's vector to the text tokens after it (ItemTable.swift), e.g. to every token of the title a
    /// sid2title answer generates.
    public var carry = false
    /// Separate input residuals: the input adds its own per-item vector instead of the head's (ItemMemory.swift), so
    /// the head's gradient does not move what the input adds (docs/results.md §10.4, i8).
    public var untied = false
    /// How much of the item head's gradient reaches the transformer: `full`, `balanced` (per sample, at most as much
    /// as the token loss's) or `none` (docs/results.md §10.5).
    public var trunkGradient = ItemHeadTrunkGradient.full
    /// SID weights of the ranking mix scored at every validation; the best one is saved with `best/`.
    public var sidWeights: [Float] = [0, 0.25, 0.5, 1]
    public init() {}

    enum CodingKeys: String, CodingKey {
        case enabled, headWeight = "head_weight", inputDropout = "input_dropout", initStd = "init_std", sidWeights = "sid_weights", carry, untied,
             trunkGradient = "trunk_gradient"
    }

    /// Missing keys take the defaults.
    public init(from decoder: Decoder) throws {
        let d = ItemMemoryPreset()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        headWeight = try c.decodeIfPresent(Float.self, forKey: .headWeight) ?? d.headWeight
        inputDropout = try c.decodeIfPresent(Float.self, forKey: .inputDropout) ?? d.inputDropout
        initStd = try c.decodeIfPresent(Float.self, forKey: .initStd) ?? d.initStd
        sidWeights = try c.decodeIfPresent([Float].self, forKey: .sidWeights) ?? d.sidWeights
        carry = try c.decodeIfPresent(Bool.self, forKey: .carry) ?? d.carry
        untied = try c.decodeIfPresent(Bool.self, forKey: .untied) ?? d.untied
        trunkGradient = try c.decodeIfPresent(ItemHeadTrunkGradient.self, forKey: .trunkGradient) ?? d.trunkGradient
    }

    /// Range checks (FieldCheck names the file and the field).
    func validate(_ check: FieldCheck) throws {
        try check.number("head_weight", headWeight, .closed(0, 1000))
        try check.number("input_dropout", inputDropout, .closedOpen(0, 1))
        try check.number("init_std", initStd, .closed(0, 1))
        guard !sidWeights.isEmpty, sidWeights.count <= 64 else {
            throw check.failure("sid_weights", "\(sidWeights)", allowed: "a list of 1 to 64 values")
        }
        for w in sidWeights { try check.number("sid_weights", w, .closed(0, 100)) }
    }
}
