// DataParallelTrainer: the batch's rows split over replicas give the whole batch's mean cross-entropy and its
// gradient (one replica: the plain trainer bit for bit; several: equal up to rounding), also with the compact
// LM head and with uneven shards; dropout masks of replica 0's rows are the plain trainer's; bad shapes are
// typed errors; a replica's loops run inline on its own thread (Parallel.inline).
import AlignCore
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct DataParallelTrainerTests {
    /// A [4, T] batch: the fixture's rows repeated with some targets masked, so shards have unequal counts.
    func batch(_ f: LlamaFixture) -> (tokens: [Int32], targets: [Int32], B: Int) {
        var tok: [Int32] = [], tgt: [Int32] = []
        for r in 0..<4 {
            let b = r % f.B
            tok += f.inputIds[(b * f.T)..<((b + 1) * f.T)]
            tgt += f.targets[(b * f.T)..<((b + 1) * f.T)].enumerated().map { $0.offset < r ? ignoreIndex : $0.element }
        }
        return (tok, tgt, 4)
    }

    @Test func shardsSumToTheWholeBatchGradient() throws {
        for name in ["llama-tiny", "llama-tiny-tied"] {
            let f = try LlamaFixture(name)
            let (tok, tgt, B) = batch(f)
            let plain = LlamaTrainer(params: f.params, maxBatch: B, maxSeq: f.T)
            for compact in [true, false] {
                plain.logitsForAllPositions = !compact
                try plain.forward(tokens: tok, targets: tgt, batch: B, seq: f.T)
                let loss = plain.meanCrossEntropy(), count = plain.trainedCount
                plain.zeroGrads()
                try plain.backwardMeanCrossEntropy()
                let want = Array(plain.grads)
                for workers in [1, 2, 3] {
                    let dp = DataParallelTrainer(params: f.params, maxBatch: B, maxSeq: f.T, workers: workers)
                    dp.logitsForAllPositions = !compact
                    dp.zeroGrads()
                    try dp.forward(tokens: tok, targets: tgt, batch: B, seq: f.T)
                    #expect(dp.trainedCount == count)
                    let l = dp.meanCrossEntropy()
                    if workers == 1 { #expect(l == loss) } else { #expect(abs(l - loss) < 1e-5, "\(name) loss \(l) vs \(loss)") }
                    try dp.backwardMeanCrossEntropy()
                    let got = Array(dp.grads)
                    if workers == 1 {
                        #expect(got == want, "\(name): one replica must be the plain trainer bit for bit")
                    } else {
                        let scale = want.map(abs).max()!
                        #expect(maxAbsDiff(got, want) < 1e-5 * max(scale, 1), "\(name) workers \(workers) compact \(compact)")
                    }
                    // A smaller batch than replicas × rows still works (only the active replicas count).
                    dp.zeroGrads()
                    try dp.forward(tokens: Array(tok.prefix(f.T)), targets: Array(tgt.prefix(f.T)), batch: 1, seq: f.T)
                    try dp.backwardMeanCrossEntropy()
                    plain.zeroGrads()
                    try plain.forward(tokens: Array(tok.prefix(f.T)), targets: Array(tgt.prefix(f.T)), batch: 1, seq: f.T)
                    try plain.backwardMeanCrossEntropy()
                    #expect(maxAbsDiff(Array(dp.grads), Array(plain.grads)) < 1e-6)
                }
            }
        }
    }

    @Test func replicaZeroKeepsThePlainDropoutMasks() throws {
        let f = try LlamaFixture("llama-tiny")
        let (tok, tgt, B) = batch(f)
        let plain = LlamaTrainer(params: f.params, maxBatch: B, maxSeq: f.T, dropout: 0.3)
        plain.dropoutKey = 77
        try plain.forward(tokens: tok, targets: tgt, batch: B, seq: f.T)
        let dp = DataParallelTrainer(params: f.params, maxBatch: B, maxSeq: f.T, dropout: 0.3, workers: 2)
        dp.dropoutKey = 77
        try dp.forward(tokens: tok, targets: tgt, batch: B, seq: f.T)
        // Rows 0 and 1 live in replica 0 with the same key: their log-probs match the plain trainer's.
        let n = 2 * f.T
        #expect(maxAbsDiff(Array(dp.replicas[0].tokenLogProbs.prefix(n)), Array(plain.tokenLogProbs.prefix(n))) < 1e-5)
        // Replica 1 draws other masks than the plain trainer used for rows 2 and 3.
        #expect(maxAbsDiff(Array(dp.replicas[1].tokenLogProbs.prefix(n)), Array(plain.tokenLogProbs[n..<(2 * n)])) > 1e-4)
    }

    @Test func dropoutRowsFollowTheirShard() throws {
        let f = try LlamaFixture("llama-tiny")
        let (tok, tgt, B) = batch(f)
        #expect(B == 4)
        let plain = LlamaTrainer(params: f.params, maxBatch: B, maxSeq: f.T)
        try plain.forward(tokens: tok, targets: tgt, batch: B, seq: f.T)
        let dp = DataParallelTrainer(params: f.params, maxBatch: B, maxSeq: f.T, dropout: 0.3, workers: 2)
        dp.dropoutKey = 77
        dp.dropoutRows = [true, false, true, false]   // one row with and one without in each replica
        try dp.forward(tokens: tok, targets: tgt, batch: B, seq: f.T)
        let T = f.T
        for r in 0..<2 {
            let local = Array(dp.replicas[r].tokenLogProbs)
            #expect(maxAbsDiff(Array(local[T..<(2 * T)]), Array(plain.tokenLogProbs[((2 * r + 1) * T)..<((2 * r + 2) * T)])) < 1e-5,
                    "replica \(r)'s second row runs without dropout")
            #expect(maxAbsDiff(Array(local[0..<T]), Array(plain.tokenLogProbs[(2 * r * T)..<((2 * r + 1) * T)])) > 1e-4)
        }
        dp.dropoutRows = [true, false]
        #expect(throws: AlignError.self) { try dp.forward(tokens: tok, targets: tgt, batch: B, seq: f.T) }
    }

    @Test func loopsInsideAnInlineShareRunOnTheCallingThread() {
        func chunkCount() -> Int {
            let lock = NSLock()
            var chunks = 0
            Parallel.chunks(1 << 16, minPerWorker: 1) { _ in lock.lock(); chunks += 1; lock.unlock() }
            return chunks
        }
        #expect(chunkCount() == Parallel.workers)
        let inside = Parallel.inline { () -> Int in
            var ranges: [Range<Int>] = []
            Parallel.workerChunks(1000) { w, r in ranges.append(r); #expect(w == 0) }
            var seen = 0
            Parallel.forEach(10) { _ in seen += 1 }
            #expect(ranges == [0..<1000] && seen == 10)
            return Parallel.inline { chunkCount() }   // nested: still inline, and restored only by the outer call
                + chunkCount()
        }
        #expect(inside == 2)
        #expect(chunkCount() == Parallel.workers, "the flag is restored")
    }

    @Test func badShapesAreTypedErrors() throws {
        let f = try LlamaFixture("llama-tiny")
        let dp = DataParallelTrainer(params: f.params, maxBatch: 2, maxSeq: f.T, workers: 2)
        #expect(throws: AlignError.self) { try dp.backwardMeanCrossEntropy() }   // no forward yet
        #expect(throws: AlignError.self) {
            try dp.forward(tokens: [Int32](repeating: 1, count: 3 * f.T), targets: [Int32](repeating: 1, count: 3 * f.T), batch: 3, seq: f.T)
        }
        #expect(throws: AlignError.self) { try dp.forward(tokens: [1, 2], targets: [2], batch: 1, seq: 2) }
    }
}
