// `align tokenizer train`: the text corpus (catalogue titles as prompts show them, genres, and every prompt
// template's literal text), a SentencePiece model trained on it, and the full align tokenizer = that model +
// the special tokens + every SID token of the SID map (all levels, all codes) as whole tokens. SentencePiece
// trains single-threaded with a fixed seed, so the same inputs give a byte-identical tokenizer.
// Owns only the corpus and the token list; the tokenizer itself is AlignCore/Tokenizer.
import Foundation

/// Builds align tokenizers for a catalogue.
public enum TokenizerTraining {
    /// Specials added after the SentencePiece ids when the model lacks them (`<s>`, `</s>` are its control
    /// pieces and keep their ids; `<pad>` is appended).
    public static let specials = ["<s>", "</s>", "<pad>"]

    /// How many times each template line is repeated in the corpus: every training sample carries one, so
    /// their words should be single pieces rather than split like rare title words (a template line seen
    /// once among thousands of titles would otherwise cost 2–3× the tokens in every prompt).
    public static let templateRepeat = 200

    /// Training sentences: per item its display title ("Heat (1995)"), its bare title, its genres; then the
    /// wrapper's and every template's literal text (slots removed), each line `templateRepeat` times.
    /// Order is fixed (items ascending, then templates in library order).
    public static func corpus(items: [Item], prompts: PromptLibrary) -> [String] {
        var out: [String] = []
        out.reserveCapacity(items.count * 3 + 64)
        for it in items.sorted(by: { $0.item < $1.item }) {
            out.append(TaskSampleBuilder.displayTitle(it, withYear: true))
            if it.year != nil { out.append(it.title) }
            if !it.genres.isEmpty { out.append(it.genres.joined(separator: ", ")) }
        }
        var templates = [prompts.wrapper]
        for task in PromptTask.allCases { templates += prompts.templates[task] ?? [] }
        for t in templates {
            for piece in t.pieces {
                if case .text(let s) = piece {
                    for line in s.split(separator: "\n") {
                        let l = line.trimmingCharacters(in: .whitespaces)
                        if !l.isEmpty { out += [String](repeating: l, count: templateRepeat) }
                    }
                }
            }
        }
        return out
    }

    /// The SentencePiece options align uses: unk 0, bos 1, eos 2, no pad piece, digits not split (a year
    /// is usually one piece), byte fallback off unless asked for (`byteFallback`: a character outside the corpus, such
    /// as a user's `;`, becomes its UTF-8 byte pieces instead of <unk>; 256 of the pieces are then bytes), vocabulary
    /// size as a soft limit so small catalogues still train.
    public static func options(vocabSize: Int, modelType: SentencePieceTrainOptions.ModelType, seed: UInt32 = 1,
                               byteFallback: Bool = false) -> SentencePieceTrainOptions {
        SentencePieceTrainOptions(vocabSize: vocabSize, modelType: modelType, characterCoverage: 1.0, seed: seed,
                                  byteFallback: byteFallback, splitDigits: false, hardVocabLimit: false)
    }

    /// Trains the text model on `corpus(items:prompts:)` and adds the specials and every SID token of `sidMap`.
    public static func train(items: [Item], prompts: PromptLibrary, sidMap: SIDMap, vocabSize: Int,
                             modelType: SentencePieceTrainOptions.ModelType = .unigram, byteFallback: Bool = false) throws -> Tokenizer {
        guard vocabSize >= 16 else { throw AlignError.invalidArgument("--vocab-size must be at least 16 (got \(vocabSize))") }
        guard !byteFallback || vocabSize >= 300 else {
            throw AlignError.invalidArgument("--byte-fallback needs --vocab-size of at least 300 (256 pieces are bytes; got \(vocabSize))")
        }
        let sentences = corpus(items: items, prompts: prompts)
        let sp = try SentencePieceTrainer.train(sentences: sentences, options: options(vocabSize: vocabSize, modelType: modelType,
                                                                                        byteFallback: byteFallback))
        return try extend(sentencePiece: sp, sidMap: sidMap)
    }

    /// A SentencePiece model (trained here or a pretrained model's `tokenizer.model`) plus the specials and
    /// every SID token of `sidMap`, level by level, code by code.
    public static func extend(sentencePiece sp: SentencePieceModel, sidMap: SIDMap) throws -> Tokenizer {
        let sids = sidMap.vocabulary
        for s in sids where sp.id(ofPiece: s) != nil {
            throw AlignError.invalidArgument("the SentencePiece model already has a piece '\(s)'; SID tokens must be new tokens")
        }
        return try Tokenizer(sentencePiece: sp, adding: specials + sids)
    }

    /// Checks that `tokenizer` carries every SID token of `sidMap` as a single whole token.
    public static func checkCovers(_ tokenizer: Tokenizer, sidMap: SIDMap, path: String) throws {
        for s in sidMap.vocabulary {
            guard let id = tokenizer.id(s), tokenizer.isSIDToken(id) else {
                throw AlignError.format(path: path, line: nil,
                                        message: "tokenizer has no whole token '\(s)' of the SID map; re-run `align tokenizer train` after `align sid build`")
            }
        }
        guard tokenizer.bosId != nil, tokenizer.eosId != nil else {
            throw AlignError.format(path: path, line: nil, message: "tokenizer has no <s>/</s> tokens")
        }
    }
}
