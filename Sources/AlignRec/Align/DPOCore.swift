// The DPO optimisation core, independent of where the pairs come from: reference log-probs computed once
// with the starting weights (so only one model sits in memory), then steps of sigmoid DPO (one negative) or
// S-DPO (several) on batches of pairs. A pair's chosen and rejected sequences always share a micro-batch,
// so each micro-batch's loss terms — and the per-token weights d loss / d logp the trainer back-propagates —
// are complete after its own forward: one forward and one backward per sequence per step.
//
// Hybrid policy (a model with item memory, `sidWeight` set): a response's log-prob is the mix's,
// π = log p_head(item) + w · Σ_t log p(s_t) (GRPOCore.swift), for the reference too; dL/dπ reaches the SID tokens
// with weight w and the item head's row with weight 1.
//
// Across the ranks of a data-parallel job (`cluster`, every rank given the same pairs) each rank scores and
// back-propagates a contiguous share of the micro-batches; the gradients and the step's statistics are summed
// in rank order, so every rank applies the same update. The micro-batches are those of one process; only the
// order in which their gradients are added differs (P − 1 more partial sums), so the loss curve agrees with one
// process up to rounding (docs/scale-out.md states the tolerance the tests hold it to).
import Foundation

/// One preference example: a prompt with the chosen response and N ≥ 1 rejected responses.
public struct PreferencePair: Sendable {
    /// [bos] + prompt + chosen response (+ EOS target).
    public var chosen: EncodedExample
    /// One encoded sequence per negative.
    public var rejected: [EncodedExample]
    /// Reference log-prob of the chosen response (filled by `DPOCore.computeReference`).
    public var refChosen: Double
    /// Reference log-prob of each rejected response.
    public var refRejected: [Double]
    /// The target item and the rejected items (for logs).
    public var chosenItem: Int
    public var rejectedItems: [Int]

    /// A pair with zero reference log-probs (call `DPOCore.computeReference`).
    public init(chosen: EncodedExample, rejected: [EncodedExample], chosenItem: Int = 0, rejectedItems: [Int] = []) {
        self.chosen = chosen; self.rejected = rejected
        self.refChosen = 0; self.refRejected = [Double](repeating: 0, count: rejected.count)
        self.chosenItem = chosenItem; self.rejectedItems = rejectedItems
    }

    /// The sequences in micro-batch order: chosen, then the rejected ones.
    var sequences: [EncodedExample] { [chosen] + rejected }
}

/// Means over a step's pairs of the DPO quantities (TRL's log names in the metrics file).
public struct DPOStepStats: Sendable {
    public var loss = 0.0
    public var chosenReward = 0.0
    public var rejectedReward = 0.0
    public var margin = 0.0
    public var accuracy = 0.0
    /// Mean over pairs of (π − ref) of the chosen response, unscaled (how far the policy moved).
    public var chosenLogRatio = 0.0
    /// Global gradient norm before clipping (0 when not computed).
    public var gradNorm: Float = 0
    public var pairs = 0
    public init() {}
}

/// DPO training of one LLaMA model.
public final class DPOCore {
    /// Forward/backward engine (its `params` are the policy, updated in place).
    public let trainer: LlamaTrainer
    /// AdamW state.
    public let optimizer: AdamW
    /// β of the loss.
    public let beta: Double
    /// Clip the global gradient norm to this (0: no clipping).
    public let gradClip: Float
    /// Pairs per micro-batch (each takes 1 + N rows of the trainer).
    public let pairsPerMicroBatch: Int
    /// Weight α of the chosen responses' mean token NLL added to the loss (RPO, Pang et al. 2024:
    /// L = L_DPO + α·(−π_w/|y_w|)); 0 = plain DPO. Counters the fall of the chosen log-prob.
    public var sftWeight: Double = 0
    /// Hybrid policy: the mix's SID weight w (nil: the SID tokens alone are the policy).
    public let sidWeight: Float?
    /// The processes the pairs are split over (one: this process alone).
    public var cluster: any Collective = Cluster.world

    /// Plans memory for micro-batches of `pairsPerMicroBatch` pairs with `negatives` negatives each and
    /// sequences of up to `maxSeq` inputs.
    public init(params: LlamaParameters, negatives: Int, pairsPerMicroBatch: Int, maxSeq: Int, beta: Double,
                adamW: AdamWConfig, gradClip: Float, items: ItemTable? = nil, sidWeight: Float? = nil,
                precision: Precision = .fp32) throws {
        guard negatives >= 1, pairsPerMicroBatch >= 1, maxSeq >= 2 else {
            throw AlignError.invalidArgument("DPO needs ≥ 1 negative, ≥ 1 pair per micro-batch and sequences ≥ 2 tokens")
        }
        guard beta > 0, beta.isFinite else { throw AlignError.invalidArgument("DPO beta must be > 0 (got \(beta))") }
        guard sidWeight == nil || items != nil else { throw AlignError.invalidArgument("a hybrid DPO policy needs the item memory") }
        if let w = sidWeight, !(w >= 0 && w.isFinite) { throw AlignError.invalidArgument("the mix's SID weight must be ≥ 0 (got \(w))") }
        trainer = LlamaTrainer(params: params, maxBatch: pairsPerMicroBatch * (1 + negatives), maxSeq: maxSeq, items: items,
                               precision: precision)
        trainer.itemHead = sidWeight != nil
        self.sidWeight = sidWeight
        optimizer = AdamW(count: params.count, groups: params.paramGroups, config: adamW)
        self.beta = beta; self.gradClip = gradClip; self.pairsPerMicroBatch = pairsPerMicroBatch
    }

    /// Fills every pair's reference log-probs with the current weights (call before the first step).
    /// Across ranks each scores a share of the micro-batches and the log-probs are gathered in order.
    public func computeReference(_ pairs: inout [PreferencePair], progress: ProgressBar? = nil) throws {
        let flat = pairs.flatMap(\.sequences)
        let mine = cluster.share(of: flat.count, inBlocksOf: trainer.maxBatch)
        var local: [Double] = []
        local.reserveCapacity(mine.count)
        var start = mine.lowerBound
        while start < mine.upperBound {   // in chunks, for the progress bar
            let end = min(mine.upperBound, start + 256)
            local += try SequenceScoring.policyLogProbs(trainer: trainer, sequences: Array(flat[start..<end])).map { $0.policy(sidWeight: sidWeight) }
            progress?.advance(end - start)
            start = end
        }
        let lp = try cluster.gather(local)
        var k = 0
        for i in pairs.indices {
            pairs[i].refChosen = lp[k]; k += 1
            for j in pairs[i].rejected.indices { pairs[i].refRejected[j] = lp[k]; k += 1 }
        }
    }

    /// Accumulates into `trainer.grads` the gradient of the mean DPO loss over `pairs` (grads are NOT
    /// zeroed here) and returns the step's statistics; `total` pairs make the mean (default: these).
    public func accumulateGradient(_ pairs: [PreferencePair], total: Int? = nil) throws -> DPOStepStats {
        var st = DPOStepStats()
        let n = Double(total ?? pairs.count)
        var start = 0
        while start < pairs.count {
            let chunk = Array(pairs[start..<min(pairs.count, start + pairsPerMicroBatch)])
            let seqs = chunk.flatMap(\.sequences)
            let pb = PaddedBatch(seqs)
            try trainer.forward(tokens: pb.tokens, targets: pb.targets, batch: pb.batch, seq: pb.seq)
            let lp = trainer.tokenLogProbs
            let head = sidWeight == nil ? nil : try SequenceScoring.headLogProbs(trainer, batch: pb.batch, seq: pb.seq)
            let w = Double(sidWeight ?? 1)
            /// The policy log-prob of row b and its number of terms (tokens, plus the head term of a hybrid policy).
            func summed(_ b: Int) -> (sum: Double, count: Int) {
                var s = 0.0, c = 0
                for t in 0..<pb.seq where pb.targets[b * pb.seq + t] != ignoreTarget { s += Double(lp[b * pb.seq + t]); c += 1 }
                guard let head else { return (s, c) }
                return (Double(head[b]) + w * s, c + 1)
            }
            var rowWeight = [Double](repeating: 0, count: pb.batch)
            var row = 0
            for p in chunk {
                let (pc, nc) = summed(row)
                let pr = (0..<p.rejected.count).map { summed(row + 1 + $0).sum }
                let term = try DPOLoss.term(policyChosen: pc, policyRejected: pr, refChosen: p.refChosen,
                                            refRejected: p.refRejected, beta: beta)
                rowWeight[row] = term.dPolicyChosen / n
                if sftWeight > 0 && nc > 0 {
                    st.loss -= sftWeight * pc / Double(nc) / n
                    rowWeight[row] -= sftWeight / Double(nc) / n
                }
                for j in 0..<pr.count { rowWeight[row + 1 + j] = term.dPolicyRejected[j] / n }
                st.loss += term.loss / n; st.chosenReward += term.chosenReward / n
                st.rejectedReward += term.rejectedReward / n; st.margin += term.margin / n
                st.accuracy += term.accuracy / n; st.chosenLogRatio += (pc - p.refChosen) / n
                row += 1 + p.rejected.count
            }
            var tw = [Float](repeating: 0, count: pb.batch * pb.seq)
            for b in 0..<pb.batch {
                for t in 0..<pb.seq where pb.targets[b * pb.seq + t] != ignoreTarget { tw[b * pb.seq + t] = Float(w * rowWeight[b]) }
            }
            if head != nil { try trainer.backward(weights: tw, itemHeadWeights: rowWeight.map { Float($0) }) } else { try trainer.backward(weights: tw) }
            start += chunk.count
        }
        st.pairs = pairs.count
        return st
    }

    /// One optimiser step on `pairs` at learning rate `lr` (across ranks: each takes its share of the
    /// micro-batches, then gradients and statistics are summed).
    public func step(_ pairs: [PreferencePair], lr: Float) throws -> DPOStepStats {
        trainer.zeroGrads()
        var st = try accumulateGradient(Array(pairs[cluster.share(of: pairs.count, inBlocksOf: pairsPerMicroBatch)]), total: pairs.count)
        st.pairs = pairs.count
        if cluster.isDistributed {
            let s = try cluster.sumInRankOrder([st.loss, st.chosenReward, st.rejectedReward, st.margin, st.accuracy, st.chosenLogRatio])
            (st.loss, st.chosenReward, st.rejectedReward, st.margin, st.accuracy, st.chosenLogRatio) = (s[0], s[1], s[2], s[3], s[4], s[5])
            try cluster.sum(trainer.grads)
        }
        try TrainingDiverged.check(st.loss, "loss", step: optimizer.step + 1)
        let g = trainer.grads.baseAddress!, n = trainer.params.count
        st.gradNorm = gradClip > 0 ? clipGradNorm(g, n, maxNorm: gradClip) : gradNorm(g, n)
        try TrainingDiverged.check(Double(st.gradNorm), "gradient norm", step: optimizer.step + 1)
        optimizer.update(params: trainer.params.data.baseAddress!, grads: UnsafePointer(g), lr: lr)
        return st
    }
}
