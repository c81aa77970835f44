// A checkpoint is checked against itself on load (issue 25): non-finite tensors, a tokenizer or SID map that is
// not the one the weights were saved with, templates and prompts longer than the model's positions, and
// decoders too large for the machine are errors that name what is wrong, never wrong results or a crash.
@testable import AlignCore
import AlignRec
import Foundation
import Testing

private func tempDir() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("align-integrity-\(UUID().uuidString)")
}


@Test func aNonFiniteTensorInACheckpointIsAnErrorNamingIt() throws {
    let m = try tinyRecModel()
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    try m.save(to: dir, stage: "sft")
    // Corrupt one value of one tensor on disk (what a diverged run of an earlier align could have saved).
    let file = dir.appendingPathComponent("model.safetensors")
    let sf = try SafetensorsFile(url: file)
    let tensors = try sf.names.map { name -> SafetensorsTensor in
        var v = try sf.floats(name)
        if name == "model.layers.1.self_attn.v_proj.weight" { v[5] = .infinity }
        return SafetensorsTensor(name: name, shape: try sf.entry(name).shape, floats: v)
    }
    try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: file)
    let e = failure { _ = try RecModel.load(dir) }
    #expect(e.contains("model.layers.1.self_attn.v_proj.weight") && e.contains("non-finite") && e.contains("index 5"), "\(e)")
    #expect(failure { _ = try HFCheckpoint.readLlama(dir: dir).llamaParameters() }.contains("v_proj"))
}

@Test func aSwappedTokenizerOrSIDMapIsAnError() throws {
    let m = try tinyRecModel()
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    try m.save(to: dir.appendingPathComponent("a"), stage: "sft")
    _ = try RecModel.load(dir.appendingPathComponent("a"))
    // Another valid tokenizer (a different SentencePiece vocabulary of the same size, same added tokens).
    let corpus = m.items.map(\.text) + ["The user interacted with these items in chronological order. Predict the next item.",
                                         "Which item corresponds to the title? What is the title of item?", "Instruction Response"]
    let sp = try SentencePieceTrainer.train(sentences: corpus, vocabSize: 85, modelType: .bpe)
    let other = try Tokenizer(sentencePiece: sp, adding: ["<s>", "</s>", "<pad>"] + m.sidMap.vocabulary)
    try other.write(to: dir.appendingPathComponent("a"))
    let e = failure { _ = try RecModel.load(dir.appendingPathComponent("a")) }
    #expect(e.contains("the tokenizer that is not the one these weights were saved with"), "\(e)")

    try m.save(to: dir.appendingPathComponent("b"), stage: "sft")
    let sid = dir.appendingPathComponent("b/sid_map.json")
    var codes = (0..<m.items.count).map { [$0 % 3, $0 / 3] }
    codes.swapAt(0, 1)
    try SIDMap(codebookSizes: [3, 4], method: "test", dedup: "none", codesByRow: codes).write(sid)
    let e2 = failure { _ = try RecModel.load(dir.appendingPathComponent("b")) }
    #expect(e2.contains("sid_map.json: the SID map that is not the one"), "\(e2)")
}

@Test func promptsLongerThanTheModelsPositionsAreErrors() throws {
    let m = try tinyRecModel()
    let dir = tempDir()
    defer { try? FileManager.default.removeItem(at: dir) }
    // max_position_embeddings: 1 in config.json: no template fits (eval and recommend used to run on it).
    try m.save(to: dir, stage: "sft")
    let cfgURL = dir.appendingPathComponent("config.json")
    var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: cfgURL)) as! [String: Any]
    obj["max_position_embeddings"] = 1
    try JSONSerialization.data(withJSONObject: obj).write(to: cfgURL)
    let e = failure { _ = try RecModel.load(dir) }
    #expect(e.contains("max_position_embeddings") && e.contains("positions"), "\(e)")

    // A 5,000-word template: refused when the bundle is built (before any decoder is planned for it).
    let pdir = dir.appendingPathComponent("long-prompts")
    try TinySFTWorld.writePrompts(pdir)
    try String(repeating: "very ", count: 5000).appending("long {history}").write(to: pdir.appendingPathComponent("nextitem/01.txt"), atomically: true, encoding: .utf8)
    let long = try PromptLibrary.load(pdir)
    let e2 = failure {
        _ = try RecModel(params: m.params, tokenizer: m.tokenizer, sidMap: m.sidMap, items: m.items, prompts: long,
                         taskConfig: TaskConfig(), info: AlignInfo())
    }
    #expect(e2.contains("nextitem/01.txt") && e2.contains("the template alone is") && e2.contains("512 positions"), "\(e2)")

    // A history whose prompt outgrows the positions (titles in the prompt) never reaches RoPE extrapolation: a
    // titlehist2sid prompt drops its oldest titles until it fits, a nextitem prompt that cannot fit is an error.
    // The model keeps 20 history items; a small context makes 20 titles too long.
    var c = m.config; c.maxPositionEmbeddings = 150
    let small = LlamaParameters(config: c, seed: 1)
    let sm = try RecModel(params: small, tokenizer: m.tokenizer, sidMap: m.sidMap, items: m.items, prompts: m.prompts,
                          taskConfig: TaskConfig(), info: AlignInfo())
    let rec = try Recommender(model: sm, beam: 4, task: .titlehist2sid)
    let longHistory = Array(1...12) + Array(1...8)
    let all = try sm.builder.encodePrompt(sm.builder.evalExample(.titlehist2sid, item: 8, history: longHistory).prompt,
                                          tokenizer: sm.instructionTokenizer)
    #expect(all.count > sm.maxPromptTokens)   // the whole history would not fit
    let fitted = try rec.promptIds(history: longHistory)
    #expect(fitted.count <= sm.maxPromptTokens && fitted.count < all.count)
    let lists = try rec.recommend([RecommendRequest(history: longHistory)], k: 2)
    #expect(lists[0].count == 2 && lists[0].allSatisfy { (1...m.items.count).contains($0.item) })
    // One position short of a nextitem prompt of 20 SIDs, with templates whose other tasks fit in even less (the
    // tiny world's), so the model loads and the prompt is what fails.
    let sdir = dir.appendingPathComponent("short-prompts")
    try TinySFTWorld.writePrompts(sdir)
    let short = try PromptLibrary.load(sdir)
    let sp = try RecModel(params: small, tokenizer: m.tokenizer, sidMap: m.sidMap, items: m.items, prompts: short,
                          taskConfig: TaskConfig(), info: AlignInfo())
    let need = try Recommender(model: sp, beam: 4).promptIds(history: longHistory).count   // nextitem, 20 SIDs
    var tiny = m.config; tiny.maxPositionEmbeddings = need + sm.trie.maxDepth - 1          // one position short
    let tm = try RecModel(params: LlamaParameters(config: tiny, seed: 1), tokenizer: m.tokenizer, sidMap: m.sidMap,
                          items: m.items, prompts: short, taskConfig: TaskConfig(), info: AlignInfo())
    let e3 = failure { _ = try Recommender(model: tm, beam: 4).recommend([RecommendRequest(history: longHistory)], k: 2) }
    #expect(e3.contains("prompt") && e3.contains("\(tiny.maxPositionEmbeddings) positions"), "\(e3)")
    _ = try Recommender(model: sm, beam: 4).recommend([RecommendRequest(history: [1, 2])], k: 2)   // a short one fits
}

@Test func decodersTooLargeForTheMachineAreRefusedWithTheEstimate() throws {
    let m = try tinyRecModel()
    let e = failure {
        _ = try LlamaDecoder.planned(params: m.params, maxGroups: 1 << 20, maxWidth: 1 << 20, maxPrompt: 512, maxSuffix: 4,
                                     purpose: "beam search with beam 1048576")
    }
    #expect(e.contains("beam search with beam 1048576") && e.contains("needs about") && e.contains("PB"), "\(e)")
    // The estimates are the allocators' own plans (one formula, evaluated in Double).
    let d = try LlamaDecoder.planned(params: m.params, maxGroups: 3, maxWidth: 5, maxPrompt: 40, maxSuffix: 4, purpose: "test")
    #expect(LlamaDecoder.arenaCount(m.config, maxGroups: 3, maxWidth: 5, maxPrompt: 40, maxSuffix: 4, as: Double.self) == Double(d.arena.count))
    #expect(LlamaDecoder.plannedFloats(m.config, maxGroups: 3, maxWidth: 5, maxPrompt: 40, maxSuffix: 4) > Double(d.arena.count))
    for dropout in [Float(0), 0.1] {
        let t = LlamaTrainer(params: m.params, maxBatch: 3, maxSeq: 17, dropout: dropout)
        #expect(LlamaTrainer.arenaCount(m.config, maxBatch: 3, maxSeq: 17, as: Double.self) == Double(t.arena.count))
        #expect(LlamaTrainer.plannedFloats(m.config, maxBatch: 3, maxSeq: 17, dropout: dropout > 0)
                >= Double(t.arena.count + t.grads.count + t.masks.count))
    }
    for tied in [true, false] {
        var c = m.config; c.tieWordEmbeddings = tied; c.headDim = 6
        #expect(c.parameterFloats == Double(LlamaLayout(c).count))
    }
}
