// `align generate`: free text generation from any LLaMA-family Hugging Face directory with a tokenizer
// (tokenizer.model or tokenizer.json), a GGUF file, or an align run directory — greedy or temperature/top-k/top-p sampling with an explicit seed, through the
// KV-cached decoder.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a LLaMA-family checkpoint (HF directory, GGUF file, or an align run).")

    @Option(name: .long, help: "Checkpoint directory (config.json + *.safetensors + tokenizer), a .gguf file, or a run directory (uses best/, else last/).")
    var model: String

    @Option(name: .long, help: "Prompt text.")
    var prompt: String?

    @Option(name: .customLong("prompt-ids"), help: "Prompt as comma-separated token ids (no tokenizer needed; BOS not added).")
    var promptIds: String?

    @Option(name: .customLong("max-new-tokens"), help: "Maximum number of tokens to generate.")
    var maxNewTokens: Int = 64

    @Flag(name: .long, help: "Greedy decoding (the default unless --temperature is given).")
    var greedy = false

    @Option(name: .long, help: "Sampling temperature (> 0); enables sampling.")
    var temperature: Float?

    @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold in (0, 1].")
    var topP: Float = 1

    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens (0 = all).")
    var topK: Int = 0

    @Option(name: .long, help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("no-bos"), help: "Do not prepend the BOS token (added only where the tokenizer adds one).")
    var noBos = false

    @Flag(name: .long, help: "Wrap the prompt as one user turn in the model's chat template (ChatML, Llama-3) and stop at the end of the reply.")
    var chat = false

    @Flag(name: .long, help: "Also print the generated token ids.")
    var ids = false

    @Option(name: .customLong("logits-out"), help: "Also write the logits of every prompt position ([prompt, vocab] F32, tensor 'logits') to this safetensors file (for checks against other implementations).")
    var logitsOut: String?

    func validate() throws {
        if (prompt == nil) == (promptIds == nil) { throw ValidationError("give exactly one of --prompt and --prompt-ids") }
        if greedy && temperature != nil { throw ValidationError("use either --greedy or --temperature, not both") }
    }

    @OptionGroup var precisionOptions: PrecisionOptions

    func run() throws {
        let o = CLIErrors.option
        try o.int("--max-new-tokens", maxNewTokens, 1...LlamaConfig.maxPositions)
        if let temperature { try o.number("--temperature", temperature, .closed(1e-3, 1e3)) }
        try o.number("--top-p", topP, .openClosed(0, 1))
        try o.int("--top-k", topK, 0...LlamaConfig.maxVocabSize, "0 = all")
        let url = URL(fileURLWithPath: model)
        let dir = PretrainedModel.isGGUF(url) ? url : try RecModel.resolveCheckpoint(url)
        let ck = try PretrainedModel.open(dir)
        let params = try ck.parameters()
        var input: [Int32]
        var stop: Int32? = nil
        if let promptIds {
            input = try promptIds.split(separator: ",").map { s in
                guard let v = Int32(s.trimmingCharacters(in: .whitespaces)), v >= 0, Int(v) < ck.config.vocabSize else {
                    throw ValidationError("--prompt-ids: '\(s)' is not a token id in 0..<\(ck.config.vocabSize)")
                }
                return v
            }
        } else {
            guard let tokenizer = ck.tokenizer else {
                throw AlignError.io(path: dir.path, message: "no tokenizer in the checkpoint; use --prompt-ids, or add the tokenizer")
            }
            if chat {
                guard let source = ck.chatTemplate else {
                    throw AlignError.io(path: dir.path, message: "--chat: the model has no chat template")
                }
                let template = try ChatTemplate(source: source)
                input = try tokenizer.encode(template.prompt(user: prompt ?? ""))
                stop = tokenizer.id(template.endOfTurn).map { Int32($0) }
            } else {
                input = try tokenizer.encode(prompt ?? "")
                if !noBos, tokenizer.addsBos, let bos = tokenizer.bosId ?? ck.config.bosTokenId { input.insert(Int32(bos), at: 0) }
            }
        }
        guard !input.isEmpty else { throw ValidationError("the prompt encodes to no tokens") }
        guard input.count + maxNewTokens <= ck.config.maxPositionEmbeddings else {
            throw ValidationError("prompt (\(input.count) tokens) + --max-new-tokens \(maxNewTokens) exceeds the model's context of \(ck.config.maxPositionEmbeddings)")
        }
        let mode: SamplingMode = temperature.map { .sample(temperature: $0, topK: topK, topP: topP) } ?? .greedy
        let sampler = try TokenSampler(mode: mode, vocabSize: ck.config.vocabSize)
        let decoder = try LlamaDecoder.planned(params: params, maxGroups: 1, maxWidth: 1, maxPrompt: input.count, maxSuffix: maxNewTokens,
                                               purpose: "generation of --max-new-tokens \(maxNewTokens)",
                                               precision: precisionOptions.resolve(announce: false))
        if let logitsOut {
            // One full forward of the prompt through the trainer's path (every position's logits).
            let tr = LlamaTrainer(params: params, maxBatch: 1, maxSeq: input.count, precision: precisionOptions.resolve(announce: false))
            try tr.forward(tokens: input, targets: [Int32](repeating: -100, count: input.count), batch: 1, seq: input.count)
            try SafetensorsWriter.write([SafetensorsTensor(name: "logits", shape: [input.count, ck.config.vocabSize], floats: Array(tr.logits)),
                                         SafetensorsTensor(name: "input_ids", shape: [input.count], ints: input)],
                                        to: URL(fileURLWithPath: logitsOut))
        }
        var rng = Rng(seed: seed)
        let eos = stop ?? (ck.tokenizer?.eosId ?? ck.config.eosTokenId).map { Int32($0) }
        let start = Date()
        let out = try generate(decoder, prompt: input, maxNewTokens: maxNewTokens, sampler: sampler, rng: &rng, eos: eos)
        let secs = Date().timeIntervalSince(start)
        if let tokenizer = ck.tokenizer {
            let text = try tokenizer.decode(out.last == eos ? Array(out.dropLast()) : out, skipSpecial: true)
            print((prompt ?? "") + text)
        }
        if ids || ck.tokenizer == nil { print(out.map(String.init).joined(separator: " ")) }
        FileHandle.standardError.write(Data(String(format: "%d tokens in %.2f s (%.1f tokens/s, prompt %d tokens)\n",
                                                   out.count, secs, Double(out.count) / max(secs, 1e-9), input.count).utf8))
    }
}
