// Models with item memory: a checkpoint round-trips bit-exactly (weights, residuals, warm flags, ranking mix) while
// model.safetensors keeps exactly the LLaMA tensors a SID-only model has; the hybrid ranking of beam and item head
// never returns an invalid, duplicate or excluded item and equals a brute-force ranking of every item; a tampered
// item-memory file is refused.
import AlignCore
import AlignRec
import Foundation
import Testing

/// tinyRecModel with an item memory: items 3 and 8 cold, residuals drawn from `seed`, SID weight `w`.
func tinyHybridModel(seed: UInt64 = 7, sidWeight w: Float = 0.5) throws -> RecModel {
    let m = try tinyRecModel(seed: seed)
    let n = m.items.count
    let warm = (1...n).map { $0 != 3 && $0 != 8 }
    let params = try ItemMemoryFile.attach([Float](repeating: 0, count: n * m.config.hiddenSize), items: n, to: m.params)
    ItemMemoryFile.initialise(params, items: try ItemTable(sids: m.sidIds, vocabSize: m.config.vocabSize, warm: warm),
                              seed: seed, std: 0.5)
    var info = m.info
    info.itemMemory = ItemMemoryInfo(items: n, sidWeight: w)
    return try RecModel(params: params, tokenizer: m.tokenizer, sidMap: m.sidMap, items: m.items, prompts: m.prompts,
                        taskConfig: m.taskConfig, info: info, itemWarm: warm)
}

@Suite struct HybridModelTests {
    func tempDir() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("align-hybrid-\(UUID().uuidString)") }

    @Test func checkpointRoundTripsBitExactlyAndKeepsTheHuggingFacePart() throws {
        let m = try tinyHybridModel()
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try m.save(to: dir.appendingPathComponent("best"), stage: "sft")
        let l = try RecModel.load(dir)
        #expect(Array(l.params.data).map(\.bitPattern) == Array(m.params.data).map(\.bitPattern))
        #expect(l.params.items == m.items.count)
        #expect(l.itemTable == m.itemTable && l.itemTable?.warm[2] == false)
        #expect(l.itemMemoryInfo?.sidWeight == 0.5)
        // The Hugging Face weights file holds the LLaMA tensors only, exactly as a SID-only model's does.
        let hf = try SafetensorsFile(url: dir.appendingPathComponent("best/model.safetensors"))
        #expect(Set(hf.names) == Set(LlamaLayout(m.config).tensors.map(\.name)))
        let plain = try HFCheckpoint.readLlama(dir: dir.appendingPathComponent("best")).llamaParameters()
        #expect(Array(plain.data).map(\.bitPattern) == Array(m.params.data[0..<m.params.layout.llamaCount]).map(\.bitPattern))
        // A second save of the loaded model writes the same item-memory file.
        try l.save(to: dir.appendingPathComponent("again"), stage: "sft")
        let a = try Data(contentsOf: dir.appendingPathComponent("best/\(ItemMemoryFile.fileName)"))
        let b = try Data(contentsOf: dir.appendingPathComponent("again/\(ItemMemoryFile.fileName)"))
        #expect(a == b)
    }

    @Test func tamperedItemMemoryIsRefused() throws {
        let m = try tinyHybridModel()
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try m.save(to: dir, stage: "sft")
        // Swap two items' SID tokens in the file: it no longer matches the SID map.
        var codes = m.itemTable!.codes
        codes.swapAt(0, 2)
        let t = try ItemTable(sids: (0..<m.items.count).map { Array(codes[($0 * 2)..<($0 * 2 + 2)]) }, vocabSize: m.config.vocabSize,
                              warm: m.itemTable!.warm)
        try ItemMemoryFile.write(params: m.params, items: t, to: dir.appendingPathComponent(ItemMemoryFile.fileName))
        #expect(throws: AlignError.self) { _ = try RecModel.load(dir) }
    }

    /// Random beam pools and head log-probs: `ranked` equals scoring every item (head + w · SID score, the pool's
    /// floor outside the pool) and taking the top k, excluded items never returned.
    @Test func mixRanksExactlyAsEveryItemScored() {
        var rng = Rng(seed: 11)
        for trial in 0..<200 {
            let n = 5 + rng.int(below: 40), k = 1 + rng.int(below: 8)
            let logp = (0..<n).map { _ in Float(-rng.uniform() * 8).rounded() / 2 }   // ties on purpose
            var items = Array(1...n); rng.shuffle(&items)
            let exclude = Set(items.prefix(rng.int(below: n / 2)))
            let pool = items.filter { !exclude.contains($0) }.prefix(rng.int(below: k + 1))
                .map { ScoredItem(item: $0, score: Float(-rng.uniform() * 6).rounded() / 2) }
                .sorted { $0.score > $1.score }
            let w = [Float(0), 0.5, 1, 3][trial % 4]
            let c = logp.withUnsafeBufferPointer { HybridCandidates(beam: pool, headLogProbs: $0, exclude: exclude, k: k) }
            let got = c.ranked(sidWeight: w, k: k)
            let floor = pool.map(\.score).min() ?? 0
            let sid = Dictionary(uniqueKeysWithValues: pool.map { ($0.item, $0.score) })
            var all: [ScoredItem] = []
            for i in 1...n where !exclude.contains(i) {
                let s: Float = logp[i - 1] + w * (sid[i] ?? floor)
                all.append(ScoredItem(item: i, score: s))
            }
            all.sort { (a: ScoredItem, b: ScoredItem) -> Bool in a.score != b.score ? a.score > b.score : a.item < b.item }
            let want = Array(all.prefix(k))
            #expect(got.map(\.item) == want.map(\.item), "trial \(trial)")
            #expect(Set(got.map(\.item)).count == got.count && got.allSatisfy { !exclude.contains($0.item) })
        }
    }

    /// The recommender on a hybrid model: valid, distinct, never an excluded item, and the head part equals the
    /// item scorer applied to an uncached forward of the prompt.
    @Test func hybridRecommendationsAreValidAndUseTheHead() throws {
        let m = try tinyHybridModel(sidWeight: 0)
        let rec = try Recommender(model: m, beam: 4)
        var rng = Rng(seed: 5)
        let reqs = (0..<20).map { _ -> RecommendRequest in
            let h = (0..<(1 + rng.int(below: 5))).map { _ in 1 + rng.int(below: m.items.count) }
            return RecommendRequest(history: h, exclude: h)
        }
        let lists = try rec.recommend(reqs, k: 6)
        for (r, l) in zip(reqs, lists) {
            #expect(l.count == 6 && Set(l.map(\.item)).count == 6)
            #expect(l.allSatisfy { (1...m.items.count).contains($0.item) && !r.exclude.contains($0.item) })
        }
        // sid weight 0: the list is the head's top 6 of an uncached full forward (trainer) at the last prompt position.
        let prompt = try rec.promptIds(history: reqs[0].history)
        let tr = LlamaTrainer(params: m.params, maxBatch: 1, maxSeq: prompt.count + 3, items: m.itemTable)
        let sid = m.sidTokenIds(1)   // any item: its first token at the end makes position P−1 a head row
        var tok = prompt + sid, tgt = [Int32](repeating: ignoreIndex, count: tok.count)
        tgt[prompt.count - 1] = sid[0]
        tok = Array(tok.prefix(prompt.count + sid.count)); tgt = Array(tgt.prefix(tok.count))
        tr.itemHead = true
        try tr.forward(tokens: tok, targets: tgt, batch: 1, seq: tok.count)
        let dec = LlamaDecoder(params: m.params, maxGroups: 1, maxWidth: 1, maxPrompt: prompt.count, maxSuffix: 1, items: m.itemTable)
        _ = try dec.prefill([prompt], width: 1)
        let scorer = try ItemScorer(params: m.params, items: m.itemTable!)
        let lp = Array(dec.promptHidden).withUnsafeBufferPointer { scorer.logProbs(hidden: $0.baseAddress!, rows: 1) }
        #expect(abs(lp[0] - tr.itemHeadLogProbs[0].logp) < 1e-4)
        var cand = (1...m.items.count).filter { !reqs[0].exclude.contains($0) }
        cand.sort { (a: Int, b: Int) -> Bool in lp[a - 1] != lp[b - 1] ? lp[a - 1] > lp[b - 1] : a < b }
        #expect(lists[0].map(\.item) == Array(cand.prefix(6)))
    }
}
