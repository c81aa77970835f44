// GRPO rewards by hand: rule, MiniOneRec's rank penalty (normalised over the G rank slots, only in groups
// with a hit), semantic cosine, the future reward and its leak-free later-item maps, mixes and their parsing.
import AlignRec
import Foundation
import Testing

@Test func rankingRewardByHand() {
    // G = 4: 1/log2(i+2) = [1, 0.6309297535714575, 0.5, 0.43067655807339306], Σ = 2.5616063116448506;
    // penalties = −d/Σ = [−0.3903800499921017, −0.24630238874073, −0.19519002499605084, −0.16812753627111746].
    let p = GRPORewards.rankPenalties(groupSize: 4)
    let want = [-0.3903800499921017, -0.24630238874073, -0.19519002499605084, -0.16812753627111746]
    for i in 0..<4 { #expect(abs(p[i] - want[i]) < 1e-12) }
    #expect(abs(p.reduce(0, +) + 1) < 1e-12)
    let r = GRPORewards.ranking(items: [5, 7, 9, 11], target: 9)
    #expect(abs(r[0] - want[0]) < 1e-12 && abs(r[1] - want[1]) < 1e-12 && r[2] == 1 && abs(r[3] - want[3]) < 1e-12)
    // No hit: every reward 0 (a zero-variance group).
    #expect(GRPORewards.ranking(items: [5, 7, 9, 11], target: 3) == [0, 0, 0, 0])
    #expect(GRPORewards.rule(items: [5, 7, 9, 11], target: 7) == [0, 1, 0, 0])
}

@Test func semanticRewardAndMix() throws {
    // Items 1..3 in 2-D: (1,0), (0,2), (3,4). Target 3: cos = [0.6, 0.8, 1].
    let e = ItemEmbeddings(vectors: [1, 0, 0, 2, 3, 4], count: 3, dim: 2, encoder: "test", normalized: false)
    let s = try GRPORewards.semantic(items: [1, 2, 3], target: 3, embeddings: e)
    #expect(abs(s[0] - 0.6) < 1e-7 && abs(s[1] - 0.8) < 1e-7 && abs(s[2] - 1) < 1e-7)
    #expect(throws: AlignError.self) { try GRPORewards.semantic(items: [4], target: 3, embeddings: e) }
    // ranking=1, semantic=0.5 over G = 3 with a hit at rank 1: penalties over 3 slots.
    let mix = try RewardMix.parse("ranking=1,semantic=0.5")
    #expect(mix == RewardMix(rule: 0, ranking: 1, semantic: 0.5))
    let m = try GRPORewards.mixed(items: [1, 3, 2], target: 3, mix: mix, embeddings: e)
    let p = GRPORewards.rankPenalties(groupSize: 3)
    #expect(abs(m[0] - (p[0] + 0.3)) < 1e-7 && abs(m[1] - 1.5) < 1e-7 && abs(m[2] - (p[2] + 0.4)) < 1e-7)
    #expect(try RewardMix.parse("rule") == RewardMix(rule: 1))
    #expect(throws: AlignError.self) { try RewardMix.parse("ndcg") }
    #expect(throws: AlignError.self) { try RewardMix.parse("rule=-1") }
    #expect(throws: AlignError.self) { try GRPORewards.mixed(items: [1], target: 1, mix: RewardMix(semantic: 1), embeddings: nil) }
}

@Test func futureRewardByHand() throws {
    // Target 9; item 7 came 1 position later, item 11 3 positions later; decay 0.5 → 0.5, 0.125.
    let ahead = [7: 1, 11: 3]
    #expect(GRPORewards.future(items: [5, 7, 9, 11], target: 9, ahead: ahead, decay: 0.5) == [0, 0.5, 1, 0.125])
    // Without the target the later items still give the group reward variance (ranking gives none here).
    #expect(GRPORewards.future(items: [7, 5], target: 9, ahead: ahead, decay: 0.5) == [0.5, 0])
    #expect(GRPORewards.ranking(items: [7, 5], target: 9) == [0, 0])
    let mix = try RewardMix.parse("ranking=1,future=2")
    #expect(mix == RewardMix(ranking: 1, future: 2) && mix.description == "ranking=1.0,future=2.0")
    let p = GRPORewards.rankPenalties(groupSize: 2)
    let m = try GRPORewards.mixed(items: [7, 9], target: 9, mix: mix, embeddings: nil, ahead: ahead, decay: 0.5)
    #expect(abs(m[0] - (p[0] + 1.0)) < 1e-12 && m[1] == 3)
}

@Test func futureMapsUseOnlyLaterTrainingTargets() {
    func ex(_ user: Int, _ pos: Int, _ target: Int) -> Example {
        Example(user: user, userId: "\(user)", pos: pos, timestamp: 0, history: [], target: target)
    }
    // User 1 trains on positions 1...5 (targets 10...14); user 2 on position 1 (target 20). Position 6 of user 1
    // (a validation target, say) is not in the training examples and so can never be rewarded.
    let training = [ex(1, 1, 10), ex(1, 2, 11), ex(1, 3, 12), ex(1, 4, 13), ex(1, 5, 14), ex(2, 1, 20)]
    let maps = GRPORewards.aheadMaps(of: [ex(1, 2, 11), ex(1, 4, 13), ex(2, 1, 20), ex(1, 5, 14)], in: training, window: 2)
    #expect(maps[0] == [12: 1, 13: 2])   // earlier items (10) and items beyond the window (14) are not credited
    #expect(maps[1] == [14: 1])          // position 6 is not training data
    #expect(maps[2] == [:] && maps[3] == [:])
    #expect(GRPORewards.aheadMaps(of: training, in: training, window: 0) == [[Int: Int]](repeating: [:], count: training.count))
    // A repeated item takes its nearest distance; the target itself is never a later item.
    let rep = [ex(3, 1, 30), ex(3, 2, 31), ex(3, 3, 30), ex(3, 4, 31)]
    #expect(GRPORewards.aheadMaps(of: [rep[0]], in: rep, window: 3) == [[31: 1]])
}
