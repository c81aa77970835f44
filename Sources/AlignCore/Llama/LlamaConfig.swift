// The LLaMA architecture hyper-parameters, read from and written to a Hugging Face `config.json`
// (snake_case keys, `rope_theta` either top-level or under `rope_parameters`).
import Foundation

/// Configuration of a LLaMA-family decoder (HF `LlamaConfig` subset that changes the computation).
public struct LlamaConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var padTokenId: Int?
    /// Which member of the family (config.json `model_type`); decides the biases and the file's class name.
    public var architecture: LlamaArchitecture = .llama
    /// Biases on the q, k and v projections (Qwen2).
    public var attentionBias: Bool = false
    /// RoPE frequency scaling (nil: the default rotary embedding).
    public var ropeScaling: RopeScaling? = nil

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
                numAttentionHeads: Int, numKeyValueHeads: Int? = nil, headDim: Int? = nil,
                rmsNormEps: Float = 1e-5, ropeTheta: Float = 10000, maxPositionEmbeddings: Int = 2048,
                tieWordEmbeddings: Bool = false, bosTokenId: Int? = 1, eosTokenId: Int? = 2, padTokenId: Int? = nil) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta; self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId; self.padTokenId = padTokenId
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", headDim = "head_dim", rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", ropeParameters = "rope_parameters", ropeScaling = "rope_scaling"
        case maxPositionEmbeddings = "max_position_embeddings", tieWordEmbeddings = "tie_word_embeddings"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id", padTokenId = "pad_token_id"
        case attentionBias = "attention_bias", mlpBias = "mlp_bias", hiddenAct = "hidden_act", modelType = "model_type"
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    struct RopeParameters: Codable { var rope_theta: Float?; var rope_type: String? }

    /// Decodes every field, then checks them all (`validate`) before anything divides by a count: a bad value
    /// is an error naming the field, the value and the allowed range.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        let explicitHeadDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        // Every key, for the fields that only matter when present (LlamaVariants.swift).
        let rawContainer = try decoder.container(keyedBy: AnyKey.self)
        var raw: [String: JSONValue] = [:]
        for k in rawContainer.allKeys { raw[k.stringValue] = try rawContainer.decode(JSONValue.self, forKey: k) }
        let modelType = raw["model_type"]?.stringValue ?? "llama"
        guard let arch = LlamaArchitecture(rawValue: modelType) else {
            throw AlignError.invalidArgument("config.json: model_type '\(modelType)' is not supported (align implements \(LlamaArchitecture.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        architecture = arch
        attentionBias = arch == .qwen2
        var scaling: RopeScaling? = nil, scalingKey: String? = nil
        for key in ["rope_scaling", "rope_parameters"] {
            guard case .object(let o)? = raw[key] else { continue }
            let s = try Self.ropeScaling(o, key: key)
            if let scalingKey, s != scaling {
                throw AlignError.invalidArgument("config.json: \(scalingKey) and \(key) describe different rotary scalings")
            }
            scaling = s; scalingKey = key
        }
        ropeScaling = scaling
        let rp = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? rp?.rope_theta ?? 10000
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        bosTokenId = try Self.tokenId(c, .bosTokenId)
        eosTokenId = try Self.tokenId(c, .eosTokenId)
        // transformers treats a negative pad id (old LLaMA configs carry -1) as "no padding token".
        padTokenId = try Self.tokenId(c, .padTokenId).flatMap { $0 < 0 ? nil : $0 }
        if try c.decodeIfPresent(Bool.self, forKey: .attentionBias) == true {
            throw AlignError.invalidArgument("config.json: attention_bias=true is not supported for model_type \(arch.rawValue) (a bias on o_proj as well; Qwen2's q/k/v biases are)")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true {
            throw AlignError.invalidArgument("config.json: mlp_bias=true is not supported")
        }
        if let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct), act != "silu" {
            throw AlignError.invalidArgument("config.json: hidden_act '\(act)' is not supported (LLaMA uses silu)")
        }
        headDim = explicitHeadDim ?? 0
        try Self.checkUnsupportedFields(raw, architecture: arch, maxPositions: maxPositionEmbeddings)
        try validate(FieldCheck(file: "config.json"), headDimGiven: explicitHeadDim != nil)
        if explicitHeadDim == nil { headDim = hiddenSize / numAttentionHeads }
    }

    /// Ceilings of the sizes (far above any LLaMA-family model; they keep every memory plan inside an Int).
    public static let maxVocabSize = 1 << 22, maxHiddenSize = 1 << 16, maxIntermediateSize = 1 << 20
    public static let maxLayers = 1 << 12, maxHeads = 1 << 12, maxPositions = 1 << 24

    /// Checks every field: counts positive and under their ceilings (before any division), divisibility, finite
    /// floats in their domains, special-token ids inside the vocabulary. With `headDimGiven` false, head_dim is
    /// derived (hidden_size / num_attention_heads) and checked as such.
    public func validate(_ check: FieldCheck, headDimGiven: Bool = true) throws {
        try check.int("vocab_size", vocabSize, 1...Self.maxVocabSize)
        try check.int("hidden_size", hiddenSize, 1...Self.maxHiddenSize)
        try check.int("intermediate_size", intermediateSize, 1...Self.maxIntermediateSize)
        try check.int("num_hidden_layers", numHiddenLayers, 1...Self.maxLayers)
        try check.int("num_attention_heads", numAttentionHeads, 1...Self.maxHeads)
        try check.int("num_key_value_heads", numKeyValueHeads, 1...numAttentionHeads)
        try check.multiple("num_attention_heads", numAttentionHeads, of: numKeyValueHeads, "num_key_value_heads")
        if headDimGiven {
            try check.int("head_dim", headDim, 2...Self.maxHiddenSize)
        } else {
            try check.multiple("hidden_size", hiddenSize, of: numAttentionHeads, "num_attention_heads, when head_dim is not given")
        }
        let hd = headDimGiven ? headDim : hiddenSize / numAttentionHeads
        guard hd % 2 == 0 else {
            throw check.failure("head_dim", "\(hd)", allowed: "an even number (rotary embeddings rotate pairs)" + (headDimGiven ? "" : "; head_dim = hidden_size / num_attention_heads"))
        }
        try check.number("rms_norm_eps", rmsNormEps, .openClosed(0, 1))
        try check.number("rope_theta", ropeTheta, .closed(1, 1e30))
        try check.int("max_position_embeddings", maxPositionEmbeddings, 1...Self.maxPositions)
        try check.int("bos_token_id", bosTokenId, 0...(vocabSize - 1), "a token of the vocabulary")
        try check.int("eos_token_id", eosTokenId, 0...(vocabSize - 1), "a token of the vocabulary")
        try check.int("pad_token_id", padTokenId, 0...(vocabSize - 1), "a token of the vocabulary")
    }

    /// Float count of the weights (`LlamaLayout(self).count`, computed in Double so that any validated config
    /// can be sized before it is allocated).
    public var parameterFloats: Double {
        let V = Double(vocabSize), C = Double(hiddenSize), F = Double(intermediateSize), L = Double(numHiddenLayers)
        let q = Double(numAttentionHeads * headDim), kv = Double(numKeyValueHeads * headDim)
        let layer = 2 * C + (q + 2 * kv) * C + C * q + 3 * F * C + Double(qkvBiasCount)
        return V * C * (tieWordEmbeddings ? 1 : 2) + L * layer + C
    }

    /// A special-token id: absent/null → nil; an integer; or a list of integers (LLaMA 3 lists several EOS
    /// ids) → the first. Anything else is an error.
    static func tokenId(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int? {
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return nil }
        if let list = try? c.decode([Int].self, forKey: key) { return list.first }
        return try c.decode(Int.self, forKey: key)
    }

    /// Writes a config.json that transformers' LlamaConfig accepts (both rope spellings).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        if ropeScaling == nil { try c.encode(RopeParameters(rope_theta: ropeTheta, rope_type: "default"), forKey: .ropeParameters) }
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        try c.encodeIfPresent(eosTokenId, forKey: .eosTokenId)
        try c.encodeIfPresent(padTokenId, forKey: .padTokenId)
        if architecture != .qwen2 { try c.encode(false, forKey: .attentionBias) }
        try c.encode(false, forKey: .mlpBias)
        try c.encode("silu", forKey: .hiddenAct)
        try c.encode(architecture.rawValue, forKey: .modelType)
    }

    /// Reads `config.json` from a file.
    public static func load(_ url: URL) throws -> LlamaConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)") }
        do { return try JSONDecoder().decode(LlamaConfig.self, from: data) } catch let e as AlignError {
            // Field errors are worded for "config.json"; name the file actually read.
            if case let .format(_, line, message) = e { throw AlignError.format(path: url.path, line: line, message: message) }
            if case let .invalidArgument(message) = e, message.hasPrefix("config.json: ") {
                throw AlignError.format(path: url.path, line: nil, message: String(message.dropFirst("config.json: ".count)))
            }
            throw e
        } catch let e as DecodingError {
            throw AlignError.format(path: url.path, line: nil, message: "not a LLaMA config: \(DecodingErrorText.describe(e))")
        } catch {
            throw AlignError.format(path: url.path, line: nil, message: "not a LLaMA config: \(error)")
        }
    }

    /// Extra keys transformers wants beside align's own when a checkpoint is written.
    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        var obj = try JSONSerialization.jsonObject(with: enc.encode(self)) as! [String: Any]
        obj["architectures"] = [architecture.causalLMClass]
        if ropeScaling != nil {
            obj["rope_parameters"] = ropeParametersObject()
            obj["rope_scaling"] = ropeParametersObject()
        }
        if architecture == .qwen2 { obj["use_sliding_window"] = false }
        obj["torch_dtype"] = "float32"
        obj["initializer_range"] = 0.02
        obj["attention_dropout"] = 0.0
        obj["pretraining_tp"] = 1
        obj["use_cache"] = true
        return try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
    }

    /// "d 96, 2 layers, vocabulary 2,101" for messages.
    public var summary: String {
        "hidden_size \(hiddenSize), \(numHiddenLayers) layers, intermediate_size \(intermediateSize), vocab_size \(vocabSize)"
    }

    /// Number of query heads per key/value head.
    public var groupSize: Int { numAttentionHeads / numKeyValueHeads }
}
