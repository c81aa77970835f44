// RQ-VAE Semantic IDs: MLP encoder → L residual codebooks → MLP decoder, trained with AlignCore's AdamW.
// Per batch (B rows), with z = enc(x), r_0 = z, e_d = nearest codeword of r_d, r_{d+1} = r_d − e_d,
// ẑ = Σ_d e_d, x̂ = dec(ẑ) (straight-through: ∂x̂/∂z passes ẑ's gradient to z unchanged):
//   loss = (1/B) Σ_rows [ ‖x − x̂‖² + Σ_d ‖sg[r_d] − e_d‖² + β ‖r_d − sg[e_d]‖² ],  β = 0.25.
// Gradients: codeword e_d gets 2(e_d − r_d)/B; z gets the decoder's input gradient plus Σ_d 2β(r_d − e_d)/B
// (r_d = z − Σ_{j<d} e_j with the e_j treated as constants, so ∂r_d/∂z = I).
// Codebooks are k-means-initialised on the first batch (level by level on its residuals); after each epoch,
// codes no row used in that epoch are re-seeded from random rows of the last batch's residuals at that
// level (and their Adam moments cleared). All buffers are allocated before training.
import Foundation

/// RQ-VAE knobs (`levels`/`codes` are set from the build's `--levels`/`--codes`).
public struct RQVAEConfig: Codable, Sendable, Equatable {
    public var levels: Int
    public var codes: Int
    /// Encoder hidden widths (the decoder mirrors them).
    public var hidden: [Int]
    public var latent: Int
    public var epochs: Int
    public var lr: Float
    public var batch: Int
    public var beta: Float
    public var weightDecay: Float
    /// Lloyd iterations of the codebook initialisation.
    public var kmeansIterations: Int
    public init(levels: Int = 3, codes: Int = 256, hidden: [Int] = [512, 256], latent: Int = 32, epochs: Int = 50,
                lr: Float = 1e-3, batch: Int = 1024, beta: Float = 0.25, weightDecay: Float = 1e-4, kmeansIterations: Int = 25) {
        self.levels = levels; self.codes = codes; self.hidden = hidden; self.latent = latent; self.epochs = epochs
        self.lr = lr; self.batch = batch; self.beta = beta; self.weightDecay = weightDecay; self.kmeansIterations = kmeansIterations
    }
    enum CodingKeys: String, CodingKey {
        case levels, codes, hidden, latent, epochs, lr, batch, beta, weightDecay = "weight_decay", kmeansIterations = "kmeans_iterations"
    }
}

public final class RQVAE {
    public let config: RQVAEConfig
    public let dim: Int
    public let maxBatch: Int
    public let encoder: MLP
    public let decoder: MLP
    /// Offset of codebook d in the flat parameter buffer: codebookOffset + d·K·latent.
    public let codebookOffset: Int
    public let parameterCount: Int
    public let params: UnsafeMutablePointer<Float>
    public let grads: UnsafeMutablePointer<Float>
    // Planned per-batch buffers.
    let res: [UnsafeMutablePointer<Float>]      // r_d [B, e] for d in 0..<L, plus r_L
    let zq: UnsafeMutablePointer<Float>          // ẑ [B, e]
    let dz: UnsafeMutablePointer<Float>          // ∂loss/∂z [B, e]
    let dx: UnsafeMutablePointer<Float>          // ∂loss/∂x̂ [B, D]
    let codes: UnsafeMutablePointer<Int32>       // [L, B]
    let dist: UnsafeMutablePointer<Float>        // [B]
    let cnorm: UnsafeMutablePointer<Float>       // [K]
    let scratch: UnsafeMutablePointer<Float>     // [B, K]

    public init(dim: Int, config: RQVAEConfig, maxBatch: Int) {
        self.config = config; self.dim = dim; self.maxBatch = maxBatch
        let e = config.latent, K = config.codes, L = config.levels
        encoder = MLP(dims: [dim] + config.hidden + [e], offset: 0, maxBatch: maxBatch)
        decoder = MLP(dims: [e] + config.hidden.reversed() + [dim], offset: encoder.parameterCount, maxBatch: maxBatch)
        codebookOffset = encoder.parameterCount + decoder.parameterCount
        parameterCount = codebookOffset + L * K * e
        params = .allocate(capacity: parameterCount); params.initialize(repeating: 0, count: parameterCount)
        grads = .allocate(capacity: parameterCount); grads.initialize(repeating: 0, count: parameterCount)
        res = (0...L).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: maxBatch * e) }
        zq = .allocate(capacity: maxBatch * e); dz = .allocate(capacity: maxBatch * e)
        dx = .allocate(capacity: maxBatch * dim)
        codes = .allocate(capacity: L * maxBatch); dist = .allocate(capacity: maxBatch)
        cnorm = .allocate(capacity: K); scratch = .allocate(capacity: maxBatch * K)
    }

    deinit {
        params.deallocate(); grads.deallocate(); res.forEach { $0.deallocate() }
        zq.deallocate(); dz.deallocate(); dx.deallocate(); codes.deallocate(); dist.deallocate()
        cnorm.deallocate(); scratch.deallocate()
    }

    /// Parameter groups for AdamW: MLP matrices decayed; biases and codebooks not.
    public var groups: [ParamGroup] {
        encoder.groups + decoder.groups + [ParamGroup(range: codebookOffset..<parameterCount, decay: false)]
    }

    func codebook(_ d: Int) -> UnsafeMutablePointer<Float> { params + codebookOffset + d * config.codes * config.latent }

    /// Encodes and quantizes B rows: fills res[0...L], codes, zq. Returns z (encoder output).
    @discardableResult
    func quantize(_ x: UnsafePointer<Float>, _ B: Int) -> UnsafeMutablePointer<Float> {
        let e = config.latent, K = config.codes, L = config.levels
        let z = encoder.forward(params, x, B)
        res[0].update(from: z, count: B * e)
        zq.initialize(repeating: 0, count: B * e)
        for d in 0..<L {
            let cb = codebook(d), cd = codes + d * B, r = res[d], rn = res[d + 1]
            KMeans.nearest(r, n: B, dim: e, centroids: cb, k: K, assign: cd, dist: dist,
                           cnorm: cnorm, scratch: scratch, scratchRows: maxBatch)
            for i in 0..<B {
                let c = cb + Int(cd[i]) * e
                for t in 0..<e { rn[i * e + t] = r[i * e + t] - c[t]; zq[i * e + t] += c[t] }
            }
        }
        return z
    }

    /// One forward + backward over B rows; grads are overwritten. Returns the summed (not averaged) loss.
    public func lossAndGrad(_ x: UnsafePointer<Float>, _ B: Int) -> Double {
        let e = config.latent, K = config.codes, L = config.levels, D = dim
        grads.initialize(repeating: 0, count: parameterCount)
        quantize(x, B)
        let xh = decoder.forward(params, zq, B)
        let invB = 1 / Float(B)
        var loss = 0.0
        for i in 0..<(B * D) {
            let diff = xh[i] - x[i]
            loss += Double(diff * diff)
            dx[i] = 2 * diff * invB
        }
        let dzq = decoder.backward(params, grads, zq, dx, B)!
        dz.update(from: dzq, count: B * e)
        let beta = config.beta
        for d in 0..<L {
            let cb = codebook(d), gcb = grads + codebookOffset + d * K * e, r = res[d], cd = codes + d * B
            for i in 0..<B {
                let k = Int(cd[i]), c = cb + k * e, g = gcb + k * e
                for t in 0..<e {
                    let diff = r[i * e + t] - c[t]
                    loss += Double((1 + beta) * diff * diff)
                    g[t] -= 2 * diff * invB
                    dz[i * e + t] += 2 * beta * diff * invB
                }
            }
        }
        encoder.backward(params, grads, x, dz, B, needInput: false)
        return loss
    }

    /// Trains on x[n, dim] and returns the codes of every row. Deterministic for a seed.
    public static func fit(_ x: [Float], n: Int, dim: Int, config c: RQVAEConfig, seed: UInt64) throws -> RQCodes {
        guard c.levels >= 1, c.codes >= 2, c.latent >= 1, c.epochs >= 1, c.lr > 0, c.hidden.allSatisfy({ $0 >= 1 }) else {
            throw AlignError.invalidArgument("rqvae needs levels ≥ 1, codes ≥ 2, latent ≥ 1, epochs ≥ 1, lr > 0 and positive hidden widths")
        }
        guard n >= c.codes else {
            throw AlignError.invalidArgument("rqvae needs at least as many vectors as codes: \(n) vectors, \(c.codes) codes (lower --codes)")
        }
        guard x.count == n * dim else { throw AlignError.invalidArgument("vectors hold \(x.count) floats, expected \(n) × \(dim)") }
        let B = min(n, max(c.batch, c.codes))
        let m = RQVAE(dim: dim, config: c, maxBatch: B)
        var rng = Rng(seed: seed)
        var initRng = rng.split()
        m.encoder.initialize(m.params, rng: &initRng)
        m.decoder.initialize(m.params, rng: &initRng)
        let opt = AdamW(count: m.parameterCount, groups: m.groups,
                        config: AdamWConfig(lr: c.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: c.weightDecay))
        let steps = c.epochs * ((n + B - 1) / B)
        let sched = LRSchedule(peak: c.lr, warmup: 0, total: steps, minRatio: 0.1)
        let e = c.latent, K = c.codes, L = c.levels
        let xb = UnsafeMutablePointer<Float>.allocate(capacity: B * dim); defer { xb.deallocate() }
        var usage = [Int](repeating: 0, count: L * K)
        var perm = Array(0..<n)
        var history: [Double] = []
        var step = 0
        let progress = ProgressBar(total: c.epochs, label: "rqvae", unit: "epoch")
        try x.withUnsafeBufferPointer { xp in
            for epoch in 0..<c.epochs {
                rng.shuffle(&perm)
                for i in 0..<(L * K) { usage[i] = 0 }
                var total = 0.0, start = 0
                while start < n {
                    let b = min(B, n - start)
                    for r in 0..<b { (xb + r * dim).update(from: xp.baseAddress! + perm[start + r] * dim, count: dim) }
                    if epoch == 0 && start == 0 { try m.initCodebooks(xb, b, rng: &rng) }
                    total += m.lossAndGrad(xb, b)
                    for d in 0..<L { for i in 0..<b { usage[d * K + Int(m.codes[d * b + i])] += 1 } }
                    opt.update(params: m.params, grads: m.grads, lr: sched.lr(at: step))
                    step += 1
                    start += b
                }
                history.append(total / Double(n))
                // Dead codes: re-seed from the last batch's residuals at that level, clear their moments.
                let lastB = n - ((n - 1) / B) * B
                for d in 0..<L {
                    for k in 0..<K where usage[d * K + k] == 0 {
                        let src = m.res[d] + rng.int(below: lastB) * e, off = m.codebookOffset + (d * K + k) * e
                        for t in 0..<e { m.params[off + t] = src[t]; opt.m[off + t] = 0; opt.v[off + t] = 0 }
                    }
                }
                progress.advance(info: String(format: "loss %.5f", total / Double(n)))
            }
        }
        progress.finish()
        return m.encodeAll(x, n: n, history: history)
    }

    /// k-means initialisation of every codebook on one batch (level by level on its residuals).
    func initCodebooks(_ x: UnsafePointer<Float>, _ B: Int, rng: inout Rng) throws {
        let e = config.latent, K = config.codes
        let z = encoder.forward(params, x, B)
        res[0].update(from: z, count: B * e)
        for d in 0..<config.levels {
            var r = rng.split()
            let km = try KMeans.fit(res[d], n: B, dim: e, k: K, config: KMeansConfig(iterations: config.kmeansIterations), rng: &r)
            codebook(d).update(from: km.centroids, count: K * e)
            for i in 0..<B {
                let c = Int(km.assign[i])
                for t in 0..<e { res[d + 1][i * e + t] = res[d][i * e + t] - km.centroids[c * e + t] }
            }
        }
    }

    /// Codes, last-level residuals and decoder reconstruction error of all rows.
    func encodeAll(_ x: [Float], n: Int, history: [Double]) -> RQCodes {
        let e = config.latent, L = config.levels, K = config.codes
        var out = [Int32](repeating: 0, count: n * L)
        var last = [Float](repeating: 0, count: n * e)
        var err = 0.0
        x.withUnsafeBufferPointer { xp in
            var start = 0
            while start < n {
                let b = min(maxBatch, n - start), xs = xp.baseAddress! + start * dim
                quantize(xs, b)
                let xh = decoder.forward(params, zq, b)
                for i in 0..<(b * dim) { let v = Double(xh[i] - xs[i]); err += v * v }
                for i in 0..<b { for d in 0..<L { out[(start + i) * L + d] = codes[d * b + i] } }
                for i in 0..<(b * e) { last[start * e + i] = res[L - 1][i] }
                start += b
            }
        }
        let books = (0..<L).map { Array(UnsafeBufferPointer(start: codebook($0), count: K * e)) }
        return RQCodes(n: n, levels: L, codebookSizes: Array(repeating: K, count: L), codes: out, quantDim: e,
                       codebooks: books, lastResidual: last, reconstructionError: n > 0 ? err / Double(n) : 0,
                       iterations: [history.count], lossHistory: history)
    }
}
