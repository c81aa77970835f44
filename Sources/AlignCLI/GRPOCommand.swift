// `align grpo`: GRPO alignment of an SFT recommender (Sources/AlignRec/Align/GRPORun.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct GRPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "Group relative policy optimisation of an SFT recommender with rank-aware rewards.",
        discussion: """
        Per step: prompts from the protocol's training examples (evaluation prompt), G rollouts each by \
        constrained beam search (G distinct valid items, default) or constrained sampling, rewards rule | \
        ranking | semantic or a mix (e.g. ranking=1,semantic=0.5), group advantages (zero-variance groups \
        masked), the clipped objective with the k3 KL to the frozen SFT weights. Validation every eval.every \
        steps keeps the best weights in <out>/best; the run ends with SFT vs GRPO on the full validation and \
        test splits (summary.json).
        """
    )

    @Option(name: .long, help: "SFT run or checkpoint directory.") var from: String
    @Option(name: .long, help: "Dataset directory the SFT model was trained on.") var data: String
    @Option(name: .long, help: "Run directory.") var out: String
    @Option(name: .long, help: "YAML config (configs/grpo.yaml); defaults when absent.") var config: String?
    @Option(name: .customLong("group-size"), help: "Override group_size (G).") var groupSize: Int?
    @Option(name: .long, help: "Override beta (KL weight).") var beta: Double?
    @Option(name: .long, help: "Override epsilon (lower clip).") var epsilon: Double?
    @Option(name: .customLong("epsilon-high"), help: "Override epsilon_high (upper clip).") var epsilonHigh: Double?
    @Option(name: .long, help: "Override temperature (rollout sample).") var temperature: Double?
    @Option(name: .long, help: "Override rollout (beam | sample).") var rollout: String?
    @Option(name: .long, help: "Override reward: rule | ranking | semantic, or a mix like ranking=1,semantic=0.5.") var reward: String?
    @Option(name: .long, help: "Item embeddings for the semantic reward (default <data>/embeddings.safetensors).") var embeddings: String?
    @Option(name: .customLong("loss-normalization"), help: "Override loss_normalization (sequence | token).") var lossNormalization: String?
    @Option(name: .long, help: "Override iterations (updates per rollout batch).") var iterations: Int?
    @Option(name: .long, help: "Override optim.steps.") var steps: Int?
    @Option(name: .long, help: "Override optim.lr.") var lr: Float?
    @Option(name: .customLong("batch-size"), help: "Override optim.batch_size (prompts per step).") var batchSize: Int?
    @Option(name: .customLong("eval-every"), help: "Override eval.every.") var evalEvery: Int?
    @Option(name: .customLong("max-users"), help: "Override eval.max_users (validation subsample during training).") var maxUsers: Int?
    @Option(name: .long, help: "Override protocol (loo | chrono).") var `protocol`: String?
    @Option(name: .long, help: "Override seed.") var seed: UInt64?
    @Flag(name: .customLong("no-progress"), help: "No progress bar.") var noProgress = false

    func resolved() throws -> GRPOConfig {
        var c = try config.map { try GRPOConfig.load(URL(fileURLWithPath: $0)) } ?? GRPOConfig()
        if let v = groupSize { c.groupSize = v }
        if let v = beta { c.beta = v }
        if let v = epsilon { c.epsilon = v }
        if let v = epsilonHigh { c.epsilonHigh = v }
        if let v = temperature { c.temperature = v }
        if let v = rollout {
            guard let r = RolloutMode(rawValue: v) else { throw AlignError.invalidArgument("--rollout must be beam or sample (got '\(v)')") }
            c.rollout = r
        }
        if let v = reward { c.reward = try RewardMix.parse(v) }
        if let v = embeddings { c.embeddings = v }
        if let v = lossNormalization {
            guard let n = LossNormalization(rawValue: v) else { throw AlignError.invalidArgument("--loss-normalization must be sequence or token (got '\(v)')") }
            c.lossNormalization = n
        }
        if let v = iterations { c.iterations = v }
        if let v = steps { c.optim.steps = v }
        if let v = lr { c.optim.lr = v }
        if let v = batchSize { c.optim.batchSize = v }
        if let v = evalEvery { c.eval.every = v }
        if let v = maxUsers { c.eval.maxUsers = v }
        if let v = `protocol` { c.protocolName = v }
        if let v = seed { c.seed = v }
        try c.validate(path: config ?? "<defaults + flags>")
        return c
    }

    func run() throws {
        do {
            let o = GRPOOptions(from: URL(fileURLWithPath: from), data: URL(fileURLWithPath: data), out: URL(fileURLWithPath: out),
                                config: try resolved(), progress: !noProgress)
            try GRPORun.run(o) { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
        } catch let e as AlignError {
            FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
