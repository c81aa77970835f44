// The SID map: item id → Semantic ID codes, and the token spelling `<a_12><b_7><c_201>` (level letters a, b,
// c, …; LC-Rec/MiniOneRec's spelling). Two file forms:
// - `sid_map.json` (align's own, versioned):
//     {"format":"align-sid-map","version":1,"levels":3,"codes":[256,256,4],"method":"rqkmeans",
//      "dedup":"extra-level","items":{"1":[12,7,201], ...}}
//   keys are 1-based item ids (1...N, dense); "codes" is the codebook size per level including an extra level.
// - LC-Rec/MiniOneRec `.index.json`: {"0": ["<a_12>","<b_7>","<c_201>"], ...} keyed by the 0-based row of
//   the embedding matrix (LC-Rec's generate_indices.py enumerates embedding rows); here key k ↔ item k + 1.
//   That form carries no codebook sizes, so on import each level's size is its largest code + 1.
import Foundation

/// Item id → Semantic ID codes (all items, all the same length, all distinct).
public struct SIDMap: Sendable, Equatable {
    public static let format = "align-sid-map"
    public static let version = 1

    /// Number of levels (including an extra de-duplication level).
    public var levels: Int { codebookSizes.count }
    /// Codebook size per level.
    public let codebookSizes: [Int]
    /// Method that produced the codes ("rqkmeans", "rqkmeans-balanced", "rqvae", or "import").
    public let method: String
    /// How collisions were resolved ("extra-level", "sinkhorn", "sinkhorn+extra-level", "none").
    public let dedup: String
    /// codesByRow[i] = codes of item i + 1.
    public let codesByRow: [[Int]]
    /// The protocol whose training interactions went into the vectors ("loo"/"chrono"; nil = text only).
    /// Optional key "interactions" of sid_map.json; see `checkProtocol`.
    public var interactions: EvalProtocol?
    private let itemByCodes: [[Int]: Int]

    /// Validates and builds a map: codes for items 1...N in order, each in range, all distinct.
    public init(codebookSizes: [Int], method: String, dedup: String, codesByRow: [[Int]], path: String = "<sid map>") throws {
        guard !codebookSizes.isEmpty, codebookSizes.count <= 26 else {
            throw AlignError.format(path: path, line: nil, message: "a SID map needs 1...26 levels, got \(codebookSizes.count)")
        }
        // Every code of every level becomes a token: sizes are bounded like a vocabulary.
        for (d, k) in codebookSizes.enumerated() where !(1...(1 << 20)).contains(k) {
            throw AlignError.format(path: path, line: nil, message: "codes[\(d)] = \(k); allowed: an integer in 1...\(1 << 20) (codes per level)")
        }
        guard codebookSizes.reduce(0, +) <= LlamaConfig.maxVocabSize else {
            throw AlignError.format(path: path, line: nil, message: "\(codebookSizes.reduce(0, +)) SID tokens in all; allowed: at most \(LlamaConfig.maxVocabSize)")
        }
        var index: [[Int]: Int] = [:]
        for (r, c) in codesByRow.enumerated() {
            guard c.count == codebookSizes.count else {
                throw AlignError.format(path: path, line: nil, message: "item \(r + 1) has \(c.count) codes, expected \(codebookSizes.count)")
            }
            for (d, v) in c.enumerated() where v < 0 || v >= codebookSizes[d] {
                throw AlignError.format(path: path, line: nil, message: "item \(r + 1): code \(v) at level \(d) is outside 0..<\(codebookSizes[d])")
            }
            if let other = index[c] {
                throw AlignError.format(path: path, line: nil, message: "items \(other) and \(r + 1) share the SID \(SIDMap.tokenString(c))")
            }
            index[c] = r + 1
        }
        self.codebookSizes = codebookSizes; self.method = method; self.dedup = dedup
        self.codesByRow = codesByRow; self.itemByCodes = index
    }

    /// Number of items.
    public var count: Int { codesByRow.count }

    /// Codes of 1-based `item` (nil when out of range).
    public func codes(for item: Int) -> [Int]? {
        item >= 1 && item <= codesByRow.count ? codesByRow[item - 1] : nil
    }

    /// Level letter: 0 → "a", 1 → "b", …
    public static func letter(_ level: Int) -> String { String(UnicodeScalar(UInt8(97 + level))) }

    /// One token: `<a_12>`.
    public static func token(level: Int, code: Int) -> String { "<\(letter(level))_\(code)>" }

    /// Tokens of a code tuple: ["<a_12>", "<b_7>", "<c_201>"].
    public static func tokens(_ codes: [Int]) -> [String] { codes.enumerated().map { token(level: $0.offset, code: $0.element) } }

    /// Concatenated token string of a code tuple: "<a_12><b_7><c_201>".
    public static func tokenString(_ codes: [Int]) -> String { tokens(codes).joined() }

    /// Tokens of 1-based `item` (nil when out of range).
    public func tokens(for item: Int) -> [String]? { codes(for: item).map(SIDMap.tokens) }

    /// Token string of 1-based `item` (nil when out of range).
    public func tokenString(_ item: Int) -> String? { codes(for: item).map(SIDMap.tokenString) }

    /// The item with exactly these codes, if any.
    public func item(forCodes codes: [Int]) -> Int? { itemByCodes[codes] }

    /// Every token of the SID vocabulary, level by level: <a_0>…<a_{K0-1}>, <b_0>, …
    public var vocabulary: [String] {
        codebookSizes.enumerated().flatMap { d, k in (0..<k).map { SIDMap.token(level: d, code: $0) } }
    }

    /// Parses one token "<c_201>" into (level, code); nil when malformed.
    public static func parseToken(_ s: String) -> (level: Int, code: Int)? {
        let u = Array(s.utf8)
        guard u.count >= 5, u[0] == 60, u[u.count - 1] == 62, u[2] == 95, u[1] >= 97, u[1] <= 122 else { return nil }
        guard let code = Int(String(decoding: u[3..<(u.count - 1)], as: UTF8.self)), code >= 0 else { return nil }
        return (Int(u[1]) - 97, code)
    }

    // MARK: sid_map.json

    /// The `sid_map.json` text (items in id order, one per line).
    public func jsonString() -> String {
        func q(_ s: String) -> String {
            var o = "\""
            for ch in s.unicodeScalars {
                switch ch {
                case "\"": o += "\\\""
                case "\\": o += "\\\\"
                case _ where ch.value < 0x20: o += String(format: "\\u%04x", ch.value)
                default: o.unicodeScalars.append(ch)
                }
            }
            return o + "\""
        }
        var s = "{\"format\":\"\(SIDMap.format)\",\"version\":\(SIDMap.version),\"levels\":\(levels),"
        s += "\"codes\":[\(codebookSizes.map(String.init).joined(separator: ","))],"
        s += "\"method\":\(q(method)),\"dedup\":\(q(dedup)),"
        if let i = interactions { s += "\"interactions\":\(q(i.rawValue)),"}
        s += "\"items\":{"
        for (r, c) in codesByRow.enumerated() {
            s += (r == 0 ? "\n" : ",\n") + "\"\(r + 1)\":[\(c.map(String.init).joined(separator: ","))]"
        }
        s += "\n}}\n"
        return s
    }

    struct File: Decodable {
        var format: String
        var version: Int
        var levels: Int
        var codes: [Int]
        var method: String
        var dedup: String
        var interactions: EvalProtocol?
        var items: [String: [Int]]
    }

    /// Parses `sid_map.json` text.
    public static func parse(_ data: Data, path: String) throws -> SIDMap {
        let f: File
        do { f = try JSONDecoder().decode(File.self, from: data) } catch {
            throw AlignError.format(path: path, line: nil, message: "not an align SID map: \(error)")
        }
        guard f.format == format else { throw AlignError.format(path: path, line: nil, message: "format is \"\(f.format)\", expected \"\(format)\"") }
        guard f.version == version else { throw AlignError.format(path: path, line: nil, message: "version \(f.version) is not supported (this build reads \(version))") }
        guard f.levels == f.codes.count else {
            throw AlignError.format(path: path, line: nil, message: "\"levels\" is \(f.levels) but \"codes\" lists \(f.codes.count) sizes")
        }
        let rows = try denseRows(f.items, base: 1, path: path)
        var map = try SIDMap(codebookSizes: f.codes, method: f.method, dedup: f.dedup, codesByRow: rows, path: path)
        map.interactions = f.interactions
        return map
    }

    /// Throws when the codes were built from another protocol's training interactions: a loo training sequence
    /// holds chrono validation/test targets and vice versa, so using such SIDs would leak evaluation targets.
    public func checkProtocol(_ p: EvalProtocol, what: String) throws {
        if let i = interactions, i != p {
            throw AlignError.invalidArgument("\(what) uses protocol \(p), but its SIDs were built from \(i) training interactions (would leak \(p) evaluation targets); build them with `align embed --collaborative --protocol \(p)` + `align sid build --embeddings …`, or use text-only SIDs")
        }
    }

    /// Reads `sid_map.json`.
    public static func read(_ url: URL) throws -> SIDMap {
        try parse(try readData(url), path: url.path)
    }

    /// Writes `sid_map.json` atomically.
    public func write(_ url: URL) throws { try AtomicFile.write(jsonString(), to: url) }

    // MARK: LC-Rec / MiniOneRec .index.json

    /// The `.index.json` text: {"0": ["<a_12>", ...], ...}, key = item − 1.
    public func indexJSONString() -> String {
        var s = "{"
        for (r, c) in codesByRow.enumerated() {
            s += (r == 0 ? "" : ", ") + "\"\(r)\": [" + SIDMap.tokens(c).map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        }
        return s + "}\n"
    }

    /// Writes the `.index.json` form atomically.
    public func writeIndexJSON(_ url: URL) throws { try AtomicFile.write(indexJSONString(), to: url) }

    /// Parses LC-Rec `.index.json` text (keys 0...N−1 → items 1...N; level letters must run a, b, c, …).
    public static func parseIndexJSON(_ data: Data, path: String) throws -> SIDMap {
        let obj: [String: [String]]
        do { obj = try JSONDecoder().decode([String: [String]].self, from: data) } catch {
            throw AlignError.format(path: path, line: nil, message: "not an LC-Rec index file ({\"0\": [\"<a_1>\", ...]}): \(error)")
        }
        var parsed: [String: [Int]] = [:]
        for (key, toks) in obj {
            var codes: [Int] = []
            for (d, t) in toks.enumerated() {
                guard let (lv, code) = parseToken(t) else {
                    throw AlignError.format(path: path, line: nil, message: "key \"\(key)\": token \"\(t)\" is not of the form <a_12>")
                }
                guard lv == d else {
                    throw AlignError.format(path: path, line: nil, message: "key \"\(key)\": token \"\(t)\" at position \(d) should use letter \(letter(d))")
                }
                codes.append(code)
            }
            parsed[key] = codes
        }
        let rows = try denseRows(parsed, base: 0, path: path)
        let levels = rows.first?.count ?? 0
        var sizes = [Int](repeating: 0, count: levels)
        for c in rows where c.count == levels { for d in 0..<levels { sizes[d] = max(sizes[d], c[d] + 1) } }
        return try SIDMap(codebookSizes: sizes, method: "import", dedup: "none", codesByRow: rows, path: path)
    }

    /// Reads an LC-Rec `.index.json` file.
    public static func readIndexJSON(_ url: URL) throws -> SIDMap {
        try parseIndexJSON(try readData(url), path: url.path)
    }

    static func readData(_ url: URL) throws -> Data {
        do { return try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
    }

    /// Keys base...base+N−1 as decimal strings → rows in key order; anything else is an error.
    static func denseRows(_ items: [String: [Int]], base: Int, path: String) throws -> [[Int]] {
        var rows = [[Int]?](repeating: nil, count: items.count)
        for (key, codes) in items {
            guard let k = Int(key), String(k) == key, k >= base, k < base + items.count else {
                throw AlignError.format(path: path, line: nil, message: "item key \"\(key)\" is not one of \(base)...\(base + items.count - 1) (keys must be dense)")
            }
            rows[k - base] = codes
        }
        return rows.map { $0! }  // dense by the check above: count keys, all distinct, all in range
    }
}
