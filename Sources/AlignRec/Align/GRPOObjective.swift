// The GRPO objective of docs/design.md §8 as pure functions: group-normalised advantages with zero-variance
// groups masked, the per-token clipped surrogate with the k3 KL penalty and its exact derivative with
// respect to the token's policy log-prob, and the per-sequence / per-token loss normalisation.
//
// Advantages: A_i = (r_i − mean_g) / (std_g + 1e-4) over the G rewards of a group, std the SAMPLE standard
// deviation (divisor G − 1), as torch's default `std()` that TRL's and MiniOneRec's GRPO trainers use, so
// advantages match theirs number for number. A group whose rewards are all equal (std ≤ 1e-8) carries no
// signal: its completions are masked out of the loss entirely (no policy term, no KL term, not counted in
// the normaliser), and the fraction of such groups is reported. With `scale` off (TRL scale_rewards false, Dr.
// GRPO) A_i = r_i − mean_g: the rewards keep their scale, so a reward's weight in a mix matters inside every group.
//
// Per token t of completion i, with ρ = exp(logp − old), k3 = exp(ref − logp) − (ref − logp) − 1:
//   ℓ = −min(ρA, clip(ρ, 1−ε, 1+ε_high)·A) + β·k3
//   dℓ/dlogp = −ρA when the unclipped branch is the minimum, 0 when the clipped branch is strictly smaller
//              (A > 0 and ρ > 1+ε_high, or A < 0 and ρ < 1−ε), plus β·(1 − exp(ref − logp)).
// Normalisation: `sequence` — L = (1/|S|) Σ_{i∈S} (1/|o_i|) Σ_t ℓ_it (the GRPO paper; TRL "grpo");
//                `token`    — L = Σ_{i∈S} Σ_t ℓ_it / Σ_{i∈S} |o_i| (DAPO; TRL "dapo"/"bnpo"),
// S the unmasked completions, |o_i| the number of trained (response + EOS) tokens of completion i.
import Foundation

/// How the per-token losses of a step are averaged.
public enum LossNormalization: String, Codable, Sendable, CaseIterable {
    case sequence, token
}

/// Advantages of a batch of groups.
public struct GroupAdvantages: Sendable, Equatable {
    /// A_i per completion (0 for masked ones).
    public var advantages: [Double]
    /// Whether completion i is in the loss (its group has reward variance).
    public var active: [Bool]
    /// Number of groups with zero reward variance.
    public var zeroStdGroups: Int
    /// Number of groups.
    public var groups: Int
    /// zeroStdGroups / groups (0 for no groups).
    public var zeroStdFraction: Double { groups == 0 ? 0 : Double(zeroStdGroups) / Double(groups) }
}

/// One token's contribution to the clipped objective.
public struct GRPOTokenTerm: Sendable, Equatable {
    /// ℓ = −min(ρA, clip(ρ)A) + β·k3.
    public var loss: Double
    /// dℓ / dlogp.
    public var dLogp: Double
    /// ρ = exp(logp − old).
    public var ratio: Double
    /// Whether the clipped branch is active (zero policy gradient).
    public var clipped: Bool
    /// The k3 KL estimate of this token.
    public var kl: Double
}

/// GRPO math (see the file header).
public enum GRPOObjective {
    /// Added to the group std in the advantage denominator.
    public static let stdEpsilon = 1e-4
    /// A group whose sample std is at most this counts as zero-variance.
    public static let zeroStdTolerance = 1e-8

    /// Advantages of `rewards` laid out group-major in groups of `groupSize` (≥ 2).
    public static func advantages(rewards: [Double], groupSize g: Int, scale: Bool = true) throws -> GroupAdvantages {
        guard g >= 2 else { throw AlignError.invalidArgument("GRPO needs a group size ≥ 2 (got \(g))") }
        guard rewards.count % g == 0 else {
            throw AlignError.invalidArgument("\(rewards.count) rewards do not split into groups of \(g)")
        }
        let n = rewards.count / g
        var adv = [Double](repeating: 0, count: rewards.count)
        var active = [Bool](repeating: false, count: rewards.count)
        var zero = 0
        for k in 0..<n {
            let r = rewards[(k * g)..<((k + 1) * g)]
            let mean = r.reduce(0, +) / Double(g)
            let variance = r.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(g - 1)
            let std = variance.squareRoot()
            if std <= zeroStdTolerance { zero += 1; continue }
            for i in 0..<g {
                adv[k * g + i] = scale ? (rewards[k * g + i] - mean) / (std + stdEpsilon) : rewards[k * g + i] - mean
                active[k * g + i] = true
            }
        }
        return GroupAdvantages(advantages: adv, active: active, zeroStdGroups: zero, groups: n)
    }

    /// The k3 estimator of KL(π‖ref) at one token: exp(ref − logp) − (ref − logp) − 1 (≥ 0).
    public static func k3(logp: Double, ref: Double) -> Double {
        let d = ref - logp
        return expm1(d) - d
    }

    /// ℓ and dℓ/dlogp of one token (see the file header).
    public static func tokenTerm(logp: Double, old: Double, ref: Double, advantage a: Double,
                                 epsilon: Double, epsilonHigh: Double, beta: Double) -> GRPOTokenTerm {
        let rho = exp(logp - old)
        let clippedRho = min(max(rho, 1 - epsilon), 1 + epsilonHigh)
        let unclippedObj = rho * a, clippedObj = clippedRho * a
        let isClipped = clippedObj < unclippedObj
        let surrogate = min(unclippedObj, clippedObj)
        let kl = k3(logp: logp, ref: ref)
        let loss = -surrogate + beta * kl
        let dPolicy = isClipped ? 0 : -rho * a
        let dKL = -expm1(ref - logp)                  // d k3 / d logp = 1 − exp(ref − logp)
        return GRPOTokenTerm(loss: loss, dLogp: dPolicy + beta * dKL, ratio: rho, clipped: isClipped, kl: kl)
    }

    /// Per-completion coefficients c_i with L = Σ_i c_i Σ_t ℓ_it: `sequence` c_i = 1/(|S|·|o_i|),
    /// `token` c_i = 1/Σ_{j∈S}|o_j|; 0 for masked completions (and when nothing is active).
    public static func coefficients(lengths: [Int], active: [Bool], normalization: LossNormalization) -> [Double] {
        precondition(lengths.count == active.count)
        let idx = lengths.indices.filter { active[$0] && lengths[$0] > 0 }
        var c = [Double](repeating: 0, count: lengths.count)
        if idx.isEmpty { return c }
        switch normalization {
        case .sequence:
            for i in idx { c[i] = 1 / (Double(idx.count) * Double(lengths[i])) }
        case .token:
            let total = idx.reduce(0) { $0 + lengths[$1] }
            for i in idx { c[i] = 1 / Double(total) }
        }
        return c
    }
}
