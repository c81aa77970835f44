// The YAML configs of `align dpo` (configs/dpo*.yaml, format "align-dpo-config") and `align grpo`
// (configs/grpo*.yaml, format "align-grpo-config"), version 1, snake_case keys, every key optional
// (missing = the defaults below). Command-line flags override single fields; the resolved config is saved in
// the run directory.
import Foundation
import Yams

/// Optimiser settings shared by DPO and GRPO.
public struct AlignOptim: Codable, Sendable, Equatable {
    public var steps: Int = 200
    /// Pairs (DPO) or prompts (GRPO) per optimiser step.
    public var batchSize: Int = 16
    /// Sequences per forward/backward (memory bound; DPO keeps a pair's 1 + N sequences together).
    public var microBatch: Int = 32
    public var lr: Float = 1e-5
    public var warmup: Int = 10
    public var minLrRatio: Float = 0.1
    public var weightDecay: Float = 0
    public var gradClip: Float = 1
    /// Decay of a moving average of the weights (0 = none). When set, validation and best/ use the average,
    /// which starts at the SFT weights with the full decay (no warm-up); training continues on the raw weights.
    public var ema: Float = 0
    /// Passes over the training set (GRPO: the RL set of prompts; DPO: the pairs); > 0 replaces `steps` with
    /// ⌈epochs · set size / batch_size⌉, known once the set is built (`steps(forSetSize:)`). 0: `steps`.
    public var epochs: Double = 0
    /// Warm-up as a share of the steps (HF `warmup_ratio`: ⌈ratio · steps⌉ steps); > 0 replaces `warmup`.
    public var warmupRatio: Double = 0
    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", microBatch = "micro_batch", lr, warmup, minLrRatio = "min_lr_ratio"
        case weightDecay = "weight_decay", gradClip = "grad_clip", ema, epochs, warmupRatio = "warmup_ratio"
    }

    public init(from decoder: Decoder) throws {
        let d = AlignOptim(), c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        microBatch = try c.decodeIfPresent(Int.self, forKey: .microBatch) ?? d.microBatch
        lr = try c.decodeIfPresent(Float.self, forKey: .lr) ?? d.lr
        warmup = try c.decodeIfPresent(Int.self, forKey: .warmup) ?? d.warmup
        minLrRatio = try c.decodeIfPresent(Float.self, forKey: .minLrRatio) ?? d.minLrRatio
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? d.weightDecay
        gradClip = try c.decodeIfPresent(Float.self, forKey: .gradClip) ?? d.gradClip
        ema = try c.decodeIfPresent(Float.self, forKey: .ema) ?? d.ema
        epochs = try c.decodeIfPresent(Double.self, forKey: .epochs) ?? d.epochs
        warmupRatio = try c.decodeIfPresent(Double.self, forKey: .warmupRatio) ?? d.warmupRatio
    }

    /// Optimiser steps for a training set of `n` prompts or pairs: `steps`, or with `epochs` > 0 ⌈epochs · n / batch_size⌉.
    public func steps(forSetSize n: Int) -> Int {
        epochs > 0 ? max(1, Int((epochs * Double(n) / Double(batchSize)).rounded(.up))) : steps
    }

    /// Warm-up steps of a run of `total` steps: ⌈warmup_ratio · total⌉ when the ratio is set, else `warmup`.
    public func warmupSteps(total: Int) -> Int {
        warmupRatio > 0 ? Int((warmupRatio * Double(total)).rounded(.up)) : warmup
    }

    /// The learning-rate schedule of a run of `total` steps (linear warm-up, cosine to min_lr_ratio × lr).
    public func schedule(total: Int) -> LRSchedule {
        LRSchedule(peak: lr, warmup: warmupSteps(total: total), total: total, minRatio: minLrRatio)
    }

    var adamW: AdamWConfig { AdamWConfig(lr: lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: weightDecay) }

    func validate(_ check: FieldCheck) throws {
        try check.int("steps", steps, 1...FieldCheck.maxSteps)
        try check.int("batch_size", batchSize, 1...FieldCheck.maxCount)
        try check.int("micro_batch", microBatch, 1...FieldCheck.maxCount)
        try check.number("lr", lr, .openClosed(0, 1e10))
        try check.int("warmup", warmup, 0...FieldCheck.maxSteps)
        try check.number("min_lr_ratio", minLrRatio, .closed(0, 1))
        try check.number("weight_decay", weightDecay, .nonNegative)
        try checkDecayStep(check, lr: lr, weightDecay: weightDecay)
        try check.number("grad_clip", gradClip, .nonNegative)
        try check.number("ema", ema, .closedOpen(0, 1))
        try check.number("epochs", epochs, .closed(0, 1e6))
        try check.number("warmup_ratio", warmupRatio, .closedOpen(0, 1))
    }
}

/// Validation during alignment (HR/NDCG@10 by beam search on the validation split).
public struct AlignEval: Codable, Sendable, Equatable {
    /// Validate every N steps (0: only at the start and the end).
    public var every: Int = 50
    public var beam: Int = 20
    /// Validation examples per check (0: all; an evenly strided subset otherwise). The final comparison
    /// of SFT and aligned weights always uses the whole validation and test splits.
    public var maxUsers: Int = 0
    /// Validations spread evenly over the run (> 0 replaces `every` with ⌈steps / checks⌉; MiniOneRec's eval_step
    /// 0.0999 is 10 checks).
    public var checks: Int = 0
    /// Which validated weights become best/ (Selection.swift).
    public var select = CheckpointSelection()
    public init() {}
    enum CodingKeys: String, CodingKey { case every, beam, maxUsers = "max_users", checks, select }
    public init(from decoder: Decoder) throws {
        let d = AlignEval(), c = try decoder.container(keyedBy: CodingKeys.self)
        every = try c.decodeIfPresent(Int.self, forKey: .every) ?? d.every
        beam = try c.decodeIfPresent(Int.self, forKey: .beam) ?? d.beam
        maxUsers = try c.decodeIfPresent(Int.self, forKey: .maxUsers) ?? d.maxUsers
        checks = try c.decodeIfPresent(Int.self, forKey: .checks) ?? d.checks
        select = try c.decodeIfPresent(CheckpointSelection.self, forKey: .select) ?? d.select
    }

    /// Steps between validations in a run of `steps` steps (0: only at the start and the end).
    public func interval(steps: Int) -> Int { checks > 0 ? max(1, (steps + checks - 1) / checks) : every }

    func validate(_ check: FieldCheck) throws {
        try check.int("every", every, 0...FieldCheck.maxSteps)
        try check.int("beam", beam, 1...FieldCheck.maxCount)
        try check.int("max_users", maxUsers, 0...Int.max)
        try check.int("checks", checks, 0...FieldCheck.maxSteps, "0 = every `every` steps")
        try select.validate(check.section("select"))
    }
}

/// Where DPO's rejected items come from.
public enum NegativeSource: String, Codable, Sendable, CaseIterable, ConfigChoice {
    /// The SFT model's highest-ranked wrong items (constrained beam search, history excluded).
    case beam
    /// Uniform over the catalogue minus the history and the target.
    case random
    /// Proportional to training-split popularity, minus the history and the target.
    case popular
    /// Chosen and rejected by a reward (`reward`, GRPO's kinds) over the SFT model's top negative_beam items plus the
    /// target: chosen = the highest reward, rejected = the num_negatives lowest (ties to the better-ranked item);
    /// prompts whose candidates all score the same give no pair.
    case reward
}

/// `configs/dpo*.yaml`.
public struct DPOConfig: Codable, Sendable, Equatable {
    public var format = "align-dpo-config"
    public var version = 1
    /// The protocol the SFT model was trained on.
    public var evalProtocol: EvalProtocol = .loo
    public var beta: Double = 0.1
    public var negatives: NegativeSource = .beam
    public var numNegatives: Int = 1
    /// Beam width used to mine hard negatives.
    public var negativeBeam: Int = 20
    /// Training examples turned into pairs (0: all), drawn with the seed.
    public var maxPairs: Int = 4096
    /// Draw the training examples only from each user's last N training positions (0: every position).
    public var recentPositions: Int = 0
    /// Whether the examples are drawn uniformly over examples or balanced over users.
    public var promptSampling: PromptSampling = .examples
    /// RPO's α: weight of the chosen response's mean token NLL added to the DPO loss (0 = plain DPO).
    public var sftWeight: Double = 0
    /// Never use as a negative an item the user consumed within this many training positions after the
    /// target (0: off) — the user's own next items are not evidence against them. Beam mining then takes the top
    /// num_negatives + 1 + future_window items, widening the beam to that when negative_beam is smaller.
    public var futureWindow: Int = 0
    /// negatives: reward — the reward mix that picks chosen and rejected (GRPORewards.swift, GoalRewards.swift), how far
    /// down a candidate list the diversity and coverage rewards look (0: all), the head share and the future decay.
    public var reward = RewardMix(ranking: 1)
    public var goalK: Int = 0
    public var headFraction: Double = GoalCatalogue.defaultHeadFraction
    public var futureDecay: Double = 0.7
    /// What the policy is for a model with item memory (PolicyKind).
    public var policy: PolicyKind = .mix
    public var optim = AlignOptim()
    public var eval = AlignEval()
    public var seed: UInt64 = 0
    /// Precision of the matrix products (fp32 | bf16); absent = the CPU's default. `--precision` overrides it.
    public var precision: Precision?
    public init() {}

    enum CodingKeys: String, CodingKey {
        case format, version, evalProtocol = "protocol", beta, negatives, numNegatives = "num_negatives"
        case negativeBeam = "negative_beam", maxPairs = "max_pairs", sftWeight = "sft_weight", optim, eval, seed
        case recentPositions = "recent_positions", futureWindow = "future_window", promptSampling = "prompt_sampling"
        case precision, reward, goalK = "goal_k", headFraction = "head_fraction", futureDecay = "future_decay", policy
    }

    public init(from decoder: Decoder) throws {
        let d = DPOConfig(), c = try decoder.container(keyedBy: CodingKeys.self)
        reward = try c.decodeIfPresent(RewardMix.self, forKey: .reward) ?? d.reward
        goalK = try c.decodeIfPresent(Int.self, forKey: .goalK) ?? d.goalK
        headFraction = try c.decodeIfPresent(Double.self, forKey: .headFraction) ?? d.headFraction
        futureDecay = try c.decodeIfPresent(Double.self, forKey: .futureDecay) ?? d.futureDecay
        policy = try c.decodeIfPresent(PolicyKind.self, forKey: .policy) ?? d.policy
        format = try c.decodeIfPresent(String.self, forKey: .format) ?? d.format
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? d.version
        evalProtocol = try c.decodeIfPresent(EvalProtocol.self, forKey: .evalProtocol) ?? d.evalProtocol
        beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
        negatives = try c.decodeIfPresent(NegativeSource.self, forKey: .negatives) ?? d.negatives
        numNegatives = try c.decodeIfPresent(Int.self, forKey: .numNegatives) ?? d.numNegatives
        negativeBeam = try c.decodeIfPresent(Int.self, forKey: .negativeBeam) ?? d.negativeBeam
        maxPairs = try c.decodeIfPresent(Int.self, forKey: .maxPairs) ?? d.maxPairs
        recentPositions = try c.decodeIfPresent(Int.self, forKey: .recentPositions) ?? d.recentPositions
        promptSampling = try c.decodeIfPresent(PromptSampling.self, forKey: .promptSampling) ?? d.promptSampling
        sftWeight = try c.decodeIfPresent(Double.self, forKey: .sftWeight) ?? d.sftWeight
        futureWindow = try c.decodeIfPresent(Int.self, forKey: .futureWindow) ?? d.futureWindow
        optim = try c.decodeIfPresent(AlignOptim.self, forKey: .optim) ?? d.optim
        eval = try c.decodeIfPresent(AlignEval.self, forKey: .eval) ?? d.eval
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        precision = try TrainConfig.decodePrecision(c, .precision)
    }

    /// Loads and validates a YAML config (strictly: unknown or repeated keys and wrong types are errors).
    public static func load(_ url: URL) throws -> DPOConfig {
        let cfg = try ConfigYAML.load(DPOConfig.self, from: url)
        try cfg.validate(path: url.path)
        return cfg
    }

    /// Checks every field (FieldCheck): errors name the file, the field, the value and the allowed range.
    public func validate(path: String) throws {
        let check = FieldCheck(file: path)
        guard format == "align-dpo-config" else { throw check.failure("format", "'\(format)'", allowed: "align-dpo-config") }
        guard version == 1 else { throw check.failure("version", "\(version)", allowed: "1 (the version this align reads)") }
        try check.number("beta", beta, .positive)
        try check.number("sft_weight", sftWeight, .nonNegative)
        try check.int("recent_positions", recentPositions, 0...Int.max, "0 = every training position")
        try check.int("future_window", futureWindow, 0...FieldCheck.maxCount, "0 = off")
        try check.int("num_negatives", numNegatives, 1...(FieldCheck.maxCount - 1))
        try check.int("negative_beam", negativeBeam, (numNegatives + 1)...FieldCheck.maxCount, "at least num_negatives + 1")
        try check.int("max_pairs", maxPairs, 0...Int.max, "0 = every training example")
        for (kind, w) in reward.weights { try check.section("reward").number(kind.rawValue, w, .closed(0, 1e6)) }
        do { try reward.validate() } catch let e as AlignError { throw check.failure("reward", e.description) }
        guard !reward.needsEmbeddings else { throw check.failure("reward.semantic", "\(reward.semantic)", allowed: "0 (DPO's reward pairs have no item vectors)") }
        try check.int("goal_k", goalK, 0...FieldCheck.maxCount, "0 = every candidate")
        try check.number("head_fraction", headFraction, .closed(0, 1))
        try check.number("future_decay", futureDecay, .openClosed(0, 1))
        try optim.validate(check.section("optim"))
        try eval.validate(check.section("eval"))
    }

    public func yaml() throws -> String { try ConfigYAML.encode(self) }
}

/// How DPO/GRPO draw their training prompts from the protocol's training examples.
public enum PromptSampling: String, Codable, Sendable, CaseIterable, ConfigChoice {
    /// Uniformly over training examples: a user with n training positions supplies about n times the prompts
    /// of a user with one (the default, and the only draw before `users` existed).
    case examples
    /// Balanced over users: users in turn (a seeded order), each giving its next not-yet-drawn example, so every
    /// user supplies the same number of prompts until its examples run out — the weighting of leave-one-out
    /// evaluation, which scores each user once.
    case users
}

