// The DPO losses on summed response log-probabilities (docs/design.md §8), as pure scalar functions with
// their exact gradients with respect to the four (or 2 + 2N) log-probabilities, plus the quantities a DPO
// run logs. Everything is Double and numerically stable for any margin (log σ via log1p, softmax via
// log-sum-exp with the maximum subtracted).
//
// Sigmoid DPO (TRL `loss_type="sigmoid"`, Rafailov et al. 2023):
//   r_w = π_w − ref_w, r_l = π_l − ref_l (implicit rewards / β), Δ = r_w − r_l, L = −log σ(βΔ).
//   dL/dΔ = −β σ(−βΔ); dL/dπ_w = dL/dΔ, dL/dπ_l = −dL/dΔ, dL/dref_w = −dL/dΔ, dL/dref_l = dL/dΔ.
// S-DPO (softmax DPO over N negatives, Chen et al. 2024, "On Softmax Direct Preference Optimization for
// Recommendation", eq. 8):
//   L = −log σ( −log Σ_j exp(β (r_lj − r_w)) ) = −log σ( −LSE_j(−βΔ_j) ),  Δ_j = r_w − r_lj.
//   With z = −LSE_j(u_j), u_j = −βΔ_j and w = softmax(u): dL/dΔ_j = −β σ(−z) w_j. For N = 1 this is
//   exactly the sigmoid loss. (The sign inside the exponent is the paper's: rejected minus chosen.)
// Logged (TRL names): rewards/chosen = β r_w, rewards/rejected = β r_l (mean over negatives), margin =
// chosen − rejected, accuracy = 1 when the chosen reward beats every rejected reward.
import Foundation

/// One preference example's loss, gradients and logged rewards.
public struct DPOTerm: Sendable, Equatable {
    /// The loss of this example.
    public var loss: Double
    /// dL / d(policy log-prob of the chosen response).
    public var dPolicyChosen: Double
    /// dL / d(policy log-prob of each rejected response) (one entry per negative).
    public var dPolicyRejected: [Double]
    /// dL / d(reference log-prob of the chosen response) (= −dPolicyChosen).
    public var dRefChosen: Double
    /// dL / d(reference log-prob of each rejected response) (= −dPolicyRejected).
    public var dRefRejected: [Double]
    /// β (π_w − ref_w).
    public var chosenReward: Double
    /// β (π_l − ref_l), averaged over the negatives.
    public var rejectedReward: Double
    /// chosenReward − rejectedReward.
    public var margin: Double { chosenReward - rejectedReward }
    /// 1 when the chosen reward is above every rejected reward, else 0.
    public var accuracy: Double
}

/// The two DPO losses of docs/design.md §8.
public enum DPOLoss {
    /// Numerically stable log σ(x) for any finite x.
    public static func logSigmoid(_ x: Double) -> Double {
        x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x))
    }

    /// Numerically stable σ(x).
    public static func sigma(_ x: Double) -> Double {
        x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
    }

    /// Sigmoid DPO: L = −log σ(β[(π_w − ref_w) − (π_l − ref_l)]) on summed response log-probs.
    public static func sigmoid(policyChosen: Double, policyRejected: Double, refChosen: Double, refRejected: Double,
                               beta: Double) -> DPOTerm {
        let rw = policyChosen - refChosen, rl = policyRejected - refRejected
        let delta = rw - rl
        let loss = -logSigmoid(beta * delta)
        let dDelta = -beta * sigma(-beta * delta)
        return DPOTerm(loss: loss, dPolicyChosen: dDelta, dPolicyRejected: [-dDelta], dRefChosen: -dDelta,
                       dRefRejected: [dDelta], chosenReward: beta * rw, rejectedReward: beta * rl,
                       accuracy: rw > rl ? 1 : 0)
    }

    /// S-DPO over N ≥ 1 negatives: L = −log σ(−log Σ_j exp(β(r_lj − r_w))), r = π − ref.
    /// `policyRejected` and `refRejected` hold one summed log-prob per negative.
    public static func softmax(policyChosen: Double, policyRejected: [Double], refChosen: Double, refRejected: [Double],
                               beta: Double) throws -> DPOTerm {
        let n = policyRejected.count
        guard n >= 1, refRejected.count == n else {
            throw AlignError.invalidArgument("S-DPO needs ≥ 1 negative with a reference log-prob each (got \(n) and \(refRejected.count))")
        }
        let rw = policyChosen - refChosen
        var u = [Double](repeating: 0, count: n)      // u_j = β (r_lj − r_w) = −βΔ_j
        var rlSum = 0.0, best = true
        for j in 0..<n {
            let rl = policyRejected[j] - refRejected[j]
            u[j] = beta * (rl - rw)
            rlSum += rl
            if !(rw > rl) { best = false }
        }
        let m = u.max()!
        var s = 0.0
        for j in 0..<n { s += exp(u[j] - m) }
        let lse = m + log(s)
        let z = -lse
        let loss = -logSigmoid(z)
        let g = -beta * sigma(-z)           // dL/dΔ_j = g · w_j
        var dRej = [Double](repeating: 0, count: n), dChosen = 0.0
        for j in 0..<n {
            let dDelta = g * exp(u[j] - lse)
            dChosen += dDelta
            dRej[j] = -dDelta
        }
        return DPOTerm(loss: loss, dPolicyChosen: dChosen, dPolicyRejected: dRej, dRefChosen: -dChosen,
                       dRefRejected: dRej.map { -$0 }, chosenReward: beta * rw, rejectedReward: beta * rlSum / Double(n),
                       accuracy: best ? 1 : 0)
    }

    /// The loss for `negatives.count` negatives: sigmoid DPO for one, S-DPO for several.
    public static func term(policyChosen: Double, policyRejected: [Double], refChosen: Double, refRejected: [Double],
                            beta: Double) throws -> DPOTerm {
        if policyRejected.count == 1 && refRejected.count == 1 {
            return sigmoid(policyChosen: policyChosen, policyRejected: policyRejected[0], refChosen: refChosen,
                           refRejected: refRejected[0], beta: beta)
        }
        return try softmax(policyChosen: policyChosen, policyRejected: policyRejected, refChosen: refChosen,
                           refRejected: refRejected, beta: beta)
    }
}
