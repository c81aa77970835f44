// K-means over flat row-major buffers: chunked sgemm distances (‖x‖² − 2x·c + ‖c‖²) with a parallel argmin,
// k-means++ seeding on a seeded subsample, Lloyd iterations with early stop, and empty clusters re-seeded
// from the farthest points. `nearestNaive` is the plain-loop reference the sgemm path is tested against.
// Used by every SID method (RQ-KMeans levels, balanced levels, RQ-VAE codebook initialisation).
import Foundation

/// Knobs of one k-means fit.
public struct KMeansConfig: Codable, Sendable, Equatable {
    /// Maximum Lloyd iterations (stops earlier when no assignment changes).
    public var iterations: Int
    /// k-means++ runs on a seeded subsample of at most this many rows (0 = `32 * k`).
    public var initSample: Int
    /// Capacity-constrained assignment (cluster sizes ⌊n/K⌋ or ⌈n/K⌉), see `BalancedAssign`.
    public var balanced: Bool
    public init(iterations: Int = 25, initSample: Int = 0, balanced: Bool = false) {
        self.iterations = iterations; self.initSample = initSample; self.balanced = balanced
    }
    enum CodingKeys: String, CodingKey { case iterations, initSample = "init_sample", balanced }
}

/// Result of one k-means fit: centroids [k, dim], assignment [n], squared distance of each row to its centroid.
public struct KMeansResult: Sendable {
    public var k: Int
    public var dim: Int
    public var centroids: [Float]
    public var assign: [Int32]
    public var distances: [Float]
    /// Lloyd iterations actually run.
    public var iterations: Int
    /// Mean squared distance to the assigned centroid.
    public var inertia: Double {
        distances.isEmpty ? 0 : distances.reduce(0.0) { $0 + Double($1) } / Double(distances.count)
    }
}

public enum KMeans {
    /// Rows per sgemm distance chunk ([chunk, k] scratch).
    static let chunkRows = 4096

    /// ‖a‖² over n floats (8 independent lanes so the loop vectorises).
    @inline(__always)
    static func squaredNorm(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var j = 0
        let raw = UnsafeRawPointer(a)
        while j + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
            acc += v * v
            j += 8
        }
        var s = acc.sum()
        while j < n { s += a[j] * a[j]; j += 1 }
        return s
    }

    /// ‖a − b‖² over n floats (vectorised like `squaredNorm`).
    @inline(__always)
    static func squaredDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var j = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while j + 8 <= n {
            let v = ra.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self) - rb.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self)
            acc += v * v
            j += 8
        }
        var s = acc.sum()
        while j < n { let v = a[j] - b[j]; s += v * v; j += 1 }
        return s
    }

    /// Squared norms of `n` rows of length `dim`: out[i] = ‖x_i‖².
    static func rowNorms(_ x: UnsafePointer<Float>, _ n: Int, _ dim: Int, _ out: UnsafeMutablePointer<Float>) {
        Parallel.forEach(n, minPerWorker: 256) { i in out[i] = squaredNorm(x + i * dim, dim) }
    }

    /// For rows x[n, dim] and centroids c[k, dim]: assign[i] = argmin_k ‖x_i − c_k‖² (first index on ties),
    /// dist[i] = that squared distance (clamped ≥ 0). Distances via sgemm in chunks of `chunkRows` rows,
    /// argmin in parallel. `onChunk(rowStart, rows, partial)` (optional) sees each chunk's
    /// partial distances [rows, k] = ‖c‖² − 2x·c before the argmin (used by the balanced assignment).
    public static func nearest(
        _ x: UnsafePointer<Float>, n: Int, dim: Int, centroids c: UnsafePointer<Float>, k: Int,
        assign: UnsafeMutablePointer<Int32>, dist: UnsafeMutablePointer<Float>,
        onChunk: ((Int, Int, UnsafePointer<Float>) -> Void)? = nil
    ) {
        let cn = UnsafeMutablePointer<Float>.allocate(capacity: k); defer { cn.deallocate() }
        let rowsMax = max(1, min(n, chunkRows))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: rowsMax * k); defer { scratch.deallocate() }
        nearest(x, n: n, dim: dim, centroids: c, k: k, assign: assign, dist: dist,
                cnorm: cn, scratch: scratch, scratchRows: rowsMax, onChunk: onChunk)
    }

    /// `nearest` with caller-planned buffers (no allocation): cnorm[k], scratch[scratchRows, k].
    public static func nearest(
        _ x: UnsafePointer<Float>, n: Int, dim: Int, centroids c: UnsafePointer<Float>, k: Int,
        assign: UnsafeMutablePointer<Int32>, dist: UnsafeMutablePointer<Float>,
        cnorm cn: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, scratchRows: Int,
        onChunk: ((Int, Int, UnsafePointer<Float>) -> Void)? = nil
    ) {
        rowNorms(c, k, dim, cn)
        let rowsMax = max(1, scratchRows)
        var start = 0
        while start < n {
            let rows = min(rowsMax, n - start)
            // scratch[rows, k] = −2 · x[start..., :] · cᵀ
            sgemm(false, true, rows, k, dim, -2, x + start * dim, dim, c, dim, 0, scratch, k)
            Parallel.forEach(rows, minPerWorker: 64) { r in
                let row = scratch + r * k
                for j in 0..<k { row[j] += cn[j] }
            }
            onChunk?(start, rows, UnsafePointer(scratch))
            let s0 = start
            Parallel.forEach(rows, minPerWorker: 64) { r in
                let row = scratch + r * k
                var best = row[0], bi = 0
                for j in 1..<k where row[j] < best { best = row[j]; bi = j }
                let xn = squaredNorm(x + (s0 + r) * dim, dim)
                assign[s0 + r] = Int32(bi)
                dist[s0 + r] = max(0, xn + best)
            }
            start += rows
        }
    }

    /// Plain-loop reference for `nearest` (double accumulation, direct ‖x − c‖²).
    public static func nearestNaive(_ x: [Float], n: Int, dim: Int, centroids c: [Float], k: Int) -> (assign: [Int32], dist: [Float]) {
        var a = [Int32](repeating: 0, count: n), d = [Float](repeating: 0, count: n)
        for i in 0..<n {
            var best = Double.infinity, bi = 0
            for j in 0..<k {
                var s = 0.0
                for t in 0..<dim { let v = Double(x[i * dim + t]) - Double(c[j * dim + t]); s += v * v }
                if s < best { best = s; bi = j }
            }
            a[i] = Int32(bi); d[i] = Float(best)
        }
        return (a, d)
    }

    /// k-means++ seeding (D² sampling) on a seeded subsample of at most `sample` rows. Writes c[k, dim].
    static func seedPlusPlus(_ x: UnsafePointer<Float>, n: Int, dim: Int, k: Int, sample: Int,
                             rng: inout Rng, centroids c: UnsafeMutablePointer<Float>) {
        var rows = Array(0..<n)
        let m = min(n, max(k, sample))
        if m < n {
            // Partial Fisher–Yates: the first m rows of a seeded permutation, kept in ascending order.
            for i in 0..<m { let j = i + rng.int(below: n - i); rows.swapAt(i, j) }
            rows = Array(rows[0..<m]).sorted()
        }
        let d2 = UnsafeMutablePointer<Double>.allocate(capacity: m); defer { d2.deallocate() }
        d2.initialize(repeating: .infinity, count: m)
        var chosen = rows[rng.int(below: m)]
        for ci in 0..<k {
            if ci > 0 {
                var total = 0.0
                for i in 0..<m { total += d2[i] }
                if total > 0 && total.isFinite {
                    let u = rng.uniform() * total
                    var acc = 0.0, pick = m - 1
                    for i in 0..<m { acc += d2[i]; if acc > u { pick = i; break } }
                    chosen = rows[pick]
                } else {
                    chosen = rows[rng.int(below: m)]  // every sampled row coincides with a centroid
                }
            }
            let dst = c + ci * dim, src = x + chosen * dim
            for t in 0..<dim { dst[t] = src[t] }
            let cc = UnsafePointer(dst)
            rows.withUnsafeBufferPointer { rp in
                Parallel.forEach(m, minPerWorker: 256) { i in
                    let s = squaredDistance(x + rp[i] * dim, cc, dim)
                    if Double(s) < d2[i] { d2[i] = Double(s) }
                }
            }
        }
    }

    /// Fits k centroids to rows x[n, dim]. Deterministic for a given `rng` state.
    public static func fit(_ x: UnsafePointer<Float>, n: Int, dim: Int, k: Int, config: KMeansConfig, rng: inout Rng) throws -> KMeansResult {
        guard k >= 1, n >= k else {
            throw AlignError.invalidArgument("k-means needs at least as many vectors as codes: \(n) vectors, \(k) codes (lower --codes)")
        }
        guard dim >= 1 else { throw AlignError.invalidArgument("k-means needs vectors of dimension ≥ 1") }
        var cent = [Float](repeating: 0, count: k * dim)
        var assign = [Int32](repeating: -1, count: n)
        var dist = [Float](repeating: 0, count: n)
        var prev = [Int32](repeating: -1, count: n)
        var its = 0
        let balanced = config.balanced
        cent.withUnsafeMutableBufferPointer { cp in
            seedPlusPlus(x, n: n, dim: dim, k: k, sample: config.initSample > 0 ? config.initSample : 32 * k, rng: &rng, centroids: cp.baseAddress!)
        }
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: k * dim); defer { sums.deallocate() }
        var counts = [Int](repeating: 0, count: k)
        var converged = false
        while its < max(1, config.iterations) {
            assignStep(x, n: n, dim: dim, cent: cent, k: k, balanced: balanced, assign: &assign, dist: &dist)
            its += 1
            if assign == prev { converged = true; break }
            prev = assign
            // Update: centroid = mean of its rows (double sums, fixed order → deterministic).
            sums.initialize(repeating: 0, count: k * dim)
            for i in 0..<k { counts[i] = 0 }
            for i in 0..<n {
                let a = Int(assign[i]); counts[a] += 1
                let s = sums + a * dim, r = x + i * dim
                for t in 0..<dim { s[t] += Double(r[t]) }
            }
            var empty: [Int] = []
            for j in 0..<k {
                if counts[j] == 0 { empty.append(j); continue }
                let inv = 1.0 / Double(counts[j])
                for t in 0..<dim { cent[j * dim + t] = Float(sums[j * dim + t] * inv) }
            }
            if !empty.isEmpty { reseedEmpty(empty, x: x, n: n, dim: dim, dist: dist, cent: &cent) }
        }
        if !converged {
            assignStep(x, n: n, dim: dim, cent: cent, k: k, balanced: balanced, assign: &assign, dist: &dist)
        }
        return KMeansResult(k: k, dim: dim, centroids: cent, assign: assign, distances: dist, iterations: its)
    }

    /// Re-seeds each empty cluster with one of the rows farthest from their centroids (distinct rows,
    /// largest distance first, lower index on ties).
    static func reseedEmpty(_ empty: [Int], x: UnsafePointer<Float>, n: Int, dim: Int, dist: [Float], cent: inout [Float]) {
        let order = (0..<n).sorted { dist[$0] != dist[$1] ? dist[$0] > dist[$1] : $0 < $1 }
        for (e, j) in empty.enumerated() where e < n {
            let r = x + order[e] * dim
            for t in 0..<dim { cent[j * dim + t] = r[t] }
        }
    }

    static func assignStep(_ x: UnsafePointer<Float>, n: Int, dim: Int, cent: [Float], k: Int, balanced: Bool,
                           assign: inout [Int32], dist: inout [Float]) {
        cent.withUnsafeBufferPointer { cp in
            assign.withUnsafeMutableBufferPointer { ap in
                dist.withUnsafeMutableBufferPointer { dp in
                    if balanced {
                        BalancedAssign.assign(x, n: n, dim: dim, centroids: cp.baseAddress!, k: k, assign: ap.baseAddress!, dist: dp.baseAddress!)
                    } else {
                        nearest(x, n: n, dim: dim, centroids: cp.baseAddress!, k: k, assign: ap.baseAddress!, dist: dp.baseAddress!)
                    }
                }
            }
        }
    }
}
