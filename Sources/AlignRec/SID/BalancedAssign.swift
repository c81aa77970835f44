// Capacity-constrained ("balanced") assignment for balanced RQ-KMeans: every cluster ends with ⌊n/K⌋ or
// ⌈n/K⌉ rows, so every size is within ±1 of n/K.
//
// Method: sorted-cost greedy with capacities. All (row, cluster) pairs are visited in ascending squared
// distance (ties: lower row, then lower cluster); a pair is taken when the row is still free and the
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
        var pairs: [(Float, Int32, Int32)] = []
        pairs.reserveCapacity(n * m)
        for i in 0..<n { for p in 0..<m { pairs.append((candCost[i * m + p], Int32(i), candIdx[i * m + p])) } }
        var state = Capacity(n: n, k: k)
        for i in 0..<n { assign[i] = -1 }
        greedy(&pairs, state: &state, assign: assign, dist: dist)
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
            var rest: [(Float, Int32, Int32)] = []
            rest.reserveCapacity(g * k)
            for (r, i) in left.enumerated() { for j in 0..<k { rest.append((full[r * k + j] + cn[j] + xn[i], Int32(i), Int32(j))) } }
            greedy(&rest, state: &state, assign: assign, dist: dist)
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

    static func greedy(_ pairs: inout [(Float, Int32, Int32)], state: inout Capacity,
                       assign: UnsafeMutablePointer<Int32>, dist: UnsafeMutablePointer<Float>) {
        pairs.sort { a, b in a.0 != b.0 ? a.0 < b.0 : (a.1 != b.1 ? a.1 < b.1 : a.2 < b.2) }
        for (cost, i, j) in pairs where assign[Int(i)] < 0 {
            if state.take(Int(j)) { assign[Int(i)] = j; dist[Int(i)] = cost }
        }
    }
}
