// Training configuration presets (`configs/*.yaml`): the model's shape, the tokenizer, the tasks and their
// sampling weights, the optimiser and schedule, and validation. YAML with snake_case keys, versioned;
// command-line flags override single fields and the resolved config is saved in the run directory.
import Foundation
import Yams

/// Shape of a LLaMA model trained from scratch (the vocabulary size comes from the tokenizer).
public struct ModelPreset: Codable, Sendable, Equatable {
    public var hiddenSize: Int = 256
    public var intermediateSize: Int = 768
    public var numHiddenLayers: Int = 4
    public var numAttentionHeads: Int = 4
    public var numKeyValueHeads: Int? = nil
    public var maxPositionEmbeddings: Int = 512
    public var ropeTheta: Float = 10000
    public var rmsNormEps: Float = 1e-5
    public var tieWordEmbeddings: Bool = true
    public init() {}

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case maxPositionEmbeddings = "max_position_embeddings", ropeTheta = "rope_theta", rmsNormEps = "rms_norm_eps"
        case tieWordEmbeddings = "tie_word_embeddings"
    }

    /// The LLaMA config for a vocabulary of `vocabSize` tokens.
    public func llamaConfig(vocabSize: Int, bos: Int, eos: Int, pad: Int?) -> LlamaConfig {
        LlamaConfig(vocabSize: vocabSize, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
                    numHiddenLayers: numHiddenLayers, numAttentionHeads: numAttentionHeads,
                    numKeyValueHeads: numKeyValueHeads ?? numAttentionHeads, rmsNormEps: rmsNormEps,
                    ropeTheta: ropeTheta, maxPositionEmbeddings: maxPositionEmbeddings,
                    tieWordEmbeddings: tieWordEmbeddings, bosTokenId: bos, eosTokenId: eos, padTokenId: pad)
    }
}

/// Optimiser and schedule.
public struct OptimPreset: Codable, Sendable, Equatable {
    public var steps: Int = 2000
    public var batchSize: Int = 32
    public var lr: Float = 1e-3
    public var warmup: Int = 100
    public var minLrRatio: Float = 0.1
    public var weightDecay: Float = 0.1
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var gradClip: Float = 1.0
    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", lr, warmup, minLrRatio = "min_lr_ratio", weightDecay = "weight_decay"
        case beta1, beta2, gradClip = "grad_clip"
    }

    public var adamW: AdamWConfig { AdamWConfig(lr: lr, beta1: beta1, beta2: beta2, eps: 1e-8, weightDecay: weightDecay) }
    public var schedule: LRSchedule { LRSchedule(peak: lr, warmup: warmup, total: steps, minRatio: minLrRatio) }
}

/// Validation during training.
public struct EvalPreset: Codable, Sendable, Equatable {
    /// Validate every N optimiser steps (0: only at the end).
    public var every: Int = 500
    public var beam: Int = 20
    /// Validation users (0: all).
    public var maxUsers: Int = 0
    /// Stop after this many validations without improvement of NDCG@10 (0: never).
    public var patience: Int = 0
    public init() {}
    enum CodingKeys: String, CodingKey { case every, beam, maxUsers = "max_users", patience }
}

/// A whole training preset as stored in `configs/NAME.yaml`.
public struct TrainConfig: Codable, Sendable, Equatable {
    public var format: String = "align-config"
    public var version: Int = 1
    public var model = ModelPreset()
    /// SentencePiece vocabulary size for text (SID and special tokens are added on top).
    public var textVocabSize: Int = 2000
    /// "loo" or "chrono".
    public var protocolName: String = "loo"
    public var maxHistory: Int = 20
    /// Task name → sampling weight.
    public var tasks: [String: Double] = ["nextitem": 1.0, "title2sid": 0.25, "sid2title": 0.25]
    public var optim = OptimPreset()
    public var eval = EvalPreset()
    public var seed: UInt64 = 0
    public init() {}

    enum CodingKeys: String, CodingKey {
        case format, version, model, textVocabSize = "text_vocab_size", protocolName = "protocol"
        case maxHistory = "max_history", tasks, optim, eval, seed
    }

    public init(from decoder: Decoder) throws {
        let d = TrainConfig()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decodeIfPresent(String.self, forKey: .format) ?? d.format
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? d.version
        model = try c.decodeIfPresent(ModelPreset.self, forKey: .model) ?? d.model
        textVocabSize = try c.decodeIfPresent(Int.self, forKey: .textVocabSize) ?? d.textVocabSize
        protocolName = try c.decodeIfPresent(String.self, forKey: .protocolName) ?? d.protocolName
        maxHistory = try c.decodeIfPresent(Int.self, forKey: .maxHistory) ?? d.maxHistory
        tasks = try c.decodeIfPresent([String: Double].self, forKey: .tasks) ?? d.tasks
        optim = try c.decodeIfPresent(OptimPreset.self, forKey: .optim) ?? d.optim
        eval = try c.decodeIfPresent(EvalPreset.self, forKey: .eval) ?? d.eval
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
    }

    /// Loads and validates a YAML preset.
    public static func load(_ url: URL) throws -> TrainConfig {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw AlignError.io(path: url.path, message: "cannot read config: \(error.localizedDescription)")
        }
        let cfg: TrainConfig
        do { cfg = try YAMLDecoder().decode(TrainConfig.self, from: text) } catch {
            throw AlignError.format(path: url.path, line: nil, message: "not a valid align config: \(error)")
        }
        try cfg.validate(path: url.path)
        return cfg
    }

    /// Checks ranges and names; errors say which field to fix.
    public func validate(path: String) throws {
        func bad(_ m: String) -> AlignError { .format(path: path, line: nil, message: m) }
        guard format == "align-config" else { throw bad("format must be 'align-config', found '\(format)'") }
        guard version == 1 else { throw bad("unsupported config version \(version) (this align reads version 1)") }
        guard ["loo", "chrono"].contains(protocolName) else { throw bad("protocol must be loo or chrono, found '\(protocolName)'") }
        guard model.hiddenSize % model.numAttentionHeads == 0 else { throw bad("model.hidden_size must be a multiple of num_attention_heads") }
        guard optim.steps > 0, optim.batchSize > 0, optim.lr > 0 else { throw bad("optim.steps, batch_size and lr must be positive") }
        guard maxHistory > 0 else { throw bad("max_history must be positive") }
        guard !tasks.isEmpty, tasks.values.allSatisfy({ $0 >= 0 }), tasks.values.contains(where: { $0 > 0 }) else {
            throw bad("tasks needs at least one task with a positive weight")
        }
    }

    /// YAML text of this config (saved as the run's resolved config).
    public func yaml() throws -> String { try YAMLEncoder().encode(self) }
}
