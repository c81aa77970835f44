// The GRPO optimisation core, independent of how rollouts are produced: given groups of G completions
// with rewards, it computes group advantages (zero-variance groups masked and skipped — they carry no
// gradient, so they cost no forward either), reference per-token log-probs with a frozen copy of the
// starting weights (a second LlamaTrainer), and runs `iterations` optimiser steps on the clipped objective
// of `GRPOObjective`. Old-policy log-probs are those of the weights before the step's first update
// (recorded during iteration 0's forward), so ρ = 1 in iteration 0 and clipping acts from iteration 1 on.
import Foundation

/// Hyper-parameters of the GRPO objective.
public struct GRPOHyper: Sendable, Equatable {
    public var beta: Double
    public var epsilon: Double
    public var epsilonHigh: Double
    public var normalization: LossNormalization
    /// Optimiser steps per rollout batch (μ in the GRPO paper).
    public var iterations: Int
    public init(beta: Double = 0.04, epsilon: Double = 0.2, epsilonHigh: Double = 0.28,
                normalization: LossNormalization = .token, iterations: Int = 1) {
        self.beta = beta; self.epsilon = epsilon; self.epsilonHigh = epsilonHigh
        self.normalization = normalization; self.iterations = iterations
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
    /// Per-token log-probs of each sequence (only when `recordLogProbs`).
    public var logProbs: [[Float]] = []
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

    /// `reference` must be a separate copy of the starting weights (same config).
    public init(policy params: LlamaParameters, reference ref: LlamaParameters, microBatch: Int, maxSeq: Int,
                hyper: GRPOHyper, adamW: AdamWConfig, gradClip: Float, trie: SIDTrie?, items: ItemTable? = nil,
                precision: Precision = .fp32) throws {
        guard microBatch >= 1, maxSeq >= 2 else { throw AlignError.invalidArgument("GRPO micro-batch must be ≥ 1 and sequences ≥ 2 tokens") }
        guard hyper.iterations >= 1 else { throw AlignError.invalidArgument("GRPO iterations must be ≥ 1 (got \(hyper.iterations))") }
        guard hyper.beta >= 0, hyper.epsilon >= 0, hyper.epsilon < 1, hyper.epsilonHigh >= 0 else {
            throw AlignError.invalidArgument("GRPO needs beta ≥ 0, 0 ≤ epsilon < 1, epsilon_high ≥ 0")
        }
        guard ref.count == params.count, ref.data.baseAddress != params.data.baseAddress else {
            throw AlignError.invalidArgument("the GRPO reference must be a separate copy of the policy's weights")
        }
        policy = LlamaTrainer(params: params, maxBatch: microBatch, maxSeq: maxSeq, items: items, precision: precision)
        reference = LlamaTrainer(params: ref, maxBatch: microBatch, maxSeq: maxSeq, items: items, precision: precision)
        optimizer = AdamW(count: params.count, groups: params.paramGroups, config: adamW)
        self.hyper = hyper; self.gradClip = gradClip; self.trie = trie
    }

    /// Accumulates into `policy.grads` the gradient of L = Σ_i c_i Σ_t ℓ_it over `sequences` (grads not
    /// zeroed). `old`/`ref` hold per-token log-probs of each sequence's trained positions; `old == nil` uses
    /// the current log-probs (ρ = 1); `recordLogProbs` keeps the current log-probs in the result.
    public func accumulate(sequences: [EncodedExample], advantages: [Double], coefficients: [Double],
                           old: [[Float]]?, ref: [[Float]], recordLogProbs: Bool = false,
                           measureEntropy: Bool = false) throws -> GRPOPassStats {
        var st = GRPOPassStats()
        var start = 0
        while start < sequences.count {
            let end = min(sequences.count, start + policy.maxBatch)
            let pb = PaddedBatch(Array(sequences[start..<end]))
            try policy.forward(tokens: pb.tokens, targets: pb.targets, batch: pb.batch, seq: pb.seq)
            let lp = policy.tokenLogProbs
            var w = [Float](repeating: 0, count: pb.batch * pb.seq)
            for b in 0..<pb.batch {
                let i = start + b
                var k = 0
                var row: [Float] = []
                for t in 0..<pb.seq where pb.targets[b * pb.seq + t] != ignoreTarget {
                    let x = Double(lp[b * pb.seq + t])
                    if recordLogProbs { row.append(lp[b * pb.seq + t]) }
                    let o = old.map { Double($0[i][k]) } ?? x
                    let term = GRPOObjective.tokenTerm(logp: x, old: o, ref: Double(ref[i][k]), advantage: advantages[i],
                                                       epsilon: hyper.epsilon, epsilonHigh: hyper.epsilonHigh, beta: hyper.beta)
                    st.loss += coefficients[i] * term.loss
                    w[b * pb.seq + t] = Float(coefficients[i] * term.dLogp)
                    st.klSum += term.kl; st.tokens += 1
                    if term.clipped { st.clipped += 1 }
                    k += 1
                }
                if recordLogProbs { st.logProbs.append(row) }
                if measureEntropy, let trie {
                    let e = SequenceScoring.constrainedEntropy(trainer: policy, batch: pb, row: b, trie: trie)
                    st.entropySum += e.sum; st.entropyPositions += e.positions
                }
            }
            try policy.backward(weights: w)
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
        let adv = try GRPOObjective.advantages(rewards: flatRewards, groupSize: g)
        st.meanReward = flatRewards.reduce(0, +) / Double(flatRewards.count)
        st.hitRate = Double(groups.filter { $0.items.contains($0.target) }.count) / Double(groups.count)
        st.fracZeroStd = adv.zeroStdFraction
        st.sequences = flatRewards.count

        var seqs: [EncodedExample] = [], a: [Double] = [], lengths: [Int] = []
        for (k, grp) in groups.enumerated() {
            for j in 0..<g where adv.active[k * g + j] {
                seqs.append(grp.encoded(j)); a.append(adv.advantages[k * g + j]); lengths.append(grp.responses[j].count)
            }
        }
        st.activeSequences = seqs.count
        if seqs.isEmpty { return st }
        let coef = GRPOObjective.coefficients(lengths: lengths, active: [Bool](repeating: true, count: seqs.count),
                                              normalization: hyper.normalization)
        let ref = try SequenceScoring.tokenLogProbs(trainer: reference, sequences: seqs)
        var old: [[Float]] = []
        var clipped = 0, tokens = 0
        for it in 0..<hyper.iterations {
            policy.zeroGrads()
            let pass: GRPOPassStats
            if it == 0 {
                pass = try accumulate(sequences: seqs, advantages: a, coefficients: coef, old: nil, ref: ref,
                                      recordLogProbs: hyper.iterations > 1, measureEntropy: true)
                old = pass.logProbs
                st.loss = pass.loss
                st.kl = pass.tokens == 0 ? 0 : pass.klSum / Double(pass.tokens)
                st.entropy = pass.entropyPositions == 0 ? 0 : pass.entropySum / Double(pass.entropyPositions)
            } else {
                pass = try accumulate(sequences: seqs, advantages: a, coefficients: coef, old: old, ref: ref)
            }
            clipped += pass.clipped; tokens += pass.tokens
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
}
