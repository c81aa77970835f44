// The items a model with item memory knows: each item's Semantic-ID token ids (one per level), which items
// have a trained per-item vector ("warm"; cold items have none and are reached through their SID alone), and
// the scan that finds items inside a token sequence.
//
// An item is *completed* at the position of the last token of its SID: a run of SID tokens that starts with a
// level-0 token and continues with levels 1, 2, … without a gap; after `levels` tokens the run is looked up
// and closed. Any other token (text, a level-0 token in the middle of a run, a level out of order) restarts
// the scan, so item positions are a pure function of the token ids — the trainer, the KV-cached decoder and
// every caller find the same positions without being told.
//
// Carry (`carry` on): the most recently completed item also reaches every text token after it, up to the next SID
// token — e.g. the title a sid2title answer generates, or the instruction text after a history. Its residual is
// then added at those positions too (`inputItem`).
import Foundation

/// Item SIDs as token ids, and the item-completion scan.
public struct ItemTable: Sendable, Equatable {
    /// Items N; item i (1...N) is row i − 1 of every per-item array.
    public let count: Int
    /// SID tokens per item (L).
    public let levels: Int
    /// [N, L] token ids, item-major.
    public let codes: [Int32]
    /// [N] whether the item has a per-item vector (cold items keep a zero vector and never train one).
    public let warm: [Bool]
    /// Whether the last completed item is carried to the text tokens after it (see the file header).
    public let carry: Bool
    /// Token id → its level (−1: not a SID token of this table).
    let level: [Int8]
    /// Packed SID (Σ_l code_l · vocab^l over the L token ids) → item.
    let lookup: [Int: Int32]
    let vocabSize: Int

    /// `sids[i]` are item i + 1's token ids (all of one length L ≥ 1, level l's tokens distinct from every other
    /// level's); `warm` defaults to every item.
    public init(sids: [[Int32]], vocabSize: Int, warm: [Bool]? = nil, carry: Bool = false) throws {
        guard let first = sids.first else { throw AlignError.invalidArgument("item table: no items") }
        let L = first.count
        guard L >= 1 else { throw AlignError.invalidArgument("item table: empty SID for item 1") }
        guard vocabSize > 0, Double(vocabSize).magnitude < pow(2, 62 / Double(L)) else {
            throw AlignError.invalidArgument("item table: \(L) levels over a \(vocabSize)-token vocabulary cannot be packed")
        }
        if let warm, warm.count != sids.count {
            throw AlignError.invalidArgument("item table: \(warm.count) warm flags for \(sids.count) items")
        }
        var level = [Int8](repeating: -1, count: vocabSize)
        var lookup: [Int: Int32] = [:]
        lookup.reserveCapacity(sids.count)
        var codes: [Int32] = []
        codes.reserveCapacity(sids.count * L)
        for (i, sid) in sids.enumerated() {
            guard sid.count == L else {
                throw AlignError.invalidArgument("item table: item \(i + 1) has \(sid.count) SID tokens, item 1 has \(L)")
            }
            var key = 0
            for (l, t) in sid.enumerated() {
                guard t >= 0, Int(t) < vocabSize else {
                    throw AlignError.invalidArgument("item table: item \(i + 1)'s SID token \(t) is outside the vocabulary 0..<\(vocabSize)")
                }
                guard level[Int(t)] == -1 || Int(level[Int(t)]) == l else {
                    throw AlignError.invalidArgument("item table: token \(t) is used at SID levels \(level[Int(t)]) and \(l)")
                }
                level[Int(t)] = Int8(l)
                key = key * vocabSize + Int(t)
                codes.append(t)
            }
            guard lookup.updateValue(Int32(i + 1), forKey: key) == nil else {
                throw AlignError.invalidArgument("item table: item \(i + 1) has the same SID as item \(lookup[key]!)")
            }
        }
        count = sids.count; levels = L; self.codes = codes; self.level = level; self.lookup = lookup
        self.vocabSize = vocabSize
        self.warm = warm ?? [Bool](repeating: true, count: sids.count)
        self.carry = carry
    }

    /// The same items with other warm flags.
    public func with(warm: [Bool]) throws -> ItemTable {
        try ItemTable(sids: (0..<count).map { Array(codes[($0 * levels)..<(($0 + 1) * levels)]) }, vocabSize: vocabSize, warm: warm,
                      carry: carry)
    }

    /// Item i's (1...N) SID token ids.
    public func sid(_ item: Int) -> ArraySlice<Int32> { codes[((item - 1) * levels)..<(item * levels)] }

    /// Number of warm items.
    public var warmCount: Int { warm.reduce(0) { $1 ? $0 + 1 : $0 } }

    /// Scan state of one token stream (see the file header).
    public struct Scan: Sendable, Equatable {
        /// SID tokens of the open run (0 = none).
        public var length: Int32 = 0
        /// Packed tokens of the open run.
        public var key: Int = 0
        /// The last item completed with no SID token after it (what `carry` adds to text tokens).
        public var last: Int32 = 0
        public init() {}
    }

    /// Feeds one token; returns the item completed at it (0: none).
    @inline(__always)
    public func advance(_ s: inout Scan, _ token: Int32) -> Int32 {
        let lv = token >= 0 && Int(token) < vocabSize ? Int32(level[Int(token)]) : -1
        if lv == 0 {
            s.length = 1; s.key = Int(token)
        } else if lv > 0 && lv == s.length {
            s.length += 1; s.key = s.key * vocabSize + Int(token)
        } else {
            s.length = 0; s.key = 0
            return 0
        }
        guard Int(s.length) == levels else { return 0 }
        let item = lookup[s.key] ?? 0
        s.length = 0; s.key = 0
        return item
    }

    /// Feeds one token; returns the item whose residual goes into this position: the item completed here, or with
    /// `carry` the last completed item when this is a text token (0: none).
    @inline(__always)
    public func inputItem(_ s: inout Scan, _ token: Int32) -> Int32 {
        let isSID = token >= 0 && Int(token) < vocabSize && level[Int(token)] >= 0
        let done = advance(&s, token)
        if done > 0 { s.last = done; return done }
        if isSID { s.last = 0; return 0 }
        return carry ? s.last : 0
    }

    /// out[b·T + t] = `inputItem` at tokens[b·T + t], each row scanned from its start.
    public func inputItems(_ tokens: UnsafePointer<Int32>, batch: Int, seq: Int, into out: UnsafeMutablePointer<Int32>) {
        for b in 0..<batch {
            var s = Scan()
            for t in 0..<seq { out[b * seq + t] = inputItem(&s, tokens[b * seq + t]) }
        }
    }

    /// out[b·T + t] = the item completed at tokens[b·T + t] (0: none), each of the `batch` rows scanned from its start.
    public func completions(_ tokens: UnsafePointer<Int32>, batch: Int, seq: Int, into out: UnsafeMutablePointer<Int32>) {
        for b in 0..<batch {
            var s = Scan()
            for t in 0..<seq { out[b * seq + t] = advance(&s, tokens[b * seq + t]) }
        }
    }

    /// The same for one sequence, as an array.
    public func completions(_ tokens: [Int32]) -> [Int32] {
        var s = Scan()
        return tokens.map { advance(&s, $0) }
    }

    /// Item-head targets of rows [B, T]: out[p] = i when position p is trained (targets[p] ≠ −100) to emit the first
    /// SID token of item i and the next L inputs spell i's SID (the item completes at p + L); else 0.
    public func headTargets(completions: UnsafePointer<Int32>, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>,
                            batch: Int, seq: Int, into out: UnsafeMutablePointer<Int32>) {
        for b in 0..<batch {
            for t in 0..<seq {
                let p = b * seq + t
                out[p] = 0
                guard t + levels < seq, targets[p] != ignoreIndex, targets[p] == tokens[p + 1] else { continue }
                out[p] = completions[p + levels]
            }
        }
    }
}
