// `align grpo`: per step, a batch of training prompts (the evaluation wrapper's nextitem prompt), G rollouts
// each from the current policy — constrained beam search (G distinct valid items, history excluded, as
// MiniOneRec) or constrained temperature sampling — rewards against the true next item, and a GRPO update
// against the frozen SFT weights (a copy kept in memory). Validation every N steps, best/ and last/
// checkpoints, and the closing SFT-vs-GRPO comparison.
import Foundation

/// Everything `align grpo` needs.
public struct GRPOOptions {
    public var from: URL
    public var data: URL
    public var out: URL
    public var config: GRPOConfig
    public var progress: Bool
    /// Replace a run already in `out` (without it, an existing run is an error).
    public var overwrite: Bool
    /// Where the config came from, for errors (e.g. "configs/x.yaml with --lr").
    public var configLabel = "<resolved config>"
    public init(from: URL, data: URL, out: URL, config: GRPOConfig, progress: Bool, overwrite: Bool = false) {
        self.from = from; self.data = data; self.out = out; self.config = config; self.progress = progress; self.overwrite = overwrite
    }
}

/// The GRPO stage.
public enum GRPORun {
    /// Runs the stage; `say` receives the human-readable lines.
    @discardableResult
    public static func run(_ o: GRPOOptions, say: @escaping (String) -> Void) throws -> AlignmentSummary {
        let cfg = o.config
        let ctx = try AlignmentContext(stage: "grpo", from: o.from, data: o.data, out: o.out, evalProtocol: cfg.evalProtocol,
                                       eval: cfg.eval, seed: cfg.seed, resolvedConfig: try cfg.yaml(),
                                       progress: o.progress, overwrite: o.overwrite, precision: cfg.precision, say: say)
        let model = ctx.model, G = cfg.groupSize
        let check = FieldCheck(file: o.configLabel)
        try check.beam("eval.beam", cfg.eval.beam, items: model.items.count)
        try check.int("group_size", G, 2...max(2, model.items.count), "at most the catalogue's \(model.items.count) items")
        var embeddings: ItemEmbeddings? = nil
        if cfg.reward.needsEmbeddings {
            let url = cfg.embeddings.map { URL(fileURLWithPath: $0) } ?? o.data.appendingPathComponent("embeddings.safetensors")
            let e = try ItemEmbeddings.load(url)
            guard e.count == model.items.count else {
                throw AlignError.invalidArgument("\(url.path) holds \(e.count) item vectors but the catalogue has \(model.items.count)")
            }
            embeddings = e
        }
        var rng = Rng(seed: cfg.seed)
        var sampleRng = rng.split()
        let needed = cfg.optim.steps * cfg.optim.batchSize
        let pool = ctx.trainingExamples(max: cfg.maxPrompts > 0 ? cfg.maxPrompts : needed, recent: cfg.recentPositions,
                                          sampling: cfg.promptSampling, rng: &rng)
        guard !pool.isEmpty else { throw AlignError.invalidArgument("the \(cfg.evalProtocol.rawValue) training split has no examples") }
        say("prompts: \(pool.count) training examples of \(Set(pool.map(\.user)).count) users (prompt_sampling \(cfg.promptSampling.rawValue)\(cfg.recentPositions > 0 ? ", each user's last \(cfg.recentPositions) positions" : ""))")
        let ahead = GRPORewards.aheadMaps(of: pool, in: ctx.trainingSet, window: cfg.reward.future > 0 ? cfg.futureWindow : 0)
        let rec = try Recommender(model: model, beam: G)
        let prompts = try pool.map { try rec.promptIds(history: $0.history) }
        let maxPrompt = prompts.map(\.count).max()!
        // Memory, before anything is written: policy and reference trainers, the frozen copy, rollouts, validation.
        var need = ctx.memoryEstimate(ema: cfg.optim.ema > 0, maxPrompt: maxPrompt)
        need.add("reference weights", floats: model.config.parameterFloats)
        need.add("policy and reference trainers for optim.micro_batch \(cfg.optim.microBatch)",
                 floats: 2 * LlamaTrainer.plannedFloats(model.config, maxBatch: cfg.optim.microBatch,
                                                        maxSeq: maxPrompt + model.trie.maxDepth, dropout: false))
        need.add("rollouts of group_size \(G)", floats: cfg.rollout == .beam
                    ? Double(Parallel.workers) * LlamaDecoder.plannedFloats(model.config, maxGroups: 16, maxWidth: G, maxPrompt: maxPrompt,
                                                                            maxSuffix: model.trie.maxDepth + 1)
                    : LlamaDecoder.plannedFloats(model.config, maxGroups: cfg.optim.batchSize, maxWidth: G, maxPrompt: maxPrompt,
                                                 maxSuffix: model.trie.maxDepth + 1))
        try need.check("group_size \(G), optim.batch_size \(cfg.optim.batchSize), optim.micro_batch \(cfg.optim.microBatch)", file: o.configLabel)
        try ctx.open()
        try ctx.scoreStart()
        try ctx.startAverage(decay: cfg.optim.ema)

        let ref = model.params.copy()
        let core = try GRPOCore(policy: model.params, reference: ref, microBatch: cfg.optim.microBatch,
                                maxSeq: maxPrompt + model.trie.maxDepth, hyper: cfg.hyper, adamW: cfg.optim.adamW,
                                gradClip: cfg.optim.gradClip, trie: model.trie, items: model.itemTable, precision: model.precision)
        let sampler = ConstrainedSampler(trie: model.trie)
        var decoder: LlamaDecoder? = nil
        if cfg.rollout == .sample {
            decoder = try LlamaDecoder.planned(params: model.params, maxGroups: cfg.optim.batchSize, maxWidth: G, maxPrompt: maxPrompt,
                                               maxSuffix: model.trie.maxDepth + 1, purpose: "sampled rollouts (group_size \(G))",
                                               items: model.itemTable, precision: model.precision)
        }
        let schedule = cfg.optim.schedule
        var order: [Int] = [], cursor = 0
        let bar = o.progress ? ProgressBar(total: cfg.optim.steps, label: "grpo", unit: "steps") : nil
        for step in 1...cfg.optim.steps {
            var idx: [Int] = []
            while idx.count < min(cfg.optim.batchSize, pool.count) {
                if cursor == order.count { order = Array(pool.indices); rng.shuffle(&order); cursor = 0 }
                idx.append(order[cursor]); cursor += 1
            }
            let t0 = Date()
            // Rollouts: items in rank order (beam order; samples by their log-prob, best first).
            var lists: [[Int]]
            switch cfg.rollout {
            case .beam:
                lists = try rec.recommend(idx.map { RecommendRequest(history: pool[$0].history,
                                                                     exclude: Array(ctx.dataset.excluded(for: pool[$0]))) }, k: G)
                    .map { $0.map(\.item) }
            case .sample:
                let samples = try sampler.sample(decoder: decoder!, prompts: idx.map { prompts[$0] }, samplesPerPrompt: G,
                                                 temperature: Float(cfg.temperature), rng: &sampleRng,
                                                 exclude: idx.map { Array(ctx.dataset.excluded(for: pool[$0])) })
                lists = samples.map { s in s.indices.sorted { s[$0].logProb != s[$1].logProb ? s[$0].logProb > s[$1].logProb : $0 < $1 }.map { s[$0].item } }
            }
            var groups: [GRPOGroup] = [], rewards: [[Double]] = []
            for (k, i) in idx.enumerated() where lists[k].count == G {
                let ex = pool[i]
                groups.append(GRPOGroup(prompt: prompts[i], responses: lists[k].map { model.trie.tokens(of: $0)! },
                                        items: lists[k], target: ex.target))
                rewards.append(try GRPORewards.mixed(items: lists[k], target: ex.target, mix: cfg.reward, embeddings: embeddings,
                                                     ahead: ahead[i], decay: cfg.futureDecay))
            }
            let rolloutSeconds = Date().timeIntervalSince(t0)
            let lr = schedule.lr(at: step - 1)
            let st: GRPOStepStats
            do { st = try core.step(groups: groups, rewards: rewards, lr: lr) } catch var d as TrainingDiverged {
                bar?.finish()
                d.step = step
                ctx.run.metrics.log(AlignDivergedRecord(step: step), stage: "grpo")
                throw d.error(lastGood: ctx.lastGood, lr: cfg.optim.lr)
            }
            ctx.updateAverage()
            let trainSeconds = Date().timeIntervalSince(t0) - rolloutSeconds
            ctx.run.metrics.log(GRPOTrainRecord(step: step, st, lr: Double(lr), rolloutSeconds: rolloutSeconds,
                                                trainSeconds: trainSeconds), stage: "grpo")
            bar?.advance(info: String(format: "reward %.3f hit %.2f zero-std %.2f kl %.4f", st.meanReward, st.hitRate,
                                      st.fracZeroStd, st.kl))
            if cfg.eval.every > 0 && step % cfg.eval.every == 0 && step != cfg.optim.steps { try ctx.validate(step: step) }
        }
        bar?.finish()
        try ctx.validate(step: cfg.optim.steps)
        return try ctx.finish(steps: cfg.optim.steps, seed: cfg.seed, optimizer: core.optimizer)
    }
}
