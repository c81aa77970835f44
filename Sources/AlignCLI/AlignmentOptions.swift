// Flags shared by `align dpo` and `align grpo`: where the SFT model, data and run live, and the overrides of
// the optimiser, validation, protocol and seed that both preference configs carry.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct AlignmentOptions: ParsableArguments {
    @Option(name: .long, help: "SFT run or checkpoint directory.") var from: String
    @Option(name: .long, help: "Dataset directory the SFT model was trained on.") var data: String
    @Option(name: .long, help: "Run directory.") var out: String
    @Option(name: .long, help: "YAML config (configs/dpo.yaml, configs/grpo.yaml); defaults when absent.") var config: String?
    @Option(name: .long, help: "Override optim.steps.") var steps: Int?
    @Option(name: .long, help: "Override optim.lr.") var lr: Float?
    @Option(name: .long, help: "Override optim.ema: validate and keep a moving average of the weights with this decay (0 = off).") var ema: Float?
    @Option(name: .customLong("batch-size"), help: "Override optim.batch_size (DPO: pairs per step; GRPO: prompts per step).") var batchSize: Int?
    @Option(name: .customLong("eval-every"), help: "Override eval.every.") var evalEvery: Int?
    @Option(name: .customLong("max-users"), help: "Override eval.max_users (validation subsample during training).") var maxUsers: Int?
    @Option(name: .long, help: "Override protocol (loo | chrono).") var `protocol`: EvalProtocol?
    @Option(name: .long, help: "Override seed.") var seed: UInt64?
    @Option(name: .customLong("recent-positions"), help: "Override recent_positions: draw prompts only from each user's last N training positions (0 = every position).") var recentPositions: Int?
    @Option(name: .customLong("prompt-sampling"), help: "Override prompt_sampling: examples (uniform over training examples) | users (balanced over users).") var promptSampling: String?
    @Flag(name: .customLong("no-progress"), help: "No progress bar.") var noProgress = false
    @Flag(name: .long, help: "Replace the run already in --out (without it, an existing run is an error).") var overwrite = false
    @OptionGroup var precisionOptions: PrecisionOptions

    /// Applies the shared overrides to a preference config's common fields; returns the flags given.
    func apply(optim: inout AlignOptim, eval: inout AlignEval, evalProtocol: inout EvalProtocol, seed s: inout UInt64,
               recentPositions r: inout Int, promptSampling ps: inout PromptSampling, precision: inout Precision?) throws -> [String] {
        var flags: [String] = []
        func note<T>(_ v: T?, _ flag: String) -> T? { if v != nil { flags.append(flag) }; return v }
        if let v = note(precisionOptions.precision, "--precision") { precision = v }
        if let v = note(recentPositions, "--recent-positions") { r = v }
        if let v = note(promptSampling, "--prompt-sampling") {
            guard let p = PromptSampling(rawValue: v) else {
                throw CLIErrors.option.failure("--prompt-sampling", "'\(v)'", allowed: PromptSampling.choices.joined(separator: ", "))
            }
            ps = p
        }
        if let v = note(steps, "--steps") { optim.steps = v }
        if let v = note(lr, "--lr") { optim.lr = v }
        if let v = note(ema, "--ema") { optim.ema = v }
        if let v = note(batchSize, "--batch-size") { optim.batchSize = v }
        if let v = note(evalEvery, "--eval-every") { eval.every = v }
        if let v = note(maxUsers, "--max-users") { eval.maxUsers = v }
        if let v = note(`protocol`, "--protocol") { evalProtocol = v }
        if let v = note(seed, "--seed") { s = v }
        return flags
    }

    /// Names the config and the flags that changed it, for validation errors.
    func configLabel(_ flags: [String]) -> String {
        let base = config ?? "<defaults>"
        return flags.isEmpty ? base : "\(base) with \(flags.joined(separator: ", "))"
    }
    var fromURL: URL { URL(fileURLWithPath: from) }
    var dataURL: URL { URL(fileURLWithPath: data) }
    var outURL: URL { URL(fileURLWithPath: out) }

    /// Prints a stage's lines.
    func say(_ line: String) { Console.line(line) }
}
