// Training SentencePiece models (unigram or BPE) from in-memory sentences or a text file, through the
// CSentencePiece shim. Training is single-threaded with a fixed random seed, so the same input and options
// give a byte-identical model. Nothing is written to disk: the model comes back as serialized bytes.
import CSentencePiece
import Foundation

/// Options for `SentencePieceTrainer` (snake_case JSON so they can live in a config file).
public struct SentencePieceTrainOptions: Codable, Sendable, Equatable {
    /// SentencePiece model types align trains.
    public enum ModelType: String, Codable, Sendable { case unigram, bpe }

    public var vocabSize: Int
    public var modelType: ModelType
    /// Share of characters the vocabulary must cover (1.0 for small alphabets, 0.9995 for CJK-rich text).
    public var characterCoverage: Double
    /// Pieces always kept whole (never split, never merged), e.g. `<sep>`.
    public var userDefinedSymbols: [String]
    /// Random generator seed of the trainer.
    public var seed: UInt32
    /// Unknown characters fall back to UTF-8 byte pieces `<0x..>` (adds 256 pieces).
    public var byteFallback: Bool
    /// Split digits into single-digit pieces.
    public var splitDigits: Bool
    /// When false, `vocabSize` is an upper bound (small corpora may not support the full size).
    public var hardVocabLimit: Bool
    /// Special ids (-1 disables bos/eos/pad).
    public var unkId: Int, bosId: Int, eosId: Int, padId: Int

    public init(vocabSize: Int, modelType: ModelType = .unigram, characterCoverage: Double = 1.0,
                userDefinedSymbols: [String] = [], seed: UInt32 = 1, byteFallback: Bool = false,
                splitDigits: Bool = false, hardVocabLimit: Bool = true,
                unkId: Int = 0, bosId: Int = 1, eosId: Int = 2, padId: Int = -1) {
        self.vocabSize = vocabSize; self.modelType = modelType; self.characterCoverage = characterCoverage
        self.userDefinedSymbols = userDefinedSymbols; self.seed = seed; self.byteFallback = byteFallback
        self.splitDigits = splitDigits; self.hardVocabLimit = hardVocabLimit
        self.unkId = unkId; self.bosId = bosId; self.eosId = eosId; self.padId = padId
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", modelType = "model_type", characterCoverage = "character_coverage"
        case userDefinedSymbols = "user_defined_symbols", seed, byteFallback = "byte_fallback"
        case splitDigits = "split_digits", hardVocabLimit = "hard_vocab_limit"
        case unkId = "unk_id", bosId = "bos_id", eosId = "eos_id", padId = "pad_id"
    }
}

/// Trains SentencePiece models deterministically.
public enum SentencePieceTrainer {
    /// Trains on in-memory sentences; returns the serialized model (`tokenizer.model` bytes).
    public static func trainSerialized(sentences: [String], options: SentencePieceTrainOptions) throws -> Data {
        guard !sentences.isEmpty else { throw AlignError.invalidArgument("SentencePiece training needs at least one sentence") }
        // Copy every sentence into one buffer; the shim reads (pointer, length) pairs from it.
        var blob = [CChar]()
        var starts = [Int](), lengths = [Int]()
        for s in sentences {
            starts.append(blob.count)
            let u = Array(s.utf8)
            lengths.append(u.count)
            blob.append(contentsOf: u.map { CChar(bitPattern: $0) })
        }
        if blob.isEmpty { blob.append(0) }
        return try withOptions(options) { opts in
            try blob.withUnsafeBufferPointer { b in
                let ptrs: [UnsafePointer<CChar>?] = starts.map { b.baseAddress! + $0 }
                return try call { out, n in
                    ptrs.withUnsafeBufferPointer { p in
                        lengths.withUnsafeBufferPointer { l in spm_train_sentences(p.baseAddress, l.baseAddress, p.count, opts, &out, &n) }
                    }
                }
            }
        }
    }

    /// Trains on in-memory sentences and loads the result.
    public static func train(sentences: [String], options: SentencePieceTrainOptions) throws -> SentencePieceModel {
        try SentencePieceModel(serialized: trainSerialized(sentences: sentences, options: options), source: "<trained \(options.modelType.rawValue) \(options.vocabSize)>")
    }

    /// Convenience: `train(sentences:vocabSize:modelType:...)`.
    public static func train(sentences: [String], vocabSize: Int, modelType: SentencePieceTrainOptions.ModelType = .unigram,
                             characterCoverage: Double = 1.0, userDefinedSymbols: [String] = [],
                             seed: UInt32 = 1) throws -> SentencePieceModel {
        try train(sentences: sentences, options: SentencePieceTrainOptions(
            vocabSize: vocabSize, modelType: modelType, characterCoverage: characterCoverage,
            userDefinedSymbols: userDefinedSymbols, seed: seed))
    }

    /// Trains on a text file (one sentence per line); returns the serialized model.
    public static func trainSerialized(file: URL, options: SentencePieceTrainOptions) throws -> Data {
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw AlignError.io(path: file.path, message: "training text file not found")
        }
        return try withOptions(options) { opts in
            try call { out, n in spm_train_file(file.path, opts, &out, &n) }
        }
    }

    private static func validate(_ o: SentencePieceTrainOptions) throws {
        guard o.vocabSize > 0, o.vocabSize <= Int(Int32.max) else {
            throw AlignError.invalidArgument("SentencePiece vocab_size must be positive, got \(o.vocabSize)")
        }
        guard o.characterCoverage > 0, o.characterCoverage <= 1 else {
            throw AlignError.invalidArgument("SentencePiece character_coverage must be in (0, 1], got \(o.characterCoverage)")
        }
        for s in o.userDefinedSymbols where s.isEmpty || s.contains(",") || s.utf8.contains(0) {
            throw AlignError.invalidArgument("user-defined symbol '\(s)' must be non-empty without commas or NUL")
        }
        for (name, v) in [("unk_id", o.unkId), ("bos_id", o.bosId), ("eos_id", o.eosId), ("pad_id", o.padId)] where v < -1 || v >= o.vocabSize {
            throw AlignError.invalidArgument("SentencePiece \(name) \(v) is outside -1..<\(o.vocabSize)")
        }
    }

    /// Builds the C options struct (with C strings that live for the duration of `body`).
    private static func withOptions<T>(_ o: SentencePieceTrainOptions, _ body: (UnsafePointer<spm_train_options>) throws -> T) throws -> T {
        try validate(o)
        let cSymbols = o.userDefinedSymbols.map { strdup($0) }
        defer { cSymbols.forEach { free($0) } }
        let constSymbols: [UnsafePointer<CChar>?] = cSymbols.map { UnsafePointer($0) }
        return try o.modelType.rawValue.withCString { type in
            try constSymbols.withUnsafeBufferPointer { syms in
                var c = spm_train_options()
                c.vocab_size = Int32(o.vocabSize)
                c.model_type = type
                c.character_coverage = o.characterCoverage
                c.user_defined_symbols = syms.baseAddress
                c.n_user_defined = syms.count
                c.seed = o.seed
                c.byte_fallback = o.byteFallback ? 1 : 0
                c.split_digits = o.splitDigits ? 1 : 0
                c.hard_vocab_limit = o.hardVocabLimit ? 1 : 0
                c.max_sentence_length = 0
                c.unk_id = Int32(o.unkId); c.bos_id = Int32(o.bosId); c.eos_id = Int32(o.eosId); c.pad_id = Int32(o.padId)
                return try withUnsafePointer(to: &c) { try body($0) }
            }
        }
    }

    private static func call(_ f: (inout UnsafeMutablePointer<UInt8>?, inout Int) -> Int32) throws -> Data {
        var out: UnsafeMutablePointer<UInt8>?
        var n = 0
        let rc = f(&out, &n)
        defer { spm_free_buffer(out) }
        guard rc == 0, let out else {
            throw AlignError.invalidArgument("SentencePiece training failed: \(SentencePieceModel.lastError())")
        }
        return Data(bytes: out, count: n)
    }
}
