// Golden tests against PyTorch/transformers numbers for both fixture models (llama-tiny: GQA 4/2 heads,
// untied; llama-tiny-tied: 6/6 heads, tied, theta 5e5, eps 1e-6): logits, loss, every parameter gradient,
// 5 AdamW steps, and greedy decoding through both the KV cache and a full forward. The fp32 training tests run
// on both matrix-product backends (OpenBLAS and oneDNN) against the same numbers.
import AlignCore
import Foundation
import TestSupport
import Testing

/// A fixture model directory loaded for tests.
struct LlamaFixture {
    let config: LlamaConfig
    let params: LlamaParameters
    let golden: SafetensorsFile
    let B: Int, T: Int
    let inputIds: [Int32], targets: [Int32]

    init(_ name: String) throws {
        let dir = FixturePath.url(name, bundle: .module)
        config = try LlamaConfig.load(dir.appendingPathComponent("config.json"))
        params = try LlamaParameters.load(config: config, from: SafetensorsFile(url: dir.appendingPathComponent("model.safetensors")))
        golden = try SafetensorsFile(url: dir.appendingPathComponent("golden.safetensors"))
        let shape = try golden.entry("input_ids").shape
        B = shape[0]; T = shape[1]
        inputIds = try golden.int32s("input_ids")
        targets = try golden.int32s("targets")
    }
}

/// max |a−b| / max(1, max|b|): absolute for small tensors, relative for large ones.
func scaledError(_ a: [Float], _ b: [Float]) -> Float {
    let scale = max(1, b.map { abs($0) }.max() ?? 0)
    return maxAbsDiff(a, b) / scale
}

@Suite struct LlamaGoldenTests {
    static let models = ["llama-tiny", "llama-tiny-tied"]

    @Test(arguments: models, GemmBackend.allCases) func logitsLossAndGradients(model: String, backend: GemmBackend) throws {
        let f = try LlamaFixture(model)
        let tr = LlamaTrainer(params: f.params, maxBatch: f.B, maxSeq: f.T, backend: backend)
        try tr.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        let logitErr = maxAbsDiff(Array(tr.logits), try f.golden.floats("logits"))
        let lossErr = abs(tr.meanCrossEntropy() - (try f.golden.floats("loss"))[0])
        print("\(model) \(backend): logits max abs err \(logitErr), loss err \(lossErr)")
        #expect(logitErr <= 1e-4)
        #expect(lossErr <= 1e-5)
        tr.zeroGrads()
        try tr.backwardMeanCrossEntropy()
        var worst: Float = 0
        for t in f.params.layout.tensors {
            let ref = try f.golden.floats("grad." + t.name)
            let err = scaledError(Array(tr.grads[t.range]), ref)
            worst = max(worst, err)
            #expect(err <= 1e-4, "gradient of \(t.name): error \(err)")
        }
        print("\(model) \(backend): worst gradient error \(worst)")
    }

    @Test(arguments: models, GemmBackend.allCases) func fiveAdamWSteps(model: String, backend: GemmBackend) throws {
        let f = try LlamaFixture(model)
        let tr = LlamaTrainer(params: f.params, maxBatch: f.B, maxSeq: f.T, backend: backend)
        let opt = AdamW(count: f.params.count, groups: f.params.paramGroups,
                        config: AdamWConfig(lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1))
        let losses = try f.golden.floats("adamw.losses")
        for step in 0..<5 {
            try tr.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
            let err = abs(tr.meanCrossEntropy() - losses[step])
            #expect(err <= 1e-4, "loss before step \(step + 1): error \(err)")
            tr.zeroGrads()
            try tr.backwardMeanCrossEntropy()
            clipGradNorm(tr.grads.baseAddress!, f.params.count, maxNorm: 1.0)
            opt.update(params: f.params.data.baseAddress!, grads: tr.grads.baseAddress!)
        }
        var worst: Float = 0
        for t in f.params.layout.tensors {
            let err = maxAbsDiff(Array(f.params.data[t.range]), try f.golden.floats("adamw.step5." + t.name))
            worst = max(worst, err)
            #expect(err <= 1e-3, "\(t.name) after 5 steps: error \(err)")
        }
        print("\(model) \(backend): worst parameter error after 5 AdamW steps \(worst)")
    }

    @Test(arguments: models) func greedyThroughFullForward(model: String) throws {
        let f = try LlamaFixture(model)
        let prompt = try f.golden.int32s("greedy.prompt"), expected = try f.golden.int32s("greedy.output")
        let V = f.config.vocabSize
        let tr = LlamaTrainer(params: f.params, maxBatch: 1, maxSeq: prompt.count + expected.count)
        var seq = prompt
        for _ in 0..<expected.count {
            try tr.forward(tokens: seq, targets: [Int32](repeating: ignoreIndex, count: seq.count), batch: 1, seq: seq.count)
            let last = Array(tr.logits[(seq.count - 1) * V..<seq.count * V])
            seq.append(Int32(argmax(last)))
        }
        #expect(Array(seq[prompt.count...]) == expected)
        try tr.forward(tokens: seq, targets: [Int32](repeating: ignoreIndex, count: seq.count), batch: 1, seq: seq.count)
        let err = maxAbsDiff(Array(tr.logits[(seq.count - 1) * V..<seq.count * V]), try f.golden.floats("greedy.last_logits"))
        print("\(model): full-forward greedy last-logits error \(err)")
        #expect(err <= 1e-4)
    }

    @Test func loadRejectsMissingAndUnknownTensors() throws {
        let f = try LlamaFixture("llama-tiny")
        var tensors = f.params.exportTensors()
        let dropped = tensors.removeLast()
        let missing = try SafetensorsFile(data: SafetensorsWriter.encode(tensors), path: "missing.safetensors")
        #expect(throws: AlignError.tensor(path: "missing.safetensors", name: dropped.name, message: "missing from the checkpoint")) {
            _ = try LlamaParameters.load(config: f.config, from: missing)
        }
        tensors.append(dropped)
        tensors.append(SafetensorsTensor(name: "model.layers.9.extra", shape: [1], floats: [0]))
        let unknown = try SafetensorsFile(data: SafetensorsWriter.encode(tensors), path: "extra.safetensors")
        #expect(throws: AlignError.self) { _ = try LlamaParameters.load(config: f.config, from: unknown) }
        var bad = f.params.exportTensors()
        bad[1] = SafetensorsTensor(name: bad[1].name, shape: [bad[1].shape[0] + 1], floats: [Float](repeating: 0, count: bad[1].shape[0] + 1))
        let wrongShape = try SafetensorsFile(data: SafetensorsWriter.encode(bad), path: "shape.safetensors")
        #expect(throws: AlignError.self) { _ = try LlamaParameters.load(config: f.config, from: wrongShape) }
    }

    @Test func exportRoundTripAndVocabularyGrowth() throws {
        let f = try LlamaFixture("llama-tiny")
        let file = try SafetensorsFile(data: SafetensorsWriter.encode(f.params.exportTensors()), path: "rt")
        let back = try LlamaParameters.load(config: f.config, from: file)
        #expect(Array(back.data).map(\.bitPattern) == Array(f.params.data).map(\.bitPattern))
        let grown = try f.params.growingVocabulary(to: f.config.vocabSize + 3)
        let C = f.config.hiddenSize, V = f.config.vocabSize
        let emb = grown.tensor("model.embed_tokens.weight")!, old = f.params.tensor("model.embed_tokens.weight")!
        #expect(Array(emb[0..<(V * C)]) == old)
        for j in 0..<C {
            var m = 0.0
            for r in 0..<V { m += Double(old[r * C + j]) }
            #expect(abs(emb[(V + 2) * C + j] - Float(m / Double(V))) < 1e-6)
        }
        #expect(grown.tensor("model.norm.weight")! == f.params.tensor("model.norm.weight")!)
    }
}

func argmax(_ a: [Float]) -> Int {
    var best = 0
    for i in 1..<a.count where a[i] > a[best] { best = i }
    return best
}
