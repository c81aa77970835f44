// `align grpo`: per step, a batch of prompts from the RL set (RLTasks.swift: nextitem, title2sid, title-history →
// SID, each with the task's evaluation prompt), G rollouts each from the current policy — the recommender's top G
// (constrained beam search, G distinct valid items, history excluded, as MiniOneRec; the item-memory mix for a
// hybrid model) or constrained temperature sampling — rewards against the prompt's target plus any goal rewards,
// and a GRPO update against the reference (a copy of the SFT weights kept in memory, optionally synced toward the
// policy). Validation every N steps, best/ and last/ checkpoints, and the closing SFT-vs-GRPO comparison.
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
                                       progress: o.progress, overwrite: o.overwrite, precision: cfg.precision,
                                       headFraction: cfg.headFraction, say: say)
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
        // The policy: the item-memory mix when the model has one (GRPOCore.swift), else the SID tokens.
        let sidWeight: Float? = model.itemTable != nil && cfg.policy == .mix ? (model.itemMemoryInfo?.sidWeight ?? 0) : nil
        var rng = Rng(seed: cfg.seed)
        var sampleRng = rng.split()
        let rec = try Recommender(model: model, beam: G)
        let nextitemCap = cfg.maxPrompts > 0 ? cfg.maxPrompts : (cfg.optim.epochs > 0 ? 0 : cfg.optim.steps * cfg.optim.batchSize)
        let pool = try cfg.tasks.build(ctx: ctx, rec: rec, nextitemCap: nextitemCap, recent: cfg.recentPositions,
                                       sampling: cfg.promptSampling, futureWindow: cfg.reward.future > 0 ? cfg.futureWindow : 0, rng: &rng)
        guard !pool.isEmpty else { throw AlignError.invalidArgument("the \(cfg.evalProtocol.rawValue) RL set has no prompts") }
        let steps = cfg.optim.steps(forSetSize: pool.count), evalEvery = cfg.eval.interval(steps: steps)
        let byTask = Dictionary(grouping: pool, by: \.task).map { "\($0.value.count) \($0.key.rawValue)" }.sorted().joined(separator: ", ")
        say("RL set: \(pool.count) prompts (\(byTask); prompt_sampling \(cfg.promptSampling.rawValue)\(cfg.recentPositions > 0 ? ", each user's last \(cfg.recentPositions) positions" : "")); \(steps) steps of \(cfg.optim.batchSize)\(cfg.optim.epochs > 0 ? String(format: " (%g epochs)", cfg.optim.epochs) : "")")
        say(sidWeight.map { String(format: "policy: the item-memory mix, log p_head + %g · log p_SID", Double($0)) } ?? "policy: the SID tokens")
        let maxPrompt = pool.map(\.prompt.count).max()!
        // Memory, before anything is written: policy and reference trainers, the frozen copy, rollouts, validation.
        var need = ctx.memoryEstimate(ema: cfg.optim.ema > 0, maxPrompt: maxPrompt)
        need.add("reference weights", floats: Double(model.params.count))
        need.add("policy and reference trainers for optim.micro_batch \(cfg.optim.microBatch)",
                 floats: 2 * LlamaTrainer.plannedFloats(model.config, maxBatch: cfg.optim.microBatch, maxSeq: maxPrompt + model.trie.maxDepth,
                                                        dropout: false, items: model.itemTable?.count ?? 0, levels: model.itemTable?.levels ?? 1))
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
                                gradClip: cfg.optim.gradClip, trie: model.trie, items: model.itemTable, sidWeight: sidWeight,
                                precision: model.precision)
        core.policy.itemHeadTrunkGradient = model.itemMemoryInfo?.trunkGradient ?? .full
        let rewards = RewardContext(embeddings: embeddings, decay: cfg.futureDecay, catalogue: ctx.goals, goalK: cfg.goalK,
                                    goalGroups: cfg.goalGroups)
        let sampler = ConstrainedSampler(trie: model.trie)
        var decoder: LlamaDecoder? = nil
        if cfg.rollout == .sample {
            decoder = try LlamaDecoder.planned(params: model.params, maxGroups: cfg.optim.batchSize, maxWidth: G, maxPrompt: maxPrompt,
                                               maxSuffix: model.trie.maxDepth + 1, purpose: "sampled rollouts (group_size \(G))",
                                               items: model.itemTable, precision: model.precision)
        }
        let schedule = cfg.optim.schedule(total: steps)
        var order: [Int] = [], cursor = 0
        let bar = o.progress ? ProgressBar(total: steps, label: "grpo", unit: "steps") : nil
        for step in 1...steps {
            var idx: [Int] = []
            while idx.count < min(cfg.optim.batchSize, pool.count) {
                if cursor == order.count { order = Array(pool.indices); rng.shuffle(&order); cursor = 0 }
                idx.append(order[cursor]); cursor += 1
            }
            let t0 = Date()
            // Rollouts: items in rank order (beam order, or the mix's order; samples by their log-prob, best first).
            var lists: [[Int]]
            switch cfg.rollout {
            case .beam:
                lists = try rec.recommend(prompts: idx.map { pool[$0].prompt }, exclude: idx.map { pool[$0].exclude }, k: G)
                    .map { $0.map(\.item) }
            case .sample:
                let samples = try sampler.sample(decoder: decoder!, prompts: idx.map { pool[$0].prompt }, samplesPerPrompt: G,
                                                 temperature: Float(cfg.temperature), rng: &sampleRng,
                                                 exclude: idx.map { pool[$0].exclude })
                lists = samples.map { s in s.indices.sorted { s[$0].logProb != s[$1].logProb ? s[$0].logProb > s[$1].logProb : $0 < $1 }.map { s[$0].item } }
            }
            var groups: [GRPOGroup] = [], rewardGroups: [RewardGroup] = []
            for (k, i) in idx.enumerated() where lists[k].count == G {
                let p = pool[i]
                groups.append(GRPOGroup(prompt: p.prompt, responses: lists[k].map { model.trie.tokens(of: $0)! }, items: lists[k], target: p.target))
                rewardGroups.append(RewardGroup(items: lists[k], target: p.target, ahead: p.ahead, recommendation: p.recommendation))
            }
            let groupRewards = try rewards.rewards(rewardGroups, mix: cfg.reward)
            let rolloutSeconds = Date().timeIntervalSince(t0)
            let lr = schedule.lr(at: step - 1)
            let st: GRPOStepStats
            do { st = try core.step(groups: groups, rewards: groupRewards, lr: lr) } catch var d as TrainingDiverged {
                bar?.finish()
                d.step = step
                ctx.run.metrics.log(AlignDivergedRecord(step: step), stage: "grpo")
                throw d.error(lastGood: ctx.lastGood, lr: cfg.optim.lr)
            }
            if cfg.refSync.every > 0 && step % cfg.refSync.every == 0 { core.syncReference(alpha: cfg.refSync.alpha) }
            ctx.updateAverage()
            let trainSeconds = Date().timeIntervalSince(t0) - rolloutSeconds
            var record = GRPOTrainRecord(step: step, st, lr: Double(lr), rolloutSeconds: rolloutSeconds, trainSeconds: trainSeconds)
            let recItems = rewardGroups.filter(\.recommendation).flatMap(\.items)
            if !recItems.isEmpty {
                record.rolloutLongTail = Double(GRPORewards.longtail(items: recItems, catalogue: ctx.goals).reduce(0, +)) / Double(recItems.count)
            }
            ctx.run.metrics.log(record, stage: "grpo")
            bar?.advance(info: String(format: "reward %.3f hit %.2f zero-std %.2f kl %.4f", st.meanReward, st.hitRate,
                                      st.fracZeroStd, st.kl))
            if evalEvery > 0 && step % evalEvery == 0 && step != steps { try ctx.validate(step: step) }
        }
        bar?.finish()
        try ctx.validate(step: steps)
        return try ctx.finish(steps: steps, seed: cfg.seed, optimizer: core.optimizer)
    }
}
