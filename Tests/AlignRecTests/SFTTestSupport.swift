// Tiny synthetic SFT world for the SFT/eval/tokenizer tests: 24 items with two-level SIDs <a_i><b_j>,
// very short prompt templates (so a debug build trains in seconds), a real SentencePiece + SID tokenizer,
// and users following a deterministic rule (next item = item % 24 + 1).
import AlignCore
import AlignRec
import Foundation

/// Everything a tiny SFT test needs.
struct TinySFTWorld {
    let dir: URL
    let items: [Item]
    let sidMap: SIDMap
    let prompts: PromptLibrary
    let tokenizer: Tokenizer
    let builder: TaskSampleBuilder
    let sequences: [[Int]]

    static let itemCount = 24

    /// Next item of the rule in a catalogue of `n` items.
    static func next(_ i: Int, of n: Int = itemCount) -> Int { i % n + 1 }

    /// Writes a minimal prompt directory (one or two very short templates per task).
    static func writePrompts(_ dir: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        try "{instruction}\n".write(to: dir.appendingPathComponent("wrapper.txt"), atomically: true, encoding: .utf8)
        let texts: [String: [String]] = [
            "nextitem": ["next after {history}", "after {history} comes"],
            "sid2title": ["title of {item}:"],
            "title2sid": ["id of {title}:"],
            "titlehist2sid": ["next after {history}:"],
            "sidhist2title": ["title after {history}:"],
        ]
        var tasks: [String: Any] = [:]
        for (task, list) in texts {
            try fm.createDirectory(at: dir.appendingPathComponent(task), withIntermediateDirectories: true)
            var files: [String] = []
            for (i, t) in list.enumerated() {
                let rel = "\(task)/0\(i + 1).txt"
                try t.write(to: dir.appendingPathComponent(rel), atomically: true, encoding: .utf8)
                files.append(rel)
            }
            tasks[task] = ["templates": files, "eval_template": 0]
        }
        let obj: [String: Any] = ["format": "align-prompts", "version": 1, "wrapper": "wrapper.txt", "tasks": tasks]
        try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]).write(to: dir.appendingPathComponent("tasks.json"))
    }

    static let words = ["red", "blue", "green", "night", "river", "storm", "gold", "city"]

    /// Builds the world: `items` items with two-level SIDs (4 × 6 codes), or one-level SIDs `<a_i>` with
    /// `oneLevel`. The prompts are written to a fresh temporary directory, loaded and the directory removed; `dir`
    /// stays a fresh path for callers that want files of their own (they create it and remove it).
    static func make(users: Int = 36, length: Int = 8, items n: Int = itemCount, oneLevel: Bool = false,
                     maxHistory: Int = 4, seed: UInt64 = 7) throws -> TinySFTWorld {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-sft-test-\(UUID().uuidString)")
        try writePrompts(dir.appendingPathComponent("prompts"))
        let items = (1...n).map { i in
            Item(item: i, id: "m\(i)", title: "\(words[i % 8]) \(words[(i / 8 + 3) % 8])", year: 1990 + i,
                 genres: [i % 3 == 0 ? "Drama" : "Comedy"], text: "")
        }
        let sidMap = oneLevel
            ? try SIDMap(codebookSizes: [n], method: "test", dedup: "none", codesByRow: (0..<n).map { [$0] })
            : try SIDMap(codebookSizes: [4, 6], method: "test", dedup: "none", codesByRow: (0..<n).map { [$0 / 6, $0 % 6] })
        let prompts = try PromptLibrary.load(dir.appendingPathComponent("prompts"))
        try? FileManager.default.removeItem(at: dir)   // the library holds its files in memory; callers that need a directory create `dir` again
        let tokenizer = try TokenizerTraining.train(items: items, prompts: prompts, sidMap: sidMap, vocabSize: 60)
        let builder = try TaskSampleBuilder(library: prompts, items: items, sid: { sidMap.tokenString($0) },
                                            config: TaskConfig(maxHistory: maxHistory))
        var rng = Rng(seed: seed)
        let sequences = (0..<users).map { _ -> [Int] in
            var s = [1 + rng.int(below: n)]
            while s.count < length { s.append(next(s.last!, of: n)) }
            return s
        }
        return TinySFTWorld(dir: dir, items: items, sidMap: sidMap, prompts: prompts, tokenizer: tokenizer,
                            builder: builder, sequences: sequences)
    }

    /// A tiny LLaMA for this vocabulary.
    func params(seed: UInt64 = 1, hidden: Int = 32, layers: Int = 1) -> LlamaParameters {
        var m = ModelPreset()
        m.hiddenSize = hidden; m.intermediateSize = 2 * hidden; m.numHiddenLayers = layers; m.numAttentionHeads = 2
        m.maxPositionEmbeddings = 64
        let c = m.llamaConfig(vocabSize: tokenizer.vocabSize, bos: tokenizer.bosId!, eos: tokenizer.eosId!, pad: tokenizer.padId)
        return LlamaParameters(config: c, seed: seed)
    }

    /// Encoded samples of the tasks.
    func samples(_ tasks: [PromptTask], dense: Bool, stride: Int = 1, seed: UInt64 = 3, offsets: [Int]? = nil) throws -> (SFTSamples, Rng) {
        var rng = Rng(seed: seed)
        let s = try SFTSamples.build(builder: builder, tokenizer: try InstructionTokenizer(tokenizer), tasks: tasks, sequences: sequences,
                                     stride: stride, denseHistoryLoss: dense, maxLength: 64, offsets: offsets,
                                     isSID: { self.tokenizer.isSIDToken(Int($0)) }, rng: &rng)
        return (s, rng)
    }

    /// Optimiser settings for tiny runs.
    static func optim(steps: Int, lr: Float = 1e-2, batch: Int = 16) -> OptimPreset {
        var o = OptimPreset()
        o.steps = steps; o.lr = lr; o.batchSize = batch; o.warmup = 5; o.weightDecay = 0.0; o.windowBatches = 4
        return o
    }
}
