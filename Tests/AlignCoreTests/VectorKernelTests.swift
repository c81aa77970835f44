// The AVX-512 row kernels (Sources/CKernels/kernels512.c) against the portable Swift definitions: max, exp with
// store and sum, exp sum, scale, on row lengths around the 16-lane width (masked tails) and on a vocabulary-sized
// row. On a CPU without AVX-512 the C kernels cannot run, and the portable path is what every other kernel test
// checks.
import AlignCore
import CKernels
import Foundation
import TestSupport
import Testing

@Suite struct VectorKernelTests {
    @Test func avx512RowKernelsMatchThePortableDefinitions() {
        guard align_kernels_avx512() != 0 else {
            #expect(!VectorKernels.avx512)
            return
        }
        var rng = Rng(seed: 11)
        for n in [1, 7, 15, 16, 17, 31, 32, 33, 100, 4099] {
            let x = (0..<n).map { _ in Float(rng.normal() * 4) }
            let m = x.max()!
            #expect(align_row_max_avx512(x, n) == m, "max, n \(n)")
            let want = x.map { expApprox($0 - m) }
            var out = [Float](repeating: 0, count: n)
            let sum = align_row_exp_store_avx512(&out, x, n, m, -0.5)
            let wantSum = want.reduce(0, +)
            #expect(abs(sum - wantSum) <= 1e-5 * wantSum, "exp sum, n \(n)")
            #expect(abs(align_row_exp_sum_avx512(x, n, m) - wantSum) <= 1e-5 * wantSum, "exp sum only, n \(n)")
            for j in 0..<n { #expect(abs(out[j] - want[j] * -0.5) <= 2e-7 * max(1, abs(want[j])), "exp \(j) of \(n)") }
            var scaled = [Float](repeating: 0, count: n)
            align_row_scale_avx512(&scaled, x, n, 0.25)
            #expect(scaled == x.map { $0 * 0.25 }, "scale, n \(n)")
        }
    }

    @Test func dropoutMaskIsThePortableMaskBitForBit() {
        for (n, p, key) in [(1, Float(0.2), UInt64(3)), (7, 0.5, 9), (8, 0.1, 1 << 40), (1001, 0.2, 77), (4096, 0.75, 5)] {
            var fast = [Float](repeating: -1, count: n), slow = [Float](repeating: -2, count: n)
            dropoutMask(&fast, n, p: p, key: key)
            dropoutMaskPortable(&slow, n, p: p, key: key)
            #expect(fast.map(\.bitPattern) == slow.map(\.bitPattern), "n \(n) p \(p)")
        }
    }

    @Test func avx512SwigluMatchesTheReference() {
        guard align_kernels_avx512() != 0 else { return }   // no AVX-512: the AVX2 and portable tests cover SwiGLU
        var rng = Rng(seed: 82)
        for (N, F) in [(3, 3), (2, 16), (5, 21), (4, 288)] {
            var gu = (0..<(N * 2 * F)).map { _ in Float(rng.normal() * 3) }
            gu[0] = 120; gu[1 % (2 * F)] = -120
            let R = (0..<(N * F)).map { _ in Float(rng.normal()) }
            var want = [Float](repeating: 0, count: N * F), dwant = [Float](repeating: 0, count: gu.count)
            swigluForwardNaive(&want, gu, N, F); swigluBackwardNaive(&dwant, R, gu, N, F)
            var h = [Float](repeating: .nan, count: N * F), d = [Float](repeating: .nan, count: gu.count)
            align_swiglu_forward_avx512(&h, gu, N, F); align_swiglu_backward_avx512(&d, R, gu, N, F)
            #expect(maxAbsDiff(h, want) < 1e-4, "AVX-512 forward \(N)×\(F)")
            #expect(maxAbsDiff(d, dwant) < 1e-4, "AVX-512 backward \(N)×\(F)")
        }
    }
}
