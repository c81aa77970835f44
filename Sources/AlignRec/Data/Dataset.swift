// A prepared dataset directory and its in-memory form: items, user sequences, leave-one-out and chronological
// splits, and dataset.json (format "align-dataset", version 1). Other stages load it with `Dataset.load(from:)`;
// `align data prepare` builds it with `DatasetBuilder` and writes it atomically with `write(to:)`.
//
// Directory layout (JSON Lines, one object a line, UTF-8):
//   dataset.json        DatasetInfo: format, version, source, protocol parameters, counts
//   items.jsonl         Item: item (1..N), id, title, year, genres, text — ordered by item
//   sequences.jsonl     user (1..U), userId, items, timestamps — ordered by user, each sorted by (timestamp, item)
//   loo_train.jsonl     user, userId, items (s[0..n-3])
//   loo_valid.jsonl     user, userId, pos, timestamp, history (untruncated s[0..pos-1]), target (= s[pos])
//   loo_test.jsonl      same, pos = n-1
//   chrono_train.jsonl  user, userId, pos, timestamp, history (≤ chrono_max_history items, oldest first), target
//   chrono_valid.jsonl / chrono_test.jsonl
// `userId` is a JSON number when every user id is an integer (MovieLens), else a string; `user` is the dense
// 1-based index of the user in ascending userId order.
import Foundation

/// One user's full chronological sequence.
public struct UserSequence: Codable, Sendable, Equatable {
    /// Dense 1-based user index (ascending original id).
    public var user: Int
    /// The source's user id.
    public var userId: String
    /// Item indices sorted by (timestamp, item).
    public var items: [Int]
    /// Timestamps of `items` (source units: dataset.json `source.timestamp_unit`).
    public var timestamps: [Int64]
    /// Memberwise initializer.
    public init(user: Int, userId: String, items: [Int], timestamps: [Int64]) {
        self.user = user; self.userId = userId; self.items = items; self.timestamps = timestamps
    }
    enum CodingKeys: String, CodingKey { case user, userId, items, timestamps }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        user = try c.decode(Int.self, forKey: .user); userId = try decodeFlexibleID(c, .userId)
        items = try c.decode([Int].self, forKey: .items); timestamps = try c.decode([Int64].self, forKey: .timestamps)
    }
}

/// A leave-one-out training sequence.
public struct TrainSequence: Codable, Sendable, Equatable {
    /// Dense 1-based user index.
    public var user: Int
    /// The source's user id.
    public var userId: String
    /// s[0..n-3] of the user's sequence.
    public var items: [Int]
    /// Memberwise initializer.
    public init(user: Int, userId: String, items: [Int]) { self.user = user; self.userId = userId; self.items = items }
    enum CodingKeys: String, CodingKey { case user, userId, items }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        user = try c.decode(Int.self, forKey: .user); userId = try decodeFlexibleID(c, .userId)
        items = try c.decode([Int].self, forKey: .items)
    }
}

/// One evaluation or training example: predict `target` (= s[pos] of the user's sequence) after `history`.
public struct Example: Codable, Sendable, Equatable {
    /// Dense 1-based user index (sequences[user - 1]).
    public var user: Int
    /// The source's user id.
    public var userId: String
    /// Position of the target in the user's full sequence.
    public var pos: Int
    /// Timestamp of the target interaction.
    public var timestamp: Int64
    /// Earlier items, oldest first (loo: untruncated; chrono: at most chrono_max_history).
    public var history: [Int]
    /// The item to predict.
    public var target: Int
    /// Memberwise initializer.
    public init(user: Int, userId: String, pos: Int, timestamp: Int64, history: [Int], target: Int) {
        self.user = user; self.userId = userId; self.pos = pos; self.timestamp = timestamp; self.history = history; self.target = target
    }
    enum CodingKeys: String, CodingKey { case user, userId, pos, timestamp, history, target }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        user = try c.decode(Int.self, forKey: .user); userId = try decodeFlexibleID(c, .userId)
        pos = try c.decode(Int.self, forKey: .pos); timestamp = try c.decode(Int64.self, forKey: .timestamp)
        history = try c.decode([Int].self, forKey: .history); target = try c.decode(Int.self, forKey: .target)
    }
}

private func decodeFlexibleID<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K) throws -> String {
    if let i = try? c.decode(Int64.self, forKey: key) { return String(i) }
    return try c.decode(String.self, forKey: key)
}

/// The two evaluation protocols of docs/protocol.md. Configs (`protocol:`), eval.json, SID maps and embedding
/// metadata hold it typed; its name is read once, where a file or option enters.
public enum EvalProtocol: String, Codable, Sendable, CaseIterable, ConfigChoice {
    /// Leave-one-out (§3).
    case loo
    /// Chronological 80/10/10 (§4).
    case chrono

    /// The protocol a file's metadata names (`interactions`), nil when it names none; another value is an error
    /// naming the file.
    public static func metadata(_ value: String?, path: String, field: String) throws -> EvalProtocol? {
        guard let value else { return nil }
        guard let p = EvalProtocol(rawValue: value) else {
            throw AlignError.format(path: path, line: nil, message: "\(field) is '\(value)', expected loo or chrono")
        }
        return p
    }
}

/// A split of a protocol.
public enum Split: String, Codable, Sendable, CaseIterable {
    case train, valid, test
}

/// dataset.json.
public struct DatasetInfo: Codable, Sendable, Equatable {
    /// The `format` value this code writes and reads.
    public static let currentFormat = "align-dataset"
    /// The `version` value this code writes and reads.
    public static let currentVersion = 1

    /// Where the data came from.
    public struct Source: Codable, Sendable, Equatable {
        public var format: String
        public var files: [String]
        /// "s" or "ms".
        public var timestampUnit: String
        public var skippedLinesByFile: [String: Int]?
    }

    /// Counts before and after the protocol (raw_* are as read, before any filter).
    public struct Counts: Codable, Sendable, Equatable {
        public var rawInteractions, rawUsers, rawItems, skippedLines, droppedNoTitle, duplicatesRemoved, kcorePasses: Int
        public var users, items, interactions: Int
        public var sparsity, meanSequenceLength, medianSequenceLength: Double
        public var minSequenceLength, maxSequenceLength: Int
        public var looTrainInteractions, looValid, looTest: Int
        public var chronoSamples, chronoTrain, chronoValid, chronoTest: Int
    }

    /// "align-dataset".
    public var format = DatasetInfo.currentFormat
    /// Format version (1).
    public var version = DatasetInfo.currentVersion
    /// Source format and files.
    public var source: Source
    /// Protocol parameters used.
    public var `protocol`: ProtocolConfig
    /// "numeric" or "string": how original ids were ordered to assign dense indices.
    public var itemOrder: String
    /// Same for user ids.
    public var userOrder: String
    /// Fixed description of the recipe (see docs/protocol.md).
    public var recipe = "title filter; dedupe (user,item) keeping earliest; iterative k-core; item = 1 + rank of original id; sequences by (timestamp, item); loo: test s[n-1], valid s[n-2], train s[0..n-3]; chrono: samples p=1..n-1 sorted by (timestamp, user, pos), split floor(8N/10), floor(9N/10)"
    /// Counts and sequence statistics.
    public var counts: Counts
}

/// A prepared dataset, in memory.
public struct Dataset: Sendable {
    /// dataset.json.
    public var info: DatasetInfo
    /// items[i - 1].item == i.
    public var items: [Item]
    /// sequences[u - 1].user == u.
    public var sequences: [UserSequence]
    /// Leave-one-out training sequences, by user.
    public var looTrain: [TrainSequence]
    /// Leave-one-out validation (target s[n-2]) and test (target s[n-1]) examples, by user.
    public var looValid: [Example]
    public var looTest: [Example]
    /// Chronological samples in global (timestamp, user, pos) order, split 80/10/10.
    public var chronoTrain: [Example]
    public var chronoValid: [Example]
    public var chronoTest: [Example]
    /// Items held out of training (`cold_items.json`; nil: none). See ColdItems.swift.
    public var cold: ColdItemsFile? = nil

    /// Number of items N (valid item indices are 1...N).
    public var numItems: Int { items.count }

    /// The examples of a protocol's split. For loo train there are none (use `trainingSequences`); this returns
    /// one example per training position 1..n-3 of each loo training sequence (history untruncated).
    public func examples(_ p: EvalProtocol, _ split: Split) -> [Example] {
        switch (p, split) {
        case (.loo, .valid): return looValid
        case (.loo, .test): return looTest
        case (.chrono, .train):
            let c = coldItems
            guard !c.isEmpty else { return chronoTrain }
            return chronoTrain.compactMap { ex in
                guard !c.contains(ex.target) else { return nil }
                var e = ex
                e.history = droppingCold(ex.history, c)
                return e.history.isEmpty ? nil : e
            }
        case (.chrono, .valid): return chronoValid
        case (.chrono, .test): return chronoTest
        case (.loo, .train):
            var out: [Example] = []
            let c = coldItems
            for t in looTrain where t.items.count >= 2 {
                let ts = sequences[t.user - 1].timestamps
                for p in 1..<t.items.count where !c.contains(t.items[p]) {
                    let history = droppingCold(Array(t.items[0..<p]), c)
                    if history.isEmpty { continue }
                    out.append(Example(user: t.user, userId: t.userId, pos: p, timestamp: ts[p], history: history, target: t.items[p]))
                }
            }
            return out
        }
    }

    /// Items excluded from ranking for `ex` (protocol §5): the untruncated prefix s[0..pos-1] of the user's sequence.
    public func excluded(for ex: Example) -> ArraySlice<Int> {
        sequences[ex.user - 1].items[0..<ex.pos]
    }

    /// Training sequences: loo → `loo_train` sequences; chrono → per user the prefix s[0...m_u] where m_u is
    /// the user's last training position (users without training samples are left out). Ordered by user. Cold
    /// items (ColdItems.swift) are left out of every sequence.
    public func trainingSequences(_ p: EvalProtocol) -> [[Int]] {
        let c = coldItems
        switch p {
        case .loo: return looTrain.map { droppingCold($0.items, c) }
        case .chrono:
            var last = [Int](repeating: -1, count: sequences.count)
            for ex in chronoTrain { last[ex.user - 1] = max(last[ex.user - 1], ex.pos) }
            return sequences.indices.compactMap { last[$0] >= 0 ? droppingCold(Array(sequences[$0].items[0...last[$0]]), c) : nil }
        }
    }
}
