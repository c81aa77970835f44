// LlamaTrainer behaviour beyond the golden numbers: right padding never changes earlier positions,
// micro-batch gradient accumulation equals one big batch, the per-token-weight backward (DPO/GRPO path)
// agrees with finite differences of Σ w·logp, and bad inputs raise typed errors.
import AlignCore
import Foundation
import TestSupport
import Testing

@Suite struct LlamaTrainerTests {
    @Test func rightPaddingDoesNotChangeEarlierPositions() throws {
        let f = try LlamaFixture("llama-tiny")
        let a: [Int32] = [5, 17, 200, 3, 44], ta: [Int32] = [17, 200, 3, 44, 9]
        let b: [Int32] = [1, 2, 3, 4, 5, 6, 7, 8, 9], tb: [Int32] = [ignoreIndex, ignoreIndex, 4, 5, 6, 7, 8, 9, 10]
        let tr = LlamaTrainer(params: f.params, maxBatch: 2, maxSeq: 9)
        try tr.forward(tokens: a, targets: ta, batch: 1, seq: 5)
        let alone = Array(tr.tokenLogProbs), aloneSum = tr.sequenceLogProbs()[0]
        let pad = [Int32](repeating: 0, count: 4), padT = [Int32](repeating: ignoreIndex, count: 4)
        try tr.forward(tokens: a + pad + b, targets: ta + padT + tb, batch: 2, seq: 9)
        let batched = Array(tr.tokenLogProbs)
        #expect(maxAbsDiff(Array(batched[0..<5]), alone) < 1e-5)
        #expect(batched[5..<9].allSatisfy { $0 == 0 } && batched[9] == 0 && batched[10] == 0)
        let sums = tr.sequenceLogProbs()
        #expect(abs(sums[0] - aloneSum) < 1e-4)
        #expect(abs(sums[1] - batched[9..<18].reduce(0, +)) < 1e-4)
        #expect(tr.trainedCount == 5 + 7)
    }

    @Test func microBatchesAccumulateToTheFullBatch() throws {
        let f = try LlamaFixture("llama-tiny")
        let T = f.T, n = f.B * T
        let full = LlamaTrainer(params: f.params, maxBatch: f.B, maxSeq: T)
        try full.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: T)
        let total = full.trainedCount
        full.zeroGrads()
        try full.backwardMeanCrossEntropy()
        let micro = LlamaTrainer(params: f.params, maxBatch: 1, maxSeq: T)
        micro.zeroGrads()
        for (lo, hi) in (0..<f.B).map({ ($0, $0 + 1) }) {
            try micro.forward(tokens: Array(f.inputIds[(lo * T)..<(hi * T)]), targets: Array(f.targets[(lo * T)..<(hi * T)]),
                              batch: hi - lo, seq: T)
            try micro.backwardMeanCrossEntropy(scale: Float(micro.trainedCount) / Float(total))
        }
        #expect(maxAbsDiff(Array(micro.grads), Array(full.grads)) < 1e-6)
        #expect(n == f.inputIds.count)
        #expect(throws: AlignError.self) { try micro.backwardMeanCrossEntropy() }   // backward twice
    }

    @Test func weightedBackwardMatchesFiniteDifferences() throws {
        let f = try LlamaFixture("llama-tiny-tied")
        let tr = LlamaTrainer(params: f.params, maxBatch: 2, maxSeq: 6)
        try expectWeightedBackwardMatchesFiniteDifferences(tr, f, batch: 2, seq: 6, seed: 21, probesPerTensor: 2)
    }

    @Test func sequenceWeightsEqualExpandedTokenWeights() throws {
        let f = try LlamaFixture("llama-tiny")
        let tr = LlamaTrainer(params: f.params, maxBatch: f.B, maxSeq: f.T)
        let sw: [Float] = (0..<f.B).map { Float($0) - 0.7 }
        try tr.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        tr.zeroGrads()
        try tr.backward(sequenceWeights: sw)
        let a = Array(tr.grads)
        try tr.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        tr.zeroGrads()
        try tr.backward(weights: (0..<(f.B * f.T)).map { sw[$0 / f.T] })
        #expect(maxAbsDiff(a, Array(tr.grads)) == 0)
        #expect(a.contains { $0 != 0 })
    }

    /// The LM head over trained rows only (SFT's mode) gives the full path's log-probs, loss and gradients,
    /// with and without dropout, tied and untied, including a batch where some rows train nothing.
    @Test(arguments: ["llama-tiny", "llama-tiny-tied"])
    func trainedRowsOnlyHeadEqualsTheFullHead(fixture: String) throws {
        let f = try LlamaFixture(fixture)
        var tgt = f.targets
        for i in stride(from: 0, to: tgt.count, by: 3) { tgt[i] = ignoreIndex }            // a third untrained
        for t in 0..<f.T { tgt[t] = ignoreIndex }                                           // row 0: nothing trained
        for key in [nil, UInt64(77)] as [UInt64?] {
            func run(compact: Bool) throws -> (lp: [Float], loss: Float, grads: [Float]) {
                let tr = LlamaTrainer(params: f.params, maxBatch: f.B, maxSeq: f.T, dropout: 0.1)
                tr.logitsForAllPositions = !compact
                tr.dropoutKey = key
                try tr.forward(tokens: f.inputIds, targets: tgt, batch: f.B, seq: f.T)
                tr.zeroGrads()
                let loss = tr.meanCrossEntropy()
                let lp = Array(tr.tokenLogProbs)
                try tr.backwardMeanCrossEntropy()
                return (lp, loss, Array(tr.grads))
            }
            let full = try run(compact: false), compact = try run(compact: true)
            #expect(maxAbsDiff(full.lp, compact.lp) < 1e-5, "log-probs (key \(String(describing: key)))")
            #expect(abs(full.loss - compact.loss) < 1e-5)
            let scale = full.grads.map(abs).max()!
            #expect(maxAbsDiff(full.grads, compact.grads) < 1e-5 * max(scale, 1), "gradients (key \(String(describing: key)))")
            #expect(compact.lp[0..<f.T].allSatisfy { $0 == 0 })
        }
    }

    @Test func badInputsRaiseTypedErrors() throws {
        let f = try LlamaFixture("llama-tiny")
        let tr = LlamaTrainer(params: f.params, maxBatch: 1, maxSeq: 4)
        #expect(throws: AlignError.self) { try tr.forward(tokens: [1, 2, 3, 4, 5], targets: [1, 2, 3, 4, 5], batch: 1, seq: 5) }
        #expect(throws: AlignError.self) { try tr.forward(tokens: [1, 2, 320, 4], targets: [1, 2, 3, 4], batch: 1, seq: 4) }
        #expect(throws: AlignError.self) { try tr.forward(tokens: [1, 2, 3, 4], targets: [1, -5, 3, 4], batch: 1, seq: 4) }
        #expect(throws: AlignError.self) { try tr.backward(weights: [1, 2, 3, 4]) }   // no forward yet
        try tr.forward(tokens: [1, 2, 3, 4], targets: [2, 3, 4, 5], batch: 1, seq: 4)
        #expect(throws: AlignError.self) { try tr.backward(weights: [1, 2]) }
    }
}

/// Central finite differences of Σ w·logp (w ~ N(0,1), drawn from `seed`) in `probesPerTensor` random entries
/// of every tensor against the trainer's accumulated gradient. The objective must be a deterministic function
/// of the weights (a fixed dropout key counts).
func expectWeightedBackwardMatchesFiniteDifferences(_ tr: LlamaTrainer, _ f: LlamaFixture, batch B: Int, seq T: Int,
                                                     seed: UInt64, probesPerTensor: Int) throws {
    let tok = Array(f.inputIds[0..<(B * T)]), tgt = Array(f.targets[0..<(B * T)])
    var rng = Rng(seed: seed)
    let w = (0..<(B * T)).map { _ in Float(rng.normal()) }
    func objective() throws -> Double {
        try tr.forward(tokens: tok, targets: tgt, batch: B, seq: T)
        var s = 0.0
        for i in 0..<(B * T) { s += Double(w[i]) * Double(tr.tokenLogProbs[i]) }
        return s
    }
    _ = try objective()
    tr.zeroGrads()
    try tr.backward(weights: w)
    let analytic = Array(tr.grads)
    #expect(analytic.contains { $0 != 0 })
    let h: Float = 1e-2
    for t in f.params.layout.tensors {
        for _ in 0..<probesPerTensor {
            let i = t.offset + rng.int(below: t.count)
            let saved = f.params.data[i]
            f.params.data[i] = saved + h; let up = try objective()
            f.params.data[i] = saved - h; let down = try objective()
            f.params.data[i] = saved
            let fd = (up - down) / Double(2 * h)
            #expect(abs(fd - Double(analytic[i])) <= 2e-3 + 2e-2 * abs(fd), "\(t.name)[\(i - t.offset)]: fd \(fd) vs \(analytic[i])")
        }
    }
}
