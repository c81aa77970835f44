// Reading and writing a dataset directory (layout in Dataset.swift). Writing goes through
// AtomicFile.writeDirectory (temp dir + rename), so an interrupted run leaves the old directory or none.
// Loading validates every record (dense indices, item range, targets matching the sequences) and reports
// problems as `AlignError.format(file, line, ...)`.
import Foundation

extension Dataset {
    /// File names inside a dataset directory.
    public enum FileName {
        public static let info = "dataset.json", items = "items.jsonl", sequences = "sequences.jsonl"
        public static let looTrain = "loo_train.jsonl", looValid = "loo_valid.jsonl", looTest = "loo_test.jsonl"
        public static let chronoTrain = "chrono_train.jsonl", chronoValid = "chrono_valid.jsonl", chronoTest = "chrono_test.jsonl"
    }

    /// Writes the dataset directory atomically (replacing an existing one only once the new one is complete).
    public func write(to url: URL) throws {
        let numericUsers = info.userOrder == "numeric"
        func uid(_ s: String) -> String { numericUsers ? s : jsonString(s) }
        func ints<C: Collection>(_ a: C) -> String where C.Element: BinaryInteger { "[" + a.map { String($0) }.joined(separator: ",") + "]" }
        func example(_ e: Example) -> String {
            "{\"user\":\(e.user),\"userId\":\(uid(e.userId)),\"pos\":\(e.pos),\"timestamp\":\(e.timestamp),\"history\":\(ints(e.history)),\"target\":\(e.target)}"
        }
        try AtomicFile.writeDirectory(url) { dir in
            func put(_ name: String, _ lines: [String]) throws {
                var text = lines.joined(separator: "\n")
                if !lines.isEmpty { text += "\n" }
                try AtomicFile.write(text, to: dir.appendingPathComponent(name))
            }
            try put(FileName.items, items.map { it in
                "{\"item\":\(it.item),\"id\":\(jsonString(it.id)),\"title\":\(jsonString(it.title)),\"year\":\(it.year.map { String($0) } ?? "null"),"
                    + "\"genres\":[\(it.genres.map(jsonString).joined(separator: ","))],\"text\":\(jsonString(it.text))}"
            })
            try put(FileName.sequences, sequences.map { s in
                "{\"user\":\(s.user),\"userId\":\(uid(s.userId)),\"items\":\(ints(s.items)),\"timestamps\":\(ints(s.timestamps))}"
            })
            try put(FileName.looTrain, looTrain.map { "{\"user\":\($0.user),\"userId\":\(uid($0.userId)),\"items\":\(ints($0.items))}" })
            try put(FileName.looValid, looValid.map(example))
            try put(FileName.looTest, looTest.map(example))
            try put(FileName.chronoTrain, chronoTrain.map(example))
            try put(FileName.chronoValid, chronoValid.map(example))
            try put(FileName.chronoTest, chronoTest.map(example))
            let enc = JSONEncoder()
            enc.keyEncodingStrategy = .convertToSnakeCase
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            do { try AtomicFile.write(try enc.encode(info), to: dir.appendingPathComponent(FileName.info)) } catch let e as EncodingError {
                throw AlignError.io(path: FileName.info, message: "could not encode: \(e)")
            }
        }
    }

    /// Loads and validates a dataset directory.
    public static func load(from url: URL) throws -> Dataset {
        let infoURL = url.appendingPathComponent(FileName.info)
        let infoData: Data
        do { infoData = try Data(contentsOf: infoURL) } catch {
            throw AlignError.io(path: infoURL.path, message: "cannot read (is \(url.path) a dataset made by `align data prepare`?)")
        }
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        let info: DatasetInfo
        do { info = try dec.decode(DatasetInfo.self, from: infoData) } catch {
            throw AlignError.format(path: infoURL.path, line: nil, message: "not a valid dataset.json: \(describe(error))")
        }
        guard info.format == DatasetInfo.currentFormat, info.version == DatasetInfo.currentVersion else {
            throw AlignError.format(path: infoURL.path, line: nil,
                                    message: "format '\(info.format)' version \(info.version) is not supported (expected '\(DatasetInfo.currentFormat)' version \(DatasetInfo.currentVersion))")
        }
        let items: [Item] = try readJSONL(url.appendingPathComponent(FileName.items))
        let sequences: [UserSequence] = try readJSONL(url.appendingPathComponent(FileName.sequences))
        let looTrain: [TrainSequence] = try readJSONL(url.appendingPathComponent(FileName.looTrain))
        var splits: [[Example]] = []
        for name in [FileName.looValid, FileName.looTest, FileName.chronoTrain, FileName.chronoValid, FileName.chronoTest] {
            splits.append(try readJSONL(url.appendingPathComponent(name)))
        }
        let ds = Dataset(info: info, items: items, sequences: sequences, looTrain: looTrain, looValid: splits[0], looTest: splits[1],
                         chronoTrain: splits[2], chronoValid: splits[3], chronoTest: splits[4])
        try ds.validate(url)
        return ds
    }

    /// Checks the invariants other stages rely on; errors name file and line.
    func validate(_ url: URL) throws {
        func bad(_ file: String, _ line: Int, _ msg: String) -> AlignError {
            .format(path: url.appendingPathComponent(file).path, line: line, message: msg)
        }
        let n = items.count
        for (i, it) in items.enumerated() where it.item != i + 1 {
            throw bad(FileName.items, i + 1, "item \(it.item) out of order (expected \(i + 1); items must be dense and sorted)")
        }
        for (u, s) in sequences.enumerated() {
            guard s.user == u + 1 else { throw bad(FileName.sequences, u + 1, "user \(s.user) out of order (expected \(u + 1))") }
            guard s.items.count == s.timestamps.count else { throw bad(FileName.sequences, u + 1, "items and timestamps differ in length") }
            if let x = s.items.first(where: { $0 < 1 || $0 > n }) { throw bad(FileName.sequences, u + 1, "item \(x) outside 1...\(n)") }
        }
        for (k, t) in looTrain.enumerated() {
            guard t.user >= 1, t.user <= sequences.count, sequences[t.user - 1].items.starts(with: t.items) else {
                throw bad(FileName.looTrain, k + 1, "user \(t.user): items are not a prefix of the user's sequence")
            }
        }
        let named: [(String, [Example])] = [(FileName.looValid, looValid), (FileName.looTest, looTest), (FileName.chronoTrain, chronoTrain),
                                            (FileName.chronoValid, chronoValid), (FileName.chronoTest, chronoTest)]
        for (file, list) in named {
            for (k, e) in list.enumerated() {
                guard e.user >= 1, e.user <= sequences.count else { throw bad(file, k + 1, "user \(e.user) outside 1...\(sequences.count)") }
                let s = sequences[e.user - 1].items
                guard e.pos >= 1, e.pos < s.count, s[e.pos] == e.target else {
                    throw bad(file, k + 1, "target \(e.target) at pos \(e.pos) does not match sequences.jsonl for user \(e.user)")
                }
                guard e.history.count <= e.pos, s[(e.pos - e.history.count)..<e.pos].elementsEqual(e.history) else {
                    throw bad(file, k + 1, "history does not match the items before pos \(e.pos) in sequences.jsonl")
                }
            }
        }
    }
}

/// Reads a JSON Lines file into `[T]`: one decode of the whole file, and on failure a line-by-line pass that
/// names the first bad line. Blank lines are ignored.
func readJSONL<T: Decodable>(_ url: URL) throws -> [T] {
    let data: Data
    do { data = try Data(contentsOf: url) } catch { throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)") }
    let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
    var joined = Data("[".utf8)
    var first = true
    for l in lines where !l.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
        if !first { joined.append(0x2C) }
        joined.append(contentsOf: l)
        first = false
    }
    joined.append(0x5D)
    let dec = JSONDecoder()
    if let all = try? dec.decode([T].self, from: joined) { return all }
    for (i, l) in lines.enumerated() where !l.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
        do { _ = try dec.decode(T.self, from: Data(l)) } catch {
            throw AlignError.format(path: url.path, line: i + 1, message: describe(error))
        }
    }
    throw AlignError.format(path: url.path, line: nil, message: "not valid JSON Lines")
}

/// A short description of a decoding error (the missing key or wrong type).
func describe(_ error: Error) -> String {
    switch error {
    case let DecodingError.keyNotFound(k, _): return "missing key '\(k.stringValue)'"
    case let DecodingError.typeMismatch(t, c): return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))' (expected \(t))"
    case let DecodingError.valueNotFound(t, c): return "null at '\(c.codingPath.map(\.stringValue).joined(separator: "."))' (expected \(t))"
    case let DecodingError.dataCorrupted(c): return "malformed JSON\(c.codingPath.isEmpty ? "" : " at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'")"
    default: return "\(error)"
    }
}

/// A JSON string literal for `s` (escapes quotes, backslashes and control characters).
func jsonString(_ s: String) -> String {
    var out = "\""
    out.reserveCapacity(s.utf8.count + 2)
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
