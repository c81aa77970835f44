// `align tokenizer train`: SentencePiece on the catalogue's text and the prompt templates, plus the special
// tokens and every SID token of the SID map as whole tokens (Sources/AlignRec/Train/TokenizerTraining.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Tokenizers: train a SentencePiece model + SID tokens for a dataset.",
        subcommands: [TokenizerTrain.self]
    )
}

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train SentencePiece on item titles/genres + prompt templates; add <s> </s> <pad> and all SID tokens.",
        discussion: """
        Corpus: every item's display title ("Heat (1995)"), bare title and genres, then the literal text of the \
        wrapper and every template in --prompts (each line repeated 200×). SentencePiece trains single-threaded with a fixed seed (digits not \
        split, no byte fallback, --vocab-size as a soft limit), so the output is deterministic. Then <s>, </s> keep \
        their SentencePiece control ids, <pad> and every SID token of the SID map (all levels × all codes) are \
        appended as whole tokens. Writes tokenizer.model, align_tokens.json and HF tokenizer files atomically.
        """
    )

    @Option(name: .long, help: "Dataset directory (from `align data prepare`).")
    var data: String
    @Option(name: .customLong("vocab-size"), help: "SentencePiece text vocabulary size (SID and special tokens come on top).")
    var vocabSize: Int = 2000
    @Option(name: .customLong("model-type"), help: "bpe | unigram")
    var modelType: String = "unigram"
    @Option(name: .customLong("sid-map"), help: "SID map (default <data>/sid/sid_map.json).")
    var sidMap: String?
    @Option(name: .long, help: "Prompt templates directory.")
    var prompts: String = "prompts"
    @Option(name: .long, help: "Output directory (default <data>/tokenizer).")
    var out: String?

    func run() throws {
        do {
            try CLIErrors.option.int("--vocab-size", vocabSize, 16...LlamaConfig.maxVocabSize)
            guard let mt = SentencePieceTrainOptions.ModelType(rawValue: modelType) else {
                throw AlignError.invalidArgument("--model-type must be bpe or unigram (got \(modelType))")
            }
            let dir = URL(fileURLWithPath: data)
            let dataset = try Dataset.load(from: dir)
            let sidURL = sidMap.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("sid/sid_map.json")
            guard FileManager.default.fileExists(atPath: sidURL.path) else {
                throw AlignError.io(path: sidURL.path, message: "no SID map; run `align sid build --data \(data)` first or pass --sid-map")
            }
            let map = try SIDMap.read(sidURL)
            guard map.count == dataset.numItems else {
                throw AlignError.format(path: sidURL.path, line: nil, message: "SID map has \(map.count) items, the dataset \(dataset.numItems); rebuild it")
            }
            let library = try PromptLibrary.load(URL(fileURLWithPath: prompts))
            let tok = try TokenizerTraining.train(items: dataset.items, prompts: library, sidMap: map, vocabSize: vocabSize, modelType: mt)
            let outDir = out.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("tokenizer")
            try AtomicFile.writeDirectory(outDir) { tmp in try tok.write(to: tmp) }
            let sample = dataset.items.first.map { TaskSampleBuilder.displayTitle($0) } ?? ""
            let sp = tok.text
            let pieces = try tok.sentencePiece?.encodePieces(sample) ?? []
            print("SentencePiece \(mt.rawValue): \(sp.vocabSize) pieces + \(tok.vocabSize - sp.vocabSize) added (\(map.vocabulary.count) SID tokens, \(map.levels) levels) = \(tok.vocabSize)")
            print("example: \"\(sample)\" → \(pieces.joined(separator: " "))")
            print("wrote \(outDir.path)")
        }
    }
}
