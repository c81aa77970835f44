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

    /// Missing keys take the defaults.
    public init(from decoder: Decoder) throws {
        let d = ModelPreset()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? d.numKeyValueHeads
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? d.ropeTheta
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? d.rmsNormEps
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? d.tieWordEmbeddings
    }

    /// The ranges of a LLaMA config (LlamaConfig.validate: counts positive before any division, finite floats in
    /// their domains), worded for this preset's keys.
    func validate(_ check: FieldCheck) throws {
        let c = LlamaConfig(vocabSize: 1, hiddenSize: hiddenSize, intermediateSize: intermediateSize, numHiddenLayers: numHiddenLayers,
                            numAttentionHeads: numAttentionHeads, numKeyValueHeads: numKeyValueHeads ?? numAttentionHeads,
                            rmsNormEps: rmsNormEps, ropeTheta: ropeTheta, maxPositionEmbeddings: maxPositionEmbeddings,
                            tieWordEmbeddings: tieWordEmbeddings, bosTokenId: nil, eosTokenId: nil, padTokenId: nil)
        try c.validate(check, headDimGiven: false)
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
    /// Batches per length-sorting window of the batcher (larger → less padding, less randomness).
    public var windowBatches: Int = 16
    /// Dropout on the embedding and on every attention/MLP branch during SFT (0 = off).
    public var dropout: Float = 0
    /// The tasks whose samples get `dropout` (nil = every task). Memorising tasks such as the translations learn
    /// far slower under dropout (docs/results.md, "Why is translation not learned?"), while nextitem gains from it.
    public var dropoutTasks: [PromptTask]?
    /// Decay of an exponential moving average of the weights (0 = none). With one, validation and `best/`
    /// use the averaged weights; training continues on the raw ones (`last/` keeps both, for exact resume).
    public var ema: Float = 0
    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", lr, warmup, minLrRatio = "min_lr_ratio", weightDecay = "weight_decay"
        case beta1, beta2, gradClip = "grad_clip", windowBatches = "window_batches", dropout, ema
        case dropoutTasks = "dropout_tasks"
    }

    /// Missing keys take the defaults.
    public init(from decoder: Decoder) throws {
        let d = OptimPreset()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        lr = try c.decodeIfPresent(Float.self, forKey: .lr) ?? d.lr
        warmup = try c.decodeIfPresent(Int.self, forKey: .warmup) ?? d.warmup
        minLrRatio = try c.decodeIfPresent(Float.self, forKey: .minLrRatio) ?? d.minLrRatio
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? d.weightDecay
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? d.beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? d.beta2
        gradClip = try c.decodeIfPresent(Float.self, forKey: .gradClip) ?? d.gradClip
        windowBatches = try c.decodeIfPresent(Int.self, forKey: .windowBatches) ?? d.windowBatches
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? d.dropout
        // Task names as `--tasks` takes them ("translate" = both translations); [] = no task gets dropout.
        dropoutTasks = try c.decodeIfPresent([String].self, forKey: .dropoutTasks).map { names in
            do { return names.isEmpty ? [] : try PromptTask.parseList(names.joined(separator: ",")) } catch let e as AlignError {
                throw DecodingError.dataCorruptedError(forKey: .dropoutTasks, in: c, debugDescription: e.description)
            }
        }
        ema = try c.decodeIfPresent(Float.self, forKey: .ema) ?? d.ema
    }

    public var adamW: AdamWConfig { AdamWConfig(lr: lr, beta1: beta1, beta2: beta2, eps: 1e-8, weightDecay: weightDecay) }
    public var schedule: LRSchedule { LRSchedule(peak: lr, warmup: warmup, total: steps, minRatio: minLrRatio) }

    func validate(_ check: FieldCheck) throws {
        try check.int("steps", steps, 1...FieldCheck.maxSteps)
        try check.int("batch_size", batchSize, 1...FieldCheck.maxCount)
        try check.number("lr", lr, .openClosed(0, 1e10))
        try check.int("warmup", warmup, 0...FieldCheck.maxSteps)
        try check.number("min_lr_ratio", minLrRatio, .closed(0, 1))
        try check.number("weight_decay", weightDecay, .nonNegative)
        try checkDecayStep(check, lr: lr, weightDecay: weightDecay)
        try check.number("beta1", beta1, .closedOpen(0, 1))
        try check.number("beta2", beta2, .closedOpen(0, 1))
        try check.number("grad_clip", gradClip, .nonNegative)
        try check.int("window_batches", windowBatches, 1...FieldCheck.maxCount)
        try check.number("dropout", dropout, .closedOpen(0, 1))
        try check.number("ema", ema, .closedOpen(0, 1))
    }
}

/// AdamW shrinks every decayed weight by lr × weight_decay per step: at 1 or more it flips or zeroes them.
func checkDecayStep(_ check: FieldCheck, lr: Float, weightDecay: Float) throws {
    guard Double(lr) * Double(weightDecay) < 1 else {
        throw check.failure("weight_decay", FieldCheck.describe(weightDecay),
                            allowed: "lr × weight_decay < 1 (lr is \(FieldCheck.describe(lr)))")
    }
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
    /// Which validated weights `best/` keeps: the highest validation NDCG@10, or those of the final step.
    public var keep: KeptWeights = .best
    public init() {}
    enum CodingKeys: String, CodingKey { case every, beam, maxUsers = "max_users", patience, keep }

    /// Missing keys take the defaults.
    public init(from decoder: Decoder) throws {
        let d = EvalPreset()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        every = try c.decodeIfPresent(Int.self, forKey: .every) ?? d.every
        beam = try c.decodeIfPresent(Int.self, forKey: .beam) ?? d.beam
        maxUsers = try c.decodeIfPresent(Int.self, forKey: .maxUsers) ?? d.maxUsers
        patience = try c.decodeIfPresent(Int.self, forKey: .patience) ?? d.patience
        keep = try c.decodeIfPresent(KeptWeights.self, forKey: .keep) ?? d.keep
    }

    func validate(_ check: FieldCheck) throws {
        try check.int("every", every, 0...FieldCheck.maxSteps)
        try check.int("beam", beam, 1...FieldCheck.maxCount)
        try check.int("max_users", maxUsers, 0...Int.max)
        try check.int("patience", patience, 0...FieldCheck.maxSteps)
    }
}

/// `eval.keep`: `best` keeps the validation with the highest NDCG@10 in `best/`; `final` keeps the weights the
/// run ends with (the last step, or where early stopping or a time budget stopped it), validated like every
/// other check. A multi-task model whose translation keeps improving after its ranking has levelled off wants
/// `final` (docs/results.md §10.9).
public enum KeptWeights: String, Codable, Sendable, CaseIterable, ConfigChoice {
    case best, final
}

/// How sequence-task samples are cut from the training sequences.
public struct SamplingPreset: Codable, Sendable, Equatable {
    /// Sequence tasks: one sample for every `stride`-th target position, counted back from each training
    /// sequence's last item (1 = every position t ≥ 1, LC-Rec's recipe).
    public var stride: Int = 1
    /// nextitem only: also put the loss on every history item's SID tokens (item k's SID predicted from the
    /// prompt text and items < k). See Sources/AlignRec/Train/SFTSamples.swift for why this matches the
    /// evaluation prompt.
    public var denseHistoryLoss: Bool = false
    /// Where each training sequence's sample windows sit: `fixed` (counted back from its last item, the same
    /// every epoch) or `random` (shifted back by a fresh offset in 0..<stride per sequence and epoch, so over
    /// the epochs every position is a window end and every item appears at every window position; the
    /// templates are redrawn per epoch too). See Sources/AlignRec/Train/SFTSamples.swift.
    public var offsets: WindowOffsets = .fixed
    /// Which samples are drawn afresh every epoch (templates, and for fractional task weights which items or
    /// windows get a sample): `none` (epoch 0's samples every epoch; with `offsets: random` every sample is
    /// redrawn anyway), `translation` (the translation tasks' samples: over the epochs every catalogue item is
    /// trained with every template, where `none` trains it with one template, or not at all when its task weight
    /// is < 1), or `all`.
    public var redraw: SampleRedraw = .none
    public init() {}
    enum CodingKeys: String, CodingKey { case stride, denseHistoryLoss = "dense_history_loss", offsets, redraw }

    /// Missing keys take the defaults.
    public init(from decoder: Decoder) throws {
        let d = SamplingPreset()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stride = try c.decodeIfPresent(Int.self, forKey: .stride) ?? d.stride
        denseHistoryLoss = try c.decodeIfPresent(Bool.self, forKey: .denseHistoryLoss) ?? d.denseHistoryLoss
        offsets = try c.decodeIfPresent(WindowOffsets.self, forKey: .offsets) ?? d.offsets
        redraw = try c.decodeIfPresent(SampleRedraw.self, forKey: .redraw) ?? d.redraw
    }

    /// True when some samples differ between epochs (SFT then rebuilds them per epoch).
    public var variesPerEpoch: Bool { offsets == .random || redraw != .none }

    func validate(_ check: FieldCheck) throws {
        try check.int("stride", stride, 1...FieldCheck.maxCount)
    }
}

/// `sampling.redraw`: which samples are drawn afresh every epoch.
public enum SampleRedraw: String, Codable, Sendable, CaseIterable, ConfigChoice {
    case none, translation, all
}

/// `sampling.offsets`: fixed windows, or windows shifted by a random offset per sequence and epoch.
public enum WindowOffsets: String, Codable, Sendable, CaseIterable, ConfigChoice {
    case fixed, random
}

/// A whole training preset as stored in `configs/NAME.yaml`.
public struct TrainConfig: Codable, Sendable, Equatable {
    public var format: String = "align-config"
    public var version: Int = 1
    public var model = ModelPreset()
    /// SentencePiece vocabulary size for text (SID and special tokens are added on top).
    public var textVocabSize: Int = 2000
    /// The evaluation protocol whose training data SFT reads and whose validation split it scores.
    public var evalProtocol: EvalProtocol = .loo
    public var maxHistory: Int = 20
    /// Task → sampling weight.
    public var tasks: [PromptTask: Double] = [.nextitem: 1.0, .title2sid: 0.25, .sid2title: 0.25]
    public var optim = OptimPreset()
    public var eval = EvalPreset()
    /// How sequence samples are drawn and masked.
    public var sampling = SamplingPreset()
    /// Per-item vectors and the item head (off by default).
    public var itemMemory = ItemMemoryPreset()
    public var seed: UInt64 = 0
    /// Precision of the matrix products (fp32 | bf16); absent = bf16 where the CPU has AVX512_BF16 or AMX, else
    /// fp32. `--precision` overrides it.
    public var precision: Precision?
    /// LoRA adapters over a pretrained `--init` model, its new token rows trained in full (nil: every weight trains).
    public var lora: LoRAConfig?
    public init() {}

    enum CodingKeys: String, CodingKey {
        case format, version, model, textVocabSize = "text_vocab_size", evalProtocol = "protocol"
        case maxHistory = "max_history", tasks, optim, eval, sampling, seed, itemMemory = "item_memory", precision, lora
    }

    public init(from decoder: Decoder) throws {
        let d = TrainConfig()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decodeIfPresent(String.self, forKey: .format) ?? d.format
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? d.version
        model = try c.decodeIfPresent(ModelPreset.self, forKey: .model) ?? d.model
        textVocabSize = try c.decodeIfPresent(Int.self, forKey: .textVocabSize) ?? d.textVocabSize
        evalProtocol = try c.decodeIfPresent(EvalProtocol.self, forKey: .evalProtocol) ?? d.evalProtocol
        maxHistory = try c.decodeIfPresent(Int.self, forKey: .maxHistory) ?? d.maxHistory
        tasks = try PromptTask.decodeWeights(c, .tasks, default: d.tasks)
        optim = try c.decodeIfPresent(OptimPreset.self, forKey: .optim) ?? d.optim
        eval = try c.decodeIfPresent(EvalPreset.self, forKey: .eval) ?? d.eval
        sampling = try c.decodeIfPresent(SamplingPreset.self, forKey: .sampling) ?? d.sampling
        itemMemory = try c.decodeIfPresent(ItemMemoryPreset.self, forKey: .itemMemory) ?? d.itemMemory
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        precision = try Self.decodePrecision(c, .precision)
        lora = try c.decodeIfPresent(LoRAConfig.self, forKey: .lora)
    }

    /// Decodes an optional `precision:` value with an error that names the allowed values.
    static func decodePrecision<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> Precision? {
        guard let s = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let p = Precision(rawValue: s) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "precision must be fp32 or bf16, found '\(s)'")
        }
        return p
    }

    /// Loads and validates a YAML preset (strictly: unknown or repeated keys and wrong types are errors).
    public static func load(_ url: URL) throws -> TrainConfig {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw AlignError.io(path: url.path, message: "cannot read config: \(error.localizedDescription)")
        }
        return try parse(text, path: url.path)
    }

    /// Largest task weight (a weight w repeats each candidate sample ⌊w⌋ times).
    public static let maxTaskWeight = 100.0

    /// Checks every field (FieldCheck): errors name the file, the field, the value and the allowed range.
    public func validate(path: String) throws {
        let check = FieldCheck(file: path)
        guard format == "align-config" else { throw check.failure("format", "'\(format)'", allowed: "align-config") }
        guard version == 1 else { throw check.failure("version", "\(version)", allowed: "1 (the version this align reads)") }
        try model.validate(check.section("model"))
        try check.int("text_vocab_size", textVocabSize, 16...LlamaConfig.maxVocabSize)
        try check.int("max_history", maxHistory, 1...FieldCheck.maxCount)
        // Task names were checked where they were read (PromptTask.decodeWeights).
        for (task, w) in tasks.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            try check.section("tasks").number(task.rawValue, w, .closed(0, Self.maxTaskWeight))
        }
        guard tasks.values.contains(where: { $0 > 0 }) else {
            throw check.failure("tasks", "needs at least one task with a positive weight")
        }
        try optim.validate(check.section("optim"))
        try eval.validate(check.section("eval"))
        try sampling.validate(check.section("sampling"))
        try itemMemory.validate(check.section("item_memory"))
        if let lora {
            try lora.validate(check.section("lora"))
            guard !itemMemory.enabled else { throw check.failure("lora", "with item_memory.enabled", allowed: "one of the two (the item memory trains outside the adapters)") }
            guard optim.ema == 0 else { throw check.failure("lora", "with optim.ema \(optim.ema)", allowed: "optim.ema 0") }
        }
    }

    /// The sample-building config: history length and per-task weights.
    public var taskConfig: TaskConfig { TaskConfig(maxHistory: maxHistory, taskWeights: tasks) }

    /// The tasks with a positive weight, in `PromptTask.allCases` order.
    public var activeTasks: [PromptTask] { PromptTask.allCases.filter { (tasks[$0] ?? 0) > 0 } }

    /// Parses a YAML text (path only names it in errors) strictly and validates it.
    public static func parse(_ text: String, path: String) throws -> TrainConfig {
        let cfg = try ConfigYAML.decode(TrainConfig.self, from: text, path: path)
        try cfg.validate(path: path)
        return cfg
    }

    /// YAML text of this config (saved as the run's resolved config; floats as written).
    public func yaml() throws -> String { try ConfigYAML.encode(self) }
}
