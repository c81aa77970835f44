// Item memory kernels (forward/backward pairs over flat buffers; gathers and scatters, their own reference):
// - item vectors: V[n] = Σ_l head[codes[n, l]] + R[n], the output vector of item n for the item-scoring head
//   (its SID tokens' LM-head rows plus its own residual);
// - item input: x[p] += R[items[p] − 1] where items[p] > 0, the residual added to the embedding of the token
//   that completes an item's SID.
import Foundation

/// V[N,C] = Σ_l head[codes[n·L + l], :] + R[n, :]   (head [V,C], R [N,C], codes [N,L]).
public func itemVectorsForward(_ v: UnsafeMutablePointer<Float>, _ head: UnsafePointer<Float>, _ residual: UnsafePointer<Float>,
                               _ codes: UnsafePointer<Int32>, _ n: Int, _ levels: Int, _ c: Int) {
    Parallel.chunks(n, minPerWorker: 256) { r in
        for i in r {
            let o = v + i * c
            o.update(from: residual + i * c, count: c)
            for l in 0..<levels {
                let h = head + Int(codes[i * levels + l]) * c
                for j in 0..<c { o[j] += h[j] }
            }
        }
    }
}

/// Backward of `itemVectorsForward`: dR[n] += dV[n] for warm items (cold rows get nothing), and
/// dhead[codes[n, l]] += dV[n] for every item and level. Serial over items (codes repeat), vectorised over C.
public func itemVectorsBackward(_ dhead: UnsafeMutablePointer<Float>, _ dresidual: UnsafeMutablePointer<Float>,
                                _ dv: UnsafePointer<Float>, _ codes: UnsafePointer<Int32>, _ warm: UnsafePointer<Bool>,
                                _ n: Int, _ levels: Int, _ c: Int) {
    for i in 0..<n {
        let g = dv + i * c
        if warm[i] {
            let d = dresidual + i * c
            for j in 0..<c { d[j] += g[j] }
        }
        for l in 0..<levels {
            let d = dhead + Int(codes[i * levels + l]) * c
            for j in 0..<c { d[j] += g[j] }
        }
    }
}

/// x[p, :] += R[items[p] − 1, :] for every p < n with items[p] > 0   (x [n,C], R [N,C]).
public func itemInputForward(_ x: UnsafeMutablePointer<Float>, _ residual: UnsafePointer<Float>,
                             _ items: UnsafePointer<Int32>, _ n: Int, _ c: Int) {
    for p in 0..<n where items[p] > 0 {
        let d = x + p * c, s = residual + (Int(items[p]) - 1) * c
        for j in 0..<c { d[j] += s[j] }
    }
}

/// Backward of `itemInputForward`: dR[items[p] − 1, :] += dx[p, :].
public func itemInputBackward(_ dresidual: UnsafeMutablePointer<Float>, _ dx: UnsafePointer<Float>,
                              _ items: UnsafePointer<Int32>, _ n: Int, _ c: Int) {
    for p in 0..<n where items[p] > 0 {
        let d = dresidual + (Int(items[p]) - 1) * c, s = dx + p * c
        for j in 0..<c { d[j] += s[j] }
    }
}
