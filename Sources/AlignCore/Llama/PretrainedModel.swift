// A pretrained LLaMA-family model wherever align accepts one (`--init`, `align generate`, `align chat`,
// `align convert`): a Hugging Face checkpoint directory, or a single GGUF file. Both give the config, the weights
// (read on demand), the tokenizer with its special ids and the chat template when the model has them.
import Foundation

public struct PretrainedModel: @unchecked Sendable {
    public enum Source { case huggingFace(HFCheckpoint), gguf(GGUFFile) }

    public let url: URL
    public let source: Source
    public let config: LlamaConfig
    /// The tokenizer (nil when a directory has none).
    public let tokenizer: Tokenizer?
    /// The Jinja chat template the model ships (tokenizer_config.json `chat_template`, GGUF `tokenizer.chat_template`).
    public let chatTemplate: String?

    /// Whether `url` names a GGUF file (by its extension).
    public static func isGGUF(_ url: URL) -> Bool { url.pathExtension.lowercased() == "gguf" }

    /// Opens a checkpoint directory or a `.gguf` file, checking every tensor name and shape.
    public static func open(_ url: URL) throws -> PretrainedModel {
        if isGGUF(url) {
            let f = try GGUFFile(url: url)
            let config = try f.llamaConfig()
            let tok = try Tokenizer(gguf: f)
            if let tok, tok.vocabSize > config.vocabSize {
                throw AlignError.format(path: url.path, line: nil, message: "the tokenizer has \(tok.vocabSize) tokens, the model \(config.vocabSize) rows")
            }
            return PretrainedModel(url: url, source: .gguf(f), config: config, tokenizer: tok,
                                   chatTemplate: f.metadata["tokenizer.chat_template"]?.string)
        }
        let ck = try HFCheckpoint.readLlama(dir: url)
        return PretrainedModel(url: url, source: .huggingFace(ck), config: ck.config, tokenizer: ck.tokenizer,
                               chatTemplate: ck.tokenizer?.chatTemplate)
    }

    /// The weights as one flat F32 buffer.
    public func parameters() throws -> LlamaParameters {
        switch source {
        case .huggingFace(let ck): return try ck.llamaParameters()
        case .gguf(let f): return try f.llamaParameters(config: config)
        }
    }

    /// align's own record when the source is one of align's checkpoints.
    public var alignInfo: AlignInfo? {
        if case .huggingFace(let ck) = source { return ck.alignInfo }
        return nil
    }
}
