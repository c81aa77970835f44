// Group advantages by hand: sample std (G − 1), the 1e-4 in the denominator, zero-variance masking.
import AlignRec
import Foundation
import Testing

@Test func groupAdvantagesByHand() throws {
    // Group 1 [1,0,0,0]: mean 0.25, sample variance (0.5625 + 3·0.0625)/3 = 0.25, std 0.5 →
    // A = [0.75, −0.25, −0.25, −0.25] / 0.5001. Group 2 [0,0,0,0] and group 3 [0.3 ×4]: masked.
    let a = try GRPOObjective.advantages(rewards: [1, 0, 0, 0, 0, 0, 0, 0, 0.3, 0.3, 0.3, 0.3], groupSize: 4)
    #expect(abs(a.advantages[0] - 0.75 / 0.5001) < 1e-12)
    for i in 1..<4 { #expect(abs(a.advantages[i] - -0.25 / 0.5001) < 1e-12) }
    #expect(a.active == [true, true, true, true] + [Bool](repeating: false, count: 8))
    #expect(a.advantages[4...].allSatisfy { $0 == 0 })
    #expect(a.zeroStdGroups == 2 && a.groups == 3 && abs(a.zeroStdFraction - 2.0 / 3.0) < 1e-15)
    // G = 2, rewards [2, −1]: mean 0.5, sample std = √((2.25 + 2.25)/1) = 2.1213203435596424.
    let b = try GRPOObjective.advantages(rewards: [2, -1], groupSize: 2)
    #expect(abs(b.advantages[0] - 1.5 / (2.1213203435596424 + 1e-4)) < 1e-12)
    #expect(abs(b.advantages[1] + b.advantages[0]) < 1e-15)
    #expect(throws: AlignError.self) { try GRPOObjective.advantages(rewards: [1, 0, 1], groupSize: 2) }
    #expect(throws: AlignError.self) { try GRPOObjective.advantages(rewards: [1], groupSize: 1) }
}
