// Shared plumbing of the preference trainers: packing encoded (prompt, response) sequences into the
// right-padded [B,T] batches `LlamaTrainer` takes, forward-only scoring of sequences in micro-batches
// (summed response log-probs for DPO, per-token log-probs for GRPO), and the entropy of the trie-
// constrained next-token distribution at response positions.
//
// Log-probs here are the trainer's: log-softmax over the FULL vocabulary at each response position (the
// quantity the model is trained on). Beam search ranks by log-probs renormalised over the trie's allowed
// tokens; the two differ by the log of the allowed mass, which the policy learns to push towards 0 in SFT.
import Foundation

/// A right-padded batch for `LlamaTrainer.forward`.
public struct PaddedBatch: Sendable {
    /// [B,T] inputs (padding: the first sequence's first token, never trained).
    public var tokens: [Int32]
    /// [B,T] next-token targets, −100 where not trained.
    public var targets: [Int32]
    public var batch: Int
    public var seq: Int

    /// Packs `sequences` (at least one) to the longest one's length.
    public init(_ sequences: [EncodedExample]) {
        precondition(!sequences.isEmpty)
        let T = sequences.map(\.inputs.count).max()!, B = sequences.count
        let pad = sequences[0].inputs[0]
        var tok = [Int32](repeating: pad, count: B * T), tgt = [Int32](repeating: ignoreTarget, count: B * T)
        for (b, s) in sequences.enumerated() {
            for t in 0..<s.inputs.count { tok[b * T + t] = s.inputs[t]; tgt[b * T + t] = s.targets[t] }
        }
        tokens = tok; targets = tgt; batch = B; seq = T
    }
}

/// One sequence's log-probs: its trained (response) tokens and, for a hybrid policy, the item head's log-prob of its
/// item.
public struct SequenceLogProbs: Sendable, Equatable {
    public var tokens: [Float]
    public var head: Float?
    public init(tokens: [Float], head: Float? = nil) { self.tokens = tokens; self.head = head }

    /// log π = head + w · Σ tokens (w = 1 and no head term for a SID-only policy).
    public func policy(sidWeight w: Float?) -> Double {
        let s = tokens.reduce(0.0) { $0 + Double($1) }
        guard let w, let head else { return s }
        return Double(head) + Double(w) * s
    }
}

/// Forward-only scoring with a `LlamaTrainer`.
public enum SequenceScoring {
    /// The training sequence of a prompt ([bos] + prompt ids) followed by a response (SID tokens + EOS, as
    /// the trie's paths): targets on the response tokens only.
    public static func encode(prompt: [Int32], response: [Int32]) -> EncodedExample {
        let ids = prompt + response
        let n = ids.count
        var targets = [Int32](repeating: ignoreTarget, count: n - 1)
        for t in (prompt.count - 1)..<(n - 1) { targets[t] = ids[t + 1] }
        return EncodedExample(inputs: Array(ids[0..<(n - 1)]), targets: targets, promptLength: prompt.count)
    }

    /// Summed log-probs of each sequence's trained positions (Double sums, in position order), in micro-batches of at
    /// most `trainer.maxBatch` sequences.
    public static func sequenceLogProbs(trainer: LlamaTrainer, sequences: [EncodedExample]) throws -> [Double] {
        try policyLogProbs(trainer: trainer, sequences: sequences).map { $0.tokens.reduce(0.0) { $0 + Double($1) } }
    }

    /// Item-head log-prob of each row's item after a forward with `itemHead` on: the head row of a (prompt, response)
    /// sequence sits before its first SID token, one per row.
    public static func headLogProbs(_ trainer: LlamaTrainer, batch: Int, seq: Int) throws -> [Float] {
        var out = [Float](repeating: .nan, count: batch)
        var seen = [Bool](repeating: false, count: batch)
        for h in trainer.itemHeadLogProbs {
            let b = h.position / seq
            guard !seen[b] else { throw AlignError.invalidArgument("row \(b) holds more than one item-head position") }
            seen[b] = true; out[b] = h.logp
        }
        guard seen.allSatisfy({ $0 }) else { throw AlignError.invalidArgument("a response is not an item the item head scores") }
        return out
    }

    /// Per-token log-probs of each sequence's trained positions and, when the trainer runs the item head, the head's
    /// log-prob of the response's item (the hybrid policy's terms), in micro-batches.
    public static func policyLogProbs(trainer: LlamaTrainer, sequences: [EncodedExample]) throws -> [SequenceLogProbs] {
        var out: [SequenceLogProbs] = []
        out.reserveCapacity(sequences.count)
        var start = 0
        while start < sequences.count {
            let end = min(sequences.count, start + trainer.maxBatch)
            let pb = PaddedBatch(Array(sequences[start..<end]))
            try trainer.forward(tokens: pb.tokens, targets: pb.targets, batch: pb.batch, seq: pb.seq)
            let lp = trainer.tokenLogProbs
            let head = trainer.itemHead ? try headLogProbs(trainer, batch: pb.batch, seq: pb.seq) : nil
            for b in 0..<pb.batch {
                var row: [Float] = []
                for t in 0..<pb.seq where pb.targets[b * pb.seq + t] != ignoreTarget { row.append(lp[b * pb.seq + t]) }
                out.append(SequenceLogProbs(tokens: row, head: head?[b]))
            }
            start = end
        }
        return out
    }

    /// Σ over the response positions of row `b` of the last forward of the entropy (nats) of the next-token
    /// distribution restricted to the trie's allowed tokens and renormalised (exact, temperature 1), and the
    /// number of positions. The response must be a trie path from the root (SID tokens [+ end token]).
    public static func constrainedEntropy(trainer: LlamaTrainer, batch pb: PaddedBatch, row b: Int,
                                          trie: SIDTrie) -> (sum: Double, positions: Int) {
        let V = trainer.config.vocabSize, T = pb.seq
        let logits = trainer.logits
        var node = 0, sum = 0.0, n = 0
        for t in 0..<T where pb.targets[b * T + t] != ignoreTarget {
            let e0 = Int(trie.edgeStart[node]), e1 = Int(trie.edgeStart[node + 1])
            if e0 == e1 { break }
            let base = (b * T + t) * V
            var m = -Float.infinity
            for e in e0..<e1 { m = max(m, logits[base + Int(trie.edgeTokens[e])]) }
            var z = 0.0, zx = 0.0
            for e in e0..<e1 {
                let x = Double(logits[base + Int(trie.edgeTokens[e])] - m)
                let p = exp(x)
                z += p; zx += p * x
            }
            sum += log(z) - zx / z            // H = log Z − Σ p x / Z  (x = logit − max)
            n += 1
            guard let c = trie.child(node, pb.targets[b * T + t]) else { break }
            node = c
        }
        return (sum, n)
    }
}
