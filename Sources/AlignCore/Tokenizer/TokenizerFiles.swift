// On-disk form of a `Tokenizer` inside a Hugging Face style directory:
//   tokenizer.model          the SentencePiece ModelProto
//   align_tokens.json        align's versioned added-token list (format "align-added-tokens", version 1)
//   added_tokens.json        HF's {content: id} map of appended tokens
//   tokenizer_config.json    HF LlamaTokenizer fields incl. added_tokens_decoder (legacy spacing, as align encodes)
//   special_tokens_map.json  HF bos/eos/unk/pad names
// Loading prefers align_tokens.json, then HF's added_tokens_decoder, then added_tokens.json.
// A byte-level BPE tokenizer is `tokenizer.json` instead of `tokenizer.model` (TokenizerJSON.swift): written with
// every added token (the model's and align's) in its added_tokens, plus tokenizer_config.json (special tokens,
// add_bos_token, chat_template), special_tokens_map.json and align_tokens.json.
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
        if let bpe { try writeBPE(bpe, to: dir); return }
        guard let sentencePiece else { throw AlignError.invalidArgument("this tokenizer's text model cannot be written") }
        try AtomicFile.write(sentencePiece.serialized(), to: dir.appendingPathComponent(Self.modelFileName))
        // The same ids for transformers and `tokenizers` (SentencePieceJSON.swift); unigram models only.
        let fast = try sentencePieceTokenizerJSON()
        if let fast { try AtomicFile.write(Self.json(fast), to: dir.appendingPathComponent(TokenizerJSON.fileName)) }
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
        // With tokenizer.json, transformers must match in text exactly what align matches: the added tokens, and
        // no other piece (a special role named here becomes a whole token for transformers).
        if fast == nil {
            for id in [sentencePiece.unkId, sentencePiece.bosId, sentencePiece.eosId, sentencePiece.padId].compactMap({ $0 }) {
                decoderEntries[String(id)] = entry(try sentencePiece.piece(id), special: true)
            }
        }
        for t in addedTokens { decoderEntries[String(t.id)] = entry(t.content, special: t.special) }
        var special: [String: Any] = [:]
        for (key, id) in [("bos_token", bosId), ("eos_token", eosId), ("unk_token", unkId), ("pad_token", padId)] {
            if let id, fast == nil || isAdded(id) { special[key] = try token(id) }
        }
        var config: [String: Any] = special
        config["tokenizer_class"] = fast == nil ? "LlamaTokenizer" : "PreTrainedTokenizerFast"
        config["add_bos_token"] = bosId != nil
        config["add_eos_token"] = false
        config["added_tokens_decoder"] = decoderEntries
        config["clean_up_tokenization_spaces"] = false
        config["legacy"] = true   // a SentencePiece dummy prefix after every added token, exactly as `encode` does
        config["sp_model_kwargs"] = [String: Any]()
        if let chatTemplate { config["chat_template"] = chatTemplate }
        try AtomicFile.write(Self.json(config), to: dir.appendingPathComponent("tokenizer_config.json"))
        try AtomicFile.write(Self.json(special), to: dir.appendingPathComponent("special_tokens_map.json"))
    }

    /// tokenizer.json (the model's own object, every added token listed), tokenizer_config.json,
    /// special_tokens_map.json and align_tokens.json.
    func writeBPE(_ bpe: ByteLevelBPE, to dir: URL) throws {
        guard var obj = try JSONSerialization.jsonObject(with: bpe.json) as? [String: Any] else {
            throw AlignError.invalidArgument("the BPE model carries no tokenizer.json object")
        }
        obj["added_tokens"] = addedTokens.map { t -> [String: Any] in
            ["id": t.id, "content": t.content, "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": !t.special, "special": t.special]
        }
        try AtomicFile.write(Self.json(obj), to: dir.appendingPathComponent(TokenizerJSON.fileName))
        let file = AddedTokensFile(sentencepieceVocabSize: bpe.vocabSize, tokens: addedTokens)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(enc.encode(file), to: dir.appendingPathComponent(AddedTokensFile.fileName))
        var special: [String: Any] = [:]
        for (key, id) in [("bos_token", bosId), ("eos_token", eosId), ("unk_token", unkId), ("pad_token", padId)] {
            if let id { special[key] = try token(id) }
        }
        var decoderEntries: [String: Any] = [:]
        for t in addedTokens {
            decoderEntries[String(t.id)] = ["content": t.content, "lstrip": false, "normalized": !t.special, "rstrip": false,
                                            "single_word": false, "special": t.special]
        }
        var config: [String: Any] = special
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        config["add_bos_token"] = addsBos
        config["add_eos_token"] = false
        config["added_tokens_decoder"] = decoderEntries
        config["clean_up_tokenization_spaces"] = false
        config["model_max_length"] = 1_000_000_000
        if let chatTemplate { config["chat_template"] = chatTemplate }
        try AtomicFile.write(Self.json(config), to: dir.appendingPathComponent("tokenizer_config.json"))
        try AtomicFile.write(Self.json(special), to: dir.appendingPathComponent("special_tokens_map.json"))
    }

    /// The tokenizer a GGUF file's metadata describes (nil when it has none).
    public convenience init?(gguf f: GGUFFile) throws {
        guard let (obj, specials, addBos) = try TokenizerJSON.object(gguf: f) else { return nil }
        let parsed = try TokenizerJSON.parse(obj, specials: specials, source: f.path)
        try self.init(text: parsed.model, addedTokens: parsed.addedTokens, addsBos: addBos,
                      chatTemplate: f.metadata["tokenizer.chat_template"]?.string)
    }

    /// Loads tokenizer.json (+ tokenizer_config.json, align_tokens.json) from `dir`.
    static func loadBPE(from dir: URL) throws -> Tokenizer {
        let url = dir.appendingPathComponent(TokenizerJSON.fileName)
        let obj = try readObject(url)
        let configURL = dir.appendingPathComponent("tokenizer_config.json")
        var config: [String: Any] = [:]
        if FileManager.default.fileExists(atPath: configURL.path) { config = try readObject(configURL) }
        var specials: [String: String] = [:]
        for role in ["bos", "eos", "pad", "unk"] {
            let v = config[role + "_token"]
            if let s = v as? String { specials[role] = s } else if let o = v as? [String: Any], let s = o["content"] as? String { specials[role] = s }
        }
        let parsed = try TokenizerJSON.parse(obj, specials: specials, source: url.path)
        var added = parsed.addedTokens
        let alignURL = dir.appendingPathComponent(AddedTokensFile.fileName)
        if FileManager.default.fileExists(atPath: alignURL.path) {
            let f = try readAddedTokensFile(alignURL, textVocabSize: parsed.model.vocabSize)
            added = f.tokens
        }
        let addBos = (config["add_bos_token"] as? Bool) ?? (parsed.templateBos != nil)
        return try wrap(url) {
            try Tokenizer(text: parsed.model, addedTokens: added, addsBos: addBos, chatTemplate: config["chat_template"] as? String)
        }
    }

    static func readAddedTokensFile(_ alignURL: URL, textVocabSize: Int) throws -> AddedTokensFile {
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
        guard f.sentencepieceVocabSize == textVocabSize else {
            throw AlignError.format(path: alignURL.path, line: nil, message: "written for a text vocabulary of \(f.sentencepieceVocabSize), but the tokenizer has \(textVocabSize)")
        }
        return f
    }

    private static func json(_ obj: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    /// Whether `dir` holds a tokenizer (`tokenizer.model` or `tokenizer.json`).
    public static func exists(in dir: URL) -> Bool {
        FileManager.default.fileExists(atPath: dir.appendingPathComponent(modelFileName).path)
            || FileManager.default.fileExists(atPath: dir.appendingPathComponent(TokenizerJSON.fileName).path)
    }

    /// Loads `tokenizer.model` (else `tokenizer.json`) plus the added tokens from `dir` (see the file header).
    public static func load(from dir: URL) throws -> Tokenizer {
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(modelFileName).path) else { return try loadBPE(from: dir) }
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

    static func readObject(_ url: URL) throws -> [String: Any] {
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
    static func wrap(_ url: URL, _ body: () throws -> Tokenizer) throws -> Tokenizer {
        do { return try body() } catch let AlignError.invalidArgument(msg) {
            throw AlignError.format(path: url.path, line: nil, message: msg)
        }
    }
}
