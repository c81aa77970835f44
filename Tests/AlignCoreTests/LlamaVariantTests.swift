// Architecture variants against transformers (scripts/reference/make_llama_variants.py): Qwen2 (q/k/v biases),
// Llama-3 RoPE scaling and a tied model that also stores lm_head.weight — logits, loss and every gradient of the
// trainer, and the KV-cached decoder's logits (prefill and steps); config fields that change the math are refused by
// name; a LLaMA GGUF with every supported tensor type dequantises to gguf-py's values in the Hugging Face row order.
import AlignCore
import Foundation
import Testing
import TestSupport

private func golden(_ name: String) throws -> (PretrainedModel, SafetensorsFile) {
    let dir = FixturePath.url(name, bundle: .module)
    return (try PretrainedModel.open(dir), try SafetensorsFile(url: dir.appendingPathComponent("golden.safetensors")))
}

private func configError(_ json: String) -> String {
    do { _ = try JSONDecoder().decode(LlamaConfig.self, from: Data(json.utf8)); return "" } catch { return "\(error)" }
}

@Suite struct LlamaVariantTests {
    static let fixtures = ["qwen2-tiny", "llama3-rope-tiny", "llama-tied-head"]

    @Test(arguments: fixtures) func trainerMatchesTransformers(name: String) throws {
        let (m, g) = try golden(name)
        let p = try m.parameters()
        let shape = try g.entry("input_ids").shape, B = shape[0], T = shape[1]
        let tr = LlamaTrainer(params: p, maxBatch: B, maxSeq: T)
        try tr.forward(tokens: try g.int32s("input_ids"), targets: try g.int32s("targets"), batch: B, seq: T)
        let err = maxAbsDiff(Array(tr.logits), try g.floats("logits"))
        #expect(err <= 1e-4, "\(name): logits error \(err)")
        #expect(abs(tr.meanCrossEntropy() - (try g.floats("loss"))[0]) <= 1e-5)
        tr.zeroGrads()
        try tr.backwardMeanCrossEntropy()
        for t in p.layout.tensors {
            let ref = try g.floats("grad." + t.name)
            let e = maxAbsDiff(Array(tr.grads[t.range]), ref) / max(1, ref.map { abs($0) }.max() ?? 0)
            #expect(e <= 1e-4, "\(name): gradient of \(t.name): error \(e)")
        }
        if name == "qwen2-tiny" { #expect(p.layout.layers[0].qkvBias != nil && m.config.architecture == .qwen2) }
        if name == "llama3-rope-tiny" { #expect(m.config.ropeScaling?.typeName == "llama3") }
    }

    @Test(arguments: fixtures) func decoderMatchesTransformers(name: String) throws {
        let (m, g) = try golden(name)
        let p = try m.parameters()
        let ids = try g.int32s("input_ids"), logits = try g.floats("logits"), T = try g.entry("input_ids").shape[1]
        let V = m.config.vocabSize, P = T - 6
        let dec = LlamaDecoder(params: p, maxGroups: 1, maxWidth: 1, maxPrompt: P, maxSuffix: 6)
        var row = Array(try dec.prefill([Array(ids[0..<P])], width: 1))
        var worst = maxAbsDiff(row, Array(logits[((P - 1) * V)..<(P * V)]))
        for s in 0..<5 {
            row = Array(try dec.step(parents: [0], tokens: [ids[P + s]]))
            worst = max(worst, maxAbsDiff(row, Array(logits[((P + s) * V)..<((P + s + 1) * V)])))
        }
        #expect(worst <= 1e-4, "\(name): decoder logits error \(worst)")
    }

    @Test func fieldsThatChangeTheMathAreRefusedByName() {
        let base = #""vocab_size": 8, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 4096"#
        #expect(configError("{\(base), \"model_type\": \"mistral\", \"sliding_window\": 1024}").contains("sliding_window 1024"))
        #expect(configError("{\(base), \"model_type\": \"mistral\", \"sliding_window\": 4096}") == "")
        #expect(configError("{\(base), \"model_type\": \"mistral\", \"sliding_window\": null}") == "")
        #expect(configError("{\(base), \"model_type\": \"qwen2\", \"use_sliding_window\": true}").contains("use_sliding_window"))
        #expect(configError("{\(base), \"model_type\": \"gemma\"}").contains("model_type 'gemma'"))
        #expect(configError("{\(base), \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}").contains("rope_type 'yarn'"))
        #expect(configError("{\(base), \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}}").contains("low_freq_factor"))
        #expect(configError("{\(base), \"attn_logit_softcapping\": 50.0}").contains("attn_logit_softcapping"))
        #expect(configError("{\(base), \"partial_rotary_factor\": 0.5}").contains("partial_rotary_factor"))
        #expect(configError("{\(base), \"attention_bias\": true}").contains("attention_bias"))
        #expect(configError("{\(base), \"layer_types\": [\"sliding_attention\"]}").contains("sliding_attention"))
        #expect(configError("{\(base), \"partial_rotary_factor\": 1.0, \"pretraining_tp\": 2}") == "")
    }

    @Test func ggufDequantisesAsGGUFPy() throws {
        let dir = FixturePath.url("gguf-tiny", bundle: .module)
        let m = try PretrainedModel.open(dir.appendingPathComponent("tiny.gguf"))
        let p = try m.parameters()
        let expected = try SafetensorsFile(url: dir.appendingPathComponent("expected.safetensors"))
        #expect(m.config.tieWordEmbeddings && m.config.numKeyValueHeads == 2 && m.config.vocabSize == 724)
        for t in p.layout.tensors {
            let e = maxAbsDiff(Array(p.data[t.range]), try expected.floats(t.name))
            #expect(e <= 1e-6, "\(t.name): \(e)")
        }
        // The tokenizer in the metadata is the tokenizer.json it came from.
        let fromJSON = try Tokenizer.load(from: FixturePath.url("bpe/smollm2", bundle: .module))
        let tok = try #require(m.tokenizer)
        for text in ["Toy Story (1995)", "<|im_start|>user\nHi <a_1><b_2><c_3><|im_end|>", "x1y22 z333 éé 😀"] {
            #expect(try tok.encode(text) == (try fromJSON.encode(text)))
        }
        let chat = try ChatTemplate(source: try #require(m.chatTemplate))
        #expect(chat.prompt(user: "Hi") == "<|im_start|>system\nYou are a tiny test model<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func malformedGGUFIsAnErrorNeverACrash() throws {
        let data = try Data(contentsOf: FixturePath.url("gguf-tiny/tiny.gguf", bundle: .module))
        var rng = Rng(seed: 23)
        for cut in [0, 3, 8, 24, 100, 1000, data.count / 2, data.count - 1] {
            #expect(throws: AlignError.self) { _ = try GGUFFile(data: data.prefix(cut), path: "cut\(cut)").llamaParameters(config: LlamaConfig(vocabSize: 724, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2)) }
        }
        for _ in 0..<200 {   // flipped bytes in the header region: parse or refuse, never trap
            var d = data
            for _ in 0..<4 { let i = rng.int(below: min(d.count, 4096)); d[i] = UInt8(truncatingIfNeeded: rng.int(below: 256)) }
            if let f = try? GGUFFile(data: d, path: "fuzz"), let c = try? f.llamaConfig() { _ = try? f.llamaParameters(config: c) }
        }
    }

    @Test func convertWritesACheckpointThatReadsBack() throws {
        let src = try PretrainedModel.open(FixturePath.url("gguf-tiny/tiny.gguf", bundle: .module))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convert-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try src.parameters()
        try HFCheckpoint.write(dir: dir, config: src.config, tensors: p.exportTensors(), tokenizer: src.tokenizer, alignInfo: nil)
        let back = try PretrainedModel.open(dir)
        #expect(back.config == src.config)
        let q = try back.parameters()
        withExtendedLifetime(q) { #expect(Array(q.data) == Array(p.data)) }
        #expect(back.chatTemplate == src.chatTemplate)
        #expect(try back.tokenizer!.encode("Heat (1995) <a_2>") == (try src.tokenizer!.encode("Heat (1995) <a_2>")))
        let gen = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("generation_config.json"))) as! [String: Any]
        #expect(gen["eos_token_id"] as? Int == 2 && gen["bos_token_id"] as? Int == 1)
    }
}
