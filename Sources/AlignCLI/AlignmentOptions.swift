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
    @Option(name: .long, help: "Override protocol (loo | chrono).") var `protocol`: String?
    @Option(name: .long, help: "Override seed.") var seed: UInt64?
    @Option(name: .customLong("recent-positions"), help: "Override recent_positions: draw prompts only from each user's last N training positions (0 = every position).") var recentPositions: Int?
    @Option(name: .customLong("prompt-sampling"), help: "Override prompt_sampling: examples (uniform over training examples) | users (balanced over users).") var promptSampling: String?
    @Flag(name: .customLong("no-progress"), help: "No progress bar.") var noProgress = false
    @OptionGroup var precisionOptions: PrecisionOptions

    /// Applies the shared overrides to a preference config's common fields.
    func apply(optim: inout AlignOptim, eval: inout AlignEval, protocolName: inout String, seed s: inout UInt64,
               recentPositions r: inout Int, promptSampling ps: inout PromptSampling, precision: inout Precision?) throws {
        if let v = precisionOptions.precision { precision = v }
        if let v = recentPositions { r = v }
        if let v = promptSampling {
            guard let p = PromptSampling(rawValue: v) else { throw AlignError.invalidArgument("--prompt-sampling must be examples or users (got '\(v)')") }
            ps = p
        }
        if let v = steps { optim.steps = v }
        if let v = lr { optim.lr = v }
        if let v = ema { optim.ema = v }
        if let v = batchSize { optim.batchSize = v }
        if let v = evalEvery { eval.every = v }
        if let v = maxUsers { eval.maxUsers = v }
        if let v = `protocol` { protocolName = v }
        if let v = seed { s = v }
    }

    var configLabel: String { config ?? "<defaults + flags>" }
    var fromURL: URL { URL(fileURLWithPath: from) }
    var dataURL: URL { URL(fileURLWithPath: data) }
    var outURL: URL { URL(fileURLWithPath: out) }

    /// Runs a stage, printing its lines; a user error becomes one `error:` line and exit 1.
    func run(_ body: (@escaping (String) -> Void) throws -> Void) throws {
        do {
            try body { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
        } catch let e as AlignError {
            FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
