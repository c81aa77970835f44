// TrainConfig presets: defaults for missing keys, the shipped configs parse, and validation errors name
// the field to fix.
import AlignCore
import AlignRec
import Foundation
import Testing

private func repoConfig(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("configs/\(name)")
}

@Test func configMissingKeysTakeDefaultsAndTasksResolve() throws {
    let cfg = try TrainConfig.parse("""
    format: align-config
    version: 1
    model: {hidden_size: 64, num_attention_heads: 2}
    optim: {steps: 10}
    tasks: {nextitem: 1, sid2title: 0.5, title2sid: 0}
    sampling: {dense_history_loss: true}
    """, path: "t.yaml")
    #expect(cfg.model.hiddenSize == 64 && cfg.model.numHiddenLayers == ModelPreset().numHiddenLayers)
    #expect(cfg.optim.steps == 10 && cfg.optim.lr == OptimPreset().lr && cfg.optim.windowBatches == 16)
    #expect(cfg.sampling.denseHistoryLoss && cfg.sampling.stride == 1)
    #expect(cfg.activeTasks == [.nextitem, .sid2title])
    #expect(cfg.taskConfig.weight(.sid2title) == 0.5 && cfg.taskConfig.maxHistory == 20)
    // Round trip through the saved (resolved) YAML.
    #expect(try TrainConfig.parse(try cfg.yaml(), path: "resolved") == cfg)
}

@Test func shippedConfigsParse() throws {
    for name in ["tiny.yaml", "movielens.yaml"] {
        let cfg = try TrainConfig.load(repoConfig(name))
        #expect(cfg.optim.steps > 0)
    }
}

@Test func configValidationErrorsNameTheField() throws {
    let cases: [(String, String)] = [
        ("format: other", "format"),
        ("version: 9", "version"),
        ("protocol: random", "protocol"),
        ("tasks: {nextitm: 1}", "nextitm"),
        ("tasks: {nextitem: 0}", "positive weight"),
        ("model: {hidden_size: 100, num_attention_heads: 3}", "hidden_size"),
        ("model: {num_attention_heads: 4, num_key_value_heads: 3}", "num_key_value_heads"),
        ("optim: {steps: 0}", "steps"),
        ("optim: {min_lr_ratio: 2}", "min_lr_ratio"),
        ("eval: {beam: 0}", "eval.beam"),
        ("sampling: {stride: 0}", "sampling.stride"),
        ("max_history: 0", "max_history"),
        ("optim: {steps: many}", "optim.steps: expected an integer"),
    ]
    for (yaml, needle) in cases {
        do {
            _ = try TrainConfig.parse(yaml, path: "bad.yaml")
            Issue.record("accepted: \(yaml)")
        } catch let e as AlignError {
            #expect(e.description.contains(needle) && e.description.contains("bad.yaml"), "\(yaml) → \(e.description)")
        }
    }
}
