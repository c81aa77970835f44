// RQ-VAE: linear kernels vs their references, a finite-difference check of the MLP backward, the loss
// decreasing on a mixture, and determinism.
import AlignRec
import Foundation
import Testing
import TestSupport

@Test func sidLinearMatchesNaive() {
    var rng = Rng(seed: 8)
    let B = 5, I = 7, O = 4
    let x = (0..<(B * I)).map { _ in Float(rng.normal()) }, w = (0..<(O * I)).map { _ in Float(rng.normal()) }
    let b = (0..<O).map { _ in Float(rng.normal()) }, g = (0..<(B * O)).map { _ in Float(rng.normal()) }
    var y1 = [Float](repeating: 0, count: B * O), y2 = y1
    linearForward(&y1, x, w, b, B, I, O); linearForwardNaive(&y2, x, w, b, B, I, O)
    #expect(maxAbsDiff(y1, y2) < 1e-5)
    var di1 = [Float](repeating: 0, count: B * I), di2 = di1
    var dw1 = [Float](repeating: 0.5, count: O * I), dw2 = dw1, db1 = [Float](repeating: 0.5, count: O), db2 = db1
    linearBackward(&di1, &dw1, &db1, g, x, w, B, I, O); linearBackwardNaive(&di2, &dw2, &db2, g, x, w, B, I, O)
    #expect(maxAbsDiff(di1, di2) < 1e-5 && maxAbsDiff(dw1, dw2) < 1e-5 && maxAbsDiff(db1, db2) < 1e-5)
}

@Test func sidMLPBackwardFiniteDifference() {
    var rng = Rng(seed: 12)
    let dims = [5, 6, 4, 3], B = 3
    let mlp = MLP(dims: dims, offset: 2, maxBatch: B)  // nonzero offset exercises the indexing
    let P = mlp.parameterCount + 2
    var params = [Float](repeating: 0, count: P)
    params.withUnsafeMutableBufferPointer { mlp.initialize($0.baseAddress!, rng: &rng) }
    for i in 0..<P { params[i] += Float(rng.normal() * 0.1) }  // nonzero biases
    let x = (0..<(B * 5)).map { _ in Float(rng.normal()) }, g = (0..<(B * 3)).map { _ in Float(rng.normal()) }
    func loss(_ p: [Float], _ xin: [Float]) -> Double {
        let out = mlp.forward(p, xin, B)
        return (0..<(B * 3)).reduce(0.0) { $0 + Double(out[$1]) * Double(g[$1]) }
    }
    _ = loss(params, x)
    var grads = [Float](repeating: 0, count: P)
    let dxPtr = mlp.backward(params, &grads, x, g, B)!
    let dx = Array(UnsafeBufferPointer(start: dxPtr, count: B * 5))
    let h: Float = 1e-3
    var worst = 0.0
    for i in 2..<P {
        var p1 = params, p2 = params
        p1[i] += h; p2[i] -= h
        let num = (loss(p1, x) - loss(p2, x)) / Double(2 * h)
        let err = abs(num - Double(grads[i])) / max(1, abs(num))
        worst = max(worst, err)
    }
    for i in 0..<(B * 5) {
        var x1 = x, x2 = x
        x1[i] += h; x2[i] -= h
        let num = (loss(params, x1) - loss(params, x2)) / Double(2 * h)
        worst = max(worst, abs(num - Double(dx[i])) / max(1, abs(num)))
    }
    #expect(worst < 1e-3, "worst relative error \(worst)")
    print("MLP finite-difference worst relative error \(worst)")
    #expect(grads[0] == 0 && grads[1] == 0)  // outside the MLP's range
}

@Test func sidRQVAELossDecreasesAndIsDeterministic() throws {
    let (x, labels) = SIDTestData.mixture(n: 256, dim: 16, components: 4, spread: 1, sigma: 0.1, seed: 31)
    let cfg = RQVAEConfig(levels: 2, codes: 8, hidden: [32], latent: 8, epochs: 30, lr: 3e-3, batch: 64)
    let q = try RQVAE.fit(x, n: 256, dim: 16, config: cfg, seed: 4)
    #expect(q.lossHistory.count == 30)
    let early = q.lossHistory[0], late = q.lossHistory.suffix(3).reduce(0, +) / 3
    #expect(late < 0.5 * early, "loss \(early) → \(late)")
    let meanSq = x.reduce(0.0) { $0 + Double($1 * $1) } / 256
    #expect(q.reconstructionError < 0.5 * meanSq)
    #expect(SIDTestData.purity(groups: (0..<256).map { q.codes(row: $0)[0] }, labels: labels) > 0.9)
    let q2 = try RQVAE.fit(x, n: 256, dim: 16, config: cfg, seed: 4)
    #expect(q.codes == q2.codes && q.lossHistory == q2.lossHistory)
}
