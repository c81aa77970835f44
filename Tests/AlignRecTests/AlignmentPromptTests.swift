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
