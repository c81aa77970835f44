// What every reader produces before the protocol runs: interactions (user, item, timestamp) keyed by the
// source's own ids, the catalogue metadata of items that have any, and the bad-line tally. Also the item text
// recipe (what the encoder embeds) and the title/year split of "Title (Year)" strings.
import Foundation

/// Catalogue metadata of one source item.
public struct ItemMeta: Sendable, Equatable {
    /// Title without the year; empty (or whitespace only) means "no title" and the item is filtered out.
    public var title: String
    /// Release year when known.
    public var year: Int?
    /// Genres or categories, in source order, without duplicates.
    public var genres: [String]
    /// Label used for `genres` in the item text ("Genres" for movies, "Categories" for products).
    public var genreLabel: String
    /// Further text, in order: (label, value), e.g. ("Brand", "Sony"), ("Description", "...").
    public var extra: [(String, String)]

    /// Memberwise initializer.
    public init(title: String, year: Int? = nil, genres: [String] = [], genreLabel: String = "Genres", extra: [(String, String)] = []) {
        self.title = title; self.year = year; self.genres = genres; self.genreLabel = genreLabel; self.extra = extra
    }

    public static func == (a: ItemMeta, b: ItemMeta) -> Bool {
        a.title == b.title && a.year == b.year && a.genres == b.genres && a.genreLabel == b.genreLabel
            && a.extra.map(\.0) == b.extra.map(\.0) && a.extra.map(\.1) == b.extra.map(\.1)
    }

    /// True when the title is empty or only whitespace (docs/protocol.md §1.2: such items are dropped).
    public var hasTitle: Bool { !title.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }

    /// The text the encoder embeds. Recipe (every part only when present, each ending with a period):
    /// `"<title> (<year>)."` then `" <genreLabel>: g1, g2, ..."` + "." then `" <label>: <value>."` for each
    /// extra field. Whitespace runs collapse to one space; extra values are cut at 1,000 characters on a word
    /// boundary (the encoder truncates at 256 tokens anyway). MovieLens: `"Heat (1995). Genres: Action, Crime, Thriller."`.
    public var text: String {
        var parts: [String] = []
        let t = ItemMeta.squeeze(title)
        parts.append(year.map { "\(t) (\($0))." } ?? (t.hasSuffix(".") ? t : t + "."))
        if !genres.isEmpty { parts.append("\(genreLabel): \(genres.map(ItemMeta.squeeze).joined(separator: ", ")).") }
        for (label, value) in extra {
            var v = ItemMeta.squeeze(value)
            if v.isEmpty { continue }
            if v.count > 1000 {
                v = String(v.prefix(1000))
                if let sp = v.lastIndex(of: " ") { v = String(v[..<sp]) }
                v += "..."
            }
            parts.append("\(label): \(v)" + (v.hasSuffix(".") ? "" : "."))
        }
        return parts.joined(separator: " ")
    }

    /// Collapses whitespace runs (including newlines) to single spaces and trims the ends.
    public static func squeeze(_ s: String) -> String {
        s.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// Splits a GroupLens title "Heat (1995)" into ("Heat", 1995). A title without a trailing 4-digit year in
    /// parentheses is returned trimmed with a nil year. Also accepts ranges GroupLens rarely writes ("(2007-)").
    public static func splitYear(_ full: String) -> (title: String, year: Int?) {
        let t = full.trimmingCharacters(in: .whitespaces)
        let u = Array(t.utf8)
        guard u.count >= 6, u[u.count - 1] == UInt8(ascii: ")") else { return (t, nil) }
        var j = u.count - 2
        if u[j] == UInt8(ascii: "-") { j -= 1 }
        guard j >= 4 else { return (t, nil) }
        let digits = u[(j - 3)...j]
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), u[j - 4] == UInt8(ascii: "(") else { return (t, nil) }
        let year = Int(String(decoding: digits, as: UTF8.self))
        let title = String(decoding: u[..<(j - 4)], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        return (title, year)
    }
}

/// Interactions and metadata as read from a source, keyed by the source's ids.
public struct RawInteractions: Sendable {
    /// Original user ids by key (the order of first appearance).
    public private(set) var userIds: [String] = []
    /// Original item ids by key.
    public private(set) var itemIds: [String] = []
    /// Per interaction: user key, item key, timestamp (source units, see `timestampUnit`).
    public private(set) var users: [Int32] = []
    public private(set) var items: [Int32] = []
    public private(set) var timestamps: [Int64] = []
    /// Metadata by original item id (items with no entry have no title and are filtered out).
    public var meta: [String: ItemMeta] = [:]
    /// Malformed lines skipped under `--skip-bad`, by file path.
    public var skippedLines: [String: Int] = [:]
    /// "s" (Unix seconds) or "ms" (Unix milliseconds: Amazon 2023).
    public var timestampUnit = "s"
    /// The source format name (movielens, ml-1m, amazon2018, ...).
    public var format: String
    /// The files read.
    public var files: [String] = []

    private var userKey: [String: Int32] = [:]
    private var itemKey: [String: Int32] = [:]

    public init(format: String) { self.format = format }

    /// Number of interactions.
    public var count: Int { users.count }

    /// Appends one interaction.
    public mutating func add(user: String, item: String, timestamp: Int64) {
        let u: Int32
        if let k = userKey[user] { u = k } else { u = Int32(userIds.count); userKey[user] = u; userIds.append(user) }
        let it: Int32
        if let k = itemKey[item] { it = k } else { it = Int32(itemIds.count); itemKey[item] = it; itemIds.append(item) }
        users.append(u); items.append(it); timestamps.append(timestamp)
    }

    /// Total skipped lines.
    public var totalSkipped: Int { skippedLines.values.reduce(0, +) }
}

/// How readers treat malformed lines: stop at the first (default) or skip and count them (`--skip-bad`).
public struct BadLinePolicy: Sendable {
    public var skip: Bool
    public init(skip: Bool) { self.skip = skip }

    /// Runs `body`; a format error either propagates or, when skipping, is counted in `skipped`.
    public func handle(_ skipped: inout Int, _ body: () throws -> Void) throws {
        do { try body() } catch let e as AlignError {
            guard skip, case .format = e else { throw e }
            skipped += 1
        }
    }
}

/// Parses an integer timestamp field; integral decimals ("1260759144.0") are accepted, fractions are not.
func parseTimestamp(_ s: String) -> Int64? {
    let t = s.trimmingCharacters(in: .whitespaces)
    if let v = Int64(t) { return v }
    if let d = Double(t), d.isFinite, d.rounded() == d, abs(d) < 9.2e18 { return Int64(d) }
    return nil
}
