// On-disk form of a `Tokenizer` inside a Hugging Face style directory:
//   tokenizer.model          the SentencePiece ModelProto
//   align_tokens.json        align's versioned added-token list (format "align-added-tokens", version 1)
//   added_tokens.json        HF's {content: id} map of appended tokens
//   tokenizer_config.json    HF LlamaTokenizer fields incl. added_tokens_decoder (legacy spacing, as align encodes)
//   special_tokens_map.json  HF bos/eos/unk/pad names
// Loading prefers align_tokens.json, then HF's added_tokens_decoder, then added_tokens.json.
import Foundation

/// The versioned added-token file (`align_tokens.json`).
public struct AddedTokensFile: Codable, Sendable, Equatable {
    public static let formatName = "align-added-tokens"
    public static let currentVersion = 1
    public static let fileName = "align_tokens.json"

    public var format: String
    public var version: Int
    /// Size of the SentencePiece model the ids were assigned against.
    public var sentencepieceVocabSize: Int
    public var tokens: [AddedToken]

    public init(sentencepieceVocabSize: Int, tokens: [AddedToken]) {
        format = Self.formatName; version = Self.currentVersion
        self.sentencepieceVocabSize = sentencepieceVocabSize; self.tokens = tokens
    }

    enum CodingKeys: String, CodingKey {
        case format, version, sentencepieceVocabSize = "sentencepiece_vocab_size", tokens
    }
}

extension Tokenizer {
    /// File names written by `write(to:)`.
    public static let modelFileName = "tokenizer.model"

    /// Writes `tokenizer.model`, `align_tokens.json`, `added_tokens.json`, `tokenizer_config.json` and
    /// `special_tokens_map.json` into `dir` (each file atomically).
    public func write(to dir: URL) throws {
        try AtomicFile.write(sentencePiece.serialized(), to: dir.appendingPathComponent(Self.modelFileName))
        let file = AddedTokensFile(sentencepieceVocabSize: sentencePiece.vocabSize, tokens: addedTokens)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(enc.encode(file), to: dir.appendingPathComponent(AddedTokensFile.fileName))

        var appended: [String: Int] = [:]
        for t in addedTokens where t.id >= sentencePiece.vocabSize { appended[t.content] = t.id }
        try AtomicFile.write(Self.json(appended), to: dir.appendingPathComponent("added_tokens.json"))

        // HF lists the model's unk/control pieces and every added token in added_tokens_decoder.
        var decoderEntries: [String: Any] = [:]
        func entry(_ content: String, special: Bool) -> [String: Any] {
            ["content": content, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": special]
        }
        for id in [sentencePiece.unkId, sentencePiece.bosId, sentencePiece.eosId, sentencePiece.padId].compactMap({ $0 }) {
            decoderEntries[String(id)] = entry(try sentencePiece.piece(id), special: true)
        }
        for t in addedTokens { decoderEntries[String(t.id)] = entry(t.content, special: t.special) }
        var special: [String: Any] = [:]
        for (key, id) in [("bos_token", bosId), ("eos_token", eosId), ("unk_token", unkId), ("pad_token", padId)] {
            if let id { special[key] = try token(id) }
        }
        var config: [String: Any] = special
        config["tokenizer_class"] = "LlamaTokenizer"
        config["add_bos_token"] = bosId != nil
        config["add_eos_token"] = false
        config["added_tokens_decoder"] = decoderEntries
        config["clean_up_tokenization_spaces"] = false
        config["legacy"] = true   // a SentencePiece dummy prefix after every added token, exactly as `encode` does
        config["sp_model_kwargs"] = [String: Any]()
        try AtomicFile.write(Self.json(config), to: dir.appendingPathComponent("tokenizer_config.json"))
        try AtomicFile.write(Self.json(special), to: dir.appendingPathComponent("special_tokens_map.json"))
    }

    private static func json(_ obj: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    /// Whether `dir` holds a tokenizer (`tokenizer.model`).
    public static func exists(in dir: URL) -> Bool {
        FileManager.default.fileExists(atPath: dir.appendingPathComponent(modelFileName).path)
    }

    /// Loads `tokenizer.model` plus the added tokens from `dir` (see the file header for the order).
    public static func load(from dir: URL) throws -> Tokenizer {
        let sp = try SentencePieceModel(contentsOf: dir.appendingPathComponent(modelFileName))
        let fm = FileManager.default
        let alignURL = dir.appendingPathComponent(AddedTokensFile.fileName)
        if fm.fileExists(atPath: alignURL.path) {
            let f: AddedTokensFile
            do { f = try JSONDecoder().decode(AddedTokensFile.self, from: Data(contentsOf: alignURL)) } catch {
                throw AlignError.format(path: alignURL.path, line: nil, message: "not a valid added-token file: \(error)")
            }
            guard f.format == AddedTokensFile.formatName else {
                throw AlignError.format(path: alignURL.path, line: nil, message: "format is '\(f.format)', expected '\(AddedTokensFile.formatName)'")
            }
            guard f.version == AddedTokensFile.currentVersion else {
                throw AlignError.format(path: alignURL.path, line: nil, message: "version \(f.version) is not supported (this build reads version \(AddedTokensFile.currentVersion))")
            }
            guard f.sentencepieceVocabSize == sp.vocabSize else {
                throw AlignError.format(path: alignURL.path, line: nil, message: "written for a SentencePiece vocabulary of \(f.sentencepieceVocabSize), but tokenizer.model has \(sp.vocabSize)")
            }
            return try wrap(alignURL) { try Tokenizer(sentencePiece: sp, addedTokens: f.tokens) }
        }
        let configURL = dir.appendingPathComponent("tokenizer_config.json")
        if fm.fileExists(atPath: configURL.path) {
            let obj = try readObject(configURL)
            if let dec = obj["added_tokens_decoder"] as? [String: Any] {
                var tokens: [AddedToken] = []
                for (key, v) in dec {
                    guard let id = Int(key), let e = v as? [String: Any], let content = e["content"] as? String else {
                        throw AlignError.format(path: configURL.path, line: nil, message: "added_tokens_decoder entry '\(key)' is not {id: {content, …}}")
                    }
                    // The model's own unk/normal pieces are listed too; only control pieces and appended ids are added tokens.
                    if id < sp.vocabSize, id >= 0, !(try sp.kind(id).contains(.control)) { continue }
                    tokens.append(AddedToken(content: content, id: id, special: (e["special"] as? Bool) ?? false))
                }
                return try wrap(configURL) { try Tokenizer(sentencePiece: sp, addedTokens: tokens) }
            }
        }
        let addedURL = dir.appendingPathComponent("added_tokens.json")
        if fm.fileExists(atPath: addedURL.path) {
            let obj = try readObject(addedURL)
            var tokens: [AddedToken] = []
            for (content, v) in obj {
                guard let id = (v as? NSNumber)?.intValue else {
                    throw AlignError.format(path: addedURL.path, line: nil, message: "value of '\(content)' is not an integer id")
                }
                tokens.append(AddedToken(content: content, id: id, special: isDefaultSpecial(content)))
            }
            return try wrap(addedURL) { try Tokenizer(sentencePiece: sp, addedTokens: tokens) }
        }
        return try Tokenizer(sentencePiece: sp, addedTokens: [])
    }

    private static func readObject(_ url: URL) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw AlignError.format(path: url.path, line: nil, message: "not a JSON object")
        }
        return obj
    }

    /// Re-labels an invalid-token-list error with the file it came from.
    private static func wrap(_ url: URL, _ body: () throws -> Tokenizer) throws -> Tokenizer {
        do { return try body() } catch let AlignError.invalidArgument(msg) {
            throw AlignError.format(path: url.path, line: nil, message: msg)
        }
    }
}
