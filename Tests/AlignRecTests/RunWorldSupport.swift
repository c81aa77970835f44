// A dataset directory on disk for end-to-end `SFTRun` tests: the tiny synthetic world (24 items, two-level
// SIDs) written as `align data prepare`, `align sid build` and `align tokenizer train` would leave it, plus a
// prompts directory and a tiny SFT config that trains and validates in about a second.
import AlignCore
import AlignRec
import Foundation

struct TinyRunWorld {
    let root: URL
    let data: URL
    let prompts: URL
    let world: TinySFTWorld

    /// Writes the world under a fresh temporary directory (remove `root` when done).
    static func make() throws -> TinyRunWorld {
        let w = try TinySFTWorld.make(users: 4)
        var raw = RawInteractions(format: "test")
        for u in 0..<12 {
            var item = (2 * u) % TinySFTWorld.itemCount + 1
            for t in 0..<7 {
                raw.add(user: "\(u + 1)", item: "\(item)", timestamp: Int64(1000 * u + t))
                item = TinySFTWorld.next(item)
            }
        }
        for it in w.items { raw.meta[it.id.dropFirst().description] = ItemMeta(title: it.title, year: it.year, genres: it.genres) }
        let ds = try DatasetBuilder.build(raw, config: ProtocolConfig(minCount: 1))
        let data = w.dir.appendingPathComponent("data"), prompts = w.dir.appendingPathComponent("prompts")
        try FileManager.default.createDirectory(at: w.dir, withIntermediateDirectories: true)
        try ds.write(to: data)
        try w.sidMap.write(data.appendingPathComponent("sid/sid_map.json"))
        try w.tokenizer.write(to: data.appendingPathComponent("tokenizer"))
        try TinySFTWorld.writePrompts(prompts)
        return TinyRunWorld(root: w.dir, data: data, prompts: prompts, world: w)
    }

    /// A tiny SFT config: 6 steps, validation every 2 on 6 users.
    static func config(steps: Int = 6, lr: Float = 1e-2) throws -> TrainConfig {
        try TrainConfig.parse("""
        model: {hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 64}
        text_vocab_size: 60
        max_history: 4
        tasks: {nextitem: 1, title2sid: 0.5}
        sampling: {dense_history_loss: true}
        optim: {steps: \(steps), batch_size: 8, lr: \(lr), warmup: 2, weight_decay: 0, window_batches: 2}
        eval: {every: 2, beam: 6, max_users: 6}
        seed: 3
        """, path: "tiny-run.yaml")
    }

    func options(_ cfg: TrainConfig, out: String, resume: Bool = false, overwrite: Bool = false) -> SFTOptions {
        SFTOptions(data: data, config: cfg, out: root.appendingPathComponent(out), prompts: prompts,
                   resume: resume, overwrite: overwrite, progress: false)
    }

    /// Runs SFT quietly.
    @discardableResult
    func sft(_ cfg: TrainConfig, out: String, resume: Bool = false, overwrite: Bool = false) throws -> SFTSummary {
        try SFTRun.run(options(cfg, out: out, resume: resume, overwrite: overwrite)) { _ in }
    }

    /// The weights of a checkpoint directory, bit patterns.
    static func weights(_ dir: URL) throws -> [UInt32] {
        let params = try HFCheckpoint.readLlama(dir: dir).llamaParameters()
        return withExtendedLifetime(params) { params.data.map(\.bitPattern) }   // the buffer lives as long as `params`
    }

    /// The metrics lines of a run without their wall-clock fields.
    static func metrics(_ run: URL) throws -> [String] {
        try MetricsLog.read(run.appendingPathComponent("metrics.jsonl")).map { obj in
            var o = obj
            for k in ["time", "seconds", "tokens_per_s"] { o[k] = nil }
            return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
        }
    }
}

/// The error `body` throws, as text ("" when it succeeds).
func failure(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return "\(error)" }
}
