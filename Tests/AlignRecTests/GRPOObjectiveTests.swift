// The clipped GRPO token objective and the k3 KL by hand, the derivative against finite differences of the
// scalar loss (away from the clip kinks), and the two loss normalisations.
import AlignRec
import Foundation
import Testing

@Test func k3ByHand() {
    // d = ref − logp = −0.5: e^−0.5 + 0.5 − 1 = 0.10653065971263342; zero at ref == logp; never negative.
    #expect(abs(GRPOObjective.k3(logp: -1, ref: -1.5) - 0.10653065971263342) < 1e-15)
    #expect(GRPOObjective.k3(logp: -2, ref: -2) == 0)
    #expect(GRPOObjective.k3(logp: -9, ref: -0.1) > 0 && GRPOObjective.k3(logp: -0.1, ref: -9) > 0)
}

@Test func clippedTokenTermByHand() {
    let kl = 0.10653065971263342, dkl = 1 - exp(-0.5)   // at logp −1, ref −1.5
    // Inside the clip range: ρ = e^0.2 = 1.2214027581601699, A = 2 → ℓ = −2ρ + 0.04·kl, dℓ = −2ρ + 0.04·(1 − e^−0.5).
    let t = GRPOObjective.tokenTerm(logp: -1, old: -1.2, ref: -1.5, advantage: 2, epsilon: 0.2, epsilonHigh: 0.28, beta: 0.04)
    #expect(abs(t.ratio - 1.2214027581601699) < 1e-12 && !t.clipped)
    #expect(abs(t.loss - (-2 * 1.2214027581601699 + 0.04 * kl)) < 1e-12)
    #expect(abs(t.dLogp - (-2 * 1.2214027581601699 + 0.04 * dkl)) < 1e-12)
    // A > 0, ρ = e^0.5 > 1 + ε_high: ℓ = −1.28·2 + β·kl, no policy gradient.
    let c = GRPOObjective.tokenTerm(logp: -1, old: -1.5, ref: -1.5, advantage: 2, epsilon: 0.2, epsilonHigh: 0.28, beta: 0.04)
    #expect(c.clipped && abs(c.loss - (-2.56 + 0.04 * kl)) < 1e-12 && abs(c.dLogp - 0.04 * dkl) < 1e-12)
    // A < 0, ρ = e^−0.5 < 1 − ε: clipped at 0.8 → ℓ = 0.8, no gradient (β = 0 here).
    let n = GRPOObjective.tokenTerm(logp: -1, old: -0.5, ref: -1, advantage: -1, epsilon: 0.2, epsilonHigh: 0.28, beta: 0)
    #expect(n.clipped && abs(n.loss - 0.8) < 1e-12 && n.dLogp == 0)
    // A < 0, ρ = e^0.5 above the range: the unclipped branch is the minimum → ℓ = ρ, dℓ = ρ.
    let u = GRPOObjective.tokenTerm(logp: -1, old: -1.5, ref: -1, advantage: -1, epsilon: 0.2, epsilonHigh: 0.28, beta: 0)
    #expect(!u.clipped && abs(u.loss - exp(0.5)) < 1e-12 && abs(u.dLogp - exp(0.5)) < 1e-12)
    // A > 0, ρ below the range: unclipped (PPO keeps pushing a too-small ratio up).
    let l = GRPOObjective.tokenTerm(logp: -1, old: -0.5, ref: -1, advantage: 1, epsilon: 0.2, epsilonHigh: 0.28, beta: 0)
    #expect(!l.clipped && abs(l.dLogp + exp(-0.5)) < 1e-12)
}

@Test func tokenTermDerivativeMatchesFiniteDifferences() {
    var rng = Rng(seed: 5)
    let h = 1e-6
    var checked = 0
    for _ in 0..<300 {
        let logp = -4 * rng.uniform(), old = logp + 0.6 * (rng.uniform() - 0.5), ref = -4 * rng.uniform()
        let a = 3 * (rng.uniform() - 0.5), beta = rng.uniform()
        func f(_ x: Double) -> GRPOTokenTerm {
            GRPOObjective.tokenTerm(logp: x, old: old, ref: ref, advantage: a, epsilon: 0.2, epsilonHigh: 0.28, beta: beta)
        }
        let rho = exp(logp - old)
        if abs(rho - 0.8) < 1e-4 || abs(rho - 1.28) < 1e-4 { continue }   // kinks
        let fd = (f(logp + h).loss - f(logp - h).loss) / (2 * h)
        #expect(abs(fd - f(logp).dLogp) < 1e-6)
        checked += 1
    }
    #expect(checked > 250)
}

@Test func lossNormalisationCoefficients() {
    // Lengths [2, 4, 3], the middle one masked. sequence: 1/(2·2), 0, 1/(2·3); token: 1/5, 0, 1/5.
    let s = GRPOObjective.coefficients(lengths: [2, 4, 3], active: [true, false, true], normalization: .sequence)
    #expect(abs(s[0] - 0.25) < 1e-15 && s[1] == 0 && abs(s[2] - 1.0 / 6.0) < 1e-15)
    let t = GRPOObjective.coefficients(lengths: [2, 4, 3], active: [true, false, true], normalization: .token)
    #expect(abs(t[0] - 0.2) < 1e-15 && t[1] == 0 && abs(t[2] - 0.2) < 1e-15)
    #expect(GRPOObjective.coefficients(lengths: [2], active: [false], normalization: .token) == [0])
}
