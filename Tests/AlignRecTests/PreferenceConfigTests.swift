// The shipped DPO/GRPO configs load and validate; bad values are rejected with the field named; missing
// keys take the defaults.
import AlignRec
import Foundation
import Testing

private func repoConfig(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("configs/\(name)")
}

/// Writes `text` to a temporary file, runs `body` on it and removes the file.
private func withTemp<T>(_ text: String, _ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("align-cfg-\(UUID().uuidString).yaml")
    try text.write(to: url, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

@Test func shippedAlignmentConfigsLoad() throws {
    let d = try DPOConfig.load(repoConfig("dpo.yaml"))
    #expect(d.negatives == .beam && d.numNegatives >= 1 && d.beta > 0)
    let g = try GRPOConfig.load(repoConfig("grpo.yaml"))
    #expect(g.rollout == .beam && g.groupSize >= 2 && g.reward.ranking > 0)
    // A round trip through the resolved YAML gives the same config.
    let back = try withTemp(try d.yaml()) { try DPOConfig.load($0) }
    #expect(back == d)
    let gback = try withTemp(try g.yaml()) { try GRPOConfig.load($0) }
    #expect(gback == g)
    // The chronological future-reward preset is configs/grpo.yaml with the reward, protocol, steps and validation
    // interval changed.
    var c = try GRPOConfig.load(repoConfig("grpo-chrono-future.yaml"))
    #expect(c.evalProtocol == .chrono && c.reward == RewardMix(future: 1) && c.futureWindow == 10 && c.futureDecay == 0.7)
    #expect(c.optim.steps == 450 && c.eval.every == 75 && c.eval.maxUsers == 0)
    c.evalProtocol = g.evalProtocol; c.reward = g.reward; c.optim.steps = g.optim.steps; c.eval.every = g.eval.every
    #expect(c == g)
    // The long-tail preset is configs/grpo.yaml with the goal reward paid in hit groups, unscaled advantages, 400
    // steps checked every 25 on the whole split, and best/ chosen by long-tail share within 95% of SFT's NDCG@10.
    var t = try GRPOConfig.load(repoConfig("grpo-longtail.yaml"))
    #expect(t.reward == RewardMix(ranking: 1, longtail: 0.2) && t.goalGroups == .hit && !t.scaleRewards && t.groupSize == 16)
    #expect(t.eval.select == CheckpointSelection(metric: .longtail10, minNDCGRatio: 0.95) && t.eval.maxUsers == 0)
    #expect(t.optim.steps == 400 && t.eval.every == 25)
    t.reward = g.reward; t.goalGroups = .all; t.scaleRewards = true; t.groupSize = g.groupSize; t.eval = g.eval
    t.optim.steps = g.optim.steps
    #expect(t == g)
}

@Test func alignmentConfigDefaultsAndErrors() throws {
    let minimal = try withTemp("format: align-grpo-config\nversion: 1\n") { try GRPOConfig.load($0) }
    #expect(minimal == GRPOConfig())
    let future = try withTemp("format: align-grpo-config\nreward: {future: 1}\nfuture_window: 3\nfuture_decay: 0.5\n") { try GRPOConfig.load($0) }
    #expect(future.reward == RewardMix(future: 1) && future.futureWindow == 3 && future.futureDecay == 0.5)
    let bad: [(String, String)] = [
        ("format: align-grpo-config\ngroup_size: 1\n", "group_size"),
        ("format: align-grpo-config\nreward: {semantic: -1}\n", "reward"),
        ("format: align-grpo-config\nepsilon: 1.5\n", "epsilon"),
        ("format: align-grpo-config\nfuture_window: 0\n", "future_window"),
        ("format: align-grpo-config\noptim: {ema: 1}\n", "optim.ema"),
        ("format: align-grpo-config\nfuture_decay: 1.5\n", "future_decay"),
        ("format: align-grpo-config\nrollout: greedy\n", "greedy"),
        ("format: align-grpo-config\ngoal_groups: hits\n", "goal_groups: 'hits' is not one of all, hit"),
        ("format: align-dpo-config\nnum_negatives: 0\n", "num_negatives"),
        ("format: align-dpo-config\nbeta: 0\n", "beta"),
        ("format: align-config\n", "align-dpo-config"),
    ]
    for (text, word) in bad {
        try withTemp(text) { url in
            do {
                if text.contains("grpo") { _ = try GRPOConfig.load(url) } else { _ = try DPOConfig.load(url) }
                Issue.record("accepted: \(text)")
            } catch let e as AlignError {
                #expect(e.description.contains(word) && e.description.contains(url.path), "\(e.description)")
            }
        }
    }
}

@Test func evalReadsTheProtocolOfEveryRunKind() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("align-runs-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: root) }
    func runDir(_ yaml: String?) throws -> URL {
        let dir = root.appendingPathComponent("align-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if let yaml { try yaml.write(to: dir.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8) }
        return dir
    }
    var sft = try TrainConfig.load(repoConfig("movielens.yaml")); sft.evalProtocol = .chrono
    var dpo = try DPOConfig.load(repoConfig("dpo.yaml")); dpo.evalProtocol = .chrono
    var grpo = try GRPOConfig.load(repoConfig("grpo.yaml")); grpo.evalProtocol = .chrono
    #expect(try RunDirectory.configuredProtocol(try runDir(try sft.yaml())) == .chrono)
    #expect(try RunDirectory.configuredProtocol(try runDir(try dpo.yaml())) == .chrono)
    #expect(try RunDirectory.configuredProtocol(try runDir(try grpo.yaml())) == .chrono)
    #expect(try RunDirectory.configuredProtocol(try runDir(try GRPOConfig().yaml())) == .loo)
    #expect(try RunDirectory.configuredProtocol(try runDir(nil)) == nil)
    #expect(throws: AlignError.self) { try RunDirectory.configuredProtocol(try runDir("format: something-else\n")) }
}
