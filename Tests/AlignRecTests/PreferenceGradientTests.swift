// DPO and GRPO objectives through a tiny random LLaMA: the analytic gradient (per-token weights back-
// propagated by LlamaTrainer.backward) against central finite differences of the objective in a few
// parameters; and with a large β both methods stay near the reference while a small β moves away.
import AlignRec
import Foundation
import Testing

private func tinyParams(seed: UInt64) -> LlamaParameters {
    let c = LlamaConfig(vocabSize: 24, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2,
                        numKeyValueHeads: 1, maxPositionEmbeddings: 32)
    return LlamaParameters(config: c, seed: seed, std: 0.4)
}

private func randomSeq(_ rng: inout Rng, prompt: Int, response: Int) -> ([Int32], [Int32]) {
    let p = [Int32(1)] + (0..<prompt).map { _ in Int32(3 + rng.int(below: 21)) }
    let r = (0..<response).map { _ in Int32(3 + rng.int(below: 21)) }
    return (p, r)
}

/// Indices of the `k` largest |g| plus `r` random ones.
private func probeIndices(_ g: UnsafeMutableBufferPointer<Float>, k: Int, r: Int, rng: inout Rng) -> [Int] {
    let top = (0..<g.count).sorted { abs(g[$0]) > abs(g[$1]) }.prefix(k)
    return Array(top) + (0..<r).map { _ in rng.int(below: g.count) }
}

/// Central difference of `f` in parameter i (h in float), compared with the analytic `grad`.
private func checkFD(_ params: LlamaParameters, _ idx: [Int], _ grad: [Float], h: Float = 3e-3,
                     _ f: () throws -> Double) rethrows {
    for i in idx {
        let x0 = params.data[i]
        params.data[i] = x0 + h; let lp = try f()
        params.data[i] = x0 - h; let lm = try f()
        params.data[i] = x0
        let fd = (lp - lm) / Double(2 * h), an = Double(grad[i])
        #expect(abs(fd - an) <= 0.03 * abs(an) + 3e-4, "param \(i): finite difference \(fd) vs analytic \(an)")
    }
}

@Test func dpoGradientThroughModelMatchesFiniteDifferences() throws {
    for negatives in [1, 2] {
        let params = tinyParams(seed: 21)
        var rng = Rng(seed: 4)
        var pairs: [PreferencePair] = []
        for _ in 0..<3 {
            let (p, c) = randomSeq(&rng, prompt: 5 + rng.int(below: 4), response: 3)
            let rej = (0..<negatives).map { _ in TaskSampleBuilder.assemble(prompt: p, response: randomSeq(&rng, prompt: 0, response: 3).1, eos: 2) }
            var pair = PreferencePair(chosen: TaskSampleBuilder.assemble(prompt: p, response: c, eos: 2), rejected: rej)
            pair.refChosen = -9 - 2 * rng.uniform()
            pair.refRejected = (0..<negatives).map { _ in -9 - 2 * rng.uniform() }
            pairs.append(pair)
        }
        let core = try DPOCore(params: params, negatives: negatives, pairsPerMicroBatch: 2, maxSeq: 16, beta: 0.5,
                               adamW: AdamWConfig(), gradClip: 0)
        core.trainer.zeroGrads()
        _ = try core.accumulateGradient(pairs)
        let grad = Array(core.trainer.grads)
        let idx = probeIndices(core.trainer.grads, k: 6, r: 4, rng: &rng)
        try checkFD(params, idx, grad) { try core.accumulateGradient(pairs).loss }
    }
}

@Test func grpoGradientThroughModelMatchesFiniteDifferences() throws {
    for norm in LossNormalization.allCases {
        let params = tinyParams(seed: 22)
        let ref = tinyParams(seed: 23)
        var rng = Rng(seed: 6)
        let (p, _) = randomSeq(&rng, prompt: 6, response: 0)
        let responses = (0..<4).map { j in randomSeq(&rng, prompt: 0, response: 2 + j % 2).1 + [2] }
        let group = GRPOGroup(prompt: p, responses: responses, items: [1, 2, 3, 4], target: 2)
        let seqs = (0..<4).map { group.encoded($0) }
        let core = try GRPOCore(policy: params, reference: ref, microBatch: 3, maxSeq: 16,
                                hyper: GRPOHyper(beta: 0.3, epsilon: 0.2, epsilonHigh: 0.28, normalization: norm),
                                adamW: AdamWConfig(), gradClip: 0, trie: nil)
        let refLp = try SequenceScoring.tokenLogProbs(trainer: core.reference, sequences: seqs)
        // Old log-probs: current ones shifted by ±0.1 (ρ inside the clip range) and one token far off (clipped).
        var old = try SequenceScoring.tokenLogProbs(trainer: core.policy, sequences: seqs)
        for i in old.indices { for k in old[i].indices { old[i][k] += Float(0.2 * (rng.uniform() - 0.5)) } }
        old[0][0] -= 1.5
        let adv = [1.2, -0.4, -0.3, -0.5]
        let coef = GRPOObjective.coefficients(lengths: responses.map(\.count), active: [true, true, true, true], normalization: norm)
        core.policy.zeroGrads()
        let pass = try core.accumulate(sequences: seqs, advantages: adv, coefficients: coef, old: old, ref: refLp)
        #expect(pass.clipped >= 1 && pass.tokens == 14)
        let grad = Array(core.policy.grads)
        let idx = probeIndices(core.policy.grads, k: 6, r: 4, rng: &rng)
        try checkFD(params, idx, grad) {
            try core.accumulate(sequences: seqs, advantages: adv, coefficients: coef, old: old, ref: refLp).loss
        }
    }
}

/// After `steps` DPO steps with `beta`: mean |Δ| (unscaled margin (π_w − ref_w) − (π_l − ref_l)) and mean
/// |π − ref| over every sequence.
private func dpoDrift(beta: Double, steps: Int, lr: Float) throws -> (margin: Double, drift: Double) {
    let params = tinyParams(seed: 31)
    var rng = Rng(seed: 9)
    var pairs: [PreferencePair] = []
    for _ in 0..<6 {
        let (p, c) = randomSeq(&rng, prompt: 6, response: 3)
        let r = randomSeq(&rng, prompt: 0, response: 3).1
        pairs.append(PreferencePair(chosen: TaskSampleBuilder.assemble(prompt: p, response: c, eos: 2),
                                    rejected: [TaskSampleBuilder.assemble(prompt: p, response: r, eos: 2)]))
    }
    let core = try DPOCore(params: params, negatives: 1, pairsPerMicroBatch: 6, maxSeq: 16, beta: beta,
                           adamW: AdamWConfig(lr: lr, weightDecay: 0), gradClip: 1)
    try core.computeReference(&pairs)
    for _ in 0..<steps { _ = try core.step(pairs, lr: lr) }
    let now = try SequenceScoring.sequenceLogProbs(trainer: core.trainer, sequences: pairs.flatMap { [$0.chosen] + $0.rejected })
    var margin = 0.0, drift = 0.0
    for (i, p) in pairs.enumerated() {
        let rw = now[2 * i] - p.refChosen, rl = now[2 * i + 1] - p.refRejected[0]
        margin += abs(rw - rl) / Double(pairs.count)
        drift += (abs(rw) + abs(rl)) / Double(2 * pairs.count)
    }
    return (margin, drift)
}

@Test func dpoWithLargeBetaStaysNearReference() throws {
    // DPO has no explicit KL term: its loss saturates once β·Δ ≫ 1, so a large β stops the policy after a
    // margin of O(1/β) plus the optimiser's momentum tail (measured here: |Δ| 0.20 vs 0.76 for β = 0.1 after
    // 20 Adam steps), while a small β keeps widening the margin. Neither pins π(y) itself to the reference.
    let small = try dpoDrift(beta: 0.1, steps: 20, lr: 1e-4), large = try dpoDrift(beta: 1000, steps: 20, lr: 1e-4)
    #expect(small.margin > 0.5, "β = 0.1 should widen the margin (|Δ| \(small.margin))")
    #expect(large.margin < 0.35 * small.margin, "β = 1000 |Δ| \(large.margin) vs β = 0.1 |Δ| \(small.margin)")
    #expect(large.drift < 0.35 * small.drift, "β = 1000 drift \(large.drift) vs β = 0.1 drift \(small.drift)")
}

/// Mean per-token k3 KL to the reference after `steps` GRPO steps with `beta` on fixed rollouts.
private func grpoKL(beta: Double, steps: Int) throws -> Double {
    let params = tinyParams(seed: 41)
    let ref = LlamaParameters(config: params.config)
    ref.data.baseAddress!.update(from: params.data.baseAddress!, count: params.count)
    var rng = Rng(seed: 12)
    var groups: [GRPOGroup] = [], rewards: [[Double]] = []
    for k in 0..<4 {
        let (p, _) = randomSeq(&rng, prompt: 6, response: 0)
        let responses = (0..<4).map { _ in randomSeq(&rng, prompt: 0, response: 3).1 + [2] }
        groups.append(GRPOGroup(prompt: p, responses: responses, items: [1, 2, 3, 4], target: 1 + k % 4))
        rewards.append(GRPORewards.ranking(items: [1, 2, 3, 4], target: 1 + k % 4))
    }
    let core = try GRPOCore(policy: params, reference: ref, microBatch: 8, maxSeq: 16, hyper: GRPOHyper(beta: beta),
                            adamW: AdamWConfig(lr: 1e-2, weightDecay: 0), gradClip: 1, trie: nil)
    var kl = 0.0
    for _ in 0..<steps { kl = try core.step(groups: groups, rewards: rewards, lr: 1e-2).kl }
    return kl
}

@Test func grpoWithLargeBetaStaysNearReference() throws {
    let free = try grpoKL(beta: 0, steps: 12), tied = try grpoKL(beta: 100, steps: 12)
    #expect(free > 0.05, "β = 0 should move the policy (KL \(free))")
    #expect(tied < 0.05 * free, "β = 100 KL \(tied) vs β = 0 KL \(free)")
}
