// The SFT optimisation loop over an encoded sample set (or one rebuilt per epoch, `resample`, for random window
// offsets or `sampling.redraw`): length-bucketed batches in a seeded per-epoch order,
// mean cross-entropy on the trained (response / SID) tokens, global grad-norm clipping, AdamW with linear
// warm-up + cosine decay. Memory is planned once (DataParallelTrainer: one LlamaTrainer replica per core for its
// share of [batch_size, longest sample]). With item memory (`items`), the item head's mean cross-entropy joins the
// token loss at weight `item_memory.head_weight`.
// Everything that decides the next update — step, epoch, position in the epoch's batch plan, the sampling
// generator, the optimiser moments, the weights' moving average when `optim.ema` > 0 — is in `SFTState` +
// `AdamW` + `WeightAverage`, so a saved run resumes bit-exactly.
// Validation, checkpoints and logging are the caller's (SFTRun).
import Foundation

/// Resumable position of an SFT run (stored in align.json `state`).
public struct SFTState: Codable, Sendable, Equatable {
    /// "align-sft-state".
    public var format = "align-sft-state"
    /// Format version (1).
    public var version = 1
    /// Optimiser steps taken.
    public var step = 0
    /// Current epoch (0-based) of the batch plan.
    public var epoch = 0
    /// Batches of `epoch` already consumed.
    public var batchInEpoch = 0
    /// The sample-building generator after the sample set was drawn (checked on resume: a different value
    /// means the data, tasks or config changed and the run cannot continue exactly).
    public var sampleRng: Rng
    /// Input tokens processed (pads included).
    public var tokensSeen = 0
    /// Best validation NDCG@10 so far (−1: none yet) and its step.
    public var bestScore: Double = -1
    public var bestStep = 0
    /// The latest validation NDCG@10 (absent before the first, and in checkpoints of earlier align versions).
    public var lastScore: Double?
    /// Validations since the last improvement (early stopping).
    public var badValidations = 0
    /// Whether early stopping ended the run.
    public var stoppedEarly = false
    /// Losses of the steps since the last metrics line (their mean is logged), kept so that a resumed run logs
    /// what the uninterrupted one did (absent in checkpoints of earlier align versions).
    public var loggedLossSum: Double?
    public var loggedSteps: Int?
    /// The same window's item-head losses (item memory only).
    public var loggedItemLossSum: Double?

    /// A fresh state.
    public init(sampleRng: Rng) { self.sampleRng = sampleRng }

    enum CodingKeys: String, CodingKey {
        case format, version, step, epoch, batchInEpoch = "batch_in_epoch", sampleRng = "sample_rng"
        case tokensSeen = "tokens_seen", bestScore = "best_score", bestStep = "best_step", lastScore = "last_score"
        case badValidations = "bad_validations", stoppedEarly = "stopped_early"
        case loggedLossSum = "logged_loss_sum", loggedSteps = "logged_steps", loggedItemLossSum = "logged_item_loss_sum"
    }

    /// Checks the format tag.
    public func validate() throws {
        guard format == "align-sft-state", version == 1 else {
            throw AlignError.invalidArgument("align.json state is '\(format)' v\(version), expected 'align-sft-state' v1 (not an SFT checkpoint?)")
        }
    }
}

/// Statistics of one optimiser step.
public struct SFTStepStats: Sendable {
    public var step: Int
    public var loss: Float
    /// Item-head mean cross-entropy (0 without item memory) and the rows it scored.
    public var itemLoss: Float = 0
    public var itemRows: Int = 0
    public var lr: Float
    public var gradNorm: Float
    /// Input tokens of the batch (pads included) and trained positions.
    public var tokens: Int
    public var targets: Int
    public var epoch: Int
}

/// One SFT optimisation run over fixed samples, or samples rebuilt per epoch (`resample`).
public final class SFTLoop {
    /// Forward/backward engine (owns gradients; parameters shared with the caller): the batch's rows split over
    /// `workers` replicas, one per core (DataParallelTrainer).
    public let trainer: DataParallelTrainer
    /// AdamW moments and step counter.
    public let optimizer: AdamW
    /// The current epoch's samples and their batch planner (the same every epoch unless `resample` is set).
    public private(set) var samples: SFTSamples
    public private(set) var batcher: LengthBucketBatcher
    /// Epoch e's samples for e ≥ 1 (nil: `samples` every epoch). Must be a pure function of e, so that a
    /// resumed run rebuilds the same epoch.
    let resample: ((Int) throws -> SFTSamples)?
    private let firstSamples: SFTSamples
    private var samplesEpoch = 0
    public let optim: OptimPreset
    public let padId: Int32
    /// Run seed (dropout keys are derived from it and the step).
    public let seed: UInt64
    /// Moving average of the weights (nil when `optim.ema` is 0); updated after every step.
    public let average: WeightAverage?
    /// Item-head loss weight (0 without item memory).
    public let itemHeadWeight: Float
    /// LoRA adapters merged into the parameters (nil: every weight trains); the optimiser then updates their
    /// trainable buffer (LoRA.swift).
    public let lora: LoRAAdapters?
    /// Resumable position.
    public private(set) var state: SFTState
    private var plan: [[Int]] = []
    private var planEpoch = -1

    /// Plans memory for [batch_size, longest sample] (at least `maxLength` when later epochs are `resample`d).
    /// `state` (fresh or restored) must match `optimizer` and, with `optim.ema` > 0, the saved moving average
    /// `ema` (nil on a fresh run). `samples` are epoch 0's.
    public init(params: LlamaParameters, samples: SFTSamples, optim: OptimPreset, seed: UInt64, padId: Int32,
                state: SFTState, optimizer: AdamW? = nil, ema: [Float]? = nil,
                resample: ((Int) throws -> SFTSamples)? = nil, maxLength: Int = 0, items: ItemTable? = nil,
                itemMemory: ItemMemoryPreset = ItemMemoryPreset(), workers: Int = Parallel.workers,
                precision: Precision = .fp32, lora: LoRAAdapters? = nil) throws {
        guard !samples.examples.isEmpty else { throw AlignError.invalidArgument("no training samples (empty training data or all task weights 0)") }
        let maxLen = max(samples.maxLength, maxLength)
        guard maxLen <= params.config.maxPositionEmbeddings else {
            throw AlignError.invalidArgument("the longest sample has \(maxLen) tokens, more than max_position_embeddings \(params.config.maxPositionEmbeddings); raise it in the config or lower max_history")
        }
        try state.validate()
        self.samples = samples
        self.firstSamples = samples
        self.resample = resample
        self.optim = optim
        self.padId = padId
        self.seed = seed
        self.state = state
        batcher = try LengthBucketBatcher(lengths: samples.examples.map(\.inputs.count), batchSize: optim.batchSize,
                                          windowBatches: optim.windowBatches, seed: seed)
        trainer = DataParallelTrainer(params: params, maxBatch: optim.batchSize, maxSeq: maxLen, dropout: optim.dropout,
                                      items: items, workers: workers, precision: precision)
        trainer.logitsForAllPositions = false   // SFT reads only log-probs: the LM head runs on trained rows
        itemHeadWeight = items == nil ? 0 : itemMemory.headWeight
        trainer.itemHead = itemHeadWeight > 0
        trainer.itemInputDropout = items == nil ? 0 : itemMemory.inputDropout
        trainer.itemHeadTrunkGradient = itemMemory.trunkGradient
        self.lora = lora
        let trainedCount = lora?.count ?? params.count
        if let optimizer {
            guard optimizer.count == trainedCount else {
                throw AlignError.invalidArgument("optimizer state has \(optimizer.count) values, the model \(trainedCount) trained ones")
            }
            guard optimizer.step == state.step else {
                throw AlignError.invalidArgument("optimizer is at step \(optimizer.step) but the run state at step \(state.step)")
            }
            optimizer.config = optim.adamW
            self.optimizer = optimizer
        } else {
            guard state.step == 0 else { throw AlignError.invalidArgument("resuming at step \(state.step) needs the saved optimizer state") }
            self.optimizer = AdamW(count: trainedCount, groups: lora?.paramGroups ?? params.paramGroups, config: optim.adamW)
        }
        if optim.ema > 0 {
            guard state.step == 0 || ema != nil else {
                throw AlignError.invalidArgument("resuming at step \(state.step) with optim.ema \(optim.ema) needs the saved moving average (the run was started without one)")
            }
            average = try WeightAverage(decay: optim.ema, weights: UnsafeBufferPointer(params.data), saved: ema, updates: state.step)
        } else {
            guard ema == nil else { throw AlignError.invalidArgument("the saved run keeps a moving average of the weights but optim.ema is 0; resume with the run's config") }
            average = nil
        }
    }

    /// Runs `body` with the weights validation and `best/` should see: the moving average when there is one.
    public func withEvaluationWeights<T>(_ body: () throws -> T) rethrows -> T {
        guard let average else { return try body() }
        return try average.withAverage(in: trainer.params.data, body)
    }

    /// Batches in the current epoch.
    public var batchesPerEpoch: Int { get throws { try currentPlan().count } }

    /// The batch plan of the current epoch (its samples rebuilt first when they are resampled per epoch).
    private func currentPlan() throws -> [[Int]] {
        if planEpoch != state.epoch {
            if let resample, samplesEpoch != state.epoch {
                let next = state.epoch == 0 ? firstSamples : try resample(state.epoch)
                guard !next.examples.isEmpty else { throw AlignError.invalidArgument("epoch \(state.epoch) has no training samples") }
                guard next.maxLength <= trainer.maxSeq else {
                    throw AlignError.invalidArgument("epoch \(state.epoch)'s longest sample has \(next.maxLength) tokens, more than the \(trainer.maxSeq) planned")
                }
                samples = next
                batcher = try LengthBucketBatcher(lengths: next.examples.map(\.inputs.count), batchSize: optim.batchSize,
                                                  windowBatches: optim.windowBatches, seed: seed)
                samplesEpoch = state.epoch
            }
            plan = batcher.plan(epoch: state.epoch); planEpoch = state.epoch
        }
        return plan
    }

    /// The learning rate of the next step.
    public var nextLR: Float { optim.schedule.lr(at: state.step) }

    /// One optimiser step on the next batch of the plan (rolling over to the next epoch as needed).
    @discardableResult
    public func step() throws -> SFTStepStats {
        if state.batchInEpoch >= (try currentPlan()).count { state.epoch += 1; state.batchInEpoch = 0 }
        let indices = try currentPlan()[state.batchInEpoch]
        let batch = LengthBucketBatcher.collate(samples.examples, indices: indices, padId: padId)
        trainer.zeroGrads()
        trainer.dropoutKey = mix64(seed ^ 0x64726F70) &+ UInt64(state.step)   // a pure function of (seed, step)
        if let only = optim.dropoutTasks { trainer.dropoutRows = indices.map { only.contains(samples.tasks[$0]) } }
        defer { trainer.dropoutKey = nil; trainer.dropoutRows = nil }
        try trainer.forward(tokens: batch.inputs, targets: batch.targets, batch: batch.batch, seq: batch.length)
        let loss = trainer.meanCrossEntropy()
        // Divergence guard: nothing is updated (weights, moments, state) when the step is not finite.
        try TrainingDiverged.check(Double(loss), "loss", step: state.step + 1)
        let targets = trainer.trainedCount
        let itemLoss = trainer.meanItemCrossEntropy(), itemRows = trainer.itemHeadRows
        try TrainingDiverged.check(Double(itemLoss), "item-head loss", step: state.step + 1)
        try trainer.backwardMeanCrossEntropy(itemWeight: itemHeadWeight)
        var g = trainer.grads.baseAddress!, n = trainer.params.count, w = trainer.params.data.baseAddress!
        if let lora {   // the adapters' and new rows' gradient from the full one (embedding rows only in the warm-up)
            lora.gatherGradients(from: g, adapters: state.step >= lora.config.warmupSteps)
            g = lora.grads.baseAddress!; n = lora.count; w = lora.trainable.baseAddress!
        }
        let norm = optim.gradClip > 0 ? clipGradNorm(g, n, maxNorm: optim.gradClip) : gradNorm(g, n)
        try TrainingDiverged.check(Double(norm), "gradient norm", step: state.step + 1)
        let lr = optim.schedule.lr(at: state.step)
        optimizer.update(params: w, grads: g, lr: lr)
        lora?.merge()
        average?.update(from: trainer.params.data.baseAddress!)
        var stats = SFTStepStats(step: state.step + 1, loss: loss, lr: lr, gradNorm: norm, tokens: batch.batch * batch.length,
                                 targets: targets, epoch: state.epoch)
        stats.itemLoss = itemLoss; stats.itemRows = itemRows
        state.step += 1
        state.batchInEpoch += 1
        state.loggedLossSum = (state.loggedLossSum ?? 0) + Double(loss)
        state.loggedSteps = (state.loggedSteps ?? 0) + 1
        if itemHeadWeight > 0 { state.loggedItemLossSum = (state.loggedItemLossSum ?? 0) + Double(itemLoss) }
        state.tokensSeen += batch.batch * batch.length
        return stats
    }

    /// The mean loss of the steps since the last call (what a metrics line reports), restarting the window.
    public func takeLoggedLoss() -> Double { takeLoggedLosses().loss }

    /// The mean token loss and item-head loss (nil without item memory) of the steps since the last call, restarting
    /// the window.
    public func takeLoggedLosses() -> (loss: Double, itemLoss: Double?) {
        let n = Double(max(state.loggedSteps ?? 0, 1))
        let mean = (state.loggedLossSum ?? 0) / n, item = itemHeadWeight > 0 ? (state.loggedItemLossSum ?? 0) / n : nil
        state.loggedLossSum = 0; state.loggedSteps = 0
        if itemHeadWeight > 0 { state.loggedItemLossSum = 0 }
        return (mean, item)
    }

    /// Records a validation score (higher is better); returns whether it is a new best. Counts
    /// non-improving validations and sets `stoppedEarly` when `patience` (> 0) is reached.
    @discardableResult
    public func recordValidation(_ score: Double, patience: Int) -> Bool {
        state.lastScore = score
        if score > state.bestScore {
            state.bestScore = score; state.bestStep = state.step; state.badValidations = 0
            return true
        }
        state.badValidations += 1
        if patience > 0 && state.badValidations >= patience { state.stoppedEarly = true }
        return false
    }

    /// Mean cross-entropy over the trained tokens of the given samples (no update), in batches.
    public func meanLoss(of indices: [Int]) throws -> Double {
        var sum = 0.0, count = 0
        var s = 0
        while s < indices.count {
            let idx = Array(indices[s..<min(indices.count, s + optim.batchSize)])
            let b = LengthBucketBatcher.collate(samples.examples, indices: idx, padId: padId)
            try trainer.forward(tokens: b.inputs, targets: b.targets, batch: b.batch, seq: b.length)
            let n = trainer.trainedCount
            sum += Double(trainer.meanCrossEntropy()) * Double(n); count += n
            s += optim.batchSize
        }
        return count == 0 ? 0 : sum / Double(count)
    }
}
