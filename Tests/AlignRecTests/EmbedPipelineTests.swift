// `align embed` end to end on a tiny random BERT written to disk: items.jsonl reading (and its file:line
// errors), length-sorted batching that restores item order, the output file's format, and imports.
import AlignRec
import Foundation
import TestSupport
import Testing

@Suite final class EmbedPipelineTests {
    let dir: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("align-embed-pipe-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }()
    deinit { try? FileManager.default.removeItem(at: dir) }

    /// A 2-layer, 8-wide random BERT in HF layout (config.json, vocab.txt, model.safetensors).
    func writeTinyEncoder() throws -> URL {
        let enc = dir.appendingPathComponent("tiny-bert")
        try FileManager.default.createDirectory(at: enc, withIntermediateDirectories: true)
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "toy", "story", "heat", "the", "matrix", "##s", "(", ")", ".", "|", "1995", "comedy"]
        try Data((vocab.joined(separator: "\n") + "\n").utf8).write(to: enc.appendingPathComponent("vocab.txt"))
        let config = """
        {"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 8, "intermediate_size": 16, "layer_norm_eps": 1e-12,
         "max_position_embeddings": 32, "model_type": "bert", "num_attention_heads": 2, "num_hidden_layers": 2,
         "position_embedding_type": "absolute", "type_vocab_size": 2, "vocab_size": 16}
        """
        try Data(config.utf8).write(to: enc.appendingPathComponent("config.json"))
        var rng = Rng(seed: 11)
        var shapes: [(String, [Int])] = [("embeddings.word_embeddings.weight", [16, 8]), ("embeddings.position_embeddings.weight", [32, 8]),
                                          ("embeddings.token_type_embeddings.weight", [2, 8]), ("embeddings.LayerNorm.weight", [8]),
                                          ("embeddings.LayerNorm.bias", [8]), ("embeddings.position_ids", [1, 32])]
        for l in 0..<2 {
            let p = "encoder.layer.\(l)."
            for n in ["query", "key", "value"] { shapes += [(p + "attention.self.\(n).weight", [8, 8]), (p + "attention.self.\(n).bias", [8])] }
            shapes += [(p + "attention.output.dense.weight", [8, 8]), (p + "attention.output.dense.bias", [8]),
                       (p + "attention.output.LayerNorm.weight", [8]), (p + "attention.output.LayerNorm.bias", [8]),
                       (p + "intermediate.dense.weight", [16, 8]), (p + "intermediate.dense.bias", [16]),
                       (p + "output.dense.weight", [8, 16]), (p + "output.dense.bias", [8]),
                       (p + "output.LayerNorm.weight", [8]), (p + "output.LayerNorm.bias", [8])]
        }
        let tensors = shapes.map { name, shape in
            name.hasSuffix("position_ids")
                ? SafetensorsTensor(name: "bert." + name, shape: shape, ints: (0..<32).map { Int32($0) })
                : SafetensorsTensor(name: "bert." + name, shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in Float(rng.normal()) * 0.5 })
        }
        try SafetensorsWriter.write(tensors, to: enc.appendingPathComponent("model.safetensors"))
        return enc
    }

    func writeItems(_ texts: [String]) throws -> URL {
        let data = dir.appendingPathComponent("ds")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let lines = try texts.enumerated().map { i, t in
            String(decoding: try JSONEncoder().encode(Item(item: i + 1, id: "m\(i)", title: t, year: nil, genres: [], text: t)), as: UTF8.self)
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: data.appendingPathComponent("items.jsonl"))
        return data
    }

    @Test func embedsItemsInOrderAndWritesVersionedFile() throws {
        let enc = try writeTinyEncoder()
        let texts = ["toy story (1995). comedy", "heat", "the matrix", "", "toys toys toys toys toys toys", "the heat . | comedy"]
        let data = try writeItems(texts)
        let result = try EmbeddingPipeline.run(EmbedOptions(dataDir: data, encoderDir: enc, batch: 4, progress: false))
        let loaded = try ItemEmbeddings.load(data.appendingPathComponent("embeddings.safetensors"))
        #expect(loaded == result)
        #expect(loaded.count == 6 && loaded.dim == 8 && loaded.encoder == "tiny-bert" && loaded.normalized)
        // Row i is item i+1: each equals the text embedded alone.
        let single = try BertEncoder(directory: enc, maxBatch: 1, maxLength: 32)
        for (i, t) in texts.enumerated() {
            let v = single.embed(texts: [t])
            #expect(maxAbsDiff(v, Array(loaded.vectors[i * 8 ..< (i + 1) * 8])) < 1e-5, "item \(i + 1)")
        }
        // Import path: the same vectors back through .safetensors (the file's own `items` order).
        let out = dir.appendingPathComponent("imported.safetensors")
        let imp = try EmbeddingPipeline.run(EmbedOptions(dataDir: data, encoderDir: enc, out: out,
                                                         importFile: data.appendingPathComponent("embeddings.safetensors"), progress: false))
        #expect(imp.vectors == loaded.vectors && imp.encoder == "import:embeddings.safetensors" && imp.normalized)
        #expect(try ItemEmbeddings.load(out).count == 6)
    }

    @Test func benchTitlesAreDeterministicAndBenchRuns() throws {
        let a = BertBench.titles(count: 20, seed: 3), b = BertBench.titles(count: 20, seed: 3)
        #expect(a == b && a != BertBench.titles(count: 20, seed: 4))
        let words = a.map { $0.split(separator: " ").count + $0.split(separator: "|").count - 1 }
        #expect(words.allSatisfy { (4...10).contains($0) })
        let rate = try BertBench.run(encoderDir: writeTinyEncoder(), items: 40, batch: 8)
        #expect(rate > 0 && rate.isFinite)
    }

    @Test func missingEncoderAndBadItemsAreClearErrors() throws {
        let data = try writeItems(["a", "b"])
        let e = #expect(throws: AlignError.self) {
            try EmbeddingPipeline.run(EmbedOptions(dataDir: data, encoderDir: self.dir.appendingPathComponent("none"), progress: false))
        }
        #expect(e?.description.contains("scripts/fetch-minilm") == true)
        let items = data.appendingPathComponent("items.jsonl")
        try Data("{\"item\":1,\"id\":\"a\",\"title\":\"a\",\"genres\":[],\"text\":\"a\"}\n{\"item\":3,\"id\":\"b\",\"title\":\"b\",\"genres\":[],\"text\":\"b\"}\n".utf8).write(to: items)
        let gap = #expect(throws: AlignError.self) { try ItemsJSONL.read(items) }
        #expect(gap?.description.contains("items.jsonl:2:") == true)
        try Data("{\"item\":1,\"id\":\"a\",\"title\":\"a\",\"genres\":[]}\n".utf8).write(to: items)
        let missing = #expect(throws: AlignError.self) { try ItemsJSONL.read(items) }
        #expect(missing?.description.contains("items.jsonl:1: not a JSON item object: missing field 'text'") == true)
        try Data("not json\n".utf8).write(to: items)
        #expect(throws: AlignError.self) { try ItemsJSONL.read(items) }
        // A safetensors file that is not align-embeddings is refused by the loader.
        let other = dir.appendingPathComponent("other.safetensors")
        try SafetensorsWriter.write([SafetensorsTensor(name: "embeddings", shape: [1, 1], floats: [1])], to: other)
        #expect(throws: AlignError.self) { try ItemEmbeddings.load(other) }
    }
}
