// The SID quality report (`sid/report.json`, format "align-sid-report" v1) and its printed table:
// per-level codebook utilisation and perplexity, collision rate and largest group before de-duplication,
// reconstruction error, first-level genre purity, and how uniqueness was reached.
import Foundation

/// Usage statistics of one level's codes.
public struct SIDLevelStats: Codable, Sendable, Equatable {
    /// 0-based level.
    public var level: Int
    /// Token letter (a, b, c, …).
    public var letter: String
    public var codebookSize: Int
    /// Distinct codes used.
    public var used: Int
    /// used / codebookSize.
    public var utilisation: Double
    /// exp(entropy) of the code distribution (= codebookSize when perfectly uniform).
    public var perplexity: Double
    /// This is the de-duplication level (rank in group), not a quantizer level.
    public var extra: Bool

    enum CodingKeys: String, CodingKey {
        case level, letter, codebookSize = "codebook_size", used, utilisation, perplexity, extra
    }

    /// Statistics of `codes` (values in 0..<size).
    public static func of(_ codes: [Int], level: Int, size: Int, extra: Bool) -> SIDLevelStats {
        var counts = [Int](repeating: 0, count: max(size, (codes.max() ?? 0) + 1))
        for c in codes { counts[c] += 1 }
        let n = Double(codes.count)
        var h = 0.0
        for c in counts where c > 0 { let p = Double(c) / n; h -= p * log(p) }
        let used = counts.filter { $0 > 0 }.count
        return SIDLevelStats(level: level, letter: SIDMap.letter(level), codebookSize: size, used: used,
                             utilisation: size > 0 ? Double(used) / Double(size) : 0, perplexity: exp(h), extra: extra)
    }
}

/// Quality report of one SID build.
public struct SIDReport: Codable, Sendable, Equatable {
    public var format = "align-sid-report"
    public var version = 1
    public var method: String
    public var dedup: String
    public var seed: UInt64
    public var items: Int
    public var dim: Int
    /// Quantizer levels (without an extra level).
    public var quantizerLevels: Int
    /// Per final level (including an extra level).
    public var levelStats: [SIDLevelStats]
    /// (items − distinct tuples) / items after the quantizer levels, before de-duplication.
    public var collisionRateBeforeDedup: Double
    public var maxGroupSizeBeforeDedup: Int
    public var collidingItemsBeforeDedup: Int
    /// Whether the final SIDs are all distinct (always true for a written map).
    public var unique: Bool
    public var extraLevel: Bool
    public var sinkhornRounds: Int
    public var sinkhornReassigned: Int
    /// Sinkhorn left collisions and the extra level resolved them.
    public var sinkhornFellBack: Bool
    /// Mean ‖x − x̂‖² of the quantizer (before de-duplication; x̂ = Σ codewords, or the RQ-VAE decoder output).
    public var reconstructionError: Double
    /// Mean ‖x‖², to put the reconstruction error in scale.
    public var meanSquaredNorm: Double
    /// Size-weighted share of each first-level cluster's items whose first genre is the cluster's majority
    /// first genre (items without genres are left out); nil when no item has genres.
    public var firstLevelGenrePurity: Double?
    /// Items that entered the purity (items with at least one genre).
    public var genreItems: Int
    /// Lloyd iterations per level (k-means) or epochs (RQ-VAE).
    public var iterations: [Int]
    /// Mean RQ-VAE loss per epoch (empty for k-means methods).
    public var lossHistory: [Double]
    public var seconds: Double
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
        case format, version, method, dedup, seed, items, dim
        case quantizerLevels = "quantizer_levels", levelStats = "level_stats"
        case collisionRateBeforeDedup = "collision_rate_before_dedup", maxGroupSizeBeforeDedup = "max_group_size_before_dedup"
        case collidingItemsBeforeDedup = "colliding_items_before_dedup", unique, extraLevel = "extra_level"
        case sinkhornRounds = "sinkhorn_rounds", sinkhornReassigned = "sinkhorn_reassigned", sinkhornFellBack = "sinkhorn_fell_back"
        case reconstructionError = "reconstruction_error", meanSquaredNorm = "mean_squared_norm"
        case firstLevelGenrePurity = "first_level_genre_purity", genreItems = "genre_items"
        case iterations, lossHistory = "loss_history", seconds, notes
    }

    /// First-level purity: clusters = `firstCodes`, labels = first genre per item (nil = no genre).
    public static func purity(firstCodes: [Int], labels: [String?]) -> (purity: Double?, items: Int) {
        var byCluster: [Int: [String: Int]] = [:]
        var total = 0
        for (c, l) in zip(firstCodes, labels) {
            guard let l else { continue }
            byCluster[c, default: [:]][l, default: 0] += 1
            total += 1
        }
        guard total > 0 else { return (nil, 0) }
        let majority = byCluster.values.reduce(0) { $0 + ($1.values.max() ?? 0) }
        return (Double(majority) / Double(total), total)
    }

    /// Pretty JSON (sorted keys) for `report.json`.
    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { return try e.encode(self) } catch {
            throw AlignError.invalidArgument("report could not be encoded: \(error)")  // non-finite number
        }
    }

    /// Human-readable summary table.
    public func table() -> String {
        func f(_ v: Double, _ p: Int = 3) -> String { String(format: "%.\(p)f", v) }
        var s = "SIDs: \(items) items × \(dim) dims, method \(method), dedup \(dedup), seed \(seed)\n"
        s += "level  codes  used  utilisation  perplexity\n"
        for l in levelStats {
            let name = "\(l.letter)\(l.extra ? "*" : "")"
            s += name.padding(toLength: 7, withPad: " ", startingAt: 0)
            s += String(l.codebookSize).padding(toLength: 7, withPad: " ", startingAt: 0)
            s += String(l.used).padding(toLength: 6, withPad: " ", startingAt: 0)
            s += f(l.utilisation).padding(toLength: 13, withPad: " ", startingAt: 0) + f(l.perplexity, 1) + "\n"
        }
        if levelStats.contains(where: \.extra) { s += "(* = de-duplication level: rank within a colliding group)\n" }
        s += "collision rate before de-dup: \(f(collisionRateBeforeDedup, 4)) (\(collidingItemsBeforeDedup) items, largest group \(maxGroupSizeBeforeDedup))\n"
        if dedup == SIDDedup.sinkhorn.rawValue {
            s += "sinkhorn: \(sinkhornRounds) rounds, \(sinkhornReassigned) items re-assigned"
            s += sinkhornFellBack ? ", collisions remained → extra level used\n" : ", all unique\n"
        }
        s += "reconstruction error: \(f(reconstructionError, 5)) (mean ‖x‖² = \(f(meanSquaredNorm, 5)))\n"
        if let p = firstLevelGenrePurity { s += "first-level genre purity: \(f(p, 4)) over \(genreItems) items\n" }
        s += "unique: \(unique ? "yes" : "NO"), \(f(seconds, 2)) s\n"
        for n in notes { s += "note: \(n)\n" }
        return s
    }
}
