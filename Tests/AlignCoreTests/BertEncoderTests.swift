// The native BERT encoder against sentence-transformers' all-MiniLM-L6-v2 embeddings (Fixtures/minilm),
// batch/padding invariance, and weight loading checks (bert. prefix, wrong shapes, unknown tensors) on a
// tiny random model.
import AlignCore
import Foundation
import TestSupport
import Testing

@Suite struct BertEncoderTests {
    @Test func goldenEmbeddingsMatchSentenceTransformers() throws {
        guard let model = try MiniLM.model() else { return }
        let cases = try MiniLM.cases("cases.jsonl")
        let enc = try BertEncoder(model: model, maxBatch: cases.count, maxLength: 256)
        let ids = cases.map { model.tokenizer.encode($0.text) }
        var out = [Float](repeating: 0, count: cases.count * enc.dim)
        enc.forward(ids, into: &out)  // one padded batch: lengths 2 ... 256
        var minCos: Float = 1, maxDiff: Float = 0
        for (i, c) in cases.enumerated() {
            let got = Array(out[i * enc.dim ..< (i + 1) * enc.dim]), want = c.embedding!
            let cos = zip(got, want).reduce(0) { $0 + $1.0 * $1.1 } / (norm(got) * norm(want))
            #expect(cos >= 0.9999, "\(c.text.prefix(60)): cosine \(cos)")
            minCos = min(minCos, cos); maxDiff = max(maxDiff, maxAbsDiff(got, want))
        }
        print("MiniLM golden: min cosine \(minCos), max abs diff \(maxDiff) over \(cases.count) texts")
        // Each short text alone gives the same vector as inside the padded batch.
        let single = try BertEncoder(model: model, maxBatch: 1, maxLength: 64)
        var one = [Float](repeating: 0, count: enc.dim)
        for (i, seq) in ids.enumerated() where seq.count <= 64 {
            single.forward([seq], into: &one)
            #expect(maxAbsDiff(one, Array(out[i * enc.dim ..< (i + 1) * enc.dim])) < 2e-5)
        }
        // embed(texts:) sorts by length and restores the input order.
        let short = ids.indices.filter { ids[$0].count <= 64 }
        let batched = try BertEncoder(model: model, maxBatch: 3, maxLength: 64).embed(texts: short.map { cases[$0].text })
        #expect(maxAbsDiff(batched, short.flatMap { Array(out[$0 * enc.dim ..< ($0 + 1) * enc.dim]) }) < 2e-5)
    }

    func norm(_ v: [Float]) -> Float { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    static let tinyConfig = BertConfig(vocabSize: 12, hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2,
                                       intermediateSize: 16, maxPositionEmbeddings: 16)
    static let tinyVocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "##a", "##b", ".", "x", "y"]

    static func tinyTensors(prefix: String, seed: UInt64) -> [SafetensorsTensor] {
        var rng = Rng(seed: seed)
        let c = 8, i = 16
        var shapes: [(String, [Int])] = [("embeddings.word_embeddings.weight", [12, c]), ("embeddings.position_embeddings.weight", [16, c]),
                                          ("embeddings.token_type_embeddings.weight", [2, c]), ("embeddings.LayerNorm.weight", [c]),
                                          ("embeddings.LayerNorm.bias", [c]), ("pooler.dense.weight", [c, c])]
        for l in 0..<2 {
            let p = "encoder.layer.\(l)."
            for n in ["query", "key", "value"] { shapes += [(p + "attention.self.\(n).weight", [c, c]), (p + "attention.self.\(n).bias", [c])] }
            shapes += [(p + "attention.output.dense.weight", [c, c]), (p + "attention.output.dense.bias", [c]),
                       (p + "attention.output.LayerNorm.weight", [c]), (p + "attention.output.LayerNorm.bias", [c]),
                       (p + "intermediate.dense.weight", [i, c]), (p + "intermediate.dense.bias", [i]),
                       (p + "output.dense.weight", [c, i]), (p + "output.dense.bias", [c]),
                       (p + "output.LayerNorm.weight", [c]), (p + "output.LayerNorm.bias", [c])]
        }
        return shapes.map { name, shape in
            SafetensorsTensor(name: prefix + name, shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in Float(rng.normal()) * 0.5 })
        }
    }

    static func tinyModel(_ tensors: [SafetensorsTensor]) throws -> BertModel {
        let st = try SafetensorsFile(data: SafetensorsWriter.encode(tensors), path: "tiny.safetensors")
        return try BertModel(config: tinyConfig, tokenizer: WordPieceTokenizer(vocab: tinyVocab), weights: st, source: "tiny")
    }

    @Test func prefixedAndPlainCheckpointsAgree() throws {
        let plain = try Self.tinyModel(Self.tinyTensors(prefix: "", seed: 7))
        let prefixed = try Self.tinyModel(Self.tinyTensors(prefix: "bert.", seed: 7))
        let texts = ["a b c", "ab. x y", "", "cab"]
        let e1 = try BertEncoder(model: plain, maxBatch: 2, maxLength: 16).embed(texts: texts)
        let e2 = try BertEncoder(model: prefixed, maxBatch: 4, maxLength: 16).embed(texts: texts)
        #expect(maxAbsDiff(e1, e2) < 1e-5)
        #expect(e1.allSatisfy { $0.isFinite })
    }

    @Test func badCheckpointsAreRejected() throws {
        var t = Self.tinyTensors(prefix: "", seed: 8)
        let k = t.firstIndex { $0.name == "encoder.layer.1.intermediate.dense.weight" }!
        t[k] = SafetensorsTensor(name: t[k].name, shape: [8, 16], floats: [Float](repeating: 0, count: 128))
        #expect(throws: AlignError.self) { try Self.tinyModel(t) }  // transposed shape
        var extra = Self.tinyTensors(prefix: "", seed: 8)
        extra.append(SafetensorsTensor(name: "encoder.layer.2.output.dense.bias", shape: [8], floats: [Float](repeating: 0, count: 8)))
        #expect(throws: AlignError.self) { try Self.tinyModel(extra) }  // more layers than the config
        let missing = Self.tinyTensors(prefix: "", seed: 8).filter { $0.name != "embeddings.LayerNorm.bias" }
        #expect(throws: AlignError.self) { try Self.tinyModel(missing) }
        #expect(throws: AlignError.self) { try BertModel(directory: URL(fileURLWithPath: "/nonexistent-minilm")) }
    }
}
