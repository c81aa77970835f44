// The weights' moving average: kernel against its reference, the warm-up of the decay, a hand-computed
// sequence, and the swap that shows the average to evaluation and then restores the raw weights.
import AlignCore
import Foundation
import Testing

@Suite struct WeightAverageTests {
    @Test func kernelMatchesReference() {
        var rng = Rng(seed: 5)
        let n = 1001
        let w = (0..<n).map { _ in Float(rng.normal()) }
        var a = (0..<n).map { _ in Float(rng.normal()) }, b = a
        w.withUnsafeBufferPointer { wp in
            a.withUnsafeMutableBufferPointer { emaUpdate($0.baseAddress!, wp.baseAddress!, n, decay: 0.93) }
            b.withUnsafeMutableBufferPointer { emaUpdateNaive($0.baseAddress!, wp.baseAddress!, n, decay: 0.93) }
        }
        let err = zip(a, b).map { abs($0 - $1) }.max()!
        #expect(err < 1e-6, "max error \(err)")
    }

    @Test func warmUpThenConfiguredDecay() {
        #expect(WeightAverage.decay(0.999, at: 0) == 0.1)          // (1 + 0)/(10 + 0)
        #expect(WeightAverage.decay(0.999, at: 10) == Float(11) / Float(20))
        #expect(WeightAverage.decay(0.9, at: 1000) == 0.9)         // capped by the configured decay
    }

    @Test func handComputedAverageAndSwap() throws {
        var w: [Float] = [1, 2]
        let avg = try w.withUnsafeBufferPointer { try WeightAverage(decay: 0.5, weights: $0) }
        #expect(Array(avg.average) == [1, 2] && avg.updates == 0)
        w = [3, 6]
        w.withUnsafeBufferPointer { avg.update(from: $0.baseAddress!) }   // d = 0.1: 0.1·[1,2] + 0.9·[3,6]
        #expect(abs(avg.average[0] - 2.8) < 1e-6 && abs(avg.average[1] - 5.6) < 1e-6)
        w = [5, 10]
        w.withUnsafeBufferPointer { avg.update(from: $0.baseAddress!) }   // d = min(0.5, 2/11)
        let d: Float = 2.0 / 11.0
        #expect(abs(avg.average[0] - (d * 2.8 + (1 - d) * 5)) < 1e-5)
        #expect(avg.updates == 2)
        let seen = w.withUnsafeMutableBufferPointer { buf in avg.withAverage(in: buf) { Array(buf) } }
        #expect(seen == Array(avg.average) && w == [5, 10], "the raw weights come back after evaluation")
        #expect(throws: AlignError.self) { _ = try w.withUnsafeBufferPointer { try WeightAverage(decay: 0.5, weights: $0, saved: [1]) } }
        #expect(throws: AlignError.self) { _ = try w.withUnsafeBufferPointer { try WeightAverage(decay: 1, weights: $0) } }
    }

    @Test func withoutWarmUpTheFullDecayActsFromTheFirstUpdate() throws {
        // Starting from trained weights (DPO/GRPO after SFT): avg = 0.9·[1,2] + 0.1·[3,6] = [1.2, 2.4].
        var w: [Float] = [1, 2]
        let avg = try w.withUnsafeBufferPointer { try WeightAverage(decay: 0.9, weights: $0, warmup: false) }
        w = [3, 6]
        w.withUnsafeBufferPointer { avg.update(from: $0.baseAddress!) }
        #expect(abs(avg.average[0] - 1.2) < 1e-6 && abs(avg.average[1] - 2.4) < 1e-6)
    }
}
