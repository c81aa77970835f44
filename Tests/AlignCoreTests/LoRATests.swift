// LoRA merged into the weights (LoRA.swift): the adapters' gradient from the full one equals central finite
// differences of the loss; the new rows' gradient is the embedding's; merge starts at W0 exactly (B = 0);
// training leaves every frozen value bit-identical; the warm-up trains rows only; write/restore is bit-exact.
import AlignCore
import Foundation
import Testing
import TestSupport

private func tiny(tied: Bool) -> LlamaParameters {
    let c = LlamaConfig(vocabSize: 20, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2,
                        numKeyValueHeads: 1, maxPositionEmbeddings: 16, tieWordEmbeddings: tied)
    return LlamaParameters(config: c, seed: 5, std: 0.3)
}

private let tokens: [Int32] = [1, 5, 17, 3, 18, 2, 9, 19, 4, 6]
private let targets: [Int32] = [5, 17, 3, 18, 2, 9, 19, 4, 6, 16]

private func loss(_ p: LlamaParameters) throws -> (Double, LlamaTrainer) {
    let tr = LlamaTrainer(params: p, maxBatch: 1, maxSeq: tokens.count)
    try tr.forward(tokens: tokens, targets: targets, batch: 1, seq: tokens.count)
    return (Double(tr.meanCrossEntropy()), tr)
}

@Suite struct LoRATests {
    @Test(arguments: [true, false]) func gradientsMatchFiniteDifferences(tied: Bool) throws {
        let p = tiny(tied: tied)
        var cfg = LoRAConfig(); cfg.rank = 2; cfg.alpha = 3
        let lora = try LoRAAdapters(params: p, config: cfg, newRows: 16..<20, seed: 1)
        var rng = Rng(seed: 9)
        for i in 0..<lora.adapterCount { lora.trainable[i] = Float(rng.normal()) * 0.2 }   // B ≠ 0 so dA is not zero
        lora.merge()
        let (_, tr) = try loss(p)
        tr.zeroGrads()
        try tr.backwardMeanCrossEntropy()
        lora.gatherGradients(from: UnsafePointer(tr.grads.baseAddress!), adapters: true)
        var worst = 0.0
        let picks = (0..<40).map { _ in rng.int(below: lora.count) }
        for i in picks {
            let x = lora.trainable[i], h: Float = 1e-2
            lora.trainable[i] = x + h; lora.merge(); let up = try loss(p).0
            lora.trainable[i] = x - h; lora.merge(); let down = try loss(p).0
            lora.trainable[i] = x; lora.merge()
            let fd = (up - down) / Double(2 * h), g = Double(lora.grads[i])
            worst = max(worst, abs(fd - g) / max(1e-2, abs(fd) + abs(g)))
        }
        #expect(worst < 2e-2, "worst relative error \(worst)")
    }

    @Test func trainingChangesOnlyAdaptersAndNewRows() throws {
        let p = tiny(tied: false), w0 = p.copy()
        var cfg = LoRAConfig(); cfg.rank = 2; cfg.targets = ["q_proj", "v_proj", "down_proj"]; cfg.warmupSteps = 2
        let lora = try LoRAAdapters(params: p, config: cfg, newRows: 16..<20, seed: 1)
        lora.merge()
        #expect(Array(p.data) == Array(w0.data), "B = 0: the merged model is the base model exactly")
        let adam = AdamW(count: lora.count, groups: lora.paramGroups, config: AdamWConfig(lr: 1e-2, weightDecay: 0))
        let adapters0 = Array(lora.trainable[0..<lora.adapterCount])
        for step in 0..<5 {
            let (_, tr) = try loss(p)
            tr.zeroGrads()
            try tr.backwardMeanCrossEntropy()
            lora.gatherGradients(from: UnsafePointer(tr.grads.baseAddress!), adapters: step >= cfg.warmupSteps)
            adam.update(params: lora.trainable.baseAddress!, grads: lora.grads.baseAddress!)
            lora.merge()
            if step == cfg.warmupSteps - 1 {
                #expect(Array(lora.trainable[0..<lora.adapterCount]) == adapters0, "warm-up trains the new rows only")
            }
        }
        let C = p.config.hiddenSize
        for t in p.layout.tensors {
            let now = Array(p.data[t.range]), before = Array(w0.data[t.range])
            let targeted = cfg.targets.contains { t.name.hasSuffix("." + $0 + ".weight") }
            if t.name == "model.embed_tokens.weight" || t.name == "lm_head.weight" {
                #expect(Array(now[0..<(16 * C)]) == Array(before[0..<(16 * C)]), "\(t.name): old rows frozen")
                #expect(Array(now[(16 * C)...]) != Array(before[(16 * C)...]), "\(t.name): new rows train")
            } else if targeted {
                #expect(now != before, "\(t.name) adapted")
            } else {
                #expect(now == before, "\(t.name) frozen")
            }
        }
        // The checkpoint of the adapters restores the same merged weights, bit for bit.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try lora.write(to: url)
        let q = w0.copy()
        let again = try LoRAAdapters(params: q, config: cfg, newRows: 16..<20, seed: 99)
        try again.restore(from: url)
        #expect(Array(q.data) == Array(p.data))
        #expect(try LoRAAdapters.header(url).newRows == 16..<20)
    }

    @Test func configIsChecked() {
        var c = LoRAConfig()
        c.dropout = 0.1
        #expect(throws: AlignError.self) { try c.validate(FieldCheck(file: "x.yaml")) }
        c.dropout = 0; c.targets = ["w_proj"]
        #expect(throws: AlignError.self) { try c.validate(FieldCheck(file: "x.yaml")) }
        c.targets = ["q_proj"]; c.rank = 0
        #expect(throws: AlignError.self) { try c.validate(FieldCheck(file: "x.yaml")) }
    }
}
