// The model bundle and the recommender: a save/load round trip is exact, and beam-search scores equal an
// independent computation from a full (uncached) forward pass, ranked as exhaustive enumeration ranks them.
import AlignRec
import Foundation
import Testing

/// A tiny but real bundle: SentencePiece trained here, SID tokens added, a random 2-layer LLaMA.
func tinyRecModel(seed: UInt64 = 7) throws -> RecModel {
    let titles = ["Heat", "Toy Story", "Jumanji", "Casino", "Sabrina", "Balto", "Nixon", "Othello",
                  "Now and Then", "Persuasion", "Babe", "Clueless"]
    let items = titles.enumerated().map { i, t in
        Item(item: i + 1, id: "\(100 + i)", title: t, year: 1990 + i, genres: [i % 2 == 0 ? "Drama" : "Comedy"],
             text: "\(t) (\(1990 + i))")
    }
    let promptsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../prompts").standardized
    let prompts = try PromptLibrary.load(promptsDir)
    var corpus = items.map(\.text)
    corpus += ["The user interacted with these items in chronological order. Predict the next item.",
               "Which item corresponds to the title? What is the title of item?", "Instruction Response"]
    let sp = try SentencePieceTrainer.train(sentences: corpus, vocabSize: 90, modelType: .bpe)
    let codes = (0..<items.count).map { [$0 % 3, $0 / 3] }          // 3 × 4 codes, all distinct
    let sidMap = try SIDMap(codebookSizes: [3, 4], method: "test", dedup: "none", codesByRow: codes)
    let tokenizer = try Tokenizer(sentencePiece: sp, adding: ["<s>", "</s>", "<pad>"] + sidMap.vocabulary)
    let cfg = LlamaConfig(vocabSize: tokenizer.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2,
                          numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 512,
                          bosTokenId: tokenizer.bosId, eosTokenId: tokenizer.eosId)
    let params = LlamaParameters(config: cfg, seed: seed, std: 0.3)
    return try RecModel(params: params, tokenizer: tokenizer, sidMap: sidMap, items: items, prompts: prompts,
                        taskConfig: TaskConfig(), info: AlignInfo(stage: "test"))
}

@Suite struct RecModelBundle {
    @Test func saveLoadRoundTripIsExact() throws {
        let m = try tinyRecModel()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-recmodel-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try m.save(to: dir.appendingPathComponent("best"), stage: "sft")
        let l = try RecModel.load(dir)                        // run dir → best/
        #expect(l.config == m.config)
        #expect(Array(l.params.data).map(\.bitPattern) == Array(m.params.data).map(\.bitPattern))
        #expect(l.items == m.items)
        #expect(l.sidMap == m.sidMap)
        #expect(l.sidIds == m.sidIds)
        #expect(l.tokenizer.vocabSize == m.tokenizer.vocabSize)
        #expect(l.info.stage == "sft")
        let req = [RecommendRequest(history: [1, 5, 9], exclude: [1, 5, 9])]
        let a = try Recommender(model: m, beam: 12).recommend(req, k: 5)
        let b = try Recommender(model: l, beam: 12).recommend(req, k: 5)
        // Same items in the same order; scores equal up to float summation order (OpenBLAS's thread count is
        // process-global and other tests running concurrently change it, which reorders sgemm sums).
        #expect(a.map { $0.map(\.item) } == b.map { $0.map(\.item) })
        for (x, y) in zip(a[0], b[0]) { #expect(abs(x.score - y.score) < 1e-5) }
    }

    @Test func missingSIDMapIsAClearError() throws {
        let m = try tinyRecModel()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-recmodel-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try m.save(to: dir, stage: "sft")
        try FileManager.default.removeItem(at: dir.appendingPathComponent(RecModel.sidMapFile))
        #expect(throws: AlignError.self) { _ = try RecModel.load(dir) }
    }
}

/// Summed log-probs of `path` after `prompt` from ONE full forward pass of the trainer (no KV cache, no beam search),
/// each step renormalised over `allowed(node)`, the tokens allowed at the trie node the path has reached.
func renormalizedPathScore(_ m: RecModel, trie: SIDTrie, prompt: [Int32], path: [Int32],
                           allowed: (Int) -> [Int32]) throws -> Double {
    let seq = prompt + path
    let tr = LlamaTrainer(params: m.params, maxBatch: 1, maxSeq: seq.count)
    try tr.forward(tokens: Array(seq.dropLast()), targets: Array(repeating: -100, count: seq.count - 1), batch: 1, seq: seq.count - 1)
    let V = m.config.vocabSize
    var node = 0, total = 0.0
    for (j, tok) in path.enumerated() {
        let row = (prompt.count - 1 + j) * V
        let ok = allowed(node)
        let mx = ok.map { Double(tr.logits[row + Int($0)]) }.max()!
        let lse = mx + log(ok.map { exp(Double(tr.logits[row + Int($0)]) - mx) }.reduce(0, +))
        total += Double(tr.logits[row + Int(tok)]) - lse
        node = trie.child(node, tok)!
    }
    return total
}

@Suite struct RecommenderScores {
    /// Summed log-probs of an item's SID (+ EOS), each step renormalised over the trie's allowed tokens,
    /// from ONE full forward pass of the trainer (no KV cache, no beam search).
    func independentScore(_ m: RecModel, prompt: [Int32], item: Int, excluded: Set<Int>) throws -> Double {
        let path = m.sidTokenIds(item) + [m.instructionTokenizer.eosId]
        return try renormalizedPathScore(m, trie: m.trie, prompt: prompt, path: path) { node in
            // allowed = children whose subtree still holds a non-excluded item
            m.trie.allowedTokens(node).filter { t in
                let c = m.trie.child(node, t)!
                return m.items.contains { !excluded.contains($0.item) && m.trie.tokens(of: $0.item).map { p in isPrefix(m, node: c, path: p) } == true }
            }
        }
    }

    /// Whether trie node `node` lies on `path` (walk the path from the root).
    func isPrefix(_ m: RecModel, node: Int, path: [Int32]) -> Bool {
        var n = 0
        if n == node { return true }
        for t in path {
            guard let c = m.trie.child(n, t) else { return false }
            n = c
            if n == node { return true }
        }
        return false
    }

    @Test func beamScoresMatchFullForwardAndExhaustiveRanking() throws {
        let m = try tinyRecModel(seed: 3)
        let rec = try Recommender(model: m, beam: 12, usersPerBatch: 2)
        let reqs = [RecommendRequest(history: [2, 4], exclude: [2, 4]), RecommendRequest(history: [7, 1, 3], exclude: []),
                    RecommendRequest(history: [11], exclude: [11, 12])]
        let lists = try rec.recommend(reqs, k: 12)
        for (r, list) in zip(reqs, lists) {
            let prompt = try rec.promptIds(history: r.history)
            let excluded = Set(r.exclude)
            let candidates = m.items.map(\.item).filter { !excluded.contains($0) }
            var truth: [(Int, Double)] = []
            for it in candidates { truth.append((it, try independentScore(m, prompt: prompt, item: it, excluded: excluded))) }
            truth.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            #expect(list.count == candidates.count)
            #expect(Set(list.map(\.item)).count == list.count)
            #expect(list.map(\.item) == truth.map(\.0))
            for (got, want) in zip(list, truth) { #expect(abs(Double(got.score) - want.1) < 1e-4) }
        }
    }
}
