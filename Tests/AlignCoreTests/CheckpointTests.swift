// HF checkpoint directories: reading the transformers-written llama-tiny, bit-exact write/read round trips
// (single file and sharded), validation errors naming tensor and file, F16/BF16 weights, align.json,
// optimizer state, and atomic replacement.
import AlignCore
import Foundation
import Testing
import TestSupport

/// The parameter list of a LLaMA model as transformers names it (written out here, independent of the engine).
private func llamaExpected(_ c: LlamaConfig) -> [(String, [Int])] {
    let d = c.hiddenSize, q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim
    var out: [(String, [Int])] = [("model.embed_tokens.weight", [c.vocabSize, d]), ("model.norm.weight", [d])]
    for i in 0..<c.numHiddenLayers {
        let p = "model.layers.\(i)."
        out += [(p + "self_attn.q_proj.weight", [q, d]), (p + "self_attn.k_proj.weight", [kv, d]),
                (p + "self_attn.v_proj.weight", [kv, d]), (p + "self_attn.o_proj.weight", [d, q]),
                (p + "mlp.gate_proj.weight", [c.intermediateSize, d]), (p + "mlp.up_proj.weight", [c.intermediateSize, d]),
                (p + "mlp.down_proj.weight", [d, c.intermediateSize]),
                (p + "input_layernorm.weight", [d]), (p + "post_attention_layernorm.weight", [d])]
    }
    if !c.tieWordEmbeddings { out.append(("lm_head.weight", [c.vocabSize, d])) }
    return out
}

private func tempDir(_ tag: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(tag)-\(UUID().uuidString)")
}

private func randomTensors(_ expected: [(String, [Int])], seed: UInt64) -> [SafetensorsTensor] {
    var rng = Rng(seed: seed)
    return expected.map { name, shape in
        SafetensorsTensor(name: name, shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in Float(rng.normal()) })
    }
}

private func tinyConfig(vocab: Int = 32100) -> LlamaConfig {
    LlamaConfig(vocabSize: vocab, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2,
                numKeyValueHeads: 1, maxPositionEmbeddings: 64)
}

private struct TrainState: Codable, Equatable { var step: Int; var rng: Rng; var lr: Float }

@Suite struct CheckpointRoundTrip {
    @Test func readsTheTransformersCheckpoint() throws {
        let dir = FixturePath.url("llama-tiny", bundle: .module)
        let cfg = try LlamaConfig.load(dir.appendingPathComponent("config.json"))
        let ck = try HFCheckpoint.read(dir: dir, expected: llamaExpected(cfg))
        #expect(ck.config == cfg && ck.tokenizer == nil && ck.alignInfo == nil)
        #expect(ck.tensors.count == 2 + 9 * 2 + 1)
        // Values agree with the safetensors reader on the raw file.
        let raw = try SafetensorsFile(url: dir.appendingPathComponent("model.safetensors"))
        #expect(try ck.floats("model.layers.1.mlp.down_proj.weight") == raw.floats("model.layers.1.mlp.down_proj.weight"))

        // Write it back (F32) and read again: bit-exact, config re-read equal.
        let out = tempDir("tiny")
        defer { try? FileManager.default.removeItem(at: out) }
        let tensors = try ck.tensorNames.map { SafetensorsTensor(name: $0, shape: ck.shape(of: $0)!, floats: try ck.floats($0)) }
        try HFCheckpoint.write(dir: out, config: ck.config, tensors: tensors, tokenizer: nil, alignInfo: nil)
        let back = try HFCheckpoint.read(dir: out, expected: llamaExpected(cfg))
        #expect(back.config == cfg)
        for name in ck.tensorNames {
            #expect(try back.floats(name).map(\.bitPattern) == ck.floats(name).map(\.bitPattern), "\(name)")
        }
        // The written model.safetensors is byte-identical to re-encoding the same tensors.
        #expect(try Data(contentsOf: out.appendingPathComponent("model.safetensors")) == SafetensorsWriter.encode(tensors, metadata: ["format": "pt"]))
    }

    @Test(arguments: [HFCheckpoint.defaultMaxShardBytes, 4096])
    func fullCheckpointRoundTripIsBitExact(maxShard: Int) throws {
        let sp = try SentencePieceModel(contentsOf: FixturePath.url("sentencepiece/llama_32000.model", bundle: .module))
        let tok = try Tokenizer(sentencePiece: sp, adding: ["<pad>"] + (try Tokenizer.sidTokens(levels: 3, codesPerLevel: 8)))
        let cfg = tinyConfig(vocab: tok.vocabSize)
        let expected = llamaExpected(cfg)
        var tensors = randomTensors(expected, seed: 7)
        tensors[0] = SafetensorsTensor(name: tensors[0].name, shape: tensors[0].shape,
                                       floats: [-Float.greatestFiniteMagnitude, -0.0, .greatestFiniteMagnitude, Float(bitPattern: 1)] + Array(repeating: 0.5, count: cfg.vocabSize * 8 - 4))
        let state = TrainState(step: 1234, rng: Rng(seed: 0xFFFF_FFFF_FFFF_FFF1), lr: 3e-4)
        let info = try AlignInfo(stage: "sft", sidMap: "sids/items.json", tasks: ["nextitem", "sid2title"], payload: state)
        let opt = OptimizerState(step: 1234, m: (0..<50).map { Float($0) * 0.25 }, v: (0..<50).map { Float($0) * 1e-3 },
                                 config: AdamWConfig(lr: 1e-2, weightDecay: 0.05))
        let dir = tempDir("full")
        defer { try? FileManager.default.removeItem(at: dir) }
        try HFCheckpoint.write(dir: dir, config: cfg, tensors: tensors, tokenizer: tok, alignInfo: info, optimizer: opt, maxShardBytes: maxShard)

        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        if maxShard == 4096 {
            #expect(files.contains(HFCheckpoint.indexFileName) && !files.contains(HFCheckpoint.singleFileName))
            #expect(files.filter { $0.hasPrefix("model-") }.count > 3)
        } else {
            #expect(files.contains(HFCheckpoint.singleFileName) && !files.contains(HFCheckpoint.indexFileName))
        }
        #expect(!files.contains { $0.hasPrefix(".") }, "no temporary files left: \(files)")

        let ck = try HFCheckpoint.read(dir: dir, expected: expected)
        #expect(ck.config == cfg)
        for t in tensors {
            guard case .f32(let want) = t.values else { continue }
            #expect(try ck.floats(t.name).map(\.bitPattern) == want.map(\.bitPattern), "\(t.name)")
        }
        #expect(ck.alignInfo == info)
        #expect(try ck.alignInfo!.payload(TrainState.self) == state)
        #expect(ck.tokenizer!.addedTokens == tok.addedTokens)
        #expect(try ck.tokenizer!.encode("Item <a_1><b_2><c_3> is Heat") == tok.encode("Item <a_1><b_2><c_3> is Heat"))
        let o = try OptimizerState.read(from: dir.appendingPathComponent(OptimizerState.fileName))
        #expect(o == opt)
        // The AdamW settings are written with sorted keys, so the same state gives the same bytes in any process.
        let meta = try SafetensorsFile(url: dir.appendingPathComponent(OptimizerState.fileName)).metadata["adamw"] ?? ""
        let keys = ["beta1", "beta2", "eps", "lr", "weightDecay"].map { meta.range(of: "\"\($0)\":")?.lowerBound }
        #expect(keys.allSatisfy { $0 != nil } && keys.map { $0! } == keys.map { $0! }.sorted(), "\(meta)")
    }

    @Test func f16AndBF16WeightsAreConvertedToF32() throws {
        let dir = tempDir("half")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try tinyConfig(vocab: 4).jsonData().write(to: dir.appendingPathComponent("config.json"))
        let header = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(contentsOf: [0x80, 0x3F, 0x40, 0xC0, 0x00, 0x3C, 0x55, 0x35] as [UInt8])  // bf16 1, -3; f16 1, 0.33325195
        try d.write(to: dir.appendingPathComponent("model.safetensors"))
        let ck = try HFCheckpoint.read(dir: dir, expected: [("a", [2]), ("b", [2])])
        #expect(try ck.floats("a") == [1, -3])
        #expect(try ck.floats("b") == [1, 0.333251953125])
        #expect(ck.tensors["a"]?.dtype == .bf16)
    }
}

@Suite struct CheckpointValidation {
    private func writeTiny(_ dir: URL, maxShard: Int = HFCheckpoint.defaultMaxShardBytes) throws -> [(String, [Int])] {
        let cfg = tinyConfig(vocab: 16)
        let expected = llamaExpected(cfg)
        try HFCheckpoint.write(dir: dir, config: cfg, tensors: randomTensors(expected, seed: 3), tokenizer: nil,
                               alignInfo: AlignInfo(stage: "init"), maxShardBytes: maxShard)
        return expected
    }

    private func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return "\(error)" }
    }

    @Test func missingWrongShapeAndUnknownTensorsAreNamed() throws {
        let dir = tempDir("val")
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try writeTiny(dir)
        var expected = good
        #expect(message { _ = try HFCheckpoint.read(dir: dir, expected: expected) } == "")

        var missing = expected
        missing.append(("model.layers.2.mlp.up_proj.weight", [16, 8]))
        let m1 = message { _ = try HFCheckpoint.read(dir: dir, expected: missing) }
        #expect(m1.contains("model.layers.2.mlp.up_proj.weight") && m1.contains("missing"))

        let idx = expected.firstIndex { $0.0 == "model.layers.0.self_attn.k_proj.weight" }!
        expected[idx].1 = [8, 8]
        let m2 = message { _ = try HFCheckpoint.read(dir: dir, expected: expected) }
        #expect(m2.contains("model.layers.0.self_attn.k_proj.weight") && m2.contains("shape [4, 8], expected [8, 8]") && m2.contains("model.safetensors"))

        let fewer = good.filter { $0.0 != "lm_head.weight" }
        let m3 = message { _ = try HFCheckpoint.read(dir: dir, expected: fewer) }
        #expect(m3.contains("lm_head.weight") && m3.contains("unknown tensor"))
    }

    @Test func brokenShardIndexesAreErrors() throws {
        let dir = tempDir("shards")
        defer { try? FileManager.default.removeItem(at: dir) }
        let expected = try writeTiny(dir, maxShard: 300)
        #expect(message { _ = try HFCheckpoint.read(dir: dir, expected: expected) } == "")
        let indexURL = dir.appendingPathComponent(HFCheckpoint.indexFileName)
        let original = try Data(contentsOf: indexURL)
        var obj = try JSONSerialization.jsonObject(with: original) as! [String: Any]
        var wm = obj["weight_map"] as! [String: String]

        // A tensor listed in a shard that does not hold it.
        let firstFile = wm["lm_head.weight"]!
        let other = Set(wm.values).sorted().first { $0 != firstFile }!
        wm["lm_head.weight"] = other
        obj["weight_map"] = wm
        try JSONSerialization.data(withJSONObject: obj).write(to: indexURL)
        let m1 = message { _ = try HFCheckpoint.read(dir: dir, expected: expected) }
        #expect(m1.contains("lm_head.weight"))

        // A tensor missing from the index (its shard still listed for other tensors).
        wm["lm_head.weight"] = firstFile
        let shared = wm.keys.sorted().first { k in wm.values.filter { $0 == wm[k]! }.count > 1 }!
        var dropped = wm
        dropped[shared] = nil
        obj["weight_map"] = dropped
        try JSONSerialization.data(withJSONObject: obj).write(to: indexURL)
        let m2 = message { _ = try HFCheckpoint.read(dir: dir, expected: expected) }
        #expect(m2.contains(shared) && m2.contains("not listed"), "\(m2)")

        // A path that leaves the directory, a missing shard, and a non-JSON index.
        wm["lm_head.weight"] = "../elsewhere.safetensors"
        obj["weight_map"] = wm
        try JSONSerialization.data(withJSONObject: obj).write(to: indexURL)
        #expect(message { _ = try HFCheckpoint.read(dir: dir) }.contains("not a plain file name"))
        wm["lm_head.weight"] = "model-00099-of-00099.safetensors"
        obj["weight_map"] = wm
        try JSONSerialization.data(withJSONObject: obj).write(to: indexURL)
        #expect(message { _ = try HFCheckpoint.read(dir: dir) }.contains("model-00099-of-00099.safetensors"))
        try Data("weights?".utf8).write(to: indexURL)
        #expect(message { _ = try HFCheckpoint.read(dir: dir) }.contains("not a JSON object"))
    }

    @Test func missingFilesAndBadAlignJson() throws {
        #expect(message { _ = try HFCheckpoint.read(dir: URL(fileURLWithPath: "/nonexistent/ckpt")) }.contains("not found"))
        let dir = tempDir("files")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try writeTiny(dir)
        let info = dir.appendingPathComponent(AlignInfo.fileName)
        try Data(#"{"format":"align-checkpoint","version":7}"#.utf8).write(to: info)
        #expect(message { _ = try HFCheckpoint.read(dir: dir) }.contains("version 7"))
        try Data(#"{"format":"something-else","version":1}"#.utf8).write(to: info)
        #expect(message { _ = try HFCheckpoint.read(dir: dir) }.contains("something-else"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        #expect(message { _ = try HFCheckpoint.read(dir: dir) }.contains("no model.safetensors"))
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        #expect(message { _ = try HFCheckpoint.read(dir: dir) }.contains("config.json"))
    }

    @Test func aFailedWriteLeavesTheOldCheckpoint() throws {
        let dir = tempDir("atomic")
        defer { try? FileManager.default.removeItem(at: dir) }
        let expected = try writeTiny(dir)
        let before = try Data(contentsOf: dir.appendingPathComponent("model.safetensors"))
        // Shape/value mismatch is detected while writing the weights, after config.json went to the temp dir.
        var bad = randomTensors(expected, seed: 9)
        bad[1] = SafetensorsTensor(name: bad[1].name, shape: [999], floats: [1, 2])
        #expect(throws: AlignError.self) {
            try HFCheckpoint.write(dir: dir, config: tinyConfig(vocab: 16), tensors: bad, tokenizer: nil, alignInfo: nil)
        }
        #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == before)
        let siblings = try FileManager.default.contentsOfDirectory(atPath: dir.deletingLastPathComponent().path)
        #expect(!siblings.contains { $0.hasPrefix(".\(dir.lastPathComponent)") }, "temporary directory left behind")
        // Duplicate names are refused before anything is written.
        #expect(throws: AlignError.self) {
            try HFCheckpoint.write(dir: dir, config: tinyConfig(vocab: 16), tensors: [bad[0], bad[0]], tokenizer: nil, alignInfo: nil)
        }
        // A successful rewrite replaces the directory.
        try HFCheckpoint.write(dir: dir, config: tinyConfig(vocab: 16), tensors: randomTensors(expected, seed: 10), tokenizer: nil, alignInfo: nil)
        #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) != before)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent(AlignInfo.fileName).path))
    }

    @Test func optimizerStateErrors() throws {
        let dir = tempDir("opt")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("optimizer.safetensors")
        try SafetensorsWriter.write([SafetensorsTensor(name: "m", shape: [2], floats: [1, 2])], metadata: ["format": "pt"], to: url)
        #expect(message { _ = try OptimizerState.read(from: url) }.contains("align-optimizer"))
        #expect(throws: AlignError.self) { try OptimizerState(step: 1, m: [1], v: [1, 2], config: AdamWConfig()).encoded() }
        // Round trip through a real AdamW.
        let adam = AdamW(count: 3, groups: [ParamGroup(range: 0..<3, decay: true)], config: AdamWConfig(lr: 0.1))
        var p: [Float] = [1, 2, 3]
        let g: [Float] = [0.5, -0.5, 0.25]
        p.withUnsafeMutableBufferPointer { pb in g.withUnsafeBufferPointer { gb in adam.update(params: pb.baseAddress!, grads: gb.baseAddress!) } }
        try OptimizerState(adam).write(to: url)
        let restored = AdamW(count: 3, groups: [ParamGroup(range: 0..<3, decay: true)], config: AdamWConfig())
        try OptimizerState.read(from: url).restore(into: restored)
        #expect(restored.step == 1 && Array(restored.m) == Array(adam.m) && Array(restored.v) == Array(adam.v) && restored.config == adam.config)
        #expect(try OptimizerState.read(from: url).ema == nil)

        // Version 2: an optional moving average of the weights, as long as the moments.
        try OptimizerState(adam, ema: [0.5, 1.5, 2.5]).write(to: url)
        #expect(try OptimizerState.read(from: url).ema == [0.5, 1.5, 2.5])
        #expect(throws: AlignError.self) { try OptimizerState(adam, ema: [1]).encoded() }
        let cfg = String(decoding: try JSONEncoder().encode(AdamWConfig()), as: UTF8.self)
        func write(version: String, _ tensors: [SafetensorsTensor]) throws {
            try SafetensorsWriter.write(tensors, metadata: ["format": OptimizerState.formatName, "version": version, "step": "1", "adamw": cfg], to: url)
        }
        let mv = [SafetensorsTensor(name: "m", shape: [2], floats: [1, 2]), SafetensorsTensor(name: "v", shape: [2], floats: [3, 4])]
        try write(version: "1", mv)   // files written before the moving average existed still read
        #expect(try OptimizerState.read(from: url).m == [1, 2])
        try write(version: "1", mv + [SafetensorsTensor(name: "ema", shape: [2], floats: [0, 0])])
        #expect(message { _ = try OptimizerState.read(from: url) }.contains("found"))
        try write(version: "2", mv + [SafetensorsTensor(name: "ema", shape: [3], floats: [0, 0, 0])])
        #expect(message { _ = try OptimizerState.read(from: url) }.contains("ema"))
        try write(version: "3", mv)
        #expect(message { _ = try OptimizerState.read(from: url) }.contains("not supported"))
    }
}
