// BERT's uncased WordPiece tokenizer, read from a `vocab.txt` (one token a line, id = line number - 1).
// It reproduces Hugging Face tokenizers' BertNormalizer + BertPreTokenizer + WordPiece exactly:
//   normalise: drop NUL, U+FFFD and control/format/unassigned/private-use scalars (except \t \n \r), map
//              White_Space to ' ', put spaces around CJK ideographs, NFD + drop non-spacing marks, lower-case
//              (per scalar, full Unicode mapping);
//   split:     on White_Space (dropped) and around every punctuation scalar (ASCII 33-47, 58-64, 91-96,
//              123-126 and Unicode P*);
//   words:     greedy longest-match-first with "##" continuation; a word longer than 100 scalars or with
//              an unmatched rest becomes [UNK];
//   encode:    [CLS] pieces [SEP], truncated to `maxLength` tokens in all.
import Foundation

/// WordPiece tokenizer for uncased BERT vocabularies (all-MiniLM-L6-v2, bert-base-uncased, ...).
public struct WordPieceTokenizer: Sendable {
    /// Token strings by id.
    public let vocab: [String]
    let ids: [String: Int32]
    /// Ids of the special tokens.
    public let padId: Int32, unkId: Int32, clsId: Int32, sepId: Int32
    /// Words with more scalars than this become [UNK] (BERT's `max_input_chars_per_word`).
    public let maxInputCharsPerWord = 100

    /// Loads `vocab.txt`. Throws when a special token ([PAD], [UNK], [CLS], [SEP]) is missing or a
    /// token is duplicated.
    public init(vocabURL: URL) throws {
        let text: String
        do { text = try String(contentsOf: vocabURL, encoding: .utf8) } catch {
            throw AlignError.io(path: vocabURL.path, message: "cannot read vocabulary: \(error.localizedDescription)")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        try self.init(vocab: lines, path: vocabURL.path)
    }

    /// Builds a tokenizer from token strings (id = index). `path` names the source in errors.
    public init(vocab: [String], path: String = "<vocab>") throws {
        var ids = [String: Int32](minimumCapacity: vocab.count)
        for (i, tok) in vocab.enumerated() {
            if tok.isEmpty { throw AlignError.format(path: path, line: i + 1, message: "empty token") }
            if ids[tok] != nil { throw AlignError.format(path: path, line: i + 1, message: "duplicate token '\(tok)'") }
            ids[tok] = Int32(i)
        }
        func special(_ s: String) throws -> Int32 {
            guard let id = ids[s] else { throw AlignError.format(path: path, line: nil, message: "vocabulary has no \(s) token") }
            return id
        }
        self.vocab = vocab
        self.ids = ids
        padId = try special("[PAD]"); unkId = try special("[UNK]")
        clsId = try special("[CLS]"); sepId = try special("[SEP]")
    }

    /// Id of a token string, if it is in the vocabulary.
    public func id(of token: String) -> Int32? { ids[token] }

    /// Token ids of `text`: [CLS] pieces [SEP], at most `maxLength` (≥ 2) tokens.
    public func encode(_ text: String, maxLength: Int = 256) -> [Int32] {
        precondition(maxLength >= 2, "maxLength must leave room for [CLS] and [SEP]")
        var out: [Int32] = [clsId]
        let budget = maxLength - 1
        for word in Self.preTokenize(Self.normalize(text)) {
            if out.count >= budget { break }
            appendPieces(of: word, to: &out)
        }
        if out.count > budget { out.removeLast(out.count - budget) }
        out.append(sepId)
        return out
    }

    /// WordPiece pieces of one pre-tokenized word (greedy longest match, "##" continuation, [UNK]).
    public func pieces(_ word: [Unicode.Scalar]) -> [Int32] {
        var out: [Int32] = []
        appendPieces(of: word, to: &out)
        return out
    }

    func appendPieces(of word: [Unicode.Scalar], to out: inout [Int32]) {
        if word.count > maxInputCharsPerWord { out.append(unkId); return }
        let mark = out.count
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int32? = nil
            while start < end {
                var s = start > 0 ? "##" : ""
                s.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = ids[s] { found = id; break }
                end -= 1
            }
            guard let id = found else {
                out.removeLast(out.count - mark)
                out.append(unkId)
                return
            }
            out.append(id)
            start = end
        }
    }

    /// BertNormalizer (clean text, CJK spacing, accent stripping, lower-casing) as a scalar array.
    public static func normalize(_ text: String) -> [Unicode.Scalar] {
        var cleaned: [Unicode.Scalar] = []
        cleaned.reserveCapacity(text.unicodeScalars.count + 8)
        var ascii = true
        for c in text.unicodeScalars {
            let v = c.value
            if v < 128 {
                if c == "\t" || c == "\n" || c == "\r" || c == " " { cleaned.append(" "); continue }
                if v < 32 || v == 127 { continue }
                cleaned.append(c)
                continue
            }
            ascii = false
            if v == 0xFFFD || isControl(c) { continue }
            if c.properties.isWhitespace { cleaned.append(" "); continue }
            if isCJK(v) { cleaned.append(" "); cleaned.append(c); cleaned.append(" "); continue }
            cleaned.append(c)
        }
        if !ascii {
            // NFD, then drop non-spacing marks (accents).
            var s = String(); s.unicodeScalars.append(contentsOf: cleaned)
            cleaned.removeAll(keepingCapacity: true)
            for c in s.decomposedStringWithCanonicalMapping.unicodeScalars
            where c.properties.generalCategory != .nonspacingMark { cleaned.append(c) }
        }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(cleaned.count)
        for c in cleaned {
            let v = c.value
            if v < 128 {
                out.append(v >= 65 && v <= 90 ? Unicode.Scalar(v + 32)! : c)
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    /// BertPreTokenizer: split on White_Space (dropped) and around each punctuation scalar (kept alone).
    public static func preTokenize(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var cur: [Unicode.Scalar] = []
        for c in s {
            if c == " " || (c.value >= 128 && c.properties.isWhitespace) {
                if !cur.isEmpty { words.append(cur); cur.removeAll(keepingCapacity: true) }
            } else if isPunctuation(c) {
                if !cur.isEmpty { words.append(cur); cur.removeAll(keepingCapacity: true) }
                words.append([c])
            } else {
                cur.append(c)
            }
        }
        if !cur.isEmpty { words.append(cur) }
        return words
    }

    /// BERT's punctuation: ASCII 33-47, 58-64, 91-96, 123-126, or Unicode general category P*.
    public static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        if v < 128 { return false }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// Control characters removed by clean-up: categories Cc, Cf, Cs, Co, Cn, except \t \n \r.
    public static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// CJK Unified Ideographs blocks (BERT's `_is_chinese_char`).
    public static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }
}
