// `align grpo`: GRPO alignment of an SFT recommender (Sources/AlignRec/Align/GRPORun.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct GRPOCommand: DataParallelCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "Group relative policy optimisation of an SFT recommender with rank-aware rewards.",
        discussion: """
        Per step: prompts from the RL set (tasks: nextitem, title2sid, titlehist2sid; evaluation prompts), G rollouts \
        each: the recommender's top G (constrained beam search, the item-memory mix for a hybrid model; default) or \
        constrained sampling, rewards rule | ranking | semantic | future | longtail | diversity | coverage or a mix \
        (e.g. ranking=1,longtail=0.2; goal rewards in every recommendation group, or with --goal-groups hit only in \
        groups whose rollouts hold the target), group advantages (zero-variance groups masked), the clipped \
        objective with the k3 KL to the reference (the SFT weights, optionally synced toward the policy). Validation \
        every eval.every steps keeps the best weights (eval.select) in <out>/best; the run ends with SFT vs GRPO on \
        the full validation and test splits (summary.json, goal metrics included).
        """
    )

    @Option(name: .customLong("group-size"), help: "Override group_size (G).") var groupSize: Int?
    @Option(name: .long, help: "Override beta (KL weight).") var beta: Double?
    @Option(name: .long, help: "Override epsilon (lower clip).") var epsilon: Double?
    @Option(name: .customLong("epsilon-high"), help: "Override epsilon_high (upper clip).") var epsilonHigh: Double?
    @Option(name: .long, help: "Override temperature (rollout sample).") var temperature: Double?
    @Option(name: .long, help: "Override rollout (beam | sample).") var rollout: String?
    @Option(name: .long, help: "Override reward: rule | ranking | semantic | future, or a mix like ranking=1,semantic=0.5.") var reward: String?
    @Option(name: .long, help: "Item embeddings for the semantic reward (default <data>/embeddings.safetensors).") var embeddings: String?
    @Option(name: .customLong("future-window"), help: "Override future_window: later training positions the future reward credits.") var futureWindow: Int?
    @Option(name: .customLong("future-decay"), help: "Override future_decay: credit decay^d for the item d positions after the target.") var futureDecay: Double?
    @Option(name: .customLong("loss-normalization"), help: "Override loss_normalization (sequence | token).") var lossNormalization: String?
    @Option(name: .long, help: "Override iterations (updates per rollout batch).") var iterations: Int?
    @Option(name: .customLong("scale-rewards"), help: "Override scale_rewards: divide advantages by the group std (true | false).") var scaleRewards: Bool?
    @Option(name: .customLong("ref-sync-every"), help: "Override ref_sync.every: sync the reference toward the policy every N steps (0 = frozen).") var refSyncEvery: Int?
    @Option(name: .customLong("ref-sync-alpha"), help: "Override ref_sync.alpha: ref ← α · policy + (1 − α) · ref.") var refSyncAlpha: Double?
    @Option(name: .long, help: "Override tasks: the RL set, e.g. nextitem=all,title2sid=all,titlehist2sid=10000 (a task left out: none).") var tasks: String?
    @Option(name: .customLong("goal-groups"), help: "Override goal_groups: which groups earn the goal rewards (all | hit: only groups whose completions hold the target).") var goalGroups: String?
    @OptionGroup var common: AlignmentOptions

    func resolved() throws -> (GRPOConfig, String) {
        var c = try common.config.map { try GRPOConfig.load(URL(fileURLWithPath: $0)) } ?? GRPOConfig()
        var flags: [String] = []
        func note<T>(_ v: T?, _ flag: String) -> T? { if v != nil { flags.append(flag) }; return v }
        if let v = note(groupSize, "--group-size") { c.groupSize = v }
        if let v = note(beta, "--beta") { c.beta = v }
        if let v = note(epsilon, "--epsilon") { c.epsilon = v }
        if let v = note(epsilonHigh, "--epsilon-high") { c.epsilonHigh = v }
        if let v = note(temperature, "--temperature") { c.temperature = v }
        if let v = note(rollout, "--rollout") {
            let r = try CLIErrors.option.choice("--rollout", v, as: RolloutMode.self)
            c.rollout = r
        }
        if let v = note(reward, "--reward") { c.reward = try RewardMix.parse(v) }
        if let v = note(embeddings, "--embeddings") { c.embeddings = v }
        if let v = note(futureWindow, "--future-window") { c.futureWindow = v }
        if let v = note(futureDecay, "--future-decay") { c.futureDecay = v }
        if let v = note(lossNormalization, "--loss-normalization") {
            let n = try CLIErrors.option.choice("--loss-normalization", v, as: LossNormalization.self)
            c.lossNormalization = n
        }
        if let v = note(iterations, "--iterations") { c.iterations = v }
        if let v = note(scaleRewards, "--scale-rewards") { c.scaleRewards = v }
        if let v = note(refSyncEvery, "--ref-sync-every") { c.refSync.every = v }
        if let v = note(refSyncAlpha, "--ref-sync-alpha") { c.refSync.alpha = v }
        if let v = note(tasks, "--tasks") { c.tasks = try RLTaskSet.parse(v) }
        if let v = note(goalGroups, "--goal-groups") {
            let g = try CLIErrors.option.choice("--goal-groups", v, as: GoalGroups.self)
            c.goalGroups = g
        }
        flags += try common.applyGoals(policy: &c.policy, goalK: &c.goalK, headFraction: &c.headFraction)
        flags += try common.apply(optim: &c.optim, eval: &c.eval, evalProtocol: &c.evalProtocol, seed: &c.seed,
                                  recentPositions: &c.recentPositions, promptSampling: &c.promptSampling, precision: &c.precision)
        try c.validate(path: common.configLabel(flags))
        return (c, common.configLabel(flags))
    }

    func run() throws {
        let (cfg, label) = try resolved()
        var o = GRPOOptions(from: common.fromURL, data: common.dataURL, out: common.outURL,
                            config: cfg, progress: !common.noProgress, overwrite: common.overwrite)
        o.configLabel = label
        _ = try GRPORun.run(o, say: common.say)
    }
}
