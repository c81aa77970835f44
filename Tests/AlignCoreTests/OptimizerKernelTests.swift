// The optimizer's kernels (Sources/AlignCore/Optim/AdamW.swift, Sources/CKernels/kernels512.c): the AVX-512 AdamW
// update and sum of squares give the portable loops' bits on lengths around the 16- and 8-lane widths (masked and
// scalar tails); `AdamW.update` is the portable loop on every element whichever path runs; `gradNorm` is the
// block-ordered sum (the same for any worker count) and agrees with a plain double sum; clipping scales exactly
// as PyTorch's clip_grad_norm_ does.
import AlignCore
import CKernels
import Foundation
import TestSupport
import Testing

@Suite struct OptimizerKernelTests {
    private func vector(_ n: Int, _ rng: inout Rng, scale: Double = 1) -> [Float] {
        (0..<n).map { _ in Float(rng.normal() * scale) }
    }

    @Test func avx512AdamWIsThePortableUpdateBitForBit() {
        guard align_kernels_avx512() != 0 else { #expect(!VectorKernels.avx512); return }
        var rng = Rng(seed: 31)
        for n in [1, 15, 16, 17, 33, 100, 4099] {
            let p0 = vector(n, &rng), g = vector(n, &rng, scale: 0.1), m0 = vector(n, &rng, scale: 0.01)
            let v0 = vector(n, &rng, scale: 0.01).map { $0 * $0 }
            var p1 = p0, m1 = m0, v1 = v0, p2 = p0, m2 = m0, v2 = v0
            align_adamw_avx512(&p1, g, &m1, &v1, n, 0.9997, 0.9, 0.95, 0.0061, 0.31, 1e-8)
            adamwUpdatePortable(&p2, g, &m2, &v2, n, decay: 0.9997, beta1: 0.9, beta2: 0.95, stepSize: 0.0061, bc2Sqrt: 0.31, eps: 1e-8)
            #expect(p1.map(\.bitPattern) == p2.map(\.bitPattern), "params, n \(n)")
            #expect(m1.map(\.bitPattern) == m2.map(\.bitPattern), "first moment, n \(n)")
            #expect(v1.map(\.bitPattern) == v2.map(\.bitPattern), "second moment, n \(n)")
            #expect(p1 != p0, "the update moved the parameters, n \(n)")
        }
    }

    @Test func avx512SumOfSquaresIsThePortableSumBitForBit() {
        guard align_kernels_avx512() != 0 else { return }
        var rng = Rng(seed: 32)
        for n in [0, 1, 7, 8, 9, 63, 1000, 16_385] {
            let x = vector(n, &rng, scale: 3)
            let fast = align_sum_squares_avx512(x, n), slow = sumSquaresPortable(x, n)
            #expect(fast.bitPattern == slow.bitPattern, "n \(n)")
        }
    }

    @Test func adamWUpdateIsThePortableLoopOnEveryGroup() {
        var rng = Rng(seed: 33)
        let n = 70_001   // above the parallel threshold; two groups, one decayed
        let groups = [ParamGroup(range: 0..<50_000, decay: true), ParamGroup(range: 50_000..<n, decay: false)]
        let cfg = AdamWConfig(lr: 0.006, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05)
        let opt = AdamW(count: n, groups: groups, config: cfg)
        var p = vector(n, &rng)
        var want = p, m = [Float](repeating: 0, count: n), v = [Float](repeating: 0, count: n)
        for step in 1...3 {
            let g = vector(n, &rng, scale: 0.1)
            let lr: Float = 0.004
            opt.update(params: &p, grads: g, lr: lr)
            let bc1 = 1 - powf(cfg.beta1, Float(step)), bc2 = 1 - powf(cfg.beta2, Float(step))
            for grp in groups {
                let lo = grp.range.lowerBound, c = grp.range.count
                want.withUnsafeMutableBufferPointer { pw in
                    m.withUnsafeMutableBufferPointer { mw in
                        v.withUnsafeMutableBufferPointer { vw in
                            g.withUnsafeBufferPointer { gw in
                                adamwUpdatePortable(pw.baseAddress! + lo, gw.baseAddress! + lo, mw.baseAddress! + lo, vw.baseAddress! + lo, c,
                                                    decay: grp.decay ? 1 - lr * cfg.weightDecay : 1, beta1: cfg.beta1, beta2: cfg.beta2,
                                                    stepSize: lr / bc1, bc2Sqrt: bc2.squareRoot(), eps: cfg.eps)
                            }
                        }
                    }
                }
            }
            #expect(p.map(\.bitPattern) == want.map(\.bitPattern), "step \(step)")
        }
        #expect(Array(opt.m) == m && Array(opt.v) == v)
    }

    @Test func gradNormIsTheBlockOrderedSumAndAgreesWithAPlainSum() {
        var rng = Rng(seed: 34)
        for n in [1, 5, 16_384, 16_385, 100_003] {
            let g = vector(n, &rng, scale: 0.02)
            // The definition: blocks of 16,384 values, each summed by the portable lanes, added in block order.
            var blocks = 0.0
            var lo = 0
            while lo < n {
                let c = min(16_384, n - lo)
                blocks += g.withUnsafeBufferPointer { sumSquaresPortable($0.baseAddress! + lo, c) }
                lo += c
            }
            let norm = gradNorm(g, n)
            #expect(norm.bitPattern == Float(blocks.squareRoot()).bitPattern, "n \(n)")
            let plain = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(Double(norm) - plain) <= 1e-6 * plain, "n \(n)")
        }
    }

    @Test func clipGradNormScalesExactlyAndOnlyAboveTheLimit() {
        var rng = Rng(seed: 35)
        let n = 90_000
        let g0 = vector(n, &rng, scale: 0.05)
        var g = g0
        let norm = clipGradNorm(&g, n, maxNorm: 1)
        #expect(norm > 1, "the test vector must need clipping")
        let coef: Float = 1 / (norm + 1e-6)
        #expect(g == g0.map { $0 * coef })
        let after = gradNorm(g, n)
        #expect(abs(after - 1) < 1e-5)
        var small = g0.map { $0 * 1e-3 }
        let kept = small
        #expect(clipGradNorm(&small, n, maxNorm: 1) < 1)
        #expect(small == kept, "a norm under the limit leaves the gradients as they are")
    }
}
