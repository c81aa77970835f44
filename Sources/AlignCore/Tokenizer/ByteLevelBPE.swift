// Byte-level BPE as the `tokenizers` library runs it for GPT-2-family models (GPT-2, Llama-3, Qwen2, SmolLM2):
//   normalizer (none, NFC/NFD/NFKC/NFKD, Lowercase, or a Sequence of them)
//   → pre-tokenizer steps (Split by regex or string, Digits, then ByteLevel: the GPT-2 regex when use_regex,
//     a leading space when add_prefix_space, and every UTF-8 byte mapped to its printable stand-in character)
//   → BPE on each piece: start from single characters, repeatedly merge the adjacent pair with the lowest merge
//     rank (leftmost first); with ignore_merges a piece that is itself a vocabulary entry is taken whole.
// Decoding maps the stand-in characters back to bytes (a token holding other characters contributes its own
// UTF-8) and reads them as UTF-8, invalid sequences replaced as `String(decoding:)` does.
// Pieces are cached (bounded) behind a lock, so one model serves several threads.
import Foundation

public final class ByteLevelBPE: TextTokenModel, @unchecked Sendable {
    public enum Normalization: Sendable, Equatable { case nfc, nfd, nfkc, nfkd, lowercase }

    public enum SplitBehavior: String, Sendable {
        case isolated = "Isolated", removed = "Removed", mergedWithPrevious = "MergedWithPrevious"
        case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
    }

    public enum PreTokenizerStep: Sendable {
        case split(regex: PreTokenizerRegex, behavior: SplitBehavior, invert: Bool)
        case splitString(String, behavior: SplitBehavior, invert: Bool)
        case digits(individual: Bool)
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    }

    /// GPT-2's pre-tokenizer pattern (the ByteLevel pre-tokenizer's, with use_regex).
    public static let gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

    public let tokens: [String]
    let vocab: [String: Int32]
    /// (left id << 32 | right id) → (rank, merged id).
    let merges: [UInt64: (rank: Int32, id: Int32)]
    public let normalizers: [Normalization]
    public let steps: [PreTokenizerStep]
    public let ignoreMerges: Bool
    public let unkId: Int?
    /// The BPE model's own unknown token (tokenizer.json `model.unk_token`), which characters without a piece become.
    public let modelUnkId: Int?
    public let bosId: Int?
    public let eosId: Int?
    public let padId: Int?
    public var ownsSpecialRoles: Bool { true }
    /// Ids that are whole added/control tokens of the model (never produced by BPE on text).
    let controlIds: Set<Int>
    let gpt2: PreTokenizerRegex
    /// The tokenizer.json object the model was read from (serialised), rewritten with the added tokens on save.
    public var json: Data = Data()
    private var cache: [String: [Int32]] = [:]
    private let lock = NSLock()

    public var vocabSize: Int { tokens.count }

    /// `tokens[i]` is id i's piece (byte-level characters); `merges` pairs of pieces in rank order.
    public init(tokens: [String], merges mergeList: [(String, String)], normalizers: [Normalization] = [],
                steps: [PreTokenizerStep], ignoreMerges: Bool = false, controlIds: Set<Int> = [],
                unkId: Int? = nil, modelUnkId: Int? = nil, bosId: Int? = nil, eosId: Int? = nil, padId: Int? = nil,
                source: String) throws {
        var v: [String: Int32] = [:]
        v.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() {
            guard v.updateValue(Int32(i), forKey: t) == nil else {
                throw AlignError.format(path: source, line: nil, message: "vocabulary lists \(t.debugDescription) twice")
            }
        }
        var m: [UInt64: (rank: Int32, id: Int32)] = [:]
        m.reserveCapacity(mergeList.count)
        for (rank, (a, b)) in mergeList.enumerated() {
            guard let ia = v[a], let ib = v[b], let merged = v[a + b] else {
                throw AlignError.format(path: source, line: nil, message: "merge \(rank) (\(a.debugDescription) \(b.debugDescription)) uses a piece outside the vocabulary")
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if m[key] == nil { m[key] = (Int32(rank), merged) }
        }
        guard case .byteLevel? = steps.last, !steps.dropLast().contains(where: { if case .byteLevel = $0 { return true } else { return false } }) else {
            throw AlignError.format(path: source, line: nil, message: "the pre-tokenizer must end with ByteLevel (align reads byte-level BPE tokenizers)")
        }
        for (name, id) in [("unk", unkId), ("bos", bosId), ("eos", eosId), ("pad", padId)] {
            if let id, id < 0 || id >= tokens.count + 4096 {
                throw AlignError.format(path: source, line: nil, message: "\(name) id \(id) is outside the vocabulary")
            }
        }
        self.tokens = tokens; vocab = v; merges = m
        self.normalizers = normalizers; self.steps = steps; self.ignoreMerges = ignoreMerges; self.controlIds = controlIds
        self.unkId = unkId; self.modelUnkId = modelUnkId; self.bosId = bosId; self.eosId = eosId; self.padId = padId
        gpt2 = try PreTokenizerRegex(Self.gpt2Pattern)
    }

    // MARK: byte-level alphabet

    /// GPT-2's printable stand-in for each byte.
    public static let byteChar: [Character] = {
        var bs = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) { bs.append(b); cs.append(256 + n); n += 1 }
        var out = [Character](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { out[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return out
    }()
    static let charByte: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, c) in byteChar.enumerated() { m[c.unicodeScalars.first!.value] = UInt8(b) }
        return m
    }()

    // MARK: encode

    public func encode(_ text: String) throws -> [Int32] {
        var out: [Int32] = []
        for piece in try preTokenize(normalize(text)) { out.append(contentsOf: try bpe(piece)) }
        return out
    }

    func normalize(_ text: String) -> String {
        var s = text
        for n in normalizers {
            switch n {
            case .nfc: s = s.precomposedStringWithCanonicalMapping
            case .nfd: s = s.decomposedStringWithCanonicalMapping
            case .nfkc: s = s.precomposedStringWithCompatibilityMapping
            case .nfkd: s = s.decomposedStringWithCompatibilityMapping
            case .lowercase: s = s.lowercased()
            }
        }
        return s
    }

    /// The pre-tokenizer's pieces, each already mapped to byte-level characters.
    public func preTokenize(_ text: String) throws -> [String] {
        var pieces: [[UInt32]] = [Array(text.unicodeScalars).map(\.value)]
        for step in steps {
            var next: [[UInt32]] = []
            for p in pieces where !p.isEmpty {
                switch step {
                case let .split(re, behavior, invert):
                    let ranges = p.withUnsafeBufferPointer { re.matches($0) }
                    next += Self.split(p, matches: ranges, behavior: behavior, invert: invert)
                case let .splitString(lit, behavior, invert):
                    next += Self.split(p, matches: Self.find(Array(lit.unicodeScalars).map(\.value), in: p), behavior: behavior, invert: invert)
                case .digits(let individual):
                    var ranges: [Range<Int>] = []
                    for (i, c) in p.enumerated() where ScalarClass.mask(named: "N")! & (1 << ScalarClass.category(c)) != 0 {
                        if !individual, let last = ranges.last, last.upperBound == i { ranges[ranges.count - 1] = last.lowerBound..<(i + 1) }
                        else { ranges.append(i..<(i + 1)) }
                    }
                    next += Self.split(p, matches: ranges, behavior: .isolated, invert: false)
                case let .byteLevel(prefix, useRegex):
                    var q = p
                    if prefix && q.first != 0x20 { q.insert(0x20, at: 0) }
                    if useRegex {
                        let ranges = q.withUnsafeBufferPointer { gpt2.matches($0) }
                        next += Self.split(q, matches: ranges, behavior: .isolated, invert: false)
                    } else {
                        next.append(q)
                    }
                }
            }
            pieces = next
        }
        return pieces.filter { !$0.isEmpty }.map { p in
            var s = String.UnicodeScalarView()
            for v in p { s.append(Unicode.Scalar(v)!) }
            var out = ""
            for b in String(s).utf8 { out.append(Self.byteChar[Int(b)]) }
            return out
        }
    }

    static func find(_ lit: [UInt32], in p: [UInt32]) -> [Range<Int>] {
        guard !lit.isEmpty, lit.count <= p.count else { return [] }
        var out: [Range<Int>] = []
        var i = 0
        while i + lit.count <= p.count {
            if Array(p[i..<(i + lit.count)]) == lit { out.append(i..<(i + lit.count)); i += lit.count } else { i += 1 }
        }
        return out
    }

    /// `tokenizers`' split of one piece by its matches under a delimiter behaviour.
    static func split(_ p: [UInt32], matches: [Range<Int>], behavior: SplitBehavior, invert: Bool) -> [[UInt32]] {
        // (range, isMatch) covering the piece in order.
        var parts: [(Range<Int>, Bool)] = []
        var at = 0
        for m in matches {
            if m.lowerBound > at { parts.append((at..<m.lowerBound, invert)) }
            parts.append((m, !invert))
            at = m.upperBound
        }
        if at < p.count { parts.append((at..<p.count, invert)) }
        var out: [Range<Int>] = []
        switch behavior {
        case .isolated: out = parts.map(\.0)
        case .removed: out = parts.filter { !$0.1 }.map(\.0)
        case .mergedWithPrevious:
            var prevMatch = false
            for (r, isMatch) in parts {
                if isMatch, !prevMatch, let last = out.last { out[out.count - 1] = last.lowerBound..<r.upperBound } else { out.append(r) }
                prevMatch = isMatch
            }
        case .mergedWithNext:
            var rev: [Range<Int>] = []
            var prevMatch = false
            for (r, isMatch) in parts.reversed() {
                if isMatch, !prevMatch, let last = rev.last { rev[rev.count - 1] = r.lowerBound..<last.upperBound } else { rev.append(r) }
                prevMatch = isMatch
            }
            out = rev.reversed()
        case .contiguous:
            var prevMatch = false
            for (r, isMatch) in parts {
                if isMatch == prevMatch, let last = out.last { out[out.count - 1] = last.lowerBound..<r.upperBound } else { out.append(r) }
                prevMatch = isMatch
            }
        }
        return out.filter { !$0.isEmpty }.map { Array(p[$0]) }
    }

    /// BPE of one byte-level piece.
    func bpe(_ piece: String) throws -> [Int32] {
        lock.lock()
        if let hit = cache[piece] { lock.unlock(); return hit }
        lock.unlock()
        var ids: [Int32]
        if ignoreMerges, let whole = vocab[piece] {
            ids = [whole]
        } else {
            ids = []
            ids.reserveCapacity(piece.unicodeScalars.count)
            for ch in piece {
                if let id = vocab[String(ch)] { ids.append(id); continue }
                // A character without a piece becomes the unknown token, or is left out when the model has none
                // (as `tokenizers` does).
                for u in ch.unicodeScalars {
                    if let id = vocab[String(u)] { ids.append(id) } else if let unk = modelUnkId { ids.append(Int32(unk)) }
                }
            }
            while ids.count > 1 {
                var best: (rank: Int32, id: Int32) = (Int32.max, 0)
                var at = -1
                for i in 0..<(ids.count - 1) {
                    if let m = merges[UInt64(UInt32(ids[i])) << 32 | UInt64(UInt32(ids[i + 1]))], m.rank < best.rank {
                        best = m; at = i
                    }
                }
                guard at >= 0 else { break }
                ids[at] = best.id
                ids.remove(at: at + 1)
            }
        }
        lock.lock()
        if cache.count >= 200_000 { cache.removeAll(keepingCapacity: true) }
        cache[piece] = ids
        lock.unlock()
        return ids
    }

    // MARK: decode and lookup

    public func decode(_ ids: [Int32]) throws -> String {
        var bytes: [UInt8] = []
        for (pos, id) in ids.enumerated() {
            guard id >= 0, Int(id) < tokens.count else {
                throw AlignError.invalidArgument("cannot decode: token id \(id) at position \(pos) is outside the vocabulary (size \(tokens.count))")
            }
            let t = tokens[Int(id)]
            var mapped: [UInt8] = []
            var ok = true
            for u in t.unicodeScalars {
                guard let b = Self.charByte[u.value] else { ok = false; break }
                mapped.append(b)
            }
            bytes += ok ? mapped : Array(t.utf8)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func piece(_ id: Int) throws -> String {
        guard id >= 0, id < tokens.count else { throw AlignError.invalidArgument("token id \(id) is outside the vocabulary (size \(tokens.count))") }
        return tokens[id]
    }

    public func id(ofPiece piece: String) -> Int? { vocab[piece].map(Int.init) }

    public func isControl(_ id: Int) throws -> Bool { controlIds.contains(id) }

    /// The pieces of `text` (for display and tests).
    public func encodePieces(_ text: String) throws -> [String] { try encode(text).map { tokens[Int($0)] } }
}
