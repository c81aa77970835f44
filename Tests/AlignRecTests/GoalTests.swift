// Goals beside accuracy, by hand: the head set and the goal metrics of a few lists, the longtail, diversity and
// coverage rewards and their sums (distinct codes of a list, distinct items of a batch), a reward mix where
// translation groups get no goal credit, unscaled advantages, checkpoint selection under an accuracy budget, the RL
// task set's parsing and the epoch / warm-up arithmetic of the optimiser config.
import AlignRec
import Foundation
import Testing

/// Six items: counts 10, 0, 5, 5, 1, 3 (item 1…6); first-level codes 0, 0, 1, 1, 2, 2.
private func catalogue(headFraction: Double = 0.34) throws -> GoalCatalogue {
    try GoalCatalogue(counts: [0, 10, 0, 5, 5, 1, 3], firstCode: [-1, 0, 0, 1, 1, 2, 2], headFraction: headFraction)
}

@Suite struct GoalTests {
    @Test func headIsTheMostPopularShareWithTiesToTheSmallerItem() throws {
        // ⌈0.34 · 6⌉ = 3 head items: 1 (10), then 3 and 4 (5 each).
        let c = try catalogue()
        #expect((1...6).filter { c.isHead[$0] } == [1, 3, 4])
        // ⌈0.2 · 6⌉ = 2: item 1, then the tie 3/4 goes to 3.
        #expect((1...6).filter { try! catalogue(headFraction: 0.2).isHead[$0] } == [1, 3])
        #expect((1...6).filter { try! catalogue(headFraction: 0).isHead[$0] }.isEmpty)
        #expect(throws: AlignError.self) { try GoalCatalogue(counts: [0, 1], firstCode: [0], headFraction: 0.2) }
        #expect(throws: AlignError.self) { try GoalCatalogue(counts: [0, 1], firstCode: [-1, 0], headFraction: 1.5) }
    }

    @Test func goalMetricsByHand() throws {
        let c = try catalogue()
        let m = GoalMetrics.compute(lists: [[1, 2, 5], [3, 4]], catalogue: c)
        // Tail entries: 2 and 5 of 5 entries; covered {1,2,3,4,5} of 6; codes {0,2} and {1}: mean 1.5.
        #expect(abs(m.longTail10 - 2.0 / 5) < 1e-12)
        #expect(abs(m.coverage10 - 5.0 / 6) < 1e-12)
        #expect(abs(m.distinctCodes10 - 1.5) < 1e-12)
        // Novelty: p_i = (n_i + 1) / (24 + 6); mean of −log2 p over the five entries.
        let p = [11.0, 1, 6, 6, 2].map { $0 / 30 }
        #expect(abs(m.novelty10 - p.map { -log2($0) }.reduce(0, +) / 5) < 1e-12)
        #expect(abs(c.selfInformation(2) - -log2(1.0 / 30)) < 1e-12)
        // Only the first 10 entries of a list count.
        let long = GoalMetrics.compute(lists: [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]], catalogue: c)
        #expect(long.longTail10 == 0 && abs(long.coverage10 - 1.0 / 6) < 1e-12)
        #expect(m.value(.longtail10) == m.longTail10 && m.value(.distinctCodes10) == m.distinctCodes10)
    }

    @Test func goalRewardsByHand() throws {
        let c = try catalogue()
        #expect(GRPORewards.longtail(items: [1, 2, 5, 3], catalogue: c) == [0, 1, 1, 0])
        // Codes of [1, 2, 3, 5, 6, 4]: 0, 0, 1, 2, 2, 1 → the first of each code earns 1; the sum is the list's 3 codes.
        let d = GRPORewards.diversity(items: [1, 2, 3, 5, 6, 4], catalogue: c, k: 0)
        #expect(d == [1, 0, 1, 1, 0, 0] && d.reduce(0, +) == 3)
        // With K = 2 only ranks 0 and 1 count: item 2 repeats code 0.
        #expect(GRPORewards.diversity(items: [1, 2, 3, 5], catalogue: c, k: 2) == [1, 0, 0, 0])
        // Coverage: item 1 is in both counted groups (1/2), 2 and 3 in one; the translation group scores 0 and is not counted.
        let cov = GRPORewards.coverage(groups: [[1, 2], [3, 1], [1, 4]], counted: [true, true, false], k: 0)
        #expect(cov == [[0.5, 1], [1, 0.5], [0, 0]])
        // The sum over the counted groups is the batch's distinct items: {1, 2, 3}.
        #expect(cov.flatMap { $0 }.reduce(0, +) == 3)
        // K = 1: only each group's first item counts, and n(1) = 2.
        #expect(GRPORewards.coverage(groups: [[1, 2], [1, 3]], counted: [true, true], k: 1) == [[0.5, 0], [0.5, 0]])
    }

    @Test func rewardMixAddsGoalsToRecommendationGroupsOnly() throws {
        let c = try catalogue()
        let ctx = RewardContext(catalogue: c, goalK: 0)
        let mix = try RewardMix.parse("ranking=1,longtail=0.5,diversity=0.25,coverage=2")
        #expect(mix.longtail == 0.5 && mix.diversity == 0.25 && mix.coverage == 2 && mix.needsCatalogue)
        #expect(mix.description == "ranking=1.0,longtail=0.5,diversity=0.25,coverage=2.0")
        let groups = [RewardGroup(items: [1, 2], target: 2), RewardGroup(items: [2, 5], target: 6, recommendation: false)]
        let r = try ctx.rewards(groups, mix: mix)
        // Group 0 has a hit at rank 1: ranking = [p_0, 1] with p_0 = −1/(1 + 1/log2 3); longtail [0, 0.5];
        // diversity (codes 0, 0) [0.25, 0]; coverage (only group 0 counted) [2, 2].
        let p0 = GRPORewards.rankPenalties(groupSize: 2)[0]
        #expect(abs(r[0][0] - (p0 + 0.25 + 2)) < 1e-12 && abs(r[0][1] - (1 + 0.5 + 2)) < 1e-12)
        // Group 1 is a translation prompt without a hit: no ranking reward and no goal credit.
        #expect(r[1] == [0, 0])
        #expect(throws: AlignError.self) { try RewardContext().rewards(groups, mix: mix) }   // no catalogue
        #expect(throws: AlignError.self) { try RewardMix.parse("novelty=1") }
    }

    @Test func goalGroupsHitPaysGoalsOnlyWhereTheTargetWasRolledOut() throws {
        let c = try catalogue()
        let mix = try RewardMix.parse("ranking=1,longtail=0.5,coverage=1")
        // Group 0 holds its target (item 2, rank 1); group 1 (target 6) does not; both are recommendation groups.
        let groups = [RewardGroup(items: [1, 2], target: 2), RewardGroup(items: [5, 1], target: 6)]
        let p0 = GRPORewards.rankPenalties(groupSize: 2)[0]
        // all: group 1 earns longtail [0.5, 0] and coverage [1, 1/2] (item 1 is in both groups' lists).
        let all = try RewardContext(catalogue: c, goalK: 0, goalGroups: .all).rewards(groups, mix: mix)
        #expect(abs(all[0][0] - (p0 + 0.5)) < 1e-12 && abs(all[0][1] - (1 + 0.5 + 1)) < 1e-12)
        #expect(all[1] == [1.5, 0.5])
        // hit: group 0 is paid exactly as under all (item 1 still counts group 1's list in n(1) = 2); group 1 gets
        // nothing, so it has no variance and leaves the loss.
        let hit = try RewardContext(catalogue: c, goalK: 0, goalGroups: .hit).rewards(groups, mix: mix)
        #expect(hit[0] == all[0] && hit[1] == [0, 0])
        // A translation group is never paid, whatever the gate.
        let tr = try RewardContext(catalogue: c, goalGroups: .hit).rewards([RewardGroup(items: [5, 2], target: 2, recommendation: false)], mix: mix)
        #expect(abs(tr[0][0] - p0) < 1e-12 && tr[0][1] == 1)
        #expect(RewardContext().goalGroups == .all && GRPOConfig().goalGroups == .all)
    }

    @Test func unscaledAdvantagesKeepTheRewardScale() throws {
        let a = try GRPOObjective.advantages(rewards: [0, 0.3, 0.3, 0.6, 1, 1], groupSize: 3, scale: false)
        #expect(zip(a.advantages, [-0.2, 0.1, 0.1, -0.8 / 3, 0.4 / 3, 0.4 / 3]).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(a.active == [true, true, true, true, true, true] && a.zeroStdGroups == 0)
        let z = try GRPOObjective.advantages(rewards: [0.4, 0.4, 0.4], groupSize: 3, scale: false)
        #expect(z.active == [false, false, false] && z.zeroStdGroups == 1)
        let s = try GRPOObjective.advantages(rewards: [0, 0.3, 0.3], groupSize: 3)
        #expect(abs(s.advantages[0] - -0.2 / (0.3 / 3.0.squareRoot() + GRPOObjective.stdEpsilon)) < 1e-12)
    }

    @Test func goalSelectionKeepsTheBestGoalWithinTheAccuracyBudget() {
        func g(_ tail: Double) -> GoalMetrics {
            var m = GoalMetrics.compute(lists: [], catalogue: try! catalogue())
            m.longTail10 = tail
            return m
        }
        let ndcg = CheckpointSelection()
        #expect(ndcg.score(ndcg: 0.05, goals: nil, startNDCG: 0.08) == 0.05)
        let goal = CheckpointSelection(metric: .longtail10, minNDCGRatio: 0.95)
        #expect(goal.score(ndcg: 0.077, goals: g(0.3), startNDCG: 0.08) == 0.3)    // 0.077 ≥ 0.076
        #expect(goal.score(ndcg: 0.075, goals: g(0.5), startNDCG: 0.08) == nil)    // below the budget
        #expect(goal.score(ndcg: 0.08, goals: nil, startNDCG: 0.08) == nil)         // goals not measured
        #expect(SelectionMetric.ndcg10.goal == nil && SelectionMetric.coverage10.goal == .coverage10)
    }

    @Test func rlTaskSetParsesAndDecodes() throws {
        let t = try RLTaskSet.parse("nextitem=all,title2sid,titlehist2sid=10000")
        #expect(t == RLTaskSet(nextitem: .all, title2sid: .all, titlehist2sid: .count(10000)))
        #expect(try RLTaskSet.parse("title2sid=5") == RLTaskSet(nextitem: .count(0), title2sid: .count(5)))
        #expect(throws: AlignError.self) { try RLTaskSet.parse("sid2title=all") }
        #expect(throws: AlignError.self) { try RLTaskSet.parse("nextitem=-3") }
        let yaml = "format: align-grpo-config\nversion: 1\ntasks:\n  nextitem: all\n  title2sid: 12\n"
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("align-tasks-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        let cfg = try GRPOConfig.load(url)
        #expect(cfg.tasks == RLTaskSet(nextitem: .all, title2sid: .count(12)))
        try "format: align-grpo-config\nversion: 1\ntasks:\n  nextitem: some\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try GRPOConfig.load(url) }
        try "format: align-grpo-config\nversion: 1\ntasks:\n  nextitem: 0\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try GRPOConfig.load(url) }
        // The shipped MiniOneRec preset loads and says what rl.sh says.
        let preset = try GRPOConfig.load(URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../configs/grpo-minionerec.yaml").standardized)
        #expect(preset.optim.epochs == 2 && preset.optim.lr == 1e-5 && preset.beta == 1e-3 && preset.optim.gradClip == 0.3)
        #expect(preset.refSync == RefSync(every: 512, alpha: 0.6) && preset.tasks.titlehist2sid == .count(10000))
    }

    @Test func epochsWarmupRatioAndChecksSetTheSchedule() {
        var o = AlignOptim()
        o.steps = 150
        #expect(o.steps(forSetSize: 1000) == 150 && o.warmupSteps(total: 150) == o.warmup)
        o.epochs = 2; o.batchSize = 64; o.warmupRatio = 0.03; o.minLrRatio = 0; o.lr = 1e-5
        #expect(o.steps(forSetSize: 1000) == 32)                // ⌈2000 / 64⌉
        #expect(o.warmupSteps(total: 32) == 1 && o.warmupSteps(total: 3175) == 96)
        let s = o.schedule(total: 100)
        #expect(s.warmup == 3 && s.lr(at: 0) == 1e-5 / 3 && s.lr(at: 99) < 1e-8)
        var e = AlignEval()
        #expect(e.interval(steps: 150) == 50)
        e.checks = 10
        #expect(e.interval(steps: 3175) == 318 && e.interval(steps: 5) == 1)
    }
}
