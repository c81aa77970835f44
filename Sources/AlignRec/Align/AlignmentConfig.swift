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
    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", microBatch = "micro_batch", lr, warmup, minLrRatio = "min_lr_ratio"
        case weightDecay = "weight_decay", gradClip = "grad_clip", ema
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
    }

    var adamW: AdamWConfig { AdamWConfig(lr: lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: weightDecay) }
    var schedule: LRSchedule { LRSchedule(peak: lr, warmup: warmup, total: steps, minRatio: minLrRatio) }

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
    public init() {}
    enum CodingKeys: String, CodingKey { case every, beam, maxUsers = "max_users" }
    public init(from decoder: Decoder) throws {
        let d = AlignEval(), c = try decoder.container(keyedBy: CodingKeys.self)
        every = try c.decodeIfPresent(Int.self, forKey: .every) ?? d.every
        beam = try c.decodeIfPresent(Int.self, forKey: .beam) ?? d.beam
        maxUsers = try c.decodeIfPresent(Int.self, forKey: .maxUsers) ?? d.maxUsers
    }

    func validate(_ check: FieldCheck) throws {
        try check.int("every", every, 0...FieldCheck.maxSteps)
        try check.int("beam", beam, 1...FieldCheck.maxCount)
        try check.int("max_users", maxUsers, 0...Int.max)
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
        case precision
    }

    public init(from decoder: Decoder) throws {
        let d = DPOConfig(), c = try decoder.container(keyedBy: CodingKeys.self)
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
        case precision
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
        GRPOHyper(beta: beta, epsilon: epsilon, epsilonHigh: epsilonHigh, normalization: lossNormalization, iterations: iterations)
    }

    /// Checks every field (FieldCheck): errors name the file, the field, the value and the allowed range.
    public func validate(path: String) throws {
        let check = FieldCheck(file: path)
        guard format == "align-grpo-config" else { throw check.failure("format", "'\(format)'", allowed: "align-grpo-config") }
        guard version == 1 else { throw check.failure("version", "\(version)", allowed: "1 (the version this align reads)") }
        try check.int("group_size", groupSize, 2...FieldCheck.maxCount)
        try check.number("temperature", temperature, .closed(1e-3, 1e3))
        for (name, w) in [("rule", reward.rule), ("ranking", reward.ranking), ("semantic", reward.semantic), ("future", reward.future)] {
            try check.section("reward").number(name, w, .closed(0, 1e6))
        }
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
        try optim.validate(check.section("optim"))
        try eval.validate(check.section("eval"))
        // GRPO draws steps × batch_size prompts when max_prompts is 0.
        guard Double(optim.steps) * Double(optim.batchSize) <= Double(FieldCheck.maxSteps) else {
            throw check.failure("optim.steps", "\(optim.steps)", allowed: "steps × batch_size ≤ \(FieldCheck.maxSteps)")
        }
    }

    public func yaml() throws -> String { try ConfigYAML.encode(self) }
}

extension LossNormalization: ConfigChoice {}
