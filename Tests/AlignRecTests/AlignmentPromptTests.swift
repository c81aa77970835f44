// Which training examples DPO/GRPO draw their prompts from: `recent_positions` keeps each user's last N
// training positions (the ones nearest the evaluation targets), in order; 0 keeps every position.
import AlignRec
import Foundation
import Testing

@Test func recentPositionsKeepEachUsersLastTargets() {
    func ex(_ user: Int, _ pos: Int) -> Example {
        Example(user: user, userId: "u\(user)", pos: pos, timestamp: Int64(pos), history: Array(0..<pos), target: 100 + pos)
    }
    // User 1 has positions 1...5, user 2 has 3, 7, 9 (gaps: chrono keeps only some), user 3 one position.
    let all = [ex(1, 1), ex(2, 3), ex(1, 2), ex(1, 3), ex(2, 7), ex(1, 4), ex(3, 4), ex(1, 5), ex(2, 9)]
    let two = AlignmentContext.recent(all, positions: 2)
    #expect(two.map { [$0.user, $0.pos] } == [[2, 7], [1, 4], [3, 4], [1, 5], [2, 9]])
    #expect(AlignmentContext.recent(all, positions: 0) == all)
    #expect(AlignmentContext.recent(all, positions: 10) == all)
    #expect(AlignmentContext.recent(all, positions: 1).map(\.pos) == [4, 5, 9])
    #expect(AlignmentContext.recent([], positions: 3).isEmpty)
}

@Test func recentPositionsIsReadFromTheConfigsAndChecked() throws {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("align-recent-\(UUID().uuidString).yaml")
    defer { try? FileManager.default.removeItem(at: url) }
    try "format: align-dpo-config\nversion: 1\nrecent_positions: 10\n".write(to: url, atomically: true, encoding: .utf8)
    #expect(try DPOConfig.load(url).recentPositions == 10)
    try "format: align-grpo-config\nversion: 1\nrecent_positions: -2\n".write(to: url, atomically: true, encoding: .utf8)
    #expect(throws: AlignError.self) { _ = try GRPOConfig.load(url) }
    try "format: align-grpo-config\nversion: 1\n".write(to: url, atomically: true, encoding: .utf8)
    let grpo = try GRPOConfig.load(url)
    #expect(grpo.recentPositions == 0)
    var bad = grpo
    bad.recentPositions = -1
    #expect(throws: AlignError.self) { try bad.validate(path: "x.yaml") }
}

@Test func userBalancedPromptsGiveEveryUserTheSameShare() {
    func ex(_ user: Int, _ pos: Int) -> Example {
        Example(user: user, userId: "u\(user)", pos: pos, timestamp: Int64(pos), history: Array(0..<pos), target: 100 + pos)
    }
    // User 1 has 40 positions, user 2 has 10, user 3 has 2: uniform draws over examples would be 77% user 1.
    let all = (1...40).map { ex(1, $0) } + (1...10).map { ex(2, $0) } + (1...2).map { ex(3, $0) }
    var rng = Rng(seed: 7)
    let twelve = AlignmentContext.balancedByUser(all, count: 12, rng: &rng)
    let counts = Dictionary(grouping: twelve, by: \.user).mapValues(\.count)
    #expect(counts == [1: 5, 2: 5, 3: 2])   // user 3 runs out after 2; the other 10 split evenly
    #expect(Set(twelve.map { [$0.user, $0.pos] }).count == 12)   // no example twice
    var again = Rng(seed: 7)
    #expect(AlignmentContext.balancedByUser(all, count: 12, rng: &again) == twelve)   // the seed decides
    var other = Rng(seed: 8)
    #expect(AlignmentContext.balancedByUser(all, count: 12, rng: &other) != twelve)
    // Seven draws: one round gives every user one (3), the second one more each (6), the third one of users 1, 2.
    var r7 = Rng(seed: 1)
    let seven = Dictionary(grouping: AlignmentContext.balancedByUser(all, count: 7, rng: &r7), by: \.user).mapValues(\.count)
    #expect(seven[3] == 2 && seven.values.reduce(0, +) == 7 && Set([seven[1]!, seven[2]!]) == [2, 3])
    // 0, or more than there are: every example once.
    var r0 = Rng(seed: 3)
    let everything = AlignmentContext.balancedByUser(all, count: 0, rng: &r0)
    #expect(everything.count == all.count && Set(everything.map { [$0.user, $0.pos] }).count == all.count)
    var r100 = Rng(seed: 3)
    #expect(AlignmentContext.balancedByUser(all, count: 100, rng: &r100).count == all.count)
    var rEmpty = Rng(seed: 3)
    #expect(AlignmentContext.balancedByUser([], count: 5, rng: &rEmpty).isEmpty)
}

@Test func promptSamplingIsReadFromTheConfigsAndChecked() throws {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("align-sampling-\(UUID().uuidString).yaml")
    defer { try? FileManager.default.removeItem(at: url) }
    try "format: align-grpo-config\nversion: 1\nprompt_sampling: users\n".write(to: url, atomically: true, encoding: .utf8)
    #expect(try GRPOConfig.load(url).promptSampling == .users)
    try "format: align-dpo-config\nversion: 1\nprompt_sampling: users\n".write(to: url, atomically: true, encoding: .utf8)
    #expect(try DPOConfig.load(url).promptSampling == .users)
    try "format: align-grpo-config\nversion: 1\n".write(to: url, atomically: true, encoding: .utf8)
    #expect(try GRPOConfig.load(url).promptSampling == .examples)
    try "format: align-grpo-config\nversion: 1\nprompt_sampling: sessions\n".write(to: url, atomically: true, encoding: .utf8)
    do {
        _ = try GRPOConfig.load(url)
        Issue.record("an unknown prompt_sampling was accepted")
    } catch let e as AlignError {
        #expect(e.description.contains(url.lastPathComponent))
    }
}
