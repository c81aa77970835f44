// Dropout: the mask kernel's statistics and determinism, the trainer's exact no-dropout path when no key is
// set, and the masked forward/backward against finite differences (a fixed key makes the objective a
// deterministic function of the weights).
import AlignCore
import Foundation
import TestSupport
import Testing

@Suite struct DropoutTests {
    @Test func maskDropsAboutPAndScalesTheRest() {
        let n = 200_000, p: Float = 0.3
        let m = UnsafeMutablePointer<Float>.allocate(capacity: n), m2 = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { m.deallocate(); m2.deallocate() }
        dropoutMask(m, n, p: p, key: 7)
        var zeros = 0, sum = 0.0
        for i in 0..<n {
            #expect(m[i] == 0 || m[i] == 1 / (1 - p))
            if m[i] == 0 { zeros += 1 }
            sum += Double(m[i])
        }
        let frac = Double(zeros) / Double(n)
        #expect(abs(frac - 0.3) < 0.005, "dropped fraction \(frac)")
        #expect(abs(sum / Double(n) - 1) < 0.01, "mean mask \(sum / Double(n)) (inverted dropout keeps the mean at 1)")
        dropoutMask(m2, n, p: p, key: 7)
        #expect((0..<n).allSatisfy { m[$0] == m2[$0] }, "same key, same mask")
        dropoutMask(m2, n, p: p, key: 8)
        let differ = (0..<n).filter { m[$0] != m2[$0] }.count
        #expect(Double(differ) > 0.3 * Double(n), "another key gives an independent mask (\(differ) differ)")
        dropoutMask(m2, n, p: 0, key: 8)
        #expect((0..<n).allSatisfy { m2[$0] == 1 })
    }

    @Test func noKeyIsTheExactDeterministicModel() throws {
        let f = try LlamaFixture("llama-tiny")
        let plain = LlamaTrainer(params: f.params, maxBatch: f.B, maxSeq: f.T)
        let drop = LlamaTrainer(params: f.params, maxBatch: f.B, maxSeq: f.T, dropout: 0.5)
        try plain.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        try drop.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        #expect(Array(plain.tokenLogProbs) == Array(drop.tokenLogProbs))
        plain.zeroGrads(); drop.zeroGrads()
        try plain.backwardMeanCrossEntropy(); try drop.backwardMeanCrossEntropy()
        #expect(Array(plain.grads) == Array(drop.grads))
        // with a key the output changes, and the same key reproduces it exactly
        drop.dropoutKey = 99
        try drop.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        let a = Array(drop.tokenLogProbs)
        #expect(maxAbsDiff(a, Array(plain.tokenLogProbs)) > 1e-3)
        try drop.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        #expect(Array(drop.tokenLogProbs) == a)
    }

    @Test func rowsLeftOutOfDropoutRunTheExactModel() throws {
        let f = try LlamaFixture("llama-tiny")
        #expect(f.B >= 2)
        let plain = LlamaTrainer(params: f.params, maxBatch: f.B, maxSeq: f.T)
        let drop = LlamaTrainer(params: f.params, maxBatch: f.B, maxSeq: f.T, dropout: 0.5)
        try plain.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        let exact = Array(plain.tokenLogProbs)
        drop.dropoutKey = 99
        try drop.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        let allRows = Array(drop.tokenLogProbs)
        // Row 0 without dropout: exactly the plain model's row; the other rows keep the masks they had.
        drop.dropoutRows = (0..<f.B).map { $0 != 0 }
        try drop.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T)
        let mixed = Array(drop.tokenLogProbs), T = f.T
        #expect(Array(mixed[0..<T]) == Array(exact[0..<T]))
        #expect(maxAbsDiff(Array(allRows[0..<T]), Array(exact[0..<T])) > 1e-3, "row 0 did get dropout before")
        #expect(Array(mixed[T...]) == Array(allRows[T...]))
        #expect(maxAbsDiff(Array(mixed[T...]), Array(exact[T...])) > 1e-3)
        // The backward uses the same row masks: finite differences agree.
        try expectWeightedBackwardMatchesFiniteDifferences(drop, f, batch: f.B, seq: f.T, seed: 6, probesPerTensor: 2)
        // One flag per row, or a typed error.
        drop.dropoutRows = [true]
        if f.B != 1 {
            #expect(throws: AlignError.self) { try drop.forward(tokens: f.inputIds, targets: f.targets, batch: f.B, seq: f.T) }
        }
    }

    @Test func maskedBackwardMatchesFiniteDifferences() throws {
        let f = try LlamaFixture("llama-tiny-tied")
        let tr = LlamaTrainer(params: f.params, maxBatch: 2, maxSeq: 6, dropout: 0.25)
        tr.dropoutKey = 12345   // fixed masks: the objective is a deterministic function of the weights
        try expectWeightedBackwardMatchesFiniteDifferences(tr, f, batch: 2, seq: 6, seed: 4, probesPerTensor: 3)
    }
}
