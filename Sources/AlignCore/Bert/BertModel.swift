// BERT encoder weights loaded from a Hugging Face `model.safetensors` (BertModel layout, with or without
// the `bert.` prefix of BertFor* checkpoints). Every tensor name and shape is checked against the config;
// only the pooler, `position_ids` and `cls.*` heads may be present and unused. Parameters live in one
// flat Float buffer allocated once; q/k/v projections are concatenated into one [3C, C] matrix.
import Foundation

/// Immutable BERT weights + config + tokenizer (shareable across encoders/threads).
public final class BertModel: @unchecked Sendable {
    /// Shapes and hyper-parameters.
    public let config: BertConfig
    /// The tokenizer of the model's vocab.txt.
    public let tokenizer: WordPieceTokenizer
    /// Where the model came from (directory or file), for metadata and messages.
    public let source: String
    let params: UnsafeMutableBufferPointer<Float>

    /// Offsets (in floats) of each parameter inside `params`.
    struct LayerOffsets { var qkvW = 0, qkvB = 0, attnOutW = 0, attnOutB = 0, ln1W = 0, ln1B = 0
        var fc1W = 0, fc1B = 0, fc2W = 0, fc2B = 0, ln2W = 0, ln2B = 0 }
    let wordEmb: Int, posEmb: Int, typeEmb: Int, embLnW: Int, embLnB: Int
    let layers: [LayerOffsets]

    /// Loads `config.json`, `vocab.txt` and `model.safetensors` from an encoder directory
    /// (e.g. models/all-MiniLM-L6-v2, written by scripts/fetch-minilm).
    public convenience init(directory: URL) throws {
        let need = ["config.json", "vocab.txt", "model.safetensors"]
        for f in need where !FileManager.default.fileExists(atPath: directory.appendingPathComponent(f).path) {
            throw AlignError.io(path: directory.appendingPathComponent(f).path,
                                message: "missing encoder file (run scripts/fetch-minilm to fetch all-MiniLM-L6-v2)")
        }
        let config = try BertConfig.load(directory.appendingPathComponent("config.json"))
        let tok = try WordPieceTokenizer(vocabURL: directory.appendingPathComponent("vocab.txt"))
        let st = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        try self.init(config: config, tokenizer: tok, weights: st, source: directory.path)
    }

    /// Builds the model from parsed parts, checking names and shapes.
    public init(config: BertConfig, tokenizer: WordPieceTokenizer, weights st: SafetensorsFile, source: String) throws {
        try config.validate(path: source)
        if tokenizer.vocab.count > config.vocabSize {
            throw AlignError.invalidArgument("\(source): vocab.txt has \(tokenizer.vocab.count) tokens but the model's vocab_size is \(config.vocabSize)")
        }
        let c = config.hiddenSize, inter = config.intermediateSize
        let prefix = st.contains("bert.embeddings.word_embeddings.weight") ? "bert." : ""
        var plan: [(name: String, shape: [Int], offset: Int)] = []
        var total = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let off = total
            plan.append((prefix + name, shape, off))
            total += shape.reduce(1, *)
            return off
        }
        wordEmb = add("embeddings.word_embeddings.weight", [config.vocabSize, c])
        posEmb = add("embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, c])
        typeEmb = add("embeddings.token_type_embeddings.weight", [config.typeVocabSize, c])
        embLnW = add("embeddings.LayerNorm.weight", [c])
        embLnB = add("embeddings.LayerNorm.bias", [c])
        var ls: [LayerOffsets] = []
        // q, k, v are added consecutively so that they form one [3C, C] matrix and one [3C] bias.
        for l in 0..<config.numHiddenLayers {
            let p = "encoder.layer.\(l)."
            var o = LayerOffsets()
            o.qkvW = add(p + "attention.self.query.weight", [c, c])
            _ = add(p + "attention.self.key.weight", [c, c])
            _ = add(p + "attention.self.value.weight", [c, c])
            o.qkvB = add(p + "attention.self.query.bias", [c])
            _ = add(p + "attention.self.key.bias", [c])
            _ = add(p + "attention.self.value.bias", [c])
            o.attnOutW = add(p + "attention.output.dense.weight", [c, c])
            o.attnOutB = add(p + "attention.output.dense.bias", [c])
            o.ln1W = add(p + "attention.output.LayerNorm.weight", [c])
            o.ln1B = add(p + "attention.output.LayerNorm.bias", [c])
            o.fc1W = add(p + "intermediate.dense.weight", [inter, c])
            o.fc1B = add(p + "intermediate.dense.bias", [inter])
            o.fc2W = add(p + "output.dense.weight", [c, inter])
            o.fc2B = add(p + "output.dense.bias", [c])
            o.ln2W = add(p + "output.LayerNorm.weight", [c])
            o.ln2B = add(p + "output.LayerNorm.bias", [c])
            ls.append(o)
        }
        layers = ls
        let expected = Set(plan.map(\.name))
        let ignorable = [prefix + "embeddings.position_ids", prefix + "pooler.dense.weight", prefix + "pooler.dense.bias"]
        for e in st.entries where !expected.contains(e.name) && !ignorable.contains(e.name) && !e.name.hasPrefix("cls.") {
            throw AlignError.tensor(path: st.path, name: e.name,
                                    message: "unexpected tensor for a \(config.numHiddenLayers)-layer BertModel (does config.json match the weights?)")
        }
        for p in plan where !st.contains(p.name) {
            throw AlignError.tensor(path: st.path, name: p.name, message: "missing from the checkpoint")
        }
        // Read into a local buffer and assign the stored properties only once everything succeeded
        // (a class initializer that throws after full initialization would run deinit).
        let buf = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
        buf.initialize(repeating: 0)
        do {
            for p in plan {
                let n = p.shape.reduce(1, *)
                let dst = UnsafeMutableBufferPointer(rebasing: buf[p.offset..<(p.offset + n)])
                try st.read(p.name, into: dst, expectShape: p.shape)
                if let bad = dst.firstIndex(where: { !$0.isFinite }) {
                    throw AlignError.tensor(path: st.path, name: p.name, message: "non-finite value at element \(bad)")
                }
            }
        } catch {
            buf.deallocate()
            throw error
        }
        self.config = config
        self.tokenizer = tokenizer
        self.source = source
        params = buf
    }

    deinit { params.deallocate() }

    /// Embedding width (hidden size).
    public var dim: Int { config.hiddenSize }

    @inline(__always) func p(_ offset: Int) -> UnsafeMutablePointer<Float> { params.baseAddress! + offset }
}
