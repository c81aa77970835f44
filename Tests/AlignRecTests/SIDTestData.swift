// Synthetic data for the SID tests: seeded Gaussian mixtures with known components.
import AlignRec
import Foundation

enum SIDTestData {
    /// n points in `dim` dims from `components` Gaussians (centres ~ N(0, spread²), noise σ); label per row.
    static func mixture(n: Int, dim: Int, components: Int, spread: Double = 4, sigma: Double = 0.3, seed: UInt64) -> (x: [Float], labels: [Int]) {
        var rng = Rng(seed: seed)
        let centres = (0..<(components * dim)).map { _ in rng.normal() * spread }
        var x = [Float](repeating: 0, count: n * dim), labels = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let c = rng.int(below: components)
            labels[i] = c
            for t in 0..<dim { x[i * dim + t] = Float(centres[c * dim + t] + rng.normal() * sigma) }
        }
        return (x, labels)
    }

    /// Size-weighted share of each group's majority label (groups → labels).
    static func purity(groups: [Int], labels: [Int]) -> Double {
        var table: [Int: [Int: Int]] = [:]
        for (g, l) in zip(groups, labels) { table[g, default: [:]][l, default: 0] += 1 }
        let major = table.values.reduce(0) { $0 + ($1.values.max() ?? 0) }
        return Double(major) / Double(groups.count)
    }

    static func sizes(_ assign: [Int32], k: Int) -> [Int] {
        var s = [Int](repeating: 0, count: k)
        for a in assign { s[Int(a)] += 1 }
        return s
    }
}
