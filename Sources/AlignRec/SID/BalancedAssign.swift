// Capacity-constrained ("balanced") assignment for balanced RQ-KMeans: every cluster ends with ⌊n/K⌋ or
// ⌈n/K⌉ rows, so every size is within ±1 of n/K.
//
// Method: sorted-cost greedy with capacities. All (row, cluster) pairs are visited in ascending squared
// distance (ties: lower row first); a pair is taken when the row is still free and the
// cluster has fewer than ⌊n/K⌋ rows, or has exactly ⌊n/K⌋ and fewer than r = n mod K clusters have
// already been granted their one extra row. To stay cheap, the first pass only visits each row's
// `candidates` nearest clusters; rows left free then run the same greedy over all K clusters.
//
// Why the sizes hold: a cluster only grows past ⌊n/K⌋ by taking one of the r extra slots, and at most r
// are granted, so every size is ⌊n/K⌋ + {0, 1} at most. Every row is placed: a row that considered all K
// clusters and stayed free saw each cluster full; if all r extras were granted the total capacity is
// K⌊n/K⌋ + r = n, so fewer than n rows are placed — impossible while a row is free unless some cluster is
// below ⌊n/K⌋, which is not full. If fewer than r extras were granted, full means ⌈n/K⌉ everywhere, total
// > n — again impossible. Hence all rows are placed and no cluster is below ⌊n/K⌋ (sizes sum to n).
import Foundation

public enum BalancedAssign {
    /// Nearest clusters visited per row in the first pass.
    public static let candidates = 16

    /// Balanced assignment of rows x[n, dim] to centroids c[k, dim]; dist[i] = ‖x_i − c_assign[i]‖².
    public static func assign(_ x: UnsafePointer<Float>, n: Int, dim: Int, centroids c: UnsafePointer<Float>, k: Int,
                              assign: UnsafeMutablePointer<Int32>, dist: UnsafeMutablePointer<Float>) {
        let m = min(k, candidates)
        let xn = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n)); defer { xn.deallocate() }
        KMeans.rowNorms(x, n, dim, xn)
        let candCost = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n * m)); defer { candCost.deallocate() }
        let candIdx = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, n * m)); defer { candIdx.deallocate() }
        KMeans.nearest(x, n: n, dim: dim, centroids: c, k: k, assign: assign, dist: dist) { start, rows, part in
            Parallel.forEach(rows, minPerWorker: 64) { r in
                let i = start + r, row = part + r * k
                let cc = candCost + i * m, ci = candIdx + i * m
                var filled = 0
                for j in 0..<k {
                    let v = row[j] + xn[i]
                    if filled == m && v >= cc[m - 1] { continue }
                    var p = filled < m ? filled : m - 1
                    while p > 0 && cc[p - 1] > v { cc[p] = cc[p - 1]; ci[p] = ci[p - 1]; p -= 1 }
                    cc[p] = v; ci[p] = Int32(j)
                    if filled < m { filled += 1 }
                }
            }
        }
        var state = Capacity(n: n, k: k)
        for i in 0..<n { assign[i] = -1 }
        // Pairs as sortable keys: (cost bits << 32) | pair index (costs ≥ 0, so bit order = value order).
        var keys = [UInt64](repeating: 0, count: n * m)
        for p in 0..<(n * m) { keys[p] = key(candCost[p], p) }
        greedy(&keys, state: &state, assign: assign, dist: dist) { p in (p / m, Int(candIdx[p]), candCost[p]) }
        let left = (0..<n).filter { assign[$0] < 0 }
        if !left.isEmpty {
            // Second pass: free rows against every cluster.
            let g = left.count
            let xs = UnsafeMutablePointer<Float>.allocate(capacity: g * dim); defer { xs.deallocate() }
            for (r, i) in left.enumerated() { (xs + r * dim).update(from: x + i * dim, count: dim) }
            let full = UnsafeMutablePointer<Float>.allocate(capacity: g * k); defer { full.deallocate() }
            let cn = UnsafeMutablePointer<Float>.allocate(capacity: k); defer { cn.deallocate() }
            KMeans.rowNorms(c, k, dim, cn)
            sgemm(false, true, g, k, dim, -2, xs, dim, c, dim, 0, full, k)
            for r in 0..<g { for j in 0..<k { full[r * k + j] = max(0, full[r * k + j] + cn[j] + xn[left[r]]) } }
            var rest = [UInt64](repeating: 0, count: g * k)
            for p in 0..<(g * k) { rest[p] = key(full[p], p) }
            greedy(&rest, state: &state, assign: assign, dist: dist) { p in (left[p / k], p % k, full[p]) }
        }
        for i in 0..<n { dist[i] = max(0, dist[i]) }
    }

    /// Cluster sizes and the extra-slot budget.
    struct Capacity {
        let floor: Int
        let extras: Int
        var granted = 0
        var size: [Int]
        init(n: Int, k: Int) { floor = n / k; extras = n % k; size = Array(repeating: 0, count: k) }
        mutating func take(_ j: Int) -> Bool {
            if size[j] < floor { size[j] += 1; return true }
            if size[j] == floor && granted < extras { size[j] += 1; granted += 1; return true }
            return false
        }
    }

    @inline(__always) static func key(_ cost: Float, _ p: Int) -> UInt64 {
        (UInt64(max(0, cost).bitPattern) << 32) | UInt64(p)
    }

    /// Visits pair keys in ascending (cost, pair index) order; `pair(p)` = (row, cluster, cost).
    static func greedy(_ keys: inout [UInt64], state: inout Capacity, assign: UnsafeMutablePointer<Int32>,
                       dist: UnsafeMutablePointer<Float>, pair: (Int) -> (Int, Int, Float)) {
        keys.sort()
        for kv in keys {
            let (i, j, cost) = pair(Int(kv & 0xFFFF_FFFF))
            if assign[i] < 0 && state.take(j) { assign[i] = Int32(j); dist[i] = cost }
        }
    }
}
