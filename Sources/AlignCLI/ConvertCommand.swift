// `align convert`: a pretrained model (GGUF file or Hugging Face directory) written as a plain Hugging Face
// checkpoint directory: config.json, F32 model.safetensors, the tokenizer files (tokenizer.json or tokenizer.model,
// tokenizer_config.json with the chat template) and generation_config.json, so transformers loads it as is.
import AlignCore
import ArgumentParser
import Foundation

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write a GGUF file (or HF directory) as a Hugging Face checkpoint directory with F32 weights.",
        discussion: "Quantised GGUF tensors are dequantised (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0); the output is written atomically."
    )

    @Option(name: .long, help: "A .gguf file or a checkpoint directory.")
    var model: String
    @Option(name: .long, help: "Output directory (must not exist unless --overwrite).")
    var out: String
    @Flag(name: .long, help: "Replace an existing output directory.")
    var overwrite = false

    func run() throws {
        let src = try PretrainedModel.open(URL(fileURLWithPath: model))
        let dst = URL(fileURLWithPath: out)
        if FileManager.default.fileExists(atPath: dst.path) && !overwrite {
            throw AlignError.io(path: dst.path, message: "already exists; pass --overwrite to replace it")
        }
        let params = try src.parameters()
        try HFCheckpoint.write(dir: dst, config: src.config, tensors: params.exportTensors(), tokenizer: src.tokenizer, alignInfo: nil)
        print("wrote \(dst.path): \(src.config.summary), \(params.count) parameters, tokenizer \(src.tokenizer.map { "\($0.vocabSize) tokens" } ?? "none")")
    }
}
