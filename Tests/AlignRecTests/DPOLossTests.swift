// DPO sigmoid and S-DPO losses against hand computations (numbers worked out independently, shown in the
// comments) and their gradients against central finite differences of the scalar loss.
import AlignRec
import Foundation
import Testing

@Test func dpoSigmoidByHand() {
    // r_w = −2 − (−2.5) = 0.5, r_l = −3 − (−2.5) = −0.5, Δ = 1, β = 0.1:
    // L = −log σ(0.1) = log(1 + e^−0.1) = 0.6443966600735709; dL/dΔ = −0.1 σ(−0.1) = −0.047502081252106004.
    let t = DPOLoss.sigmoid(policyChosen: -2, policyRejected: -3, refChosen: -2.5, refRejected: -2.5, beta: 0.1)
    #expect(abs(t.loss - 0.6443966600735709) < 1e-12)
    #expect(abs(t.dPolicyChosen - -0.047502081252106004) < 1e-12)
    #expect(abs(t.dPolicyRejected[0] - 0.047502081252106004) < 1e-12)
    #expect(abs(t.dRefChosen - 0.047502081252106004) < 1e-12)
    #expect(abs(t.dRefRejected[0] - -0.047502081252106004) < 1e-12)
    #expect(abs(t.chosenReward - 0.05) < 1e-12 && abs(t.rejectedReward - -0.05) < 1e-12)
    #expect(abs(t.margin - 0.1) < 1e-12 && t.accuracy == 1)
    // At the reference the loss is log 2 and the accuracy 0 (a tie is not a win).
    let z = DPOLoss.sigmoid(policyChosen: -4, policyRejected: -1, refChosen: -4, refRejected: -1, beta: 0.1)
    #expect(abs(z.loss - log(2.0)) < 1e-12 && z.accuracy == 0 && z.margin == 0)
}

@Test func dpoIsStableForHugeMargins() {
    let big = DPOLoss.sigmoid(policyChosen: 0, policyRejected: -1e6, refChosen: 0, refRejected: 0, beta: 1)
    #expect(big.loss >= 0 && big.loss < 1e-300 && big.dPolicyChosen.isFinite)
    let bad = DPOLoss.sigmoid(policyChosen: -1e6, policyRejected: 0, refChosen: 0, refRejected: 0, beta: 1)
    #expect(abs(bad.loss - 1e6) < 1e-6 && abs(bad.dPolicyChosen - -1) < 1e-12)
}

@Test func sdpoByHandAndReducesToSigmoid() throws {
    // β = 1, r_w = 0, r_l = [0, ln 3]: Σ exp(r_l − r_w) = 4, L = −log σ(−ln 4) = ln 5; σ(ln 4) = 0.8, weights
    // softmax = [1/4, 3/4]: dL/dΔ_j = −0.8 w_j = [−0.2, −0.6]; dL/dπ_w = −0.8, dL/dπ_lj = [0.2, 0.6].
    let t = try DPOLoss.softmax(policyChosen: -1, policyRejected: [-2, -2 + log(3.0)], refChosen: -1,
                                refRejected: [-2, -2], beta: 1)
    #expect(abs(t.loss - log(5.0)) < 1e-12)
    #expect(abs(t.dPolicyChosen - -0.8) < 1e-12)
    #expect(abs(t.dPolicyRejected[0] - 0.2) < 1e-12 && abs(t.dPolicyRejected[1] - 0.6) < 1e-12)
    #expect(abs(t.dRefRejected[1] - -0.6) < 1e-12 && abs(t.dRefChosen - 0.8) < 1e-12)
    #expect(abs(t.rejectedReward - log(3.0) / 2) < 1e-12 && t.accuracy == 0)
    // One negative: S-DPO is the sigmoid loss.
    var rng = Rng(seed: 3)
    for _ in 0..<20 {
        let v = (0..<4).map { _ in -5 * rng.uniform() }
        let s = DPOLoss.sigmoid(policyChosen: v[0], policyRejected: v[1], refChosen: v[2], refRejected: v[3], beta: 0.3)
        let m = try DPOLoss.softmax(policyChosen: v[0], policyRejected: [v[1]], refChosen: v[2], refRejected: [v[3]], beta: 0.3)
        #expect(abs(s.loss - m.loss) < 1e-12 && abs(s.dPolicyChosen - m.dPolicyChosen) < 1e-12)
        #expect(abs(s.dPolicyRejected[0] - m.dPolicyRejected[0]) < 1e-12)
    }
    #expect(throws: AlignError.self) { try DPOLoss.softmax(policyChosen: 0, policyRejected: [], refChosen: 0, refRejected: [], beta: 1) }
}

@Test func dpoGradientsMatchFiniteDifferences() throws {
    var rng = Rng(seed: 11)
    let h = 1e-5
    for n in [1, 2, 4] {
        for _ in 0..<10 {
            let beta = 0.05 + rng.uniform()
            var x = (0..<(2 + 2 * n)).map { _ in -8 * rng.uniform() }   // [π_w, ref_w, π_l..., ref_l...]
            func loss(_ x: [Double]) throws -> Double {
                try DPOLoss.term(policyChosen: x[0], policyRejected: Array(x[2..<(2 + n)]), refChosen: x[1],
                                 refRejected: Array(x[(2 + n)...]), beta: beta).loss
            }
            let t = try DPOLoss.term(policyChosen: x[0], policyRejected: Array(x[2..<(2 + n)]), refChosen: x[1],
                                     refRejected: Array(x[(2 + n)...]), beta: beta)
            let analytic = [t.dPolicyChosen, t.dRefChosen] + t.dPolicyRejected + t.dRefRejected
            for k in x.indices {
                let x0 = x[k]
                x[k] = x0 + h; let lp = try loss(x)
                x[k] = x0 - h; let lm = try loss(x)
                x[k] = x0
                #expect(abs((lp - lm) / (2 * h) - analytic[k]) < 1e-7, "n=\(n) k=\(k)")
            }
        }
    }
}
