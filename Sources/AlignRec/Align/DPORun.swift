// `align dpo`: preference pairs from the protocol's training examples — the evaluation wrapper's nextitem
// prompt (the same `Recommender.promptIds` evaluation uses), chosen = the true next item, rejected = the
// SFT model's top wrong beam items (mined once, up front, history excluded), random or popularity-sampled
// items; or chosen and rejected by a reward over the SFT model's top items and the target (`negatives: reward`,
// GRPO's reward kinds, goals included) — reference log-probs computed once with the starting weights, then DPO /
// S-DPO steps with validation every N steps, best/ and last/ checkpoints and the closing SFT-vs-DPO comparison.
import Foundation

/// Everything `align dpo` needs.
public struct DPOOptions {
    public var from: URL
    public var data: URL
    public var out: URL
    public var config: DPOConfig
    public var progress: Bool
    /// Replace a run already in `out` (without it, an existing run is an error).
    public var overwrite: Bool
    /// Where the config came from, for errors (e.g. "configs/x.yaml with --lr").
    public var configLabel = "<resolved config>"
    public init(from: URL, data: URL, out: URL, config: DPOConfig, progress: Bool, overwrite: Bool = false) {
        self.from = from; self.data = data; self.out = out; self.config = config; self.progress = progress; self.overwrite = overwrite
    }
}

/// The DPO stage.
public enum DPORun {
    /// Negatives for each example (`n` per example), never the target, an excluded item or one of the user's
    /// next `futureWindow` training items.
    public static func negatives(source: NegativeSource, n: Int, examples: [Example], ctx: AlignmentContext, beam: Int,
                          futureWindow: Int = 0, rng: inout Rng, progress: Bool) throws -> (items: [[Int]], targetTop1: Double) {
        let ds = ctx.dataset, numItems = ds.numItems
        let ahead = GRPORewards.aheadMaps(of: examples, in: ctx.trainingSet, window: futureWindow)
        switch source {
        case .reward: throw AlignError.invalidArgument("negatives: reward picks the chosen items too (DPORun.rewardPairs)")
        case .beam:
            let rec = try Recommender(model: ctx.model, beam: max(beam, n + 1 + futureWindow))
            let bar = progress ? ProgressBar(total: examples.count, label: "mining negatives", unit: "prompts", announce: false) : nil
            let lists = try rec.recommend(examples.map { RecommendRequest(history: $0.history, exclude: Array(ds.excluded(for: $0))) },
                                          k: n + 1 + futureWindow, progress: bar)
            bar?.finish()
            var top1 = 0
            var out: [[Int]] = []
            for (k, (ex, list)) in zip(examples, lists).enumerated() {
                if list.first?.item == ex.target { top1 += 1 }
                let wrong = list.map(\.item).filter { $0 != ex.target && ahead[k][$0] == nil }.prefix(n)
                guard wrong.count == n else {
                    throw AlignError.invalidArgument("beam search found only \(wrong.count) wrong items for user \(ex.user); lower num_negatives")
                }
                out.append(Array(wrong))
            }
            return (out, Double(top1) / Double(max(1, examples.count)))
        case .random, .popular:
            var cumulative: [Double] = []
            if source == .popular {
                var counts = [Double](repeating: 0, count: numItems + 1)
                for s in ds.trainingSequences(ctx.evalProtocol) { for i in s { counts[i] += 1 } }
                var acc = 0.0
                cumulative = (1...numItems).map { acc += counts[$0]; return acc }
            }
            func draw() -> Int {
                if source == .random { return 1 + rng.int(below: numItems) }
                let u = rng.uniform() * cumulative[numItems - 1]
                var lo = 0, hi = numItems - 1
                while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] > u { hi = mid } else { lo = mid + 1 } }
                return lo + 1
            }
            var out: [[Int]] = []
            for (k, ex) in examples.enumerated() {
                var banned = Set(ds.excluded(for: ex)); banned.insert(ex.target); banned.formUnion(ahead[k].keys)
                guard numItems - banned.count >= n else {
                    throw AlignError.invalidArgument("user \(ex.user) leaves fewer than \(n) candidate negatives")
                }
                var picked: [Int] = []
                var tries = 0
                while picked.count < n {
                    let i = tries < 10_000 ? draw() : 1 + rng.int(below: numItems)   // popularity mass may be exhausted
                    tries += 1
                    if !banned.contains(i) { picked.append(i); banned.insert(i) }
                }
                out.append(picked)
            }
            return (out, 0)
        }
    }

    /// Reward pairs (`negatives: reward`): per example, the SFT model's top `beam` items (history excluded) plus the
    /// target when absent, scored by `mix` (batches of 32 prompts for the coverage reward); chosen = the highest reward,
    /// rejected = the `n` lowest, ties to the better-ranked item, never one of the user's next `futureWindow` items.
    /// Returns the kept examples' indices (prompts whose candidates all score the same give no pair).
    public static func rewardPairs(mix: RewardMix, n: Int, examples: [Example], ctx: AlignmentContext, beam: Int, goalK: Int,
                                   futureWindow: Int, futureDecay: Double, progress: Bool)
        throws -> (kept: [Int], chosen: [Int], rejected: [[Int]], targetChosen: Double) {
        let ds = ctx.dataset
        let ahead = GRPORewards.aheadMaps(of: examples, in: ctx.trainingSet, window: futureWindow)
        let rec = try Recommender(model: ctx.model, beam: max(beam, n + 1))
        let bar = progress ? ProgressBar(total: examples.count, label: "scoring candidates", unit: "prompts", announce: false) : nil
        let lists = try rec.recommend(examples.map { RecommendRequest(history: $0.history, exclude: Array(ds.excluded(for: $0))) },
                                      k: max(beam, n + 1), progress: bar)
        bar?.finish()
        let rc = RewardContext(decay: futureDecay, catalogue: ctx.goals, goalK: goalK)
        var kept: [Int] = [], chosen: [Int] = [], rejected: [[Int]] = []
        var start = 0
        while start < examples.count {
            let end = min(examples.count, start + 32)
            let groups = (start..<end).map { k -> RewardGroup in
                var items = lists[k].map(\.item)
                if !items.contains(examples[k].target) { items.append(examples[k].target) }
                return RewardGroup(items: items, target: examples[k].target, ahead: ahead[k])
            }
            let rewards = try rc.rewards(groups, mix: mix)
            for (j, g) in groups.enumerated() {
                let r = rewards[j]
                // Ranks sorted by reward (best first), ties to the better-ranked item.
                let best = g.items.indices.max { r[$0] != r[$1] ? r[$0] < r[$1] : $0 > $1 }!
                let worst = g.items.indices.filter { $0 != best && ahead[start + j][g.items[$0]] == nil }
                    .sorted { r[$0] != r[$1] ? r[$0] < r[$1] : $0 < $1 }.prefix(n)
                guard worst.count == n, r[worst.last!] < r[best] else { continue }
                kept.append(start + j); chosen.append(g.items[best]); rejected.append(worst.map { g.items[$0] })
            }
            start = end
        }
        let targetChosen = zip(kept, chosen).filter { examples[$0.0].target == $0.1 }.count
        return (kept, chosen, rejected, Double(targetChosen) / Double(max(1, kept.count)))
    }

    /// Runs the stage; `say` receives the human-readable lines.
    @discardableResult
    public static func run(_ o: DPOOptions, say: @escaping (String) -> Void) throws -> AlignmentSummary {
        let cfg = o.config
        let ctx = try AlignmentContext(stage: "dpo", from: o.from, data: o.data, out: o.out, evalProtocol: cfg.evalProtocol,
                                       eval: cfg.eval, seed: cfg.seed, resolvedConfig: try cfg.yaml(),
                                       progress: o.progress, overwrite: o.overwrite, precision: cfg.precision,
                                       headFraction: cfg.headFraction, say: say)
        var rng = Rng(seed: cfg.seed)
        let examples = ctx.trainingExamples(max: cfg.maxPairs, recent: cfg.recentPositions, sampling: cfg.promptSampling, rng: &rng)
        guard !examples.isEmpty else { throw AlignError.invalidArgument("the \(cfg.evalProtocol.rawValue) training split has no examples") }
        let check = FieldCheck(file: o.configLabel), items = ctx.model.items.count
        try check.int("num_negatives", cfg.numNegatives, 1...max(1, items - 1), "fewer than the catalogue's \(items) items")
        try check.beam("eval.beam", cfg.eval.beam, items: items)
        try check.beam("negative_beam", cfg.negativeBeam, items: items)
        // Memory, before anything is written: the trainer for micro-batches of pairs, the mining beam search and
        // validation, over the longest prompt among the examples.
        let probe = try Recommender(model: ctx.model, beam: 1)
        let maxPrompt = try examples.map { try probe.promptIds(history: $0.history).count }.max()!
        let perPair = 1 + cfg.numNegatives
        let pairsPerMicroBatch = max(1, min(cfg.optim.batchSize, cfg.optim.microBatch / perPair))
        var need = ctx.memoryEstimate(ema: cfg.optim.ema > 0, maxPrompt: maxPrompt)
        need.add("trainer for \(pairsPerMicroBatch) pairs × \(perPair) sequences per micro-batch",
                 floats: LlamaTrainer.plannedFloats(ctx.model.config, maxBatch: pairsPerMicroBatch * perPair,
                                                    maxSeq: maxPrompt + ctx.model.trie.maxDepth, dropout: false))
        if cfg.negatives == .beam || cfg.negatives == .reward {
            need.add("negative mining beam search", floats: Double(Parallel.workers) * LlamaDecoder.plannedFloats(
                ctx.model.config, maxGroups: 16, maxWidth: max(cfg.negativeBeam, cfg.numNegatives + 1 + cfg.futureWindow),
                maxPrompt: maxPrompt, maxSuffix: ctx.model.trie.maxDepth + 1))
        }
        try need.check("num_negatives \(cfg.numNegatives), optim.micro_batch \(cfg.optim.microBatch), negative_beam \(cfg.negativeBeam)", file: o.configLabel)
        try ctx.open()
        try ctx.scoreStart()
        try ctx.startAverage(decay: cfg.optim.ema)

        let t0 = Date()
        var pairExamples = examples, chosenItems = examples.map(\.target)
        let neg: (items: [[Int]], targetTop1: Double)
        if cfg.negatives == .reward {
            let r = try rewardPairs(mix: cfg.reward, n: cfg.numNegatives, examples: examples, ctx: ctx, beam: cfg.negativeBeam,
                                    goalK: cfg.goalK, futureWindow: cfg.futureWindow, futureDecay: cfg.futureDecay, progress: o.progress)
            guard !r.kept.isEmpty else { throw AlignError.invalidArgument("the reward \(cfg.reward.description) tells no candidates apart: no pairs") }
            pairExamples = r.kept.map { examples[$0] }; chosenItems = r.chosen
            neg = (r.rejected, r.targetChosen)
            say(String(format: "reward pairs (%@): %d of %d prompts; the target is chosen in %.1f%% of them", cfg.reward.description,
                       r.kept.count, examples.count, 100 * r.targetChosen))
        } else {
            neg = try negatives(source: cfg.negatives, n: cfg.numNegatives, examples: examples, ctx: ctx,
                                beam: cfg.negativeBeam, futureWindow: cfg.futureWindow, rng: &rng, progress: o.progress)
        }
        let rec = try Recommender(model: ctx.model, beam: 1)
        let trie = ctx.model.trie
        func path(_ i: Int) throws -> [Int32] {
            guard let p = trie.tokens(of: i) else { throw AlignError.invalidArgument("item \(i) is not in the model's SID trie") }
            return p
        }
        var pairs: [PreferencePair] = []
        pairs.reserveCapacity(examples.count)
        for ((ex, chosen), ns) in zip(zip(pairExamples, chosenItems), neg.items) {
            let prompt = try rec.promptIds(history: ex.history)
            pairs.append(PreferencePair(chosen: SequenceScoring.encode(prompt: prompt, response: try path(chosen)),
                                        rejected: try ns.map { SequenceScoring.encode(prompt: prompt, response: try path($0)) },
                                        chosenItem: chosen, rejectedItems: ns))
        }
        let maxSeq = pairs.map { p in ([p.chosen] + p.rejected).map(\.inputs.count).max()! }.max()!
        let sidWeight: Float? = ctx.model.itemTable != nil && cfg.policy == .mix ? (ctx.model.itemMemoryInfo?.sidWeight ?? 0) : nil
        let core = try DPOCore(params: ctx.model.params, negatives: cfg.numNegatives,
                               pairsPerMicroBatch: pairsPerMicroBatch,
                               maxSeq: maxSeq, beta: cfg.beta, adamW: cfg.optim.adamW, gradClip: cfg.optim.gradClip,
                               items: ctx.model.itemTable, sidWeight: sidWeight, precision: ctx.model.precision)
        core.trainer.itemHeadTrunkGradient = ctx.model.itemMemoryInfo?.trunkGradient ?? .full
        say(sidWeight.map { String(format: "policy: the item-memory mix, log p_head + %g · log p_SID", Double($0)) } ?? "policy: the SID tokens")
        core.sftWeight = cfg.sftWeight
        let refBar = o.progress ? ProgressBar(total: pairs.count * perPair, label: "reference log-probs", unit: "sequences", announce: false) : nil
        try core.computeReference(&pairs, progress: refBar)
        refBar?.finish()
        let prepSeconds = Date().timeIntervalSince(t0)
        ctx.run.metrics.log(DPOPairsRecord(pairs: pairs.count, negatives: cfg.negatives, numNegatives: cfg.numNegatives,
                                           sftTrainTop1: neg.targetTop1, maxSeq: maxSeq, seconds: prepSeconds), stage: "dpo")
        say(String(format: "%d pairs (%@ negatives ×%d; %@ %.1f%% of them), prepared in %.0f s",
                   pairs.count, cfg.negatives.rawValue, cfg.numNegatives,
                   cfg.negatives == .reward ? "chosen = target on" : "SFT top-1 = target on", 100 * neg.targetTop1, prepSeconds))

        let steps = cfg.optim.steps(forSetSize: pairs.count), evalEvery = cfg.eval.interval(steps: steps)
        let schedule = cfg.optim.schedule(total: steps)
        var order: [Int] = [], cursor = 0
        let bar = o.progress ? ProgressBar(total: steps, label: "dpo", unit: "steps") : nil
        for step in 1...steps {
            var batch: [PreferencePair] = []
            while batch.count < min(cfg.optim.batchSize, pairs.count) {
                if cursor == order.count { order = Array(pairs.indices); rng.shuffle(&order); cursor = 0 }
                batch.append(pairs[order[cursor]]); cursor += 1
            }
            let lr = schedule.lr(at: step - 1)
            let ts = Date()
            let st: DPOStepStats
            do { st = try core.step(batch, lr: lr) } catch var d as TrainingDiverged {
                bar?.finish()
                d.step = step
                ctx.run.metrics.log(AlignDivergedRecord(step: step), stage: "dpo")
                throw d.error(lastGood: ctx.lastGood, lr: cfg.optim.lr)
            }
            ctx.updateAverage()
            ctx.run.metrics.log(DPOTrainRecord(step: step, st, lr: Double(lr), seconds: Date().timeIntervalSince(ts)), stage: "dpo")
            bar?.advance(info: String(format: "loss %.4f margin %.3f acc %.2f", st.loss, st.margin, st.accuracy))
            if evalEvery > 0 && step % evalEvery == 0 && step != steps { try ctx.validate(step: step) }
        }
        bar?.finish()
        try ctx.validate(step: steps)
        return try ctx.finish(steps: steps, seed: cfg.seed, optimizer: core.optimizer)
    }
}
