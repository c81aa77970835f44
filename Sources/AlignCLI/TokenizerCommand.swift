// `align tokenizer train`: SentencePiece on the catalogue's text and the prompt templates, plus the special
// tokens and every SID token of the SID map as whole tokens (Sources/AlignRec/Train/TokenizerTraining.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Tokenizers: train a SentencePiece model + SID tokens for a dataset; encode text with a model's tokenizer.",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self]
    )
}

/// `align tokenizer encode`: the ids a model's tokenizer gives text (for checks against other tools).
struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Print the token ids of text under a model's tokenizer (HF directory, GGUF file or align run).",
        discussion: "With --text, one line of ids; with --texts FILE (a JSON list of strings), a JSON list of id lists. No BOS is added."
    )

    @Option(name: .long, help: "Checkpoint directory, .gguf file, or run directory.")
    var model: String
    @Option(name: .long, help: "Text to encode.")
    var text: String?
    @Option(name: .long, help: "A JSON file holding a list of strings.")
    var texts: String?

    func validate() throws {
        if (text == nil) == (texts == nil) { throw ValidationError("give exactly one of --text and --texts") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: model)
        let dir = PretrainedModel.isGGUF(url) ? url : try RecModel.resolveCheckpoint(url)
        let tokenizer: Tokenizer
        if PretrainedModel.isGGUF(url) {
            guard let t = try Tokenizer(gguf: GGUFFile(url: url)) else { throw AlignError.io(path: url.path, message: "the GGUF file has no tokenizer") }
            tokenizer = t
        } else {
            guard Tokenizer.exists(in: dir) else { throw AlignError.io(path: dir.path, message: "no tokenizer.model or tokenizer.json here") }
            tokenizer = try Tokenizer.load(from: dir)
        }
        if let text {
            print(try tokenizer.encode(text).map(String.init).joined(separator: " "))
            return
        }
        let url2 = URL(fileURLWithPath: texts!)
        let list: [String]
        do { list = try JSONDecoder().decode([String].self, from: Data(contentsOf: url2)) } catch {
            throw AlignError.format(path: url2.path, line: nil, message: "not a JSON list of strings")
        }
        let ids = try list.map { try tokenizer.encode($0) }
        FileHandle.standardOutput.write(try JSONEncoder().encode(ids))
        print()
    }
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
    @Flag(name: .customLong("byte-fallback"), help: "Characters outside the corpus become UTF-8 byte pieces instead of <unk> (256 of the pieces are bytes; needs --vocab-size ≥ 300).")
    var byteFallback = false

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
            let tok = try TokenizerTraining.train(items: dataset.items, prompts: library, sidMap: map, vocabSize: vocabSize, modelType: mt, byteFallback: byteFallback)
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
