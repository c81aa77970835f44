// LoRA in `align sft` (config `lora:`, LoRA.swift): adapters over the `--init` model with the added token rows
// (SID tokens and any special align added) trained in full. A fresh run takes W0 from the model it starts from;
// `last/lora.safetensors` keeps the adapters, the rows and the base model's path, and a resumed run reads W0 from
// that model again and checks that the merged weights are exactly `last/`'s (a changed base model is an error,
// not a silently different run). `best/` and `last/` hold the merged weights: plain Hugging Face checkpoints.
import Foundation

enum SFTLoRA {
    /// Adapters for a fresh run from `initFrom`: new rows are the ids the tokenizer gained over the base model's.
    static func start(model: RecModel, config: LoRAConfig, initFrom: URL, seed: UInt64) throws -> LoRAAdapters {
        let base = try PretrainedModel.open(initFrom)
        let baseVocab = base.tokenizer?.vocabSize ?? model.tokenizer.vocabSize
        let lora = try LoRAAdapters(params: model.params, config: config, newRows: baseVocab..<model.tokenizer.vocabSize, seed: seed)
        lora.baseSource = initFrom.standardizedFileURL.path
        lora.merge()
        return lora
    }

    /// Adapters of a run resumed from `lastDir`.
    static func resume(model: RecModel, config: LoRAConfig, lastDir: URL, seed: UInt64) throws -> LoRAAdapters {
        let url = lastDir.appendingPathComponent(LoRAAdapters.fileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw AlignError.io(path: url.path, message: "the run's config has lora: but its last/ checkpoint has no adapters (it was not a LoRA run)")
        }
        let header = try LoRAAdapters.header(url)
        guard header.config == config else {
            throw AlignError.invalidArgument("the run's LoRA settings differ from the config's; resume with the run's config")
        }
        let base = try PretrainedModel.open(URL(fileURLWithPath: header.base)).parameters()
        let saved = model.params.copy()
        let lora = try LoRAAdapters(params: model.params, config: config, newRows: header.newRows, seed: seed, w0: base)
        lora.baseSource = header.base
        try lora.restore(from: url)
        for t in lora.targets where !(0..<(t.rows * t.cols)).allSatisfy({ saved.data[t.offset + $0] == model.params.data[t.offset + $0] }) {
            throw AlignError.format(path: url.path, line: nil, message: "\(t.name): the base model \(header.base) plus the adapters do not give last/'s weights (the base model changed?)")
        }
        return lora
    }
}
