// Per-op tests: every fast kernel against its plain-loop reference, and every backward against central
// finite differences of the reference forward (objective Σ out·R with a random R).
import AlignCore
import CKernels
import Foundation
import TestSupport
import Testing

func randn(_ n: Int, _ rng: inout Rng, scale: Float = 1) -> [Float] { (0..<n).map { _ in Float(rng.normal()) * scale } }

func dot(_ a: [Float], _ b: [Float]) -> Double {
    var s = 0.0
    for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
    return s
}

/// Checks `analytic` (d f / d x) against central differences of f at up to `samples` coordinates of x.
/// Passes when |fd − analytic| ≤ tol · max(1, |fd|) everywhere; returns the worst scaled error.
@discardableResult
func checkFiniteDifferences(_ x: [Float], _ analytic: [Float], h: Float = 1e-2, tol: Double = 2e-3,
                            samples: Int = 48, seed: UInt64 = 1, _ what: String,
                            f: ([Float]) -> Double) -> Double {
    var rng = Rng(seed: seed)
    var worst = 0.0
    let idx = x.count <= samples ? Array(0..<x.count) : (0..<samples).map { _ in rng.int(below: x.count) }
    for i in idx {
        var xp = x, xm = x
        xp[i] += h; xm[i] -= h
        let fd = (f(xp) - f(xm)) / Double(2 * h)
        let err = abs(fd - Double(analytic[i])) / max(1, abs(fd))
        worst = max(worst, err)
        #expect(err <= tol, "\(what): d/dx[\(i)] finite difference \(fd) vs analytic \(analytic[i])")
    }
    return worst
}

@Suite struct KernelTests {
    @Test func sgemmMatchesNaive() {
        var rng = Rng(seed: 3)
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let m = 7, n = 9, k = 5
            let a = randn(m * k, &rng), b = randn(k * n, &rng), c0 = randn(m * n, &rng)
            var c1 = c0, c2 = c0
            sgemm(ta, tb, m, n, k, 0.5, a, ta ? m : k, b, tb ? k : n, 1, &c1, n)
            sgemmNaive(ta, tb, m, n, k, 0.5, a, ta ? m : k, b, tb ? k : n, 1, &c2, n)
            #expect(maxAbsDiff(c1, c2) < 1e-5)
        }
    }

    @Test func vectorExpAndReductions() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let ref = Foundation.exp(Double(x)), got = Double(expApprox(x))
            worst = max(worst, abs(got - ref) / ref)
            x += 0.0137
        }
        #expect(worst < 3e-7, "expApprox relative error \(worst)")
        var rng = Rng(seed: 2)
        let v = randn(37, &rng)
        #expect(rowMax(v, 37) == v.max()!)
        var e = [Float](repeating: 0, count: 37)
        rowExpStore(&e, v, 37, sub: 0.5, mul: 2)
        let s = rowExpSum(v, 37, sub: 0.5)
        #expect(abs(Double(s) - v.reduce(0.0) { $0 + Foundation.exp(Double($1) - 0.5) }) < 1e-4)
        var sm = v
        rowSoftmax(&sm, 37)
        let z = v.reduce(0.0) { $0 + Foundation.exp(Double($1)) }
        for i in 0..<37 { #expect(abs(Double(sm[i]) - Foundation.exp(Double(v[i])) / z) < 1e-6) }
        #expect(expApprox(-200) >= 0 && expApprox(-200) < 1e-37 && expApprox(200).isFinite)
        for i in 0..<37 { #expect(abs(Double(e[i]) - 2 * Foundation.exp(Double(v[i]) - 0.5)) < 1e-5) }
        #expect(abs(Double(rowDot(v, e, 37)) - dot(v, e)) < 1e-4)
    }

    @Test func embeddingAndResidual() {
        var rng = Rng(seed: 4)
        let V = 11, C = 6, N = 9
        let wte = randn(V * C, &rng)
        let tok: [Int32] = [3, 0, 10, 3, 3, 7, 1, 0, 2]
        var o1 = [Float](repeating: 0, count: N * C), o2 = o1
        embeddingForward(&o1, tok, wte, N, C)
        embeddingForwardNaive(&o2, tok, wte, N, C)
        #expect(o1 == o2)
        let d = randn(N * C, &rng)
        var g1 = [Float](repeating: 0, count: V * C), g2 = g1
        embeddingBackward(&g1, d, tok, N, C)
        embeddingBackwardNaive(&g2, d, tok, N, C)
        #expect(maxAbsDiff(g1, g2) < 1e-6)
        checkFiniteDifferences(wte, g1, "embedding") { w in
            var o = [Float](repeating: 0, count: N * C); embeddingForwardNaive(&o, tok, w, N, C); return dot(o, d)
        }
        let a = randn(50, &rng), b = randn(50, &rng)
        var r1 = [Float](repeating: 0, count: 50), r2 = r1
        residualForward(&r1, a, b, 50); residualForwardNaive(&r2, a, b, 50)
        #expect(r1 == r2)
        var da = [Float](repeating: 1, count: 50), db = [Float](repeating: 0, count: 50)
        residualBackward(&da, &db, d, 50)
        for i in 0..<50 { #expect(da[i] == 1 + d[i] && db[i] == d[i]) }
    }

    @Test func rmsnorm() {
        var rng = Rng(seed: 5)
        let N = 5, C = 12, eps: Float = 1e-5
        let x = randn(N * C, &rng), w = randn(C, &rng), R = randn(N * C, &rng)
        var o1 = [Float](repeating: 0, count: N * C), o2 = o1, s1 = [Float](repeating: 0, count: N), s2 = s1
        rmsnormForward(&o1, &s1, x, w, N, C, eps)
        rmsnormForwardNaive(&o2, &s2, x, w, N, C, eps)
        #expect(maxAbsDiff(o1, o2) < 1e-5)
        var dx1 = [Float](repeating: 0.5, count: N * C), dx2 = dx1, dw1 = [Float](repeating: 0, count: C), dw2 = dw1
        rmsnormBackward(&dx1, &dw1, R, x, w, s1, N, C)
        rmsnormBackwardNaive(&dx2, &dw2, R, x, w, N, C, eps)
        #expect(maxAbsDiff(dx1, dx2) < 1e-5 && maxAbsDiff(dw1, dw2) < 1e-5)
        let f: ([Float], [Float]) -> Double = { x, w in
            var o = [Float](repeating: 0, count: N * C), s = [Float](repeating: 0, count: N)
            rmsnormForwardNaive(&o, &s, x, w, N, C, eps); return dot(o, R)
        }
        checkFiniteDifferences(x, dx1.map { $0 - 0.5 }, "rmsnorm dx") { f($0, w) }
        checkFiniteDifferences(w, dw1, "rmsnorm dw") { f(x, $0) }
    }

    @Test func rope() {
        var rng = Rng(seed: 6)
        let N = 7, hd = 8, heads = 3, stride = 30, theta: Float = 5e5
        let pos: [Int32] = [0, 1, 2, 5, 9, 3, 15]
        let table = RopeTable(headDim: hd, theta: theta, maxPositions: 16)
        let x = randn(N * stride, &rng)
        var a = x, b = x
        ropeForward(&a, stride, heads, pos, N, table)
        ropeNaive(&b, stride, heads, hd, pos, N, theta: theta, inverse: false)
        #expect(maxAbsDiff(a, b) < 1e-5)
        for i in 0..<N { for j in (heads * hd)..<stride { #expect(a[i * stride + j] == x[i * stride + j]) } }
        let R = randn(N * stride, &rng)
        var g = R
        ropeBackward(&g, stride, heads, pos, N, table)
        var g2 = R
        ropeNaive(&g2, stride, heads, hd, pos, N, theta: theta, inverse: true)
        #expect(maxAbsDiff(g, g2) < 1e-5)
        checkFiniteDifferences(x, g, "rope") { x in
            var y = x; ropeNaive(&y, stride, heads, hd, pos, N, theta: theta, inverse: false); return dot(y, R)
        }
    }

    @Test(arguments: [(2, 5, 4, 2, 4), (1, 70, 2, 2, 8), (2, 3, 6, 1, 4), (1, 150, 4, 2, 8)])   // 70, 150: causal blocks
    func attention(b: Int, t: Int, h: Int, kv: Int, hd: Int) {
        var rng = Rng(seed: 7)
        let s = AttentionShape(batch: b, seq: t, heads: h, kvHeads: kv, headDim: hd)
        let qkv = randn(b * t * s.qkvWidth, &rng)
        let outN = b * t * h * hd, pN = b * h * t * t
        var o1 = [Float](repeating: 0, count: outN), o2 = o1, p1 = [Float](repeating: 9, count: pN), p2 = p1
        attentionForward(&o1, &p1, qkv, s)
        attentionForwardNaive(&o2, &p2, qkv, s)
        #expect(maxAbsDiff(o1, o2) < 1e-5 && maxAbsDiff(p1, p2) < 1e-5)
        let R = randn(outN, &rng)
        var d1 = [Float](repeating: 7, count: qkv.count), d2 = d1, scratch = [Float](repeating: 0, count: pN)
        attentionBackward(&d1, &scratch, R, qkv, p1, s)
        attentionBackwardNaive(&d2, R, qkv, p1, s)
        #expect(maxAbsDiff(d1, d2) < 1e-5)
        checkFiniteDifferences(qkv, d1, samples: 40, "attention") { x in
            var o = [Float](repeating: 0, count: outN), p = [Float](repeating: 0, count: pN)
            attentionForwardNaive(&o, &p, x, s); return dot(o, R)
        }
    }

    @Test func swiglu() {
        var rng = Rng(seed: 8)
        let N = 4, F = 9
        let gu = randn(N * 2 * F, &rng, scale: 2), R = randn(N * F, &rng)
        var h1 = [Float](repeating: 0, count: N * F), h2 = h1
        swigluForward(&h1, gu, N, F); swigluForwardNaive(&h2, gu, N, F)
        #expect(maxAbsDiff(h1, h2) < 1e-5)
        var d1 = [Float](repeating: 0, count: gu.count), d2 = d1
        swigluBackward(&d1, R, gu, N, F); swigluBackwardNaive(&d2, R, gu, N, F)
        #expect(maxAbsDiff(d1, d2) < 1e-5)
        checkFiniteDifferences(gu, d1, "swiglu") { x in
            var h = [Float](repeating: 0, count: N * F); swigluForwardNaive(&h, x, N, F); return dot(h, R)
        }
    }

    @Test func swigluPortableAndAVX2AgreeWithReference() {
        // Both bodies of the dispatch, on widths with and without a tail of < 8 and on saturating inputs.
        var rng = Rng(seed: 81)
        for (N, F) in [(3, 3), (2, 8), (5, 21), (4, 288)] {
            var gu = randn(N * 2 * F, &rng, scale: 3)
            gu[0] = 120; gu[1 % (2 * F)] = -120
            let R = randn(N * F, &rng)
            var want = [Float](repeating: 0, count: N * F), dwant = [Float](repeating: 0, count: gu.count)
            swigluForwardNaive(&want, gu, N, F); swigluBackwardNaive(&dwant, R, gu, N, F)
            var h = [Float](repeating: .nan, count: N * F), d = [Float](repeating: .nan, count: gu.count)
            swigluForwardPortable(&h, gu, N, F); swigluBackwardPortable(&d, R, gu, N, F)
            #expect(maxAbsDiff(h, want) < 1e-4, "portable forward \(N)×\(F)")
            #expect(maxAbsDiff(d, dwant) < 1e-4, "portable backward \(N)×\(F)")
            if VectorKernels.available {
                var h2 = [Float](repeating: .nan, count: N * F), d2 = [Float](repeating: .nan, count: gu.count)
                align_swiglu_forward_avx2(&h2, gu, N, F); align_swiglu_backward_avx2(&d2, R, gu, N, F)
                #expect(maxAbsDiff(h2, want) < 1e-4, "AVX2 forward \(N)×\(F)")
                #expect(maxAbsDiff(d2, dwant) < 1e-4, "AVX2 backward \(N)×\(F)")
                #expect(maxAbsDiff(h2, h) < 1e-4 && maxAbsDiff(d2, d) < 1e-4)
            }
        }
    }

    @Test func logSoftmaxTarget() {
        var rng = Rng(seed: 9)
        let N = 5, V = 13
        let logits = randn(N * V, &rng, scale: 3)
        let tg: [Int32] = [4, ignoreIndex, 0, 12, 7]
        let w = randn(N, &rng)
        var l1 = [Float](repeating: 0, count: N), l2 = l1, z1 = l1, z2 = l1
        logSoftmaxTargetForward(&l1, &z1, logits, tg, N, V)
        logSoftmaxTargetForwardNaive(&l2, &z2, logits, tg, N, V)
        #expect(maxAbsDiff(l1, l2) < 1e-5 && maxAbsDiff(z1, z2) < 1e-5)
        #expect(l1[1] == 0)
        var d1 = logits, d2 = [Float](repeating: 0, count: N * V)
        logSoftmaxTargetBackward(&d1, logits, z1, tg, w, N, V)   // in place is allowed; copy here
        logSoftmaxTargetBackwardNaive(&d2, logits, tg, w, N, V)
        #expect(maxAbsDiff(d1, d2) < 1e-5)
        checkFiniteDifferences(logits, d1, "log-softmax") { x in
            var l = [Float](repeating: 0, count: N), z = l
            logSoftmaxTargetForwardNaive(&l, &z, x, tg, N, V); return dot(l, w)
        }
        // The pair that keeps the exponentials in place of the logits gives the same log-probs and gradient.
        var e = logits, l3 = [Float](repeating: 7, count: N), inv = l3
        logSoftmaxTargetForwardKeepingExp(&l3, &inv, &e, tg, N, V)
        #expect(maxAbsDiff(l3, l2) < 1e-5 && l3[1] == 0)
        #expect(e != logits && e.allSatisfy { $0 > 0 && $0 <= 1 })
        var d3 = [Float](repeating: 0, count: N * V)
        logSoftmaxTargetBackwardFromExp(&d3, e, inv, tg, w, N, V)
        #expect(maxAbsDiff(d3, d2) < 1e-5)
        #expect(d3[V..<(2 * V)].allSatisfy { $0 == 0 })
        e.withUnsafeMutableBufferPointer { b in   // in place
            logSoftmaxTargetBackwardFromExp(b.baseAddress!, b.baseAddress!, inv, tg, w, N, V)
        }
        #expect(maxAbsDiff(e, d2) < 1e-5)
    }
}
