// What `align dpo` and `align grpo` share around their optimisation cores: loading the SFT bundle and the
// dataset, drawing training examples, validation every N steps with the best weights kept in memory and
// saved (`best/`), the final weights (`last/`), and the closing comparison: the SFT weights and the best
// aligned weights on the whole validation and test splits of the same protocol, printed side by side and
// written to `summary.json` (format "align-alignment-summary", version 1). In a data-parallel job every rank runs
// all of it (evaluations share their users over the ranks) and rank 0 alone writes (RunDirectory.writes).
import Foundation

/// HR@10 / NDCG@10 on the validation and test splits.
public struct SplitScores: Codable, Sendable, Equatable {
    public var validHR10: Double
    public var validNDCG10: Double
    public var testHR10: Double
    public var testNDCG10: Double
    /// Goal metrics of the top-10 lists (GoalMetrics.swift; absent in summaries written before they existed).
    public var validGoals: GoalMetrics?
    public var testGoals: GoalMetrics?
    public init(validHR10: Double, validNDCG10: Double, testHR10: Double, testNDCG10: Double, validGoals: GoalMetrics? = nil,
                testGoals: GoalMetrics? = nil) {
        self.validHR10 = validHR10; self.validNDCG10 = validNDCG10; self.testHR10 = testHR10; self.testNDCG10 = testNDCG10
        self.validGoals = validGoals; self.testGoals = testGoals
    }
    enum CodingKeys: String, CodingKey {
        case validHR10 = "valid_hr10", validNDCG10 = "valid_ndcg10", testHR10 = "test_hr10", testNDCG10 = "test_ndcg10"
        case validGoals = "valid_goals", testGoals = "test_goals"
    }
}

/// summary.json of an alignment run.
public struct AlignmentSummary: Codable, Sendable {
    public var format = "align-alignment-summary"
    public var version = 1
    public var stage: String
    public var `protocol`: String
    public var from: String
    public var seed: UInt64
    public var sft: SplitScores
    public var aligned: SplitScores
    /// Step whose weights are in best/ (0 = the SFT weights were never beaten on validation).
    public var bestStep: Int
    public var steps: Int
    public var minutes: Double
    /// When no check beat the SFT weights (best_step 0): why, from the check that came closest (absent in summaries
    /// written before it existed, and when a check was kept).
    public var closest: ClosestCheck?
    public init(stage: String, protocol p: String, from: String, seed: UInt64, sft: SplitScores, aligned: SplitScores,
                bestStep: Int, steps: Int, minutes: Double, closest: ClosestCheck? = nil) {
        self.stage = stage; self.protocol = p; self.from = from; self.seed = seed; self.sft = sft; self.aligned = aligned
        self.bestStep = bestStep; self.steps = steps; self.minutes = minutes; self.closest = closest
    }
    enum CodingKeys: String, CodingKey {
        case format, version, stage, `protocol`, from, seed, sft, aligned, bestStep = "best_step", steps, minutes, closest
    }

    /// One line on what the run kept: the step, or the SFT weights and why.
    public var keptText: String {
        guard bestStep == 0 else { return "kept step \(bestStep) of \(steps)" }
        return "kept the SFT weights (step 0)" + (closest.map { ": " + $0.reason } ?? "")
    }
}

/// The validation check of an alignment run that came closest to the SFT weights' selection score, kept when none
/// beat it: the highest score among the checks that qualify for `eval.select`, else the highest NDCG@10.
public struct ClosestCheck: Codable, Sendable, Equatable {
    public var step: Int
    public var ndcg10: Double
    /// The check's selection score (nil: outside the selection's NDCG@10 budget).
    public var score: Double?
    public var select: CheckpointSelection
    /// The SFT weights' NDCG@10 and selection score on the same validation examples.
    public var startNDCG10: Double
    public var startScore: Double
    public init(step: Int, ndcg10: Double, score: Double?, select: CheckpointSelection, startNDCG10: Double, startScore: Double) {
        self.step = step; self.ndcg10 = ndcg10; self.score = score; self.select = select
        self.startNDCG10 = startNDCG10; self.startScore = startScore
    }
    enum CodingKeys: String, CodingKey {
        case step, ndcg10, score, select, startNDCG10 = "start_ndcg10", startScore = "start_score"
    }

    /// Whether `other` comes closer than this check: a qualifying score beats none, a higher score a lower one,
    /// and at equal scores the higher NDCG@10.
    public func isBeaten(by other: ClosestCheck) -> Bool {
        switch (score, other.score) {
        case (nil, .some): return true
        case (.some, nil): return false
        case let (.some(a), .some(b)) where a != b: return b > a
        default: return other.ndcg10 > ndcg10
        }
    }

    /// Why the SFT weights stayed, in words.
    public var reason: String {
        guard let goal = select.metric.goal else {
            return String(format: "no check beat its validation NDCG@10 %.4f (the closest, step %d: %.4f)", startNDCG10, step, ndcg10)
        }
        guard let score else {
            return String(format: "no check kept validation NDCG@10 within %.2f × its %.4f (the closest, step %d: %.4f)",
                          select.minNDCGRatio, startNDCG10, step, ndcg10)
        }
        return String(format: "no check within the NDCG@10 budget raised validation %@ above its %.4f (the closest, step %d: %.4f)",
                      goal.rawValue, startScore, step, score)
    }
}

/// Model, data, run directory and validation bookkeeping of one alignment run.
public final class AlignmentContext {
    public let stage: String
    public let model: RecModel
    public let dataset: Dataset
    public let evalProtocol: EvalProtocol
    /// The run directory, opened by `open` once the stage's checks have passed.
    public private(set) var run: RunDirectory!
    let out: URL, seed: UInt64, resolvedConfig: String, mode: RunMode
    /// Precision of the run's matrix products (resolved for this CPU).
    public let precision: Precision
    public let eval: AlignEval
    public let from: URL
    public let progress: Bool
    let say: (String) -> Void
    let started = Date()
    /// Best selection score so far (`eval.select`; NDCG@10 by default) and its step; the weights are copied to `bestWeights`.
    public private(set) var bestScore = -Double.infinity
    public private(set) var bestStep = 0
    var bestWeights: [Float] = []
    /// The starting weights' NDCG@10 on the validation checks' examples (what a goal selection's budget is relative to).
    public private(set) var startCheckNDCG = 0.0
    /// The SFT weights' selection score, and the check that came closest to it (AlignmentSummary.closest).
    var startScore = 0.0
    var closest: ClosestCheck?
    var sftScores: (valid: ValidationResult, test: ValidationResult)?
    /// Popularity, head and first-level codes of the protocol's training split (goal metrics and rewards).
    public let goals: GoalCatalogue
    /// Every training example of the protocol, built once (prompts and the future reward's later items read it).
    public private(set) lazy var trainingSet: [Example] = dataset.examples(evalProtocol, .train)
    /// Moving average of the weights (`optim.ema` > 0): what validation and best/ see.
    var average: WeightAverage?

    /// Refuses an `out` that holds a run (unless `overwrite`), then loads the bundle (`from`: checkpoint or run
    /// dir) and the dataset. Nothing is written until `open`.
    public init(stage: String, from: URL, data: URL, out: URL, evalProtocol p: EvalProtocol, eval: AlignEval, seed: UInt64,
                resolvedConfig: String, progress: Bool, overwrite: Bool = false, precision: Precision? = nil,
                headFraction: Double = GoalCatalogue.defaultHeadFraction, say: @escaping (String) -> Void) throws {
        self.stage = stage; self.evalProtocol = p; self.eval = eval; self.from = from; self.progress = progress; self.say = say
        self.out = out; self.seed = seed; self.resolvedConfig = resolvedConfig; mode = overwrite ? .overwrite : .fresh
        try RunDirectory.prepare(out, mode: mode, canResume: false)
        say("loading \(from.path)")
        model = try RecModel.load(from)
        try model.sidMap.checkProtocol(p, what: stage)
        dataset = try Dataset.load(from: data)
        guard dataset.items.count == model.items.count else {
            throw AlignError.invalidArgument("the model's catalogue has \(model.items.count) items but \(data.path) has \(dataset.items.count): use the dataset the SFT model was trained on")
        }
        goals = try GoalCatalogue(dataset: dataset, protocol: p, sidMap: model.sidMap, headFraction: headFraction)
        let (prec, note) = Precision.resolve(precision)
        if let note { say(note) }
        say(prec.summary)
        model.precision = prec
        self.precision = prec
    }

    /// What every alignment run holds besides its optimisation core: the weights, AdamW moments, the best
    /// weights' copy, the moving average, and validation's beam search over prompts of up to `maxPrompt` tokens.
    public func memoryEstimate(ema: Bool, maxPrompt: Int) -> MemoryEstimate {
        var e = MemoryEstimate()
        let p = model.config.parameterFloats + Double(model.params.items * model.config.hiddenSize)
        e.add("weights, AdamW moments, best weights and checkpoint copy", floats: 5 * p + (ema ? 2 * p : 0))
        e.add("validation beam search with eval.beam \(eval.beam)",
              floats: Double(Parallel.workers) * LlamaDecoder.plannedFloats(model.config, maxGroups: 16, maxWidth: max(eval.beam, 20),
                                                                            maxPrompt: maxPrompt, maxSuffix: model.trie.maxDepth + 1))
        return e
    }

    /// Opens the run directory (after the stage's checks: a start that fails writes nothing).
    public func open() throws {
        run = try RunDirectory(url: out, stage: stage, seed: seed, resolvedConfig: resolvedConfig, parent: from.path, mode: mode,
                           precision: precision)
    }

    /// Where a diverged run's last good weights are.
    public var lastGood: String {
        bestStep > 0 ? "\(run.url.appendingPathComponent("best").path) (step \(bestStep))"
            : "\(run.url.appendingPathComponent("best").path) (the starting weights, step 0; no step improved on them)"
    }

    /// Training examples of the protocol — every position, or with `recent` > 0 only each user's last `recent`
    /// training positions (the ones closest to the evaluation targets) — `max` of them drawn with `rng` (0: all),
    /// shuffled; `sampling` `.users` draws them balanced over users (`balancedByUser`).
    public func trainingExamples(max n: Int, recent: Int = 0, sampling: PromptSampling = .examples, rng: inout Rng) -> [Example] {
        var all = Self.recent(trainingSet, positions: recent)
        if sampling == .users { return Self.balancedByUser(all, count: n, rng: &rng) }
        rng.shuffle(&all)
        return n > 0 && n < all.count ? Array(all[0..<n]) : all
    }

    /// `count` of `examples` (0 or more than there are: all), drawn balanced over users and shuffled: each user's
    /// examples in a seeded random order, then rounds over the users (in a seeded order) taking one not-yet-drawn
    /// example from every user that has one left. So every user gives ⌊count / users⌋ or one more, or all it has.
    public static func balancedByUser(_ examples: [Example], count n: Int, rng: inout Rng) -> [Example] {
        var byUser: [Int: [Int]] = [:]
        for (i, e) in examples.enumerated() { byUser[e.user, default: []].append(i) }
        var users = byUser.keys.sorted()
        rng.shuffle(&users)
        let queues = users.map { u -> [Int] in var q = byUser[u]!; rng.shuffle(&q); return q }
        let want = n > 0 ? min(n, examples.count) : examples.count
        var picked: [Int] = []
        picked.reserveCapacity(want)
        var round = 0
        while picked.count < want {
            for k in queues.indices where round < queues[k].count {
                picked.append(queues[k][round])
                if picked.count == want { break }
            }
            round += 1
        }
        var out = picked.map { examples[$0] }
        rng.shuffle(&out)
        return out
    }

    /// The examples among `examples` whose target is one of its user's last `positions` (0: all), in order.
    public static func recent(_ examples: [Example], positions: Int) -> [Example] {
        guard positions > 0 else { return examples }
        var byUser: [Int: [Int]] = [:]
        for e in examples { byUser[e.user, default: []].append(e.pos) }
        // per user, the smallest position still among its last `positions`
        let cut = byUser.mapValues { ps in ps.sorted(by: >)[min(positions, ps.count) - 1] }
        return examples.filter { $0.pos >= cut[$0.user]! }
    }

    /// Validation of the current weights on a split (`maxUsers` 0 = all): the one path SFT uses too, at the model's
    /// own SID weight when it has item memory.
    public func validation(_ split: Split, maxUsers: Int) throws -> ValidationResult {
        try Validation.run(model: model, dataset: dataset, examples: Validation.examples(dataset, evalProtocol, split, maxExamples: maxUsers),
                           beam: eval.beam, goals: goals, progress: progress)
    }

    /// Ranking metrics of the current weights on a split (`maxUsers` 0 = all).
    public func evaluate(_ split: Split, maxUsers: Int) throws -> RankingMetrics { try validation(split, maxUsers: maxUsers).metrics }

    /// One line of goal metrics.
    static func describe(_ g: GoalMetrics) -> String {
        String(format: "longtail@10 %.3f coverage@10 %.3f distinct codes@10 %.2f novelty@10 %.2f", g.longTail10, g.coverage10,
               g.distinctCodes10, g.novelty10)
    }

    /// Scores the starting (SFT) weights on the whole validation and test splits, logs them, and makes them
    /// the best so far (call before training).
    public func scoreStart() throws {
        let vr = try validation(.valid, maxUsers: 0), tr = try validation(.test, maxUsers: 0)
        let v = vr.metrics, t = tr.metrics
        sftScores = (vr, tr)
        let sub = eval.maxUsers > 0 ? try validation(.valid, maxUsers: eval.maxUsers) : vr
        startCheckNDCG = sub.metrics.ndcg(at: 10)
        bestScore = eval.select.score(ndcg: startCheckNDCG, goals: sub.goals, startNDCG: startCheckNDCG)!; bestStep = 0
        startScore = bestScore
        bestWeights = Array(model.params.data)
        run.metrics.log(AlignStartRecord(validHR10: v.hr(at: 10), validNDCG10: v.ndcg(at: 10), testHR10: t.hr(at: 10),
                                         testNDCG10: t.ndcg(at: 10), checkNDCG10: startCheckNDCG, checkGoals: sub.goals,
                                         validGoals: vr.goals, testGoals: tr.goals), stage: stage)
        say(String(format: "SFT (%@): valid HR@10 %.4f NDCG@10 %.4f | test HR@10 %.4f NDCG@10 %.4f",
                   evalProtocol.rawValue, v.hr(at: 10), v.ndcg(at: 10), t.hr(at: 10), t.ndcg(at: 10)))
        if let g = tr.goals { say("SFT test goals: " + Self.describe(g)) }
        if run.writes { try model.save(to: run.url.appendingPathComponent("best"), stage: stage, state: try JSONValue(encoding: ["step": 0])) }
    }

    /// Starts a moving average of the current (SFT) weights with `decay` (0: none), full decay from the start.
    public func startAverage(decay: Float) throws {
        average = decay > 0 ? try WeightAverage(decay: decay, weights: UnsafeBufferPointer(model.params.data), warmup: false) : nil
    }

    /// Folds the weights after an optimiser step into the moving average (no-op without one).
    public func updateAverage() { average?.update(from: model.params.data.baseAddress!) }

    /// Validation at `step` (of the moving average when there is one); a new best is copied and saved to best/.
    public func validate(step: Int) throws {
        if let average { try average.withAverage(in: model.params.data) { try validateCurrent(step: step) } } else { try validateCurrent(step: step) }
    }

    private func validateCurrent(step: Int) throws {
        try Cluster.world.checkSame(UnsafeBufferPointer(model.params.data), what: "the weights at step \(step)")
        let r = try validation(.valid, maxUsers: eval.maxUsers)
        let score = eval.select.score(ndcg: r.metrics.ndcg(at: 10), goals: r.goals, startNDCG: startCheckNDCG)
        let improved = score.map { $0 > bestScore } ?? false
        run.metrics.log(AlignValidRecord(step: step, scores: ValidationScores(r), best: improved), stage: stage)
        say(String(format: "step %d valid (%d users): %@%@%@", step, r.metrics.count, Validation.describe(r),
                   r.goals.map { "; " + Self.describe($0) } ?? "", improved ? " (best)" : ""))
        let check = ClosestCheck(step: step, ndcg10: r.metrics.ndcg(at: 10), score: score, select: eval.select,
                                 startNDCG10: startCheckNDCG, startScore: startScore)
        if closest.map({ $0.isBeaten(by: check) }) ?? true { closest = check }
        if improved {
            bestScore = score!; bestStep = step
            bestWeights = Array(model.params.data)
            if run.writes { try model.save(to: run.url.appendingPathComponent("best"), stage: stage, state: try JSONValue(encoding: ["step": step])) }
        }
    }

    /// Saves last/, restores the best weights, scores them on the whole splits, prints SFT vs aligned,
    /// writes summary.json and returns it.
    public func finish(steps: Int, seed: UInt64, optimizer: AdamW?) throws -> AlignmentSummary {
        if run.writes {   // rank 0 of a data-parallel job writes for it
            try model.save(to: run.url.appendingPathComponent("last"), stage: stage, state: try JSONValue(encoding: ["step": steps]),
                           optimizer: optimizer)
        }
        guard let sft = sftScores else { throw AlignError.invalidArgument("finish() before scoreStart()") }
        let aligned: (valid: ValidationResult, test: ValidationResult)
        if bestStep == 0 {
            aligned = sft
        } else {
            bestWeights.withUnsafeBufferPointer { model.params.data.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
            aligned = (try validation(.valid, maxUsers: 0), try validation(.test, maxUsers: 0))
        }
        func scores(_ s: (valid: ValidationResult, test: ValidationResult)) -> SplitScores {
            SplitScores(validHR10: s.valid.metrics.hr(at: 10), validNDCG10: s.valid.metrics.ndcg(at: 10),
                        testHR10: s.test.metrics.hr(at: 10), testNDCG10: s.test.metrics.ndcg(at: 10),
                        validGoals: s.valid.goals, testGoals: s.test.goals)
        }
        let minutes = Date().timeIntervalSince(started) / 60
        let summary = AlignmentSummary(stage: stage, protocol: evalProtocol.rawValue, from: from.path, seed: seed,
                                       sft: scores(sft), aligned: scores(aligned), bestStep: bestStep, steps: steps,
                                       minutes: minutes, closest: bestStep == 0 ? closest : nil)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        if run.writes { try AtomicFile.write(enc.encode(summary), to: run.url.appendingPathComponent("summary.json")) }
        run.metrics.log(AlignFinalRecord(bestStep: bestStep, validNDCG10: summary.aligned.validNDCG10,
                                         testNDCG10: summary.aligned.testNDCG10, minutes: minutes), stage: stage)
        let label = "\(stage.uppercased()) (best step \(bestStep))"
        func row(_ name: String, _ s: (valid: ValidationResult, test: ValidationResult)) -> String {
            let v = s.valid.metrics, t = s.test.metrics
            return name.padding(toLength: 24, withPad: " ", startingAt: 0)
                + String(format: "%11.4f %8.4f | %10.4f %8.4f", v.hr(at: 10), v.ndcg(at: 10), t.hr(at: 10), t.ndcg(at: 10))
                + (s.test.goals.map { String(format: " | %8.3f %8.3f %8.2f", $0.longTail10, $0.coverage10, $0.distinctCodes10) } ?? "")
        }
        say("protocol \(evalProtocol.rawValue)".padding(toLength: 24, withPad: " ", startingAt: 0)
            + "valid HR@10  NDCG@10 |  test HR@10  NDCG@10 | longtail coverage codes (test @10)")
        say(row("SFT (start)", sft))
        say(row(label, aligned))
        if bestStep == 0 { say("\(stage.uppercased()) \(summary.keptText)") }
        say(String(format: "%.1f minutes; weights in %@/best (and last/)", minutes, run.url.path))
        return summary
    }
}
