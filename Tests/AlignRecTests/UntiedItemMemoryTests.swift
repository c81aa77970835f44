// `item_memory.untied`: an SFT run keeps separate input residuals, saves them in its checkpoints and loads them back
// for serving; resuming it under a config with the other layout is an error naming the field. Its
// `item_memory.trunk_gradient` is recorded in the checkpoint's align.json, where DPO and GRPO read it.
import AlignCore
import AlignRec
import Foundation
import Testing

@Suite(.serialized) struct UntiedItemMemoryTests {
    @Test func untiedRunSavesLoadsAndRefusesTheOtherLayoutOnResume() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        var cfg = try TinyRunWorld.config(steps: 4)
        cfg.itemMemory.enabled = true
        cfg.itemMemory.untied = true
        cfg.itemMemory.trunkGradient = .balanced
        try w.sft(cfg, out: "untied")
        let last = w.root.appendingPathComponent("untied/last")
        let model = try RecModel.load(last)
        #expect(model.params.layout.itemInput != nil)
        #expect(model.itemMemoryInfo?.trunkGradient == .balanced)
        #expect(try RecModel.load(w.root.appendingPathComponent("untied/best")).itemMemoryInfo?.trunkGradient == .balanced)
        let (_, residual, input) = try ItemMemoryFile.read(last.appendingPathComponent(ItemMemoryFile.fileName),
                                                            vocabSize: model.config.vocabSize, hiddenSize: 32)
        let u = try #require(input)
        #expect(u.count == residual.count && u != residual)   // trained apart
        let lists = try Recommender(model: model, beam: 4).recommend([RecommendRequest(history: [1, 2, 3])], k: 3)
        #expect(lists[0].count == 3 && Set(lists[0].map(\.item)).count == 3 && !lists[0].contains { [1, 2, 3].contains($0.item) })
        var tied = cfg
        tied.itemMemory.untied = false
        #expect(failure { try w.sft(tied, out: "untied", resume: true) }.contains("item_memory.untied"))
    }
}
