// Generic interaction tables: a CSV file with a header row (RFC 4180) or a JSONL file (one object a line),
// with the columns named on the command line: user, item, time (integer Unix time or an ISO 8601 date /
// date-time, converted to Unix seconds), title, and optionally genres ("|"-separated in CSV; a string or a
// list in JSONL) and further text columns appended to the item text as "<column>: <value>.". Each row is one
// interaction and also carries its item's metadata; an item's first row with a non-empty title defines it.
import Foundation

/// Column names for `GenericReader`.
public struct GenericColumns: Sendable {
    /// Column names of the user id, item id, time and title; optional genres and extra text columns.
    public var user: String
    public var item: String
    public var time: String
    public var title: String
    public var genres: String?
    public var text: [String]

    /// Memberwise initializer.
    public init(user: String, item: String, time: String, title: String, genres: String? = nil, text: [String] = []) {
        self.user = user; self.item = item; self.time = time; self.title = title; self.genres = genres; self.text = text
    }
}

/// Reads generic CSV / JSONL interaction files.
public enum GenericReader {
    /// Reads a CSV file whose first record is the header.
    public static func readCSV(path: String, columns: GenericColumns, policy: BadLinePolicy) throws -> RawInteractions {
        var raw = RawInteractions(format: "csv")
        raw.files = [path]
        let csv = try CSVReader(path: path)
        guard let header = try csv.next() else { throw AlignError.format(path: path, line: 1, message: "empty file, expected a header row") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        func col(_ name: String) throws -> Int {
            guard let i = names.firstIndex(of: name) else {
                throw AlignError.format(path: path, line: header.line, message: "no column '\(name)' in header (columns: \(names.joined(separator: ", ")))")
            }
            return i
        }
        let (u, it, t, ti) = (try col(columns.user), try col(columns.item), try col(columns.time), try col(columns.title))
        let g = try columns.genres.map(col)
        let tx = try columns.text.map { ($0, try col($0)) }
        var bad = 0
        while true {
            var done = false
            try policy.handle(&bad) {
                guard let rec = try csv.next() else { done = true; return }
                guard rec.fields.count == names.count else {
                    throw AlignError.format(path: path, line: rec.line, message: "expected \(names.count) fields as in the header, found \(rec.fields.count)")
                }
                let f = rec.fields
                let genres = g.map { f[$0].split(separator: "|").map { String($0) } } ?? []
                try add(&raw, path: path, line: rec.line, user: f[u], item: f[it], time: f[t], title: f[ti],
                        genres: genres, text: tx.map { ($0.0, f[$0.1]) }, columns: columns)
            }
            if done { break }
        }
        if bad > 0 { raw.skippedLines[path] = bad }
        return raw
    }

    /// Reads a JSONL file (one JSON object a line; Python dict literals are accepted too).
    public static func readJSONL(path: String, columns: GenericColumns, policy: BadLinePolicy) throws -> RawInteractions {
        var raw = RawInteractions(format: "jsonl")
        raw.files = [path]
        var bad = 0
        try AmazonReader.forEachObject(path, policy: policy, skipped: &bad) { obj, line in
            func field(_ name: String) throws -> String {
                guard let v = obj[name]?.scalarText else { throw AlignError.format(path: path, line: line, message: "missing field '\(name)' (or not a string/number)") }
                return v
            }
            let title = obj[columns.title]?.scalarText ?? ""
            var genres: [String] = []
            if let gc = columns.genres, let gv = obj[gc] {
                if case let .string(s) = gv { genres = s.split(separator: "|").map { String($0) } } else { genres = gv.flattenedStrings }
            }
            let text = columns.text.map { ($0, obj[$0]?.flattenedStrings.joined(separator: " ") ?? "") }
            try add(&raw, path: path, line: line, user: try field(columns.user), item: try field(columns.item),
                    time: try field(columns.time), title: title, genres: genres, text: text, columns: columns)
        }
        if bad > 0 { raw.skippedLines[path] = bad }
        return raw
    }

    private static func add(_ raw: inout RawInteractions, path: String, line: Int, user: String, item: String, time: String,
                            title: String, genres: [String], text: [(String, String)], columns: GenericColumns) throws {
        let u = user.trimmingCharacters(in: .whitespaces), i = item.trimmingCharacters(in: .whitespaces)
        guard !u.isEmpty else { throw AlignError.format(path: path, line: line, message: "empty user id in column '\(columns.user)'") }
        guard !i.isEmpty else { throw AlignError.format(path: path, line: line, message: "empty item id in column '\(columns.item)'") }
        guard let ts = parseTime(time) else {
            throw AlignError.format(path: path, line: line, message: "time '\(time)' in column '\(columns.time)' is neither an integer Unix time nor an ISO 8601 date")
        }
        raw.add(user: u, item: i, timestamp: ts)
        if raw.meta[i]?.hasTitle != true {
            var g: [String] = []
            for s in genres.map(ItemMeta.squeeze) where !s.isEmpty && !g.contains(s) { g.append(s) }
            raw.meta[i] = ItemMeta(title: ItemMeta.squeeze(title), year: nil, genres: g, genreLabel: "Genres",
                                   extra: text.filter { !$0.1.isEmpty })
        }
    }

    /// Integer Unix time, or ISO 8601 "YYYY-MM-DD" / "YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]" (UTC when no zone).
    public static func parseTime(_ s: String) -> Int64? {
        if let v = parseTimestamp(s) { return v }
        let t = s.trimmingCharacters(in: .whitespaces)
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        for opts: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds],
                                                   [.withFullDate], [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]] {
            f.formatOptions = opts
            if let d = f.date(from: t) { return Int64(d.timeIntervalSince1970.rounded(.down)) }
        }
        return nil
    }
}
