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

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
                numAttentionHeads: Int, numKeyValueHeads: Int? = nil, headDim: Int? = nil,
                rmsNormEps: Float = 1e-5, ropeTheta: Float = 10000, maxPositionEmbeddings: Int = 2048,
                tieWordEmbeddings: Bool = false, bosTokenId: Int? = 1, eosTokenId: Int? = 2, padTokenId: Int? = nil) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? hiddenSize / numAttentionHeads
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

    struct RopeParameters: Codable { var rope_theta: Float?; var rope_type: String? }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / numAttentionHeads
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        let rp = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let rs = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        for type in [rp?.rope_type, rs?.rope_type].compactMap({ $0 }) where type != "default" {
            throw AlignError.invalidArgument("config.json: rope_type '\(type)' is not supported (align implements the default rotary embedding)")
        }
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? rp?.rope_theta ?? 10000
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        bosTokenId = try Self.tokenId(c, .bosTokenId)
        eosTokenId = try Self.tokenId(c, .eosTokenId)
        padTokenId = try Self.tokenId(c, .padTokenId)
        if try c.decodeIfPresent(Bool.self, forKey: .attentionBias) == true {
            throw AlignError.invalidArgument("config.json: attention_bias=true is not supported")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true {
            throw AlignError.invalidArgument("config.json: mlp_bias=true is not supported")
        }
        if let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct), act != "silu" {
            throw AlignError.invalidArgument("config.json: hidden_act '\(act)' is not supported (LLaMA uses silu)")
        }
        guard numAttentionHeads > 0, numKeyValueHeads > 0, numAttentionHeads % numKeyValueHeads == 0 else {
            throw AlignError.invalidArgument("config.json: num_attention_heads (\(numAttentionHeads)) must be a multiple of num_key_value_heads (\(numKeyValueHeads))")
        }
        guard headDim % 2 == 0 else { throw AlignError.invalidArgument("config.json: head_dim must be even for rotary embeddings") }
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
        try c.encode(RopeParameters(rope_theta: ropeTheta, rope_type: "default"), forKey: .ropeParameters)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(bosTokenId, forKey: .bosTokenId)
        try c.encodeIfPresent(eosTokenId, forKey: .eosTokenId)
        try c.encodeIfPresent(padTokenId, forKey: .padTokenId)
        try c.encode(false, forKey: .attentionBias)
        try c.encode(false, forKey: .mlpBias)
        try c.encode("silu", forKey: .hiddenAct)
        try c.encode("llama", forKey: .modelType)
    }

    /// Reads `config.json` from a file.
    public static func load(_ url: URL) throws -> LlamaConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)") }
        do { return try JSONDecoder().decode(LlamaConfig.self, from: data) } catch let e as AlignError {
            throw e
        } catch {
            throw AlignError.format(path: url.path, line: nil, message: "not a LLaMA config: \(error)")
        }
    }

    /// Extra keys transformers wants beside align's own when a checkpoint is written.
    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        var obj = try JSONSerialization.jsonObject(with: enc.encode(self)) as! [String: Any]
        obj["architectures"] = ["LlamaForCausalLM"]
        obj["torch_dtype"] = "float32"
        obj["initializer_range"] = 0.02
        obj["attention_dropout"] = 0.0
        obj["pretraining_tp"] = 1
        obj["use_cache"] = true
        return try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
    }

    /// Number of query heads per key/value head.
    public var groupSize: Int { numAttentionHeads / numKeyValueHeads }
}
