// `align embed`: one vector per catalogue item of a dataset directory, either from the native MiniLM/BERT
// encoder (texts tokenized in parallel, sorted by length for tight batches, order restored) or imported
// from a file made elsewhere; written as an `ItemEmbeddings` safetensors file.
import Foundation

/// What `align embed` should do.
public struct EmbedOptions: Sendable {
    /// Dataset directory holding `items.jsonl`.
    public var dataDir: URL
    /// Encoder directory (config.json, vocab.txt, model.safetensors).
    public var encoderDir: URL
    /// Sequences per forward batch.
    public var batch: Int
    /// Output file (default `<dataDir>/embeddings.safetensors`).
    public var out: URL?
    /// Import vectors from this file instead of running the encoder.
    public var importFile: URL?
    /// Tensor to take from a .safetensors import.
    public var tensor: String?
    /// Show a progress bar (when stderr is a terminal).
    public var progress: Bool

    public init(dataDir: URL, encoderDir: URL = URL(fileURLWithPath: "models/all-MiniLM-L6-v2"), batch: Int = 64,
                out: URL? = nil, importFile: URL? = nil, tensor: String? = nil, progress: Bool = true) {
        self.dataDir = dataDir; self.encoderDir = encoderDir; self.batch = batch; self.out = out
        self.importFile = importFile; self.tensor = tensor; self.progress = progress
    }

    /// The output path actually used.
    public var outputURL: URL { out ?? dataDir.appendingPathComponent("embeddings.safetensors") }
}

/// Runs `align embed`.
public enum EmbeddingPipeline {
    /// Embeds (or imports) the dataset's items, writes the output file atomically and returns it.
    /// `log` receives one-line summaries.
    @discardableResult
    public static func run(_ o: EmbedOptions, log: (String) -> Void = { _ in }) throws -> ItemEmbeddings {
        guard o.batch >= 1 else { throw AlignError.invalidArgument("--batch must be ≥ 1, got \(o.batch)") }
        let items = try ItemsJSONL.read(o.dataDir.appendingPathComponent("items.jsonl"))
        let result: ItemEmbeddings
        if let file = o.importFile {
            let (v, dim) = try EmbeddingImporter.load(file, expectedCount: items.count, tensor: o.tensor)
            result = ItemEmbeddings(vectors: v, count: items.count, dim: dim, encoder: "import:\(file.lastPathComponent)",
                                    normalized: ItemEmbeddings.rowsAreUnit(v, dim: dim))
            log("imported \(items.count) × \(dim) vectors from \(file.path)")
        } else {
            log("embedding \(items.count) items with \(o.encoderDir.lastPathComponent) (batch \(o.batch))")
            let start = Date()
            let model = try BertModel(directory: o.encoderDir)
            let v = try embed(texts: items.map(\.text), model: model, batch: o.batch, progress: o.progress)
            result = ItemEmbeddings(vectors: v, count: items.count, dim: model.dim, encoder: o.encoderDir.lastPathComponent,
                                    normalized: true)
            let secs = Date().timeIntervalSince(start)
            log(String(format: "embedded %d items × %d with %@ in %.1f s (%.0f items/s)",
                       items.count, model.dim, o.encoderDir.lastPathComponent, secs, Double(items.count) / max(secs, 1e-9)))
        }
        try result.write(to: o.outputURL)
        log("wrote \(o.outputURL.path)")
        return result
    }

    /// Embeds texts with a loaded model: tokenizes (truncating at 256 tokens), plans buffers for the longest
    /// sequence, batches by length. Returns flat [texts.count, dim] in input order.
    public static func embed(texts: [String], model: BertModel, batch: Int = 64, progress: Bool = false) throws -> [Float] {
        if texts.isEmpty { return [] }
        let ids = model.tokenizer.encodeAll(texts, maxLength: min(256, model.config.maxPositionEmbeddings))
        let longest = ids.map(\.count).max()!
        let encoder = try BertEncoder(model: model, maxBatch: min(batch, texts.count), maxLength: longest)
        let bar = ProgressBar(total: texts.count, label: "embed", unit: "items", enabled: progress ? nil : false)
        let v = encoder.embed(tokenized: ids) { bar.advance($0) }
        bar.finish()
        return v
    }
}
