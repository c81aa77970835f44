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
    for (negatives, alpha) in [(1, 0.0), (2, 0.0), (1, 0.7)] {   // alpha: RPO's chosen-NLL weight
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
        core.sftWeight = alpha
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
        let refLp = try SequenceScoring.policyLogProbs(trainer: core.reference, sequences: seqs)
        // Old log-probs: current ones shifted by ±0.1 (ρ inside the clip range) and one token far off (clipped).
        var old = try SequenceScoring.policyLogProbs(trainer: core.policy, sequences: seqs)
        for i in old.indices { for k in old[i].tokens.indices { old[i].tokens[k] += Float(0.2 * (rng.uniform() - 0.5)) } }
        old[0].tokens[0] -= 1.5
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

/// A tiny LLaMA with item memory: 30 tokens (0–2 specials, 3–9 text, 10–17 level-0 codes, 18–25 level-1 codes), 12
/// items of 2 SID tokens, item 5 cold.
private func tinyHybrid(seed: UInt64) throws -> (params: LlamaParameters, items: ItemTable) {
    let sids: [[Int32]] = (0..<12).map { (k: Int) -> [Int32] in
        let a: Int = 10 + k % 8, b: Int = 18 + (k / 8 + k * 3) % 8
        return [Int32(a), Int32(b)]
    }
    let table = try ItemTable(sids: sids, vocabSize: 30, warm: (0..<12).map { $0 != 4 })
    let c = LlamaConfig(vocabSize: 30, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2,
                        numKeyValueHeads: 1, maxPositionEmbeddings: 32)
    let params = try ItemMemoryFile.attach([Float](repeating: 0, count: 12 * 8), items: 12, to: LlamaParameters(config: c, seed: seed, std: 0.4))
    ItemMemoryFile.initialise(params, items: table, seed: seed, std: 0.4)
    return (params, table)
}

/// GRPO with the item-memory mix as the policy: central differences of the loss (SID tokens weighted by w, the item
/// head's term by 1, clipped terms included) in the LLaMA weights and the item residuals.
@Test func hybridGRPOGradientMatchesFiniteDifferences() throws {
    let (params, table) = try tinyHybrid(seed: 51)
    let (ref, _) = try tinyHybrid(seed: 52)
    var rng = Rng(seed: 8)
    let prompt: [Int32] = [1, 4, 7, 10, 18, 5, 11, 21, 6]   // text with two items inside (residuals on the input side)
    let items = [2, 6, 9, 5]
    let group = GRPOGroup(prompt: prompt, responses: items.map { table.sid($0) + [2] }.map(Array.init), items: items, target: 6)
    let seqs = (0..<4).map { group.encoded($0) }
    let core = try GRPOCore(policy: params, reference: ref, microBatch: 3, maxSeq: 16,
                            hyper: GRPOHyper(beta: 0.3, epsilon: 0.2, epsilonHigh: 0.28, normalization: .sequence),
                            adamW: AdamWConfig(), gradClip: 0, trie: nil, items: table, sidWeight: 0.5)
    let refLp = try SequenceScoring.policyLogProbs(trainer: core.reference, sequences: seqs)
    #expect(refLp.allSatisfy { $0.head != nil && $0.tokens.count == 3 })
    var old = try SequenceScoring.policyLogProbs(trainer: core.policy, sequences: seqs)
    for i in old.indices { old[i].head! += Float(0.2 * (rng.uniform() - 0.5)) }
    old[1].head! -= 1.5                                        // a clipped head term
    let adv = [-0.4, 1.2, -0.3, -0.5]
    let coef = GRPOObjective.coefficients(lengths: [4, 4, 4, 4], active: [true, true, true, true], normalization: .sequence)
    core.policy.zeroGrads()
    let pass = try core.accumulate(sequences: seqs, advantages: adv, coefficients: coef, old: old, ref: refLp)
    #expect(pass.itemTerms == 4 && pass.tokens == 12 && pass.clipped >= 1)
    let grad = Array(core.policy.grads)
    var idx = probeIndices(core.policy.grads, k: 6, r: 4, rng: &rng)
    let im = params.layout.itemMemory!
    idx += [2, 6, 9, 1].map { im.offset + ($0 - 1) * 8 + 3 }   // residuals of responses, and of a prompt item
    try checkFD(params, idx, grad) {
        try core.accumulate(sequences: seqs, advantages: adv, coefficients: coef, old: old, ref: refLp).loss
    }
    // The cold item's residual never moves; w = 0 leaves the SID tokens without gradient from the policy term.
    #expect(grad[(im.offset + 4 * 8)..<(im.offset + 5 * 8)].allSatisfy { $0 == 0 })
}

/// DPO with the mix as the policy: π = log p_head + w · Σ log p(s_t), checked by central differences.
@Test func hybridDPOGradientMatchesFiniteDifferences() throws {
    for alpha in [0.0, 0.7] {
        let (params, table) = try tinyHybrid(seed: 61)
        var rng = Rng(seed: 3)
        var pairs: [PreferencePair] = []
        for (chosen, rejected) in [(2, [7]), (9, [1]), (4, [12])] {
            let prompt: [Int32] = [1] + (0..<5).map { _ in Int32(3 + rng.int(below: 7)) }
            var pair = PreferencePair(chosen: SequenceScoring.encode(prompt: prompt, response: Array(table.sid(chosen)) + [2]),
                                      rejected: rejected.map { SequenceScoring.encode(prompt: prompt, response: Array(table.sid($0)) + [2]) })
            pair.refChosen = -6 - rng.uniform(); pair.refRejected = [-6 - rng.uniform()]
            pairs.append(pair)
        }
        let core = try DPOCore(params: params, negatives: 1, pairsPerMicroBatch: 2, maxSeq: 12, beta: 0.5, adamW: AdamWConfig(),
                               gradClip: 0, items: table, sidWeight: 0.25)
        core.sftWeight = alpha
        core.trainer.zeroGrads()
        _ = try core.accumulateGradient(pairs)
        let grad = Array(core.trainer.grads)
        let im = params.layout.itemMemory!
        let idx = probeIndices(core.trainer.grads, k: 6, r: 4, rng: &rng) + [2, 7, 9].map { im.offset + ($0 - 1) * 8 + 5 }
        try checkFD(params, idx, grad) { try core.accumulateGradient(pairs).loss }
        // The reference of an untouched policy is the mix's log-prob: the first loss is ln 2.
        var fresh = pairs
        try core.computeReference(&fresh)
        let seqLp = try SequenceScoring.policyLogProbs(trainer: core.trainer, sequences: [fresh[0].chosen])[0]
        // The reference scores the pairs in one batch, this check one sequence alone: the products have other shapes,
        // and some OpenBLAS kernel sets (Haswell's) round them differently in the last bit of the fp32 log-probs (≈ 1e-6
        // at these magnitudes). A wrong mix weight or a missing term would be off by more than 1e-2.
        #expect(abs(fresh[0].refChosen - seqLp.policy(sidWeight: 0.25)) < 1e-5)
        if alpha == 0 { #expect(abs(try core.accumulateGradient(fresh).loss - log(2.0)) < 1e-6) }
    }
}

@Test func referenceSyncMovesTheReferenceTowardThePolicy() throws {
    let params = tinyParams(seed: 71), ref = tinyParams(seed: 72)
    let p0 = Array(params.data), r0 = Array(ref.data)
    let core = try GRPOCore(policy: params, reference: ref, microBatch: 2, maxSeq: 8, hyper: GRPOHyper(), adamW: AdamWConfig(),
                            gradClip: 0, trie: nil)
    core.syncReference(alpha: 0.6)
    for i in stride(from: 0, to: p0.count, by: 37) { #expect(abs(ref.data[i] - (0.6 * p0[i] + 0.4 * r0[i])) < 1e-6) }
    #expect(Array(params.data) == p0)   // the policy is untouched
    core.syncReference(alpha: 1)
    #expect(Array(ref.data) == p0)
}
