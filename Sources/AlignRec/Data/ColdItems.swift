// Cold items: a seeded share of the catalogue held out of training, to measure what a model recommends for items
// it never saw interacted with (a new item has a title and a content-based Semantic ID, nothing else).
//
// A dataset directory may carry `cold_items.json` (format "align-cold-items" v1: the fraction, the seed and the item
// indices). Then every training accessor leaves those items out: `trainingSequences` drops them from the sequences
// (so the collaborative vectors, the SID build on them and SFT never see their interactions), loo/chrono training
// examples skip them as targets and in histories, and SFT's translation tasks skip them. Validation and test are
// unchanged; `align eval` reports the examples whose target is cold beside the warm ones. `align data cold` makes
// such a copy of a dataset.
import AlignCore
import Foundation

/// `cold_items.json`.
public struct ColdItemsFile: Codable, Sendable, Equatable {
    public static let fileName = "cold_items.json"
    public var format = "align-cold-items"
    public var version = 1
    /// Share of the catalogue held out.
    public var fraction: Double
    /// Seed of the draw.
    public var seed: UInt64
    /// Held-out item indices, ascending.
    public var items: [Int]

    public init(fraction: Double, seed: UInt64, items: [Int]) { self.fraction = fraction; self.seed = seed; self.items = items }

    /// Reads and checks the file against a catalogue of `numItems` items.
    public static func read(_ url: URL, numItems: Int) throws -> ColdItemsFile {
        let f: ColdItemsFile
        do { f = try JSONDecoder().decode(ColdItemsFile.self, from: Data(contentsOf: url)) } catch {
            throw AlignError.format(path: url.path, line: nil, message: "not a valid cold-items file: \(error)")
        }
        guard f.format == "align-cold-items", f.version == 1 else {
            throw AlignError.format(path: url.path, line: nil, message: "format '\(f.format)' v\(f.version), expected 'align-cold-items' v1")
        }
        if let bad = f.items.first(where: { $0 < 1 || $0 > numItems }) {
            throw AlignError.format(path: url.path, line: nil, message: "item \(bad) is outside the catalogue 1...\(numItems)")
        }
        guard Set(f.items).count == f.items.count else { throw AlignError.format(path: url.path, line: nil, message: "repeated items") }
        return f
    }
}

extension Dataset {
    /// A copy with `fraction` of the catalogue (rounded down, at least one item) drawn as cold items with `seed`.
    public func withColdItems(fraction: Double, seed: UInt64) throws -> Dataset {
        guard fraction.isFinite, fraction > 0, fraction < 1 else {
            throw AlignError.invalidArgument("--fraction must be in (0, 1) (got \(fraction))")
        }
        var order = Array(1...numItems)
        var rng = Rng(seed: mix64(seed ^ 0xC01D_17E5))
        rng.shuffle(&order)
        let n = max(1, Int((Double(numItems) * fraction).rounded(.down)))
        var d = self
        d.cold = ColdItemsFile(fraction: fraction, seed: seed, items: order.prefix(n).sorted())
        return d
    }

    /// The held-out items (empty without `cold_items.json`).
    public var coldItems: Set<Int> { Set(cold?.items ?? []) }

    /// `seq` without cold items.
    func droppingCold(_ seq: [Int], _ cold: Set<Int>) -> [Int] { cold.isEmpty ? seq : seq.filter { !cold.contains($0) } }
}
