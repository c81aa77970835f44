// The text part of a tokenizer: what turns a span of plain text (no added tokens in it) into ids and back.
// Two implementations: SentencePiece (`tokenizer.model`, align's own and LLaMA-2's) and byte-level BPE
// (`tokenizer.json` or GGUF metadata: GPT-2, Llama-3, Qwen2, SmolLM2). `Tokenizer` puts added whole tokens
// (specials, SID tokens) around either.
import Foundation

public protocol TextTokenModel: AnyObject, Sendable {
    /// Ids of the text model: 0..<vocabSize.
    var vocabSize: Int { get }
    /// Special ids the text model defines (nil: none).
    var unkId: Int? { get }
    var bosId: Int? { get }
    var eosId: Int? { get }
    var padId: Int? { get }
    /// Whether the model's own special ids take precedence over added `<s>`/`</s>`/`<pad>`/`<unk>` tokens.
    var ownsSpecialRoles: Bool { get }
    /// Encodes a span of text (no added tokens in it).
    func encode(_ text: String) throws -> [Int32]
    /// Decodes a run of text-model ids.
    func decode(_ ids: [Int32]) throws -> String
    /// The piece (vocabulary string) of `id`.
    func piece(_ id: Int) throws -> String
    /// The id of a piece, nil when it is not in the vocabulary.
    func id(ofPiece piece: String) -> Int?
    /// Whether `id` is a control piece (never produced by encoding text), which may double as an added token.
    func isControl(_ id: Int) throws -> Bool
}

extension SentencePieceModel: TextTokenModel {
    public var ownsSpecialRoles: Bool { false }
    public func isControl(_ id: Int) throws -> Bool { try kind(id).contains(.control) }
}
