// Each fast BERT kernel against its plain-loop reference on random inputs (with padding where it matters),
// plus known GELU values.
import AlignCore
import Foundation
import TestSupport
import Testing

@Suite struct BertKernelTests {
    func randoms(_ n: Int, _ rng: inout Rng, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in Float(rng.normal()) * scale }
    }

    @Test func linearMatchesNaive() {
        var rng = Rng(seed: 1)
        let rows = 5, inDim = 7, outDim = 6
        let x = randoms(rows * inDim, &rng), w = randoms(outDim * inDim, &rng), b = randoms(outDim, &rng)
        var fast = [Float](repeating: 9, count: rows * outDim), ref = fast
        linearForward(&fast, x, w, b, rows: rows, inDim: inDim, outDim: outDim)
        linearNaive(&ref, x, w, b, rows: rows, inDim: inDim, outDim: outDim)
        #expect(maxAbsDiff(fast, ref) < 1e-5)
    }

    @Test func layerNormMatchesNaive() {
        var rng = Rng(seed: 2)
        let rows = 37, c = 24
        let x = randoms(rows * c, &rng, scale: 3), r = randoms(rows * c, &rng), w = randoms(c, &rng), b = randoms(c, &rng)
        var fast = [Float](repeating: 0, count: rows * c), ref = fast
        layerNormForward(&fast, x, r, w, b, rows: rows, dim: c, eps: 1e-12)
        layerNormNaive(&ref, x, r, w, b, rows: rows, dim: c, eps: 1e-12)
        #expect(maxAbsDiff(fast, ref) < 1e-4)
        // In place, no residual.
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { p in
            layerNormForward(p.baseAddress!, p.baseAddress!, nil, w, b, rows: rows, dim: c, eps: 1e-5)
        }
        layerNormNaive(&ref, x, nil, w, b, rows: rows, dim: c, eps: 1e-5)
        #expect(maxAbsDiff(inPlace, ref) < 1e-4)
    }

    @Test func geluMatchesNaiveAndKnownValues() {
        var rng = Rng(seed: 3)
        var fast = randoms(10_000, &rng, scale: 4), ref = fast
        geluForward(&fast, count: fast.count)
        geluNaive(&ref, count: ref.count)
        #expect(maxAbsDiff(fast, ref) < 1e-5)
        // Φ(1) = 0.8413447460685429; GELU(x) = xΦ(x).
        var v: [Float] = [1, -1, 0, 3]
        geluForward(&v, count: 4)
        #expect(maxAbsDiff(v, [0.8413447, -0.1586553, 0, 2.9959502]) < 1e-6)
    }

    @Test func attentionMatchesNaiveWithPadding() {
        var rng = Rng(seed: 4)
        let b = 3, t = 7, h = 2, hs = 4, c = h * hs
        let qkv = randoms(b * t * 3 * c, &rng)
        let lengths: [Int32] = [7, 3, 1]
        var fast = [Float](repeating: 5, count: b * t * c), ref = fast
        var scratch = [Float](repeating: 0, count: attentionScratchCount(maxLength: t))
        attentionForward(&fast, qkv, lengths, &scratch, batch: b, length: t, heads: h, headSize: hs)
        attentionNaive(&ref, qkv, lengths, batch: b, length: t, heads: h, headSize: hs)
        #expect(maxAbsDiff(fast, ref) < 1e-5)
        // A one-token sequence attends only to itself: its output is its own value vector.
        let v0 = Array(qkv[(2 * t) * 3 * c + 2 * c ..< (2 * t) * 3 * c + 3 * c])
        #expect(maxAbsDiff(Array(fast[(2 * t) * c ..< (2 * t) * c + c]), v0) < 1e-6)
        // Padded query rows are zero.
        #expect(fast[(1 * t + 5) * c ..< (1 * t + 6) * c].allSatisfy { $0 == 0 })
    }

    @Test func meanPoolMatchesNaive() {
        var rng = Rng(seed: 5)
        let b = 3, t = 5, c = 6
        let x = randoms(b * t * c, &rng)
        let lengths: [Int32] = [5, 2, 1]
        var fast = [Float](repeating: 0, count: b * c), ref = fast
        meanPoolNormalizeForward(&fast, x, lengths, batch: b, length: t, dim: c)
        meanPoolNormalizeNaive(&ref, x, lengths, batch: b, length: t, dim: c)
        #expect(maxAbsDiff(fast, ref) < 1e-6)
        for bi in 0..<b {
            let n = fast[bi * c ..< (bi + 1) * c].reduce(0) { $0 + $1 * $1 }
            #expect(abs(n - 1) < 1e-5)
        }
    }
}
