// Making Semantic IDs unique. After L levels several items can share a full code tuple; two fixes:
// - `extra-level` (TIGER): append one level whose code is the item's rank (ascending item id) inside its
//   group of identical tuples; non-colliding items get 0. The extra level is added only when some tuple
//   collides, and then to every item, so all SIDs have the same length.
// - `sinkhorn` (LC-Rec): for each colliding group, re-assign the last level by Sinkhorn-Knopp balancing of
//   the group's distances to the last codebook (distances centred to [-1, 1] as LC-Rec does, log-domain
//   iterations: rows sum to 1/B, columns to 1/K), repeated over the new groups until every tuple is unique
//   or `rounds` is reached; anything still colliding then gets the extra level (`fellBack` is set and the
//   report says so). Two refinements over LC-Rec's plain argmax, which can send near-identical rows to the
//   same code forever: the columns are restricted to last-level codes no item outside the group already
//   uses under the same prefix, and the plan is rounded to distinct codes greedily (largest Q first — each
//   row gets its argmax unless a row with a larger Q there took it). With at least as many free codes as
//   group members one round makes the group unique; otherwise argmax rounding is used for that group.
import Foundation

/// How collisions are resolved.
public enum SIDDedup: String, Codable, Sendable, CaseIterable {
    case extraLevel = "extra-level"
    case sinkhorn
}

/// Sinkhorn re-assignment knobs (LC-Rec defaults: ε = 0.003, 100 iterations, 20 rounds).
public struct SinkhornConfig: Codable, Sendable, Equatable {
    public var epsilon: Double
    public var iterations: Int
    public var rounds: Int
    public init(epsilon: Double = 0.003, iterations: Int = 100, rounds: Int = 20) {
        self.epsilon = epsilon; self.iterations = iterations; self.rounds = rounds
    }
}

/// The unique codes and what it took to get them.
public struct DedupOutcome: Sendable {
    /// Final codes per row (row i = item i + 1); all tuples distinct.
    public var codes: [[Int]]
    /// Codebook size per final level (an extra level has size = largest group).
    public var codebookSizes: [Int]
    /// Share of items whose tuple is a duplicate before de-duplication: (n − distinct tuples) / n (LC-Rec).
    public var collisionRateBefore: Double
    /// Largest number of items sharing one tuple before de-duplication.
    public var maxGroupBefore: Int
    /// Items in a group of size > 1 before de-duplication.
    public var collidingItemsBefore: Int
    /// Sinkhorn rounds run (0 for extra-level).
    public var sinkhornRounds: Int
    /// Items whose last-level code Sinkhorn changed.
    public var sinkhornReassigned: Int
    /// Whether an extra level was appended.
    public var extraLevel: Bool
    /// Sinkhorn could not make every tuple unique and the extra level was used for the rest.
    public var fellBack: Bool
    /// Colliding groups Sinkhorn left for the extra level (0 unless `fellBack`).
    public var groupsLeftAfterSinkhorn: Int
}

public enum Dedup {
    /// Groups (row lists, ascending) of rows sharing a tuple, only groups of size > 1, ordered by first row.
    public static func collisionGroups(_ codes: [[Int]]) -> [[Int]] {
        var byTuple: [[Int]: Int] = [:]
        var groups: [[Int]] = []
        for (i, c) in codes.enumerated() {
            if let g = byTuple[c] { groups[g].append(i) } else { byTuple[c] = groups.count; groups.append([i]) }
        }
        return groups.filter { $0.count > 1 }
    }

    /// (collision rate, max group size, colliding items) of a code table.
    public static func collisionStats(_ codes: [[Int]]) -> (rate: Double, maxGroup: Int, colliding: Int) {
        let n = codes.count
        guard n > 0 else { return (0, 0, 0) }
        let distinct = Set(codes).count
        let groups = collisionGroups(codes)
        let maxGroup = groups.map(\.count).max() ?? 1
        return (Double(n - distinct) / Double(n), maxGroup, groups.reduce(0) { $0 + $1.count })
    }

    /// TIGER's extra level: rank in the group of identical tuples. Returns codes unchanged when unique.
    public static func appendExtraLevel(_ codes: [[Int]]) -> (codes: [[Int]], size: Int?) {
        let groups = collisionGroups(codes)
        guard !groups.isEmpty else { return (codes, nil) }
        var out = codes.map { $0 + [0] }
        var size = 1
        for g in groups {
            size = max(size, g.count)
            for (rank, i) in g.enumerated() { out[i][out[i].count - 1] = rank }
        }
        return (out, size)
    }

    /// Log-domain Sinkhorn–Knopp on distances d[b, k] (LC-Rec's normalisation: centre to [-1, 1],
    /// Q ∝ exp(−d/ε), rows to 1/B, columns to 1/K); returns argmax_k Q per row (lowest k on ties).
    /// With `distinct` (and b ≤ k) the plan is rounded greedily to pairwise different columns instead.
    public static func sinkhornAssign(_ d: [Double], rows b: Int, cols k: Int, epsilon: Double, iterations: Int,
                                      distinct: Bool = false) -> [Int] {
        guard b > 0, k > 0 else { return [] }
        let mx = d.max()!, mn = d.min()!
        let mid = (mx + mn) / 2, amp = mx - mid + 1e-5
        var lq = d.map { -(($0 - mid) / amp) / epsilon }
        let logB = log(Double(b)), logK = log(Double(k))
        lq.withUnsafeMutableBufferPointer { q in
            for _ in 0..<max(1, iterations) {
                for i in 0..<b {  // rows: each sums to 1/B
                    var m = -Double.infinity
                    for j in 0..<k { m = max(m, q[i * k + j]) }
                    var s = 0.0
                    for j in 0..<k { s += exp(q[i * k + j] - m) }
                    let l = m + log(s) + logB
                    for j in 0..<k { q[i * k + j] -= l }
                }
                for j in 0..<k {  // columns: each sums to 1/K
                    var m = -Double.infinity
                    for i in 0..<b { m = max(m, q[i * k + j]) }
                    var s = 0.0
                    for i in 0..<b { s += exp(q[i * k + j] - m) }
                    let l = m + log(s) + logK
                    for i in 0..<b { q[i * k + j] -= l }
                }
            }
        }
        if distinct && b <= k {
            let order = (0..<(b * k)).sorted { lq[$0] != lq[$1] ? lq[$0] > lq[$1] : $0 < $1 }
            var out = [Int](repeating: -1, count: b), taken = [Bool](repeating: false, count: k), left = b
            for p in order where left > 0 {
                let i = p / k, j = p % k
                if out[i] < 0 && !taken[j] { out[i] = j; taken[j] = true; left -= 1 }
            }
            return out
        }
        return (0..<b).map { i in
            var best = lq[i * k], bj = 0
            for j in 1..<k where lq[i * k + j] > best { best = lq[i * k + j]; bj = j }
            return bj
        }
    }

    /// Makes the SIDs of `rq` unique with `method`.
    public static func run(_ rq: RQCodes, method: SIDDedup, sinkhorn: SinkhornConfig = SinkhornConfig()) -> DedupOutcome {
        var codes = (0..<rq.n).map { rq.codes(row: $0) }
        let before = collisionStats(codes)
        var rounds = 0, moved = Set<Int>()
        if method == .sinkhorn {
            let last = rq.levels - 1, k = rq.codebookSizes[last], dim = rq.quantDim
            let book = rq.codebooks[last]
            let original = codes.map { $0[last] }
            while rounds < sinkhorn.rounds {
                let groups = collisionGroups(codes)
                if groups.isEmpty { break }
                rounds += 1
                var changed = false
                // Last-level codes in use per prefix (to keep re-assigned rows off occupied tuples).
                var used: [[Int]: [Int: Int]] = [:]
                for c in codes { used[Array(c[0..<last]), default: [:]][c[last], default: 0] += 1 }
                for g in groups {
                    let prefix = Array(codes[g[0]][0..<last])
                    let own = codes[g[0]][last]
                    let occupied = used[prefix, default: [:]].filter { $0.key != own || $0.value > g.count }.map(\.key)
                    let free = (0..<k).filter { !occupied.contains($0) || $0 == own }
                    var d = [Double](repeating: 0, count: g.count * free.count)
                    for (r, i) in g.enumerated() {
                        for (fj, j) in free.enumerated() {
                            var s = 0.0
                            for t in 0..<dim {
                                let v = Double(rq.lastResidual[i * dim + t]) - Double(book[j * dim + t]); s += v * v
                            }
                            d[r * free.count + fj] = s
                        }
                    }
                    let a = sinkhornAssign(d, rows: g.count, cols: free.count, epsilon: sinkhorn.epsilon,
                                           iterations: sinkhorn.iterations, distinct: true)
                    for (r, i) in g.enumerated() where codes[i][last] != free[a[r]] {
                        codes[i][last] = free[a[r]]; changed = true
                    }
                    for (r, _) in g.enumerated() { used[prefix, default: [:]][free[a[r]], default: 0] += 1 }
                }
                if !changed { break }
            }
            for i in 0..<rq.n where codes[i][last] != original[i] { moved.insert(i) }
        }
        let left = method == .sinkhorn ? collisionGroups(codes).count : 0
        let (final, extra) = appendExtraLevel(codes)
        var sizes = rq.codebookSizes
        if let extra { sizes.append(extra) }
        return DedupOutcome(codes: final, codebookSizes: sizes, collisionRateBefore: before.rate, maxGroupBefore: before.maxGroup,
                            collidingItemsBefore: before.colliding, sinkhornRounds: rounds, sinkhornReassigned: moved.count,
                            extraLevel: extra != nil, fellBack: method == .sinkhorn && extra != nil, groupsLeftAfterSinkhorn: left)
    }
}
