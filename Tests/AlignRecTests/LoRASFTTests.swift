// `align sft --init BASE` with `lora:`: from a pretrained checkpoint without SID tokens, the adapters and the SID
// rows train while every other weight stays the base model's, last/ and best/ are plain checkpoints with the merged
// weights, and a run killed mid-way resumes (W0 read again from the base model) to the uninterrupted run's weights.
import AlignCore
import AlignRec
import Foundation
import Testing

private func writeBase(_ w: TinyRunWorld) throws -> (URL, Tokenizer) {
    let sp = try #require(w.world.tokenizer.sentencePiece)
    let tok = try Tokenizer(sentencePiece: sp, adding: ["<s>", "</s>", "<pad>"])
    var m = ModelPreset()
    m.hiddenSize = 32; m.intermediateSize = 64; m.numHiddenLayers = 1; m.numAttentionHeads = 2; m.maxPositionEmbeddings = 64
    let c = m.llamaConfig(vocabSize: tok.vocabSize, bos: tok.bosId!, eos: tok.eosId!, pad: tok.padId)
    let p = LlamaParameters(config: c, seed: 11)
    let dir = w.root.appendingPathComponent("base")
    try HFCheckpoint.write(dir: dir, config: c, tensors: p.exportTensors(), tokenizer: tok, alignInfo: nil)
    return (dir, tok)
}

@Suite(.serialized) struct LoRASFTTests {
    @Test func loraRunTrainsAdaptersAndRowsAndResumesBitExactly() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        let (base, baseTok) = try writeBase(w)
        var cfg = try TinyRunWorld.config()
        var l = LoRAConfig(); l.rank = 4; l.alpha = 8; l.warmupSteps = 2
        cfg.lora = l
        try cfg.validate(path: "tiny-lora.yaml")
        func run(_ out: String, resume: Bool = false) throws {
            var o = w.options(cfg, out: out, resume: resume)
            o.initFrom = base
            _ = try SFTRun.run(o) { _ in }
        }
        try run("full")
        let full = w.root.appendingPathComponent("full/last")
        #expect(FileManager.default.fileExists(atPath: full.appendingPathComponent(LoRAAdapters.fileName).path))
        // Frozen: norms and the base vocabulary's rows are the base model's; adapted matrices and SID rows moved.
        let before = try HFCheckpoint.readLlama(dir: base).llamaParameters(), after = try HFCheckpoint.readLlama(dir: full).llamaParameters()
        let C = before.config.hiddenSize, V0 = baseTok.vocabSize
        withExtendedLifetime((before, after)) {
        for (a, b) in zip(before.layout.tensors, after.layout.tensors) {
            let x = Array(before.data[a.range]), y = Array(after.data[b.range])
            if a.name == "model.embed_tokens.weight" {
                #expect(Array(y[0..<(V0 * C)]) == x, "old embedding rows frozen")
            } else if a.shape.count == 1 {
                #expect(x == y, "\(a.name) frozen")
            } else {
                #expect(x != y, "\(a.name) adapted")
            }
        }
        }
        // Killed as step 6's validation moves the step-4 last/ aside, then resumed.
        let fs = KillingFileSystem(killAt: 1) { from, _ in from.lastPathComponent == "last" }
        #expect(throws: (any Error).self) { try AtomicFile.$fileSystem.withValue(fs) { try run("cut") } }
        try run("cut", resume: true)
        #expect(try TinyRunWorld.weights(w.root.appendingPathComponent("cut/last")) == TinyRunWorld.weights(full))
        // Without lora: in the config, the LoRA run does not resume.
        var plain = cfg
        plain.lora = nil
        var o = w.options(plain, out: "cut", resume: true)
        o.initFrom = base
        #expect(failure { _ = try SFTRun.run(o) { _ in } }.contains("lora"))
        // LoRA needs a model to adapt.
        #expect(failure { try w.sft(cfg, out: "scratch") }.contains("--init"))
    }
}
