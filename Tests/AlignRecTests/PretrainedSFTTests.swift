// `align sft --init MODEL.gguf`: a GGUF chat model (the tiny GGUF fixture: byte-level BPE in its metadata, a ChatML
// template) gains the SID tokens in its tokenizer.json, is prompted through its chat template (no BOS of its own),
// trains with LoRA (a run killed mid-way resumes bit for bit), and its checkpoint serves: the recommender loads it back with the same tokenizer and wrapper,
// and `align chat` asks it for an explanation around the constrained list.
import AlignCore
import AlignRec
import Foundation
import Testing

@Suite(.serialized) struct PretrainedSFTTests {
    static let gguf = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("AlignCoreTests/Fixtures/gguf-tiny/tiny.gguf")

    @Test func sftFromAGGUFChatModel() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        var cfg = try TinyRunWorld.config()
        var l = LoRAConfig(); l.rank = 4; l.alpha = 8
        cfg.lora = l
        try cfg.validate(path: "tiny-gguf.yaml")
        var o = w.options(cfg, out: "gguf")
        o.initFrom = Self.gguf
        _ = try SFTRun.run(o) { _ in }
        let best = w.root.appendingPathComponent("gguf/best")
        // Killed as step 6's validation moves the step-4 last/ aside, then resumed: W0 is read from the GGUF file again.
        let fs = KillingFileSystem(killAt: 1) { from, _ in from.lastPathComponent == "last" }
        var cut = w.options(cfg, out: "cut")
        cut.initFrom = Self.gguf
        #expect(throws: (any Error).self) { try AtomicFile.$fileSystem.withValue(fs) { _ = try SFTRun.run(cut) { _ in } } }
        cut.resume = true
        _ = try SFTRun.run(cut) { _ in }
        #expect(try TinyRunWorld.weights(w.root.appendingPathComponent("cut/last")) == TinyRunWorld.weights(w.root.appendingPathComponent("gguf/last")))
        for f in ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "lora.safetensors"] where f != "lora.safetensors" {
            #expect(FileManager.default.fileExists(atPath: best.appendingPathComponent(f).path), "\(f)")
        }
        let model = try RecModel.load(best)
        let base = try PretrainedModel.open(Self.gguf)
        // The fixture's tokenizer already holds <a_0>…<c_7> as added tokens: the SIDs reuse them, nothing is appended.
        #expect(model.tokenizer.bpe != nil && model.tokenizer.vocabSize == base.tokenizer!.vocabSize)
        #expect(w.world.sidMap.vocabulary.allSatisfy { model.tokenizer.id($0) == base.tokenizer!.id($0) && model.tokenizer.isSIDToken(model.tokenizer.id($0)!) })
        let template = try ChatTemplate(source: try #require(model.tokenizer.chatTemplate))
        #expect(model.prompts.wrap("X") == template.prompt(user: "X"))
        let ids = try model.builder.encodePrompt(model.prompts.wrap("X"), tokenizer: model.instructionTokenizer)
        #expect(ids.first == Int32(model.tokenizer.id("<|im_start|>")!) && ids.filter { $0 == ids[0] }.count == 3, "ChatML opens the prompt; no extra BOS")
        // Text the base tokenizer knew keeps its ids.
        #expect(try model.tokenizer.encode("Heat (1995)") == (try base.tokenizer!.encode("Heat (1995)")))
        let service = try RecService(model: model, beam: 6)
        let item = w.world.items[1]
        let engine = try ChatEngine(service: service, k: 3)
        let reply = try engine.respond("I loved \"\(item.title) (\(item.year!))\", what next?")
        #expect(reply.kind == "recommend" && reply.items.count == 3)
        _ = try service.explanation(history: [item.item], items: reply.items.map(\.item), maxNewTokens: 4)
        // A model without a chat template explains nothing.
        let plain = try RecService(model: try tinyRecModel(), beam: 4)
        #expect(try plain.explanation(history: [1], items: [2, 3]) == nil)
    }
}
