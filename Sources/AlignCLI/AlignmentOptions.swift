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
    @Option(name: .long, help: "Override optim.epochs: passes over the training set (> 0 replaces --steps).") var epochs: Double?
    @Option(name: .customLong("warmup-ratio"), help: "Override optim.warmup_ratio: warm-up as a share of the steps (> 0 replaces optim.warmup).") var warmupRatio: Double?
    @Option(name: .customLong("eval-checks"), help: "Override eval.checks: validations spread evenly over the run (> 0 replaces --eval-every).") var evalChecks: Int?
    @Option(name: .long, help: "Override eval.select.metric: which validated weights become best/ (ndcg@10 | longtail@10 | coverage@10 | distinct_codes@10 | novelty@10).") var select: String?
    @Option(name: .customLong("min-ndcg-ratio"), help: "Override eval.select.min_ndcg_ratio: a goal selection keeps only checks with NDCG@10 ≥ this × the SFT weights'.") var minNDCGRatio: Double?
    @Option(name: .long, help: "Override policy for a model with item memory: mix (log p_head + w · log p_SID) | sid.") var policy: String?
    @Option(name: .customLong("goal-k"), help: "Override goal_k: how far down a group the diversity and coverage rewards look (0 = all).") var goalK: Int?
    @Option(name: .customLong("head-fraction"), help: "Override head_fraction: the share of items, by training interactions, that is the head.") var headFraction: Double?
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
            let p = try CLIErrors.option.choice("--prompt-sampling", v, as: PromptSampling.self)
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
        if let v = note(epochs, "--epochs") { optim.epochs = v }
        if let v = note(warmupRatio, "--warmup-ratio") { optim.warmupRatio = v }
        if let v = note(evalChecks, "--eval-checks") { eval.checks = v }
        if let v = note(select, "--select") {
            let m = try CLIErrors.option.choice("--select", v, as: SelectionMetric.self)
            eval.select.metric = m
        }
        if let v = note(minNDCGRatio, "--min-ndcg-ratio") { eval.select.minNDCGRatio = v }
        return flags
    }

    /// Applies the overrides of the policy and goal fields both preference configs carry; returns the flags given.
    func applyGoals(policy p: inout PolicyKind, goalK k: inout Int, headFraction h: inout Double) throws -> [String] {
        var flags: [String] = []
        if let v = policy {
            let kind = try CLIErrors.option.choice("--policy", v, as: PolicyKind.self)
            p = kind; flags.append("--policy")
        }
        if let v = goalK { k = v; flags.append("--goal-k") }
        if let v = headFraction { h = v; flags.append("--head-fraction") }
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
