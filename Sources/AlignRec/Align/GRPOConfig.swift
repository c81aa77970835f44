// `configs/grpo*.yaml` (format "align-grpo-config", version 1, snake_case keys, every key optional: missing = the
// defaults below), and the pieces only GRPO has: the RL set's tasks and the reference model's sync toward the policy.
import Foundation

/// How GRPO rollouts are produced.
public enum RolloutMode: String, Codable, Sendable, CaseIterable, ConfigChoice {
    /// Constrained beam search: G distinct valid items (MiniOneRec).
    case beam
    /// Constrained temperature sampling: G independent valid items (may repeat).
    case sample
}

/// `configs/grpo*.yaml`.
public struct GRPOConfig: Codable, Sendable, Equatable {
    public var format = "align-grpo-config"
    public var version = 1
    /// The protocol the SFT model was trained on.
    public var evalProtocol: EvalProtocol = .loo
    /// G, completions per prompt.
    public var groupSize: Int = 8
    public var rollout: RolloutMode = .beam
    /// Sampling temperature (rollout: sample).
    public var temperature: Double = 1
    public var reward = RewardMix(ranking: 1)
    /// Item embeddings for the semantic reward (default <data>/embeddings.safetensors when needed).
    public var embeddings: String? = nil
    /// Future reward: how many later training positions count, and the credit decay^d at distance d.
    public var futureWindow: Int = 10
    public var futureDecay: Double = 0.7
    public var beta: Double = 0.04
    public var epsilon: Double = 0.2
    public var epsilonHigh: Double = 0.28
    public var lossNormalization: LossNormalization = .token
    /// Optimiser steps per rollout batch.
    public var iterations: Int = 1
    /// Divide advantages by the group's standard deviation (TRL's `scale_rewards`, on by default). Off: A = r − mean
    /// (Dr. GRPO), so reward weights keep their scale inside a group.
    public var scaleRewards: Bool = true
    /// What the policy is for a model with item memory: the mix it ranks by (default) or its SID tokens alone.
    public var policy: PolicyKind = .mix
    /// The RL set: which prompts, of which tasks (RLTasks.swift).
    public var tasks = RLTaskSet()
    /// The reference model's sync toward the policy (TRL `sync_ref_model`); every 0 = a frozen reference.
    public var refSync = RefSync()
    /// How far down a group the diversity and coverage rewards look (0: the whole group).
    public var goalK: Int = 0
    /// Which recommendation groups earn the goal rewards: all, or only those with a hit (GoalRewards.swift).
    public var goalGroups: GoalGroups = .all
    /// Share of the catalogue, by training interactions, that counts as the head (longtail reward and metrics).
    public var headFraction: Double = GoalCatalogue.defaultHeadFraction
    /// Training examples the prompts are drawn from (0: all).
    public var maxPrompts: Int = 0
    /// Draw the prompts only from each user's last N training positions (0: every position).
    public var recentPositions: Int = 0
    /// Whether the prompts are drawn uniformly over training examples or balanced over users.
    public var promptSampling: PromptSampling = .examples
    public var optim = AlignOptim()
    public var eval = AlignEval()
    public var seed: UInt64 = 0
    /// Precision of the matrix products (fp32 | bf16); absent = the CPU's default. `--precision` overrides it.
    public var precision: Precision?
    public init() {}

    enum CodingKeys: String, CodingKey {
        case format, version, evalProtocol = "protocol", groupSize = "group_size", rollout, temperature, reward
        case embeddings, beta, epsilon, epsilonHigh = "epsilon_high", lossNormalization = "loss_normalization"
        case iterations, maxPrompts = "max_prompts", optim, eval, seed, recentPositions = "recent_positions"
        case futureWindow = "future_window", futureDecay = "future_decay", promptSampling = "prompt_sampling"
        case precision, scaleRewards = "scale_rewards", tasks, refSync = "ref_sync", goalK = "goal_k"
        case goalGroups = "goal_groups", headFraction = "head_fraction", policy
    }

    public init(from decoder: Decoder) throws {
        let d = GRPOConfig(), c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decodeIfPresent(String.self, forKey: .format) ?? d.format
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? d.version
        evalProtocol = try c.decodeIfPresent(EvalProtocol.self, forKey: .evalProtocol) ?? d.evalProtocol
        groupSize = try c.decodeIfPresent(Int.self, forKey: .groupSize) ?? d.groupSize
        rollout = try c.decodeIfPresent(RolloutMode.self, forKey: .rollout) ?? d.rollout
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? d.temperature
        reward = try c.decodeIfPresent(RewardMix.self, forKey: .reward) ?? d.reward
        embeddings = try c.decodeIfPresent(String.self, forKey: .embeddings)
        futureWindow = try c.decodeIfPresent(Int.self, forKey: .futureWindow) ?? d.futureWindow
        futureDecay = try c.decodeIfPresent(Double.self, forKey: .futureDecay) ?? d.futureDecay
        beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
        epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? d.epsilon
        epsilonHigh = try c.decodeIfPresent(Double.self, forKey: .epsilonHigh) ?? d.epsilonHigh
        lossNormalization = try c.decodeIfPresent(LossNormalization.self, forKey: .lossNormalization) ?? d.lossNormalization
        iterations = try c.decodeIfPresent(Int.self, forKey: .iterations) ?? d.iterations
        scaleRewards = try c.decodeIfPresent(Bool.self, forKey: .scaleRewards) ?? d.scaleRewards
        tasks = try c.decodeIfPresent(RLTaskSet.self, forKey: .tasks) ?? d.tasks
        policy = try c.decodeIfPresent(PolicyKind.self, forKey: .policy) ?? d.policy
        refSync = try c.decodeIfPresent(RefSync.self, forKey: .refSync) ?? d.refSync
        goalK = try c.decodeIfPresent(Int.self, forKey: .goalK) ?? d.goalK
        goalGroups = try c.decodeIfPresent(GoalGroups.self, forKey: .goalGroups) ?? d.goalGroups
        headFraction = try c.decodeIfPresent(Double.self, forKey: .headFraction) ?? d.headFraction
        maxPrompts = try c.decodeIfPresent(Int.self, forKey: .maxPrompts) ?? d.maxPrompts
        recentPositions = try c.decodeIfPresent(Int.self, forKey: .recentPositions) ?? d.recentPositions
        promptSampling = try c.decodeIfPresent(PromptSampling.self, forKey: .promptSampling) ?? d.promptSampling
        optim = try c.decodeIfPresent(AlignOptim.self, forKey: .optim) ?? d.optim
        eval = try c.decodeIfPresent(AlignEval.self, forKey: .eval) ?? d.eval
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        precision = try TrainConfig.decodePrecision(c, .precision)
    }

    /// Loads and validates a YAML config (strictly: unknown or repeated keys and wrong types are errors).
    public static func load(_ url: URL) throws -> GRPOConfig {
        let cfg = try ConfigYAML.load(GRPOConfig.self, from: url)
        try cfg.validate(path: url.path)
        return cfg
    }

    /// The objective's hyper-parameters.
    public var hyper: GRPOHyper {
        GRPOHyper(beta: beta, epsilon: epsilon, epsilonHigh: epsilonHigh, normalization: lossNormalization, iterations: iterations,
                  scaleRewards: scaleRewards)
    }

    /// Checks every field (FieldCheck): errors name the file, the field, the value and the allowed range.
    public func validate(path: String) throws {
        let check = FieldCheck(file: path)
        guard format == "align-grpo-config" else { throw check.failure("format", "'\(format)'", allowed: "align-grpo-config") }
        guard version == 1 else { throw check.failure("version", "\(version)", allowed: "1 (the version this align reads)") }
        try check.int("group_size", groupSize, 2...FieldCheck.maxCount)
        try check.number("temperature", temperature, .closed(1e-3, 1e3))
        for (kind, w) in reward.weights { try check.section("reward").number(kind.rawValue, w, .closed(0, 1e6)) }
        do { try reward.validate() } catch let e as AlignError { throw check.failure("reward", e.description) }
        if let e = embeddings, e.trimmingCharacters(in: .whitespaces).isEmpty {
            throw check.failure("embeddings", "'\(e)'", allowed: "a file path (or no key: <data>/embeddings.safetensors)")
        }
        try check.int("future_window", futureWindow, 1...FieldCheck.maxCount)
        try check.number("future_decay", futureDecay, .openClosed(0, 1))
        try check.number("beta", beta, .nonNegative)
        try check.number("epsilon", epsilon, .closedOpen(0, 1))
        try check.number("epsilon_high", epsilonHigh, .nonNegative)
        try check.int("iterations", iterations, 1...FieldCheck.maxCount)
        try check.int("max_prompts", maxPrompts, 0...Int.max, "0 = steps × batch_size")
        try check.int("recent_positions", recentPositions, 0...Int.max, "0 = every training position")
        try tasks.validate(check.section("tasks"))
        try refSync.validate(check.section("ref_sync"))
        try check.int("goal_k", goalK, 0...FieldCheck.maxCount, "0 = the whole group")
        try check.number("head_fraction", headFraction, .closed(0, 1))
        try optim.validate(check.section("optim"))
        try eval.validate(check.section("eval"))
        // GRPO draws steps × batch_size prompts when max_prompts is 0.
        guard optim.epochs > 0 || Double(optim.steps) * Double(optim.batchSize) <= Double(FieldCheck.maxSteps) else {
            throw check.failure("optim.steps", "\(optim.steps)", allowed: "steps × batch_size ≤ \(FieldCheck.maxSteps)")
        }
    }

    public func yaml() throws -> String { try ConfigYAML.encode(self) }
}

extension LossNormalization: ConfigChoice {}

/// The reference model's sync toward the policy (TRL `sync_ref_model`, from TR-DPO): every `every` optimiser steps,
/// ref ← α · policy + (1 − α) · ref over every weight (item memory included). every 0: the reference stays the
/// starting (SFT) weights. TRL's defaults are every 512 steps with α 0.6.
public struct RefSync: Codable, Sendable, Equatable {
    public var every: Int = 0
    public var alpha: Double = 0.6
    public init(every: Int = 0, alpha: Double = 0.6) { self.every = every; self.alpha = alpha }
    enum CodingKeys: String, CodingKey { case every, alpha }
    public init(from decoder: Decoder) throws {
        let d = RefSync(), c = try decoder.container(keyedBy: CodingKeys.self)
        every = try c.decodeIfPresent(Int.self, forKey: .every) ?? d.every
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? d.alpha
    }
    func validate(_ check: FieldCheck) throws {
        try check.int("every", every, 0...FieldCheck.maxSteps, "0 = a frozen reference")
        try check.number("alpha", alpha, .closed(0, 1))
    }
}

/// The policy DPO and GRPO train for a model with item memory (docs/alignment.md, "Hybrid policy").
public enum PolicyKind: String, Codable, Sendable, CaseIterable, ConfigChoice {
    /// log π(i) = log p_head(i) + w · log p_SID(i), the mix the recommender ranks by (w = the checkpoint's SID weight).
    case mix
    /// The SID tokens alone: only their log-probs are trained (the item head gets no gradient), while rollouts and
    /// validation still rank by the mix the model serves — what DPO and GRPO did before the mix was the policy.
    case sid
}
