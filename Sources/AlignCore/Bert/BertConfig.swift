// BERT encoder configuration: Hugging Face's `config.json` for BertModel (snake_case keys), validated
// for what the native encoder implements (GELU-erf activation, absolute position embeddings).
import Foundation

/// Shape and hyper-parameters of a BERT encoder (HF `BertConfig` subset).
public struct BertConfig: Codable, Sendable, Equatable {
    /// Rows of the word-embedding matrix (`vocab_size`).
    public var vocabSize: Int
    /// Model width C (`hidden_size`).
    public var hiddenSize: Int
    /// Encoder layers (`num_hidden_layers`).
    public var numHiddenLayers: Int
    /// Attention heads H; C must be a multiple of H (`num_attention_heads`).
    public var numAttentionHeads: Int
    /// Feed-forward width (`intermediate_size`).
    public var intermediateSize: Int
    /// Longest sequence the absolute position table covers (`max_position_embeddings`).
    public var maxPositionEmbeddings: Int
    /// Token-type rows; the encoder always uses type 0 (`type_vocab_size`).
    public var typeVocabSize: Int
    /// LayerNorm epsilon (`layer_norm_eps`).
    public var layerNormEps: Float
    /// Activation; only "gelu" (erf form) is supported (`hidden_act`).
    public var hiddenAct: String
    /// Only "absolute" (or absent) is supported (`position_embedding_type`).
    public var positionEmbeddingType: String?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act", positionEmbeddingType = "position_embedding_type"
    }

    /// Memberwise initializer (defaults follow BERT's).
    public init(vocabSize: Int, hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int,
                maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2, layerNormEps: Float = 1e-12,
                hiddenAct: String = "gelu", positionEmbeddingType: String? = "absolute") {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads; self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps; self.hiddenAct = hiddenAct; self.positionEmbeddingType = positionEmbeddingType
    }

    /// Size of one attention head.
    public var headSize: Int { hiddenSize / numAttentionHeads }

    /// Reads and validates `config.json`.
    public static func load(_ url: URL) throws -> BertConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read BERT config: \(error.localizedDescription)")
        }
        let c: BertConfig
        do { c = try JSONDecoder().decode(BertConfig.self, from: data) } catch {
            throw AlignError.format(path: url.path, line: nil, message: "not a BERT config.json: \(error)")
        }
        try c.validate(path: url.path)
        return c
    }

    /// Checks that the encoder can run this configuration.
    public func validate(path: String) throws {
        func bad(_ m: String) -> AlignError { .format(path: path, line: nil, message: m) }
        for (k, v) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers),
                       ("num_attention_heads", numAttentionHeads), ("intermediate_size", intermediateSize),
                       ("max_position_embeddings", maxPositionEmbeddings), ("type_vocab_size", typeVocabSize)] where v <= 0 {
            throw bad("\(k) must be positive, got \(v)")
        }
        if hiddenSize % numAttentionHeads != 0 {
            throw bad("hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
        if hiddenAct != "gelu" {
            throw bad("hidden_act '\(hiddenAct)' is not supported (the encoder implements 'gelu', the erf form)")
        }
        if let p = positionEmbeddingType, p != "absolute" {
            throw bad("position_embedding_type '\(p)' is not supported (only 'absolute')")
        }
        if !(layerNormEps > 0) { throw bad("layer_norm_eps must be positive") }
    }
}
