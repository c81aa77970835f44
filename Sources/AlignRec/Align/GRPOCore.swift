// The GRPO optimisation core, independent of how rollouts are produced: given groups of G completions
// with rewards, it computes group advantages (zero-variance groups masked and skipped — they carry no
// gradient, so they cost no forward either), reference per-token log-probs with a frozen copy of the
// starting weights (a second LlamaTrainer), and runs `iterations` optimiser steps on the clipped objective
// of `GRPOObjective`. Old-policy log-probs are those of the weights before the step's first update
// (recorded during iteration 0's forward), so ρ = 1 in iteration 0 and clipping acts from iteration 1 on.
//
// Hybrid policy (a model with item memory, `sidWeight` set): the policy ranks items by the mix the recommender
// serves, log π(i) = log p_head(i) + w · Σ_t log p(s_t), so each completion has one more term besides its SID
// tokens — the item head's log-prob of its item at the position before the first SID token. The per-token objective
// applies to every term, the SID tokens weighted by w and the head term by 1, with its own ratio and k3 against the
// reference's head log-prob; the normaliser counts the head term as one more token. w = 0 trains the head alone.
// The reference can be synced toward the policy (`syncReference`, TRL's sync_ref_model).
//
// Across the ranks of a data-parallel job (`cluster`, every rank given the same groups) each rank scores and
// back-propagates a contiguous share of the active sequences' micro-batches (reference, old and current
// log-probs of its own sequences); gradients and the pass statistics are summed in rank order, so every rank
// applies the same update. As in DPOCore, the result agrees with one process up to the order of the sums.
import AlignCore
import Foundation

/// Hyper-parameters of the GRPO objective.
public struct GRPOHyper: Sendable, Equatable {
    public var beta: Double
    public var epsilon: Double
    public var epsilonHigh: Double
    public var normalization: LossNormalization
    /// Optimiser steps per rollout batch (μ in the GRPO paper).
    public var iterations: Int
    /// Divide advantages by the group std (TRL `scale_rewards`); off: A = r − mean.
    public var scaleRewards: Bool
    public init(beta: Double = 0.04, epsilon: Double = 0.2, epsilonHigh: Double = 0.28,
                normalization: LossNormalization = .token, iterations: Int = 1, scaleRewards: Bool = true) {
        self.beta = beta; self.epsilon = epsilon; self.epsilonHigh = epsilonHigh
        self.normalization = normalization; self.iterations = iterations; self.scaleRewards = scaleRewards
    }
}

/// One rollout group: a prompt and its G completions (full trie paths, end token included).
public struct GRPOGroup: Sendable {
    /// [bos] + prompt ids.
    public var prompt: [Int32]
    /// Response token ids of each completion.
    public var responses: [[Int32]]
    /// The item of each completion, in rank order (beam order, or by sampled log-prob).
    public var items: [Int]
    /// The true next item.
    public var target: Int
    public init(prompt: [Int32], responses: [[Int32]], items: [Int], target: Int) {
        self.prompt = prompt; self.responses = responses; self.items = items; self.target = target
    }

    /// The encoded sequence of completion j (targets on the response tokens only).
    public func encoded(_ j: Int) -> EncodedExample { SequenceScoring.encode(prompt: prompt, response: responses[j]) }
}

/// What one GRPO step measured (means; token quantities over the active completions' response tokens).
public struct GRPOStepStats: Sendable {
    public var loss = 0.0
    public var meanReward = 0.0
    /// Fraction of groups whose completions contain the target.
    public var hitRate = 0.0
    public var fracZeroStd = 0.0
    /// Mean k3 KL to the reference per token (iteration 0).
    public var kl = 0.0
    /// Hybrid policy: mean k3 KL of the item-head terms (iteration 0).
    public var klItem: Double?
    /// Fraction of token terms on the clipped branch, over all iterations.
    public var clipFraction = 0.0
    /// Mean entropy (nats) of the trie-constrained next-token distribution at response positions (iteration 0).
    public var entropy = 0.0
    public var gradNorm: Float = 0
    public var activeSequences = 0
    public var sequences = 0
    public init() {}
}

/// Loss, KL, clipping and entropy sums of one accumulation pass.
public struct GRPOPassStats: Sendable {
    public var loss = 0.0
    public var klSum = 0.0
    public var clipped = 0
    public var tokens = 0
    public var entropySum = 0.0
    public var entropyPositions = 0
    /// Hybrid policy: k3 sum and count of the item-head terms.
    public var klItemSum = 0.0
    public var itemTerms = 0
    /// Per-sequence log-probs (only when `recordLogProbs`).
    public var logProbs: [SequenceLogProbs] = []
}

/// GRPO training of one LLaMA model against a frozen reference.
public final class GRPOCore {
    /// The policy engine (its params are updated in place).
    public let policy: LlamaTrainer
    /// The frozen reference engine.
    public let reference: LlamaTrainer
    public let optimizer: AdamW
    public let hyper: GRPOHyper
    public let gradClip: Float
    /// For the constrained entropy (nil: entropy not measured).
    public let trie: SIDTrie?
    /// Hybrid policy: the mix's SID weight w (nil: the SID tokens alone are the policy).
    public let sidWeight: Float?
    /// The processes the sequences are split over (one: this process alone).
    public var cluster: any Collective = Cluster.world

    /// `reference` must be a separate copy of the starting weights (same config).
    public init(policy params: LlamaParameters, reference ref: LlamaParameters, microBatch: Int, maxSeq: Int,
                hyper: GRPOHyper, adamW: AdamWConfig, gradClip: Float, trie: SIDTrie?, items: ItemTable? = nil,
                sidWeight: Float? = nil, precision: Precision = .fp32) throws {
        guard microBatch >= 1, maxSeq >= 2 else { throw AlignError.invalidArgument("GRPO micro-batch must be ≥ 1 and sequences ≥ 2 tokens") }
        guard hyper.iterations >= 1 else { throw AlignError.invalidArgument("GRPO iterations must be ≥ 1 (got \(hyper.iterations))") }
        guard hyper.beta >= 0, hyper.epsilon >= 0, hyper.epsilon < 1, hyper.epsilonHigh >= 0 else {
            throw AlignError.invalidArgument("GRPO needs beta ≥ 0, 0 ≤ epsilon < 1, epsilon_high ≥ 0")
        }
        guard ref.count == params.count, ref.data.baseAddress != params.data.baseAddress else {
            throw AlignError.invalidArgument("the GRPO reference must be a separate copy of the policy's weights")
        }
        guard sidWeight == nil || items != nil else { throw AlignError.invalidArgument("a hybrid GRPO policy needs the item memory") }
        if let w = sidWeight, !(w >= 0 && w.isFinite) { throw AlignError.invalidArgument("the mix's SID weight must be ≥ 0 (got \(w))") }
        policy = LlamaTrainer(params: params, maxBatch: microBatch, maxSeq: maxSeq, items: items, precision: precision)
        reference = LlamaTrainer(params: ref, maxBatch: microBatch, maxSeq: maxSeq, items: items, precision: precision)
        policy.itemHead = sidWeight != nil; reference.itemHead = sidWeight != nil
        optimizer = AdamW(count: params.count, groups: params.paramGroups, config: adamW)
        self.hyper = hyper; self.gradClip = gradClip; self.trie = trie; self.sidWeight = sidWeight
    }

    /// ref ← α · policy + (1 − α) · ref over every weight (TRL's SyncRefModelCallback).
    public func syncReference(alpha: Double) {
        let p = policy.params.data.baseAddress!, r = reference.params.data.baseAddress!
        let a = Float(alpha), b = Float(1 - alpha)
        for i in 0..<policy.params.count { r[i] = a * p[i] + b * r[i] }
    }

    /// Accumulates into `policy.grads` the gradient of L = Σ_i c_i (Σ_t w·ℓ_it + ℓ_i,head) over `sequences` (grads
    /// not zeroed; the head term and w only for a hybrid policy, else w = 1). `old`/`ref` hold each sequence's
    /// log-probs; `old == nil` uses the current ones (ρ = 1); `recordLogProbs` keeps the current ones in the result.
    public func accumulate(sequences: [EncodedExample], advantages: [Double], coefficients: [Double],
                           old: [SequenceLogProbs]?, ref: [SequenceLogProbs], recordLogProbs: Bool = false,
                           measureEntropy: Bool = false) throws -> GRPOPassStats {
        var st = GRPOPassStats()
        let tokenWeight = Double(sidWeight ?? 1)
        var start = 0
        while start < sequences.count {
            let end = min(sequences.count, start + policy.maxBatch)
            let pb = PaddedBatch(Array(sequences[start..<end]))
            try policy.forward(tokens: pb.tokens, targets: pb.targets, batch: pb.batch, seq: pb.seq)
            let lp = policy.tokenLogProbs
            let head = sidWeight == nil ? nil : try SequenceScoring.headLogProbs(policy, batch: pb.batch, seq: pb.seq)
            var w = [Float](repeating: 0, count: pb.batch * pb.seq)
            var hw = [Float](repeating: 0, count: pb.batch)
            for b in 0..<pb.batch {
                let i = start + b
                var k = 0
                var row: [Float] = []
                func term(_ x: Double, old o: Double, ref r: Double) -> GRPOTokenTerm {
                    GRPOObjective.tokenTerm(logp: x, old: o, ref: r, advantage: advantages[i], epsilon: hyper.epsilon,
                                            epsilonHigh: hyper.epsilonHigh, beta: hyper.beta)
                }
                for t in 0..<pb.seq where pb.targets[b * pb.seq + t] != ignoreTarget {
                    let x = Double(lp[b * pb.seq + t])
                    if recordLogProbs { row.append(lp[b * pb.seq + t]) }
                    let tt = term(x, old: old.map { Double($0[i].tokens[k]) } ?? x, ref: Double(ref[i].tokens[k]))
                    st.loss += coefficients[i] * tokenWeight * tt.loss
                    w[b * pb.seq + t] = Float(coefficients[i] * tokenWeight * tt.dLogp)
                    st.klSum += tt.kl; st.tokens += 1
                    if tt.clipped { st.clipped += 1 }
                    k += 1
                }
                if let head {
                    let x = Double(head[b])
                    let ht = term(x, old: old.map { Double($0[i].head!) } ?? x, ref: Double(ref[i].head!))
                    st.loss += coefficients[i] * ht.loss
                    hw[b] = Float(coefficients[i] * ht.dLogp)
                    st.klItemSum += ht.kl; st.itemTerms += 1
                    if ht.clipped { st.clipped += 1 }
                }
                if recordLogProbs { st.logProbs.append(SequenceLogProbs(tokens: row, head: head?[b])) }
                if measureEntropy, let trie {
                    let e = SequenceScoring.constrainedEntropy(trainer: policy, batch: pb, row: b, trie: trie)
                    st.entropySum += e.sum; st.entropyPositions += e.positions
                }
            }
            if head != nil { try policy.backward(weights: w, itemHeadWeights: hw) } else { try policy.backward(weights: w) }
            start = end
        }
        return st
    }

    /// One GRPO update from rollouts: `rewards[g][j]` for completion j of group g (all groups of equal size).
    public func step(groups: [GRPOGroup], rewards: [[Double]], lr: Float) throws -> GRPOStepStats {
        var st = GRPOStepStats()
        guard let g = groups.first?.responses.count, !groups.isEmpty else { return st }
        guard groups.allSatisfy({ $0.responses.count == g && $0.items.count == g }), rewards.count == groups.count,
              rewards.allSatisfy({ $0.count == g }) else {
            throw AlignError.invalidArgument("GRPO step: every group needs the same number of completions, items and rewards")
        }
        let flatRewards = rewards.flatMap { $0 }
        let adv = try GRPOObjective.advantages(rewards: flatRewards, groupSize: g, scale: hyper.scaleRewards)
        st.meanReward = flatRewards.reduce(0, +) / Double(flatRewards.count)
        st.hitRate = Double(groups.filter { $0.items.contains($0.target) }.count) / Double(groups.count)
        st.fracZeroStd = adv.zeroStdFraction
        st.sequences = flatRewards.count

        var seqs: [EncodedExample] = [], a: [Double] = [], lengths: [Int] = []
        for (k, grp) in groups.enumerated() {
            for j in 0..<g where adv.active[k * g + j] {
                seqs.append(grp.encoded(j)); a.append(adv.advantages[k * g + j])
                lengths.append(grp.responses[j].count + (sidWeight == nil ? 0 : 1))
            }
        }
        st.activeSequences = seqs.count
        if seqs.isEmpty { return st }
        let allCoef = GRPOObjective.coefficients(lengths: lengths, active: [Bool](repeating: true, count: seqs.count),
                                                 normalization: hyper.normalization)
        // This rank's share: whole micro-batches of the active sequences (all of them in one process).
        let mine = cluster.share(of: seqs.count, inBlocksOf: policy.maxBatch)
        seqs = Array(seqs[mine]); a = Array(a[mine])
        let coef = Array(allCoef[mine])
        let ref = try SequenceScoring.policyLogProbs(trainer: reference, sequences: seqs)
        var old: [SequenceLogProbs] = []
        var clipped = 0, tokens = 0
        for it in 0..<hyper.iterations {
            policy.zeroGrads()
            var pass: GRPOPassStats
            if it == 0 {
                pass = try accumulate(sequences: seqs, advantages: a, coefficients: coef, old: nil, ref: ref,
                                      recordLogProbs: hyper.iterations > 1, measureEntropy: true)
                old = pass.logProbs
                pass = try summed(pass)
                st.loss = pass.loss
                st.kl = pass.tokens == 0 ? 0 : pass.klSum / Double(pass.tokens)
                if pass.itemTerms > 0 { st.klItem = pass.klItemSum / Double(pass.itemTerms) }
                st.entropy = pass.entropyPositions == 0 ? 0 : pass.entropySum / Double(pass.entropyPositions)
            } else {
                pass = try summed(try accumulate(sequences: seqs, advantages: a, coefficients: coef, old: old, ref: ref))
            }
            clipped += pass.clipped; tokens += pass.tokens + pass.itemTerms
            try TrainingDiverged.check(pass.loss, "loss", step: optimizer.step + 1)
            let gp = policy.grads.baseAddress!, n = policy.params.count
            let norm = gradClip > 0 ? clipGradNorm(gp, n, maxNorm: gradClip) : gradNorm(gp, n)
            try TrainingDiverged.check(Double(norm), "gradient norm", step: optimizer.step + 1)
            if it == 0 { st.gradNorm = norm }
            optimizer.update(params: policy.params.data.baseAddress!, grads: UnsafePointer(gp), lr: lr)
        }
        st.clipFraction = tokens == 0 ? 0 : Double(clipped) / Double(tokens)
        return st
    }

    /// A pass's statistics summed over the ranks (in rank order), and its gradient summed into every rank's
    /// `policy.grads`; the pass itself in one process. The log-probs stay this rank's.
    func summed(_ pass: GRPOPassStats) throws -> GRPOPassStats {
        guard cluster.isDistributed else { return pass }
        var p = pass
        let d = try cluster.sumInRankOrder([pass.loss, pass.klSum, pass.entropySum, pass.klItemSum,
                                            Double(pass.clipped), Double(pass.tokens), Double(pass.entropyPositions),
                                            Double(pass.itemTerms)])   // counts exact
        (p.loss, p.klSum, p.entropySum, p.klItemSum) = (d[0], d[1], d[2], d[3])
        (p.clipped, p.tokens, p.entropyPositions, p.itemTerms) = (Int(d[4]), Int(d[5]), Int(d[6]), Int(d[7]))
        try cluster.sum(policy.grads)
        return p
    }
}
