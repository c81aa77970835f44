// The align tokenizer: a text model (SentencePiece, or byte-level BPE from tokenizer.json / GGUF; see
// TextTokenModel.swift) plus added whole tokens (specials such as `<s>`, `</s>`, `<pad>`
// and Semantic-ID tokens `<a_12>`, `<b_7>`, …). Text is first split on added tokens (leftmost, longest match),
// each text span goes through SentencePiece, and each added token maps to its own id. Added tokens that already
// exist in the SentencePiece vocabulary (e.g. the control piece `<s>`) keep that id; the others are appended
// after the SentencePiece ids in the order given. Decoding is the exact inverse: runs of SentencePiece ids are
// decoded run by run (so each run's dummy prefix is removed exactly as it was added) and added tokens are
// written back verbatim.
import Foundation

/// One added whole token.
public struct AddedToken: Codable, Sendable, Equatable {
    /// The exact text of the token, e.g. `<a_12>`.
    public var content: String
    /// Its id in the full vocabulary.
    public var id: Int
    /// Special tokens (bos/eos/pad, control markers) may be skipped when decoding for display.
    public var special: Bool

    public init(content: String, id: Int, special: Bool) { self.content = content; self.id = id; self.special = special }
}

/// A text model + added tokens. Immutable; safe to share across threads.
public final class Tokenizer: @unchecked Sendable {
    /// The text model.
    public let text: TextTokenModel
    /// The SentencePiece model, when the text model is one.
    public var sentencePiece: SentencePieceModel? { text as? SentencePieceModel }
    /// The byte-level BPE model, when the text model is one.
    public var bpe: ByteLevelBPE? { text as? ByteLevelBPE }
    /// Whether encoding for the model starts with BOS by default (SentencePiece models and align's: yes; BPE
    /// models: as their tokenizer files say).
    public let addsBos: Bool
    /// The chat template (Jinja source) the tokenizer files carry, if any.
    public let chatTemplate: String?
    /// Added tokens in id order.
    public let addedTokens: [AddedToken]
    /// Total vocabulary: text-model pieces + appended tokens.
    public let vocabSize: Int
    /// BOS / EOS / PAD / UNK ids (`<s>`, `</s>`, `<pad>`, `<unk>` as added tokens, else the SentencePiece ones).
    public let bosId: Int?, eosId: Int?, padId: Int?, unkId: Int?

    private let addedById: [Int: Int]         // id → index into addedTokens
    private let addedByContent: [String: Int] // content → id
    private let trie: TokenTrie
    /// sid[id] = (level, code) for SID tokens.
    private let sidOf: [Int: (level: Int, code: Int)]
    private let sidIds: [[Int: Int]]          // level → code → id

    /// Builds a tokenizer from a SentencePiece model and the contents of the tokens to add (in order).
    /// Tokens already in the SentencePiece vocabulary keep their id; new ones get `spVocab, spVocab+1, …`.
    /// `specials` lists which contents are special (defaults: `<s>`, `</s>`, `<pad>`, `<unk>` and any `<|…|>`).
    public convenience init(sentencePiece: SentencePieceModel, adding contents: [String], specials: Set<String>? = nil) throws {
        var tokens: [AddedToken] = []
        var seen = Set<String>()
        for c in contents {
            guard seen.insert(c).inserted else { throw AlignError.invalidArgument("added token '\(c)' listed twice") }
        }
        Self.append(contents, to: &tokens, next: sentencePiece.vocabSize, sentencePiece: sentencePiece, specials: specials)
        try self.init(sentencePiece: sentencePiece, addedTokens: tokens)
    }

    /// SentencePiece with an explicit added-token list.
    public convenience init(sentencePiece: SentencePieceModel, addedTokens: [AddedToken]) throws {
        try self.init(text: sentencePiece, addedTokens: addedTokens, addsBos: true)
    }

    private static func append(_ contents: [String], to tokens: inout [AddedToken], next start: Int,
                               sentencePiece: TextTokenModel, specials: Set<String>?) {
        var next = start
        for c in contents {
            let special = specials.map { $0.contains(c) } ?? isDefaultSpecial(c)
            if let id = sentencePiece.id(ofPiece: c) {
                tokens.append(AddedToken(content: c, id: id, special: special))  // validated by the designated init
            } else {
                tokens.append(AddedToken(content: c, id: next, special: special))
                next += 1
            }
        }
    }

    /// Builds a tokenizer from an explicit added-token list (as read from disk). Appended ids must be exactly
    /// `spVocab ..< spVocab + n` with no gaps; ids inside the text model's range must name that same control piece.
    public init(text sentencePiece: TextTokenModel, addedTokens: [AddedToken], addsBos: Bool, chatTemplate: String? = nil) throws {
        self.text = sentencePiece
        self.addsBos = addsBos
        self.chatTemplate = chatTemplate
        let spVocab = sentencePiece.vocabSize
        let sorted = addedTokens.sorted { $0.id < $1.id }
        var byId: [Int: Int] = [:], byContent: [String: Int] = [:]
        var appended = 0
        for (i, t) in sorted.enumerated() {
            guard !t.content.isEmpty else { throw AlignError.invalidArgument("added token with id \(t.id) has empty content") }
            guard byContent[t.content] == nil else { throw AlignError.invalidArgument("added token '\(t.content)' listed twice") }
            guard byId[t.id] == nil else { throw AlignError.invalidArgument("added tokens share id \(t.id)") }
            if t.id < spVocab {
                guard t.id >= 0 else { throw AlignError.invalidArgument("added token '\(t.content)' has negative id \(t.id)") }
                let piece = try sentencePiece.piece(t.id)
                guard piece == t.content else {
                    throw AlignError.invalidArgument("added token '\(t.content)' has id \(t.id), which is SentencePiece piece '\(piece)'")
                }
                // Only control pieces (never produced by encoding text) can double as added tokens, so a
                // SentencePiece run and an added token can never share an id.
                guard try sentencePiece.isControl(t.id) else {
                    throw AlignError.invalidArgument("added token '\(t.content)' is SentencePiece piece \(t.id), which is not a control piece; it cannot be added as a whole token")
                }
            } else {
                guard t.id == spVocab + appended else {
                    throw AlignError.invalidArgument("added token '\(t.content)' has id \(t.id); appended ids must run from \(spVocab) without gaps (expected \(spVocab + appended))")
                }
                if sentencePiece.id(ofPiece: t.content) != nil {
                    throw AlignError.invalidArgument("added token '\(t.content)' is already SentencePiece piece \(sentencePiece.id(ofPiece: t.content)!); it must keep that id")
                }
                appended += 1
            }
            byId[t.id] = i
            byContent[t.content] = t.id
        }
        self.addedTokens = sorted
        addedById = byId
        addedByContent = byContent
        vocabSize = spVocab + appended
        trie = TokenTrie(sorted.map { ($0.content, $0.id) })
        var sid: [Int: (level: Int, code: Int)] = [:]
        var levels: [[Int: Int]] = []
        for t in sorted {
            guard let s = Self.parseSID(t.content) else { continue }
            sid[t.id] = s
            while levels.count <= s.level { levels.append([:]) }
            levels[s.level][s.code] = t.id
        }
        sidOf = sid
        sidIds = levels
        if sentencePiece.ownsSpecialRoles {
            bosId = sentencePiece.bosId ?? byContent["<s>"]
            eosId = sentencePiece.eosId ?? byContent["</s>"]
            padId = sentencePiece.padId ?? byContent["<pad>"]
            unkId = sentencePiece.unkId ?? byContent["<unk>"]
        } else {
            bosId = byContent["<s>"] ?? sentencePiece.bosId
            eosId = byContent["</s>"] ?? sentencePiece.eosId
            padId = byContent["<pad>"] ?? sentencePiece.padId
            unkId = byContent["<unk>"] ?? sentencePiece.unkId
        }
    }

    static func isDefaultSpecial(_ c: String) -> Bool {
        ["<s>", "</s>", "<pad>", "<unk>"].contains(c) || (c.hasPrefix("<|") && c.hasSuffix("|>"))
    }

    // MARK: Semantic-ID tokens

    /// The SID token for `level` (0 → `a`, 1 → `b`, …; must be 0..<26) and `code` (≥ 0): `<a_12>`.
    public static func sidToken(level: Int, code: Int) -> String {
        precondition(level >= 0 && level < 26 && code >= 0, "SID level must be 0..<26 and code non-negative")
        return "<\(Character(UnicodeScalar(UInt8(97 + level))))_\(code)>"
    }

    /// Parses `<a_12>` → (level 0, code 12); nil for anything else (codes are canonical decimals).
    public static func parseSID(_ s: String) -> (level: Int, code: Int)? {
        let u = Array(s.utf8)
        guard u.count >= 5, u[0] == UInt8(ascii: "<"), u[2] == UInt8(ascii: "_"), u[u.count - 1] == UInt8(ascii: ">"),
              u[1] >= UInt8(ascii: "a"), u[1] <= UInt8(ascii: "z") else { return nil }
        let digits = u[3..<(u.count - 1)]
        guard digits.count <= 9, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              digits.count == 1 || digits.first != UInt8(ascii: "0") else { return nil }
        let code = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return (Int(u[1] - UInt8(ascii: "a")), code)
    }

    /// The contents of SID tokens for `levels` levels (1...26) with `codesPerLevel` codes each, level-major.
    public static func sidTokens(levels: Int, codesPerLevel: Int) throws -> [String] {
        guard (1...26).contains(levels), codesPerLevel > 0 else {
            throw AlignError.invalidArgument("SID tokens need 1...26 levels and a positive code count (got \(levels) levels, \(codesPerLevel) codes)")
        }
        return (0..<levels).flatMap { l in (0..<codesPerLevel).map { sidToken(level: l, code: $0) } }
    }

    /// A new tokenizer with `contents` added after the current tokens (existing tokens are skipped).
    public func adding(_ contents: [String], specials: Set<String>? = nil) throws -> Tokenizer {
        var tokens = addedTokens
        var seen = Set(addedByContent.keys)
        let fresh = contents.filter { seen.insert($0).inserted }
        Self.append(fresh, to: &tokens, next: vocabSize, sentencePiece: text, specials: specials)
        return try Tokenizer(text: text, addedTokens: tokens, addsBos: addsBos, chatTemplate: chatTemplate)
    }

    /// Number of SID levels present (highest level + 1).
    public var sidLevelCount: Int { sidIds.count }

    /// Whether `id` is a SID token.
    public func isSIDToken(_ id: Int) -> Bool { sidOf[id] != nil }

    /// (level, code) of a SID token id.
    public func sid(ofId id: Int) -> (level: Int, code: Int)? { sidOf[id] }

    /// The id of SID token (level, code), if added.
    public func sidTokenId(level: Int, code: Int) -> Int? {
        level >= 0 && level < sidIds.count ? sidIds[level][code] : nil
    }

    /// The SID token ids of one level, ordered by code.
    public func sidTokenIds(level: Int) -> [Int] {
        guard level >= 0, level < sidIds.count else { return [] }
        return sidIds[level].sorted { $0.key < $1.key }.map(\.value)
    }

    /// SID token ids by level (`[level] → ids ordered by code`).
    public var sidTokenIdsByLevel: [[Int]] { (0..<sidIds.count).map { sidTokenIds(level: $0) } }

    // MARK: Lookup

    /// The id of an added token or SentencePiece piece.
    public func id(_ token: String) -> Int? { addedByContent[token] ?? text.id(ofPiece: token) }

    /// The added token or SentencePiece piece of `id`.
    public func token(_ id: Int) throws -> String {
        if let i = addedById[id] { return addedTokens[i].content }
        guard id >= 0, id < text.vocabSize else {
            throw AlignError.invalidArgument("token id \(id) is outside the vocabulary (size \(vocabSize))")
        }
        return try text.piece(id)
    }

    /// Whether `id` is an added token.
    public func isAdded(_ id: Int) -> Bool { addedById[id] != nil }

    /// Whether `id` is an added token marked special.
    public func isSpecial(_ id: Int) -> Bool { addedById[id].map { addedTokens[$0].special } ?? false }

    // MARK: Encode / decode

    /// Encodes text: added tokens are matched first (leftmost, longest), the spans between go through
    /// SentencePiece. Optionally prepends BOS / appends EOS.
    public func encode(_ text: String, addBos: Bool = false, addEos: Bool = false) throws -> [Int32] {
        var out: [Int32] = []
        if addBos {
            guard let b = bosId else { throw AlignError.invalidArgument("tokenizer has no BOS token") }
            out.append(Int32(b))
        }
        let bytes = Array(text.utf8)
        var spanStart = 0, i = 0
        func flush(_ end: Int) throws {
            guard end > spanStart else { return }
            let span = String(decoding: bytes[spanStart..<end], as: UTF8.self)
            out.append(contentsOf: try self.text.encode(span))
        }
        while i < bytes.count {
            if let (len, id) = trie.longestMatch(bytes, at: i) {
                try flush(i)
                out.append(Int32(id))
                i += len
                spanStart = i
            } else {
                i += 1
            }
        }
        try flush(bytes.count)
        if addEos {
            guard let e = eosId else { throw AlignError.invalidArgument("tokenizer has no EOS token") }
            out.append(Int32(e))
        }
        return out
    }

    /// Decodes ids: the exact inverse of `encode` (added tokens written verbatim). With `skipSpecial`,
    /// special added tokens are dropped (for display).
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) throws -> String {
        var out = ""
        var run: [Int32] = []
        func flush() throws {
            guard !run.isEmpty else { return }
            out += try text.decode(run)
            run.removeAll(keepingCapacity: true)
        }
        for (pos, id32) in ids.enumerated() {
            let id = Int(id32)
            if let i = addedById[id] {
                try flush()
                if !(skipSpecial && addedTokens[i].special) { out += addedTokens[i].content }
            } else if id >= 0 && id < text.vocabSize {
                run.append(id32)
            } else {
                throw AlignError.invalidArgument("cannot decode: token id \(id) at position \(pos) is outside the vocabulary (size \(vocabSize))")
            }
        }
        try flush()
        return out
    }
}

/// A byte trie over added-token contents for leftmost-longest matching.
struct TokenTrie: Sendable {
    private var children: [[UInt8: Int32]] = [[:]]
    private var terminal: [Int] = [-1]

    init(_ tokens: [(String, Int)]) {
        for (s, id) in tokens {
            var node = 0
            for b in s.utf8 {
                if let n = children[node][b] { node = Int(n) } else {
                    children.append([:]); terminal.append(-1)
                    children[node][b] = Int32(children.count - 1)
                    node = children.count - 1
                }
            }
            terminal[node] = id
        }
    }

    /// The longest token starting at `start`: (byte length, id).
    func longestMatch(_ bytes: [UInt8], at start: Int) -> (Int, Int)? {
        var node = 0, best: (Int, Int)?
        var i = start
        while i < bytes.count, let n = children[node][bytes[i]] {
            node = Int(n)
            i += 1
            if terminal[node] >= 0 { best = (i - start, terminal[node]) }
        }
        return best
    }
}
