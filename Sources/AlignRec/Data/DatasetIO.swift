// Reading and writing a dataset directory (layout in Dataset.swift). Writing goes through
// AtomicFile.writeDirectory (temp dir + rename), so an interrupted run leaves the old directory or none.
// Loading parses each line with LiteralParser and validates every record (dense indices, item range, targets matching the sequences) and reports
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
            if let cold {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try e.encode(cold), to: dir.appendingPathComponent(ColdItemsFile.fileName))
            }
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
        let items = try readJSONL(url.appendingPathComponent(FileName.items), Item.init(record:))
        let sequences = try readJSONL(url.appendingPathComponent(FileName.sequences), UserSequence.init(record:))
        let looTrain = try readJSONL(url.appendingPathComponent(FileName.looTrain), TrainSequence.init(record:))
        var splits: [[Example]] = []
        for name in [FileName.looValid, FileName.looTest, FileName.chronoTrain, FileName.chronoValid, FileName.chronoTest] {
            splits.append(try readJSONL(url.appendingPathComponent(name), Example.init(record:)))
        }
        var ds = Dataset(info: info, items: items, sequences: sequences, looTrain: looTrain, looValid: splits[0], looTest: splits[1],
                         chronoTrain: splits[2], chronoValid: splits[3], chronoTest: splits[4])
        let coldURL = url.appendingPathComponent(ColdItemsFile.fileName)
        if FileManager.default.fileExists(atPath: coldURL.path) { ds.cold = try ColdItemsFile.read(coldURL, numItems: items.count) }
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

/// Reads a JSON Lines file, converting each non-blank line's object with `make`; a parse or conversion
/// failure is an `AlignError.format` naming the file and line. (A hand-written parser: several times faster
/// than JSONDecoder on Linux for the 70k-line split files.)
func readJSONL<T>(_ url: URL, _ make: (LiteralValue) throws -> T) throws -> [T] {
    let reader: LineReader
    do { reader = try LineReader(path: url.path) } catch AlignError.io(_, _) {
        throw AlignError.io(path: url.path, message: "cannot read (missing file or no permission)")
    }
    var out: [T] = []
    while true {
        let parsed: Result<LiteralValue, LiteralParseError>?? = try reader.withNextLine { buf in
            if buf.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return .none }
            do { return .some(.success(try LiteralParser.parse(buf))) } catch let e as LiteralParseError {
                return .some(.failure(e))
            } catch { return .some(.failure(LiteralParseError(offset: 0, message: "\(error)"))) }
        }
        guard let outcome = parsed else { break }
        guard let result = outcome else { continue }
        switch result {
        case let .failure(e):
            throw AlignError.format(path: url.path, line: reader.lineNumber, message: "malformed JSON: \(e.message) at byte \(e.offset + 1)")
        case let .success(v):
            do { out.append(try make(v)) } catch let e as RecordError {
                throw AlignError.format(path: url.path, line: reader.lineNumber, message: e.message)
            }
        }
    }
    return out
}

/// A record field that is missing or has the wrong type.
struct RecordError: Error { var message: String }

extension LiteralValue {
    func field(_ key: String) throws -> LiteralValue {
        guard case let .object(o) = self else { throw RecordError(message: "expected a JSON object") }
        guard let v = o[key] else { throw RecordError(message: "missing key '\(key)'") }
        return v
    }
    func int(_ key: String) throws -> Int {
        guard case let .int(i) = try field(key) else { throw RecordError(message: "'\(key)' is not an integer") }
        return Int(i)
    }
    func int64(_ key: String) throws -> Int64 {
        guard case let .int(i) = try field(key) else { throw RecordError(message: "'\(key)' is not an integer") }
        return i
    }
    func string(_ key: String) throws -> String {
        guard case let .string(s) = try field(key) else { throw RecordError(message: "'\(key)' is not a string") }
        return s
    }
    /// An id written as a JSON number or string.
    func id(_ key: String) throws -> String {
        switch try field(key) {
        case let .int(i): return String(i)
        case let .string(s): return s
        default: throw RecordError(message: "'\(key)' is neither a number nor a string")
        }
    }
    func ints(_ key: String) throws -> [Int] {
        guard case let .array(a) = try field(key) else { throw RecordError(message: "'\(key)' is not an array") }
        return try a.map { v -> Int in
            guard case let .int(i) = v else { throw RecordError(message: "'\(key)' holds a non-integer") }
            return Int(i)
        }
    }
    func strings(_ key: String) throws -> [String] {
        guard case let .array(a) = try field(key) else { throw RecordError(message: "'\(key)' is not an array") }
        return try a.map { v -> String in
            guard case let .string(s) = v else { throw RecordError(message: "'\(key)' holds a non-string") }
            return s
        }
    }
}

extension Item {
    init(record v: LiteralValue) throws {
        let year: Int?
        switch try v.field("year") {
        case .null: year = nil
        case let .int(y): year = Int(y)
        default: throw RecordError(message: "'year' is not an integer or null")
        }
        self.init(item: try v.int("item"), id: try v.id("id"), title: try v.string("title"), year: year,
                  genres: try v.strings("genres"), text: try v.string("text"))
    }
}

extension UserSequence {
    init(record v: LiteralValue) throws {
        self.init(user: try v.int("user"), userId: try v.id("userId"), items: try v.ints("items"), timestamps: try v.ints("timestamps").map(Int64.init))
    }
}

extension TrainSequence {
    init(record v: LiteralValue) throws {
        self.init(user: try v.int("user"), userId: try v.id("userId"), items: try v.ints("items"))
    }
}

extension Example {
    init(record v: LiteralValue) throws {
        self.init(user: try v.int("user"), userId: try v.id("userId"), pos: try v.int("pos"), timestamp: try v.int64("timestamp"),
                  history: try v.ints("history"), target: try v.int("target"))
    }
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
