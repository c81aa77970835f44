// The DPO optimisation core, independent of where the pairs come from: reference log-probs computed once
// with the starting weights (so only one model sits in memory), then steps of sigmoid DPO (one negative) or
// S-DPO (several) on batches of pairs. A pair's chosen and rejected sequences always share a micro-batch,
// so each micro-batch's loss terms — and the per-token weights d loss / d logp the trainer back-propagates —
// are complete after its own forward: one forward and one backward per sequence per step.
import Foundation

/// One preference example: a prompt with the chosen response and N ≥ 1 rejected responses.
public struct PreferencePair: Sendable {
    /// [bos] + prompt + chosen response (+ EOS target).
    public var chosen: EncodedExample
    /// One encoded sequence per negative.
    public var rejected: [EncodedExample]
    /// Summed reference log-prob of the chosen response (filled by `DPOCore.computeReference`).
    public var refChosen: Double
    /// Summed reference log-prob of each rejected response.
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

    /// Plans memory for micro-batches of `pairsPerMicroBatch` pairs with `negatives` negatives each and
    /// sequences of up to `maxSeq` inputs.
    public init(params: LlamaParameters, negatives: Int, pairsPerMicroBatch: Int, maxSeq: Int, beta: Double,
                adamW: AdamWConfig, gradClip: Float, items: ItemTable? = nil, precision: Precision = .fp32) throws {
        guard negatives >= 1, pairsPerMicroBatch >= 1, maxSeq >= 2 else {
            throw AlignError.invalidArgument("DPO needs ≥ 1 negative, ≥ 1 pair per micro-batch and sequences ≥ 2 tokens")
        }
        guard beta > 0, beta.isFinite else { throw AlignError.invalidArgument("DPO beta must be > 0 (got \(beta))") }
        trainer = LlamaTrainer(params: params, maxBatch: pairsPerMicroBatch * (1 + negatives), maxSeq: maxSeq, items: items,
                               precision: precision)
        optimizer = AdamW(count: params.count, groups: params.paramGroups, config: adamW)
        self.beta = beta; self.gradClip = gradClip; self.pairsPerMicroBatch = pairsPerMicroBatch
    }

    /// Fills every pair's reference log-probs with the current weights (call before the first step).
    public func computeReference(_ pairs: inout [PreferencePair], progress: ProgressBar? = nil) throws {
        let flat = pairs.flatMap(\.sequences)
        let lp = try SequenceScoring.sequenceLogProbs(trainer: trainer, sequences: flat, progress: progress)
        var k = 0
        for i in pairs.indices {
            pairs[i].refChosen = lp[k]; k += 1
            for j in pairs[i].rejected.indices { pairs[i].refRejected[j] = lp[k]; k += 1 }
        }
    }

    /// Accumulates into `trainer.grads` the gradient of the mean DPO loss over `pairs` (grads are NOT
    /// zeroed here) and returns the step's statistics.
    public func accumulateGradient(_ pairs: [PreferencePair]) throws -> DPOStepStats {
        var st = DPOStepStats()
        let n = Double(pairs.count)
        var start = 0
        while start < pairs.count {
            let chunk = Array(pairs[start..<min(pairs.count, start + pairsPerMicroBatch)])
            let seqs = chunk.flatMap(\.sequences)
            let pb = PaddedBatch(seqs)
            try trainer.forward(tokens: pb.tokens, targets: pb.targets, batch: pb.batch, seq: pb.seq)
            let lp = trainer.tokenLogProbs
            func summed(_ b: Int) -> (sum: Double, count: Int) {
                var s = 0.0, c = 0
                for t in 0..<pb.seq where pb.targets[b * pb.seq + t] != ignoreTarget { s += Double(lp[b * pb.seq + t]); c += 1 }
                return (s, c)
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
            var w = [Float](repeating: 0, count: pb.batch * pb.seq)
            for b in 0..<pb.batch {
                for t in 0..<pb.seq where pb.targets[b * pb.seq + t] != ignoreTarget { w[b * pb.seq + t] = Float(rowWeight[b]) }
            }
            try trainer.backward(weights: w)
            start += chunk.count
        }
        st.pairs = pairs.count
        return st
    }

    /// One optimiser step on `pairs` at learning rate `lr`.
    public func step(_ pairs: [PreferencePair], lr: Float) throws -> DPOStepStats {
        trainer.zeroGrads()
        var st = try accumulateGradient(pairs)
        try TrainingDiverged.check(st.loss, "loss", step: optimizer.step + 1)
        let g = trainer.grads.baseAddress!, n = trainer.params.count
        st.gradNorm = gradClip > 0 ? clipGradNorm(g, n, maxNorm: gradClip) : gradNorm(g, n)
        try TrainingDiverged.check(Double(st.gradNorm), "gradient norm", step: optimizer.step + 1)
        optimizer.update(params: trainer.params.data.baseAddress!, grads: UnsafePointer(g), lr: lr)
        return st
    }
}
