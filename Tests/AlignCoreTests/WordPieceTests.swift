// WordPiece tokenizer: exact ids against Hugging Face tokenizers on the real all-MiniLM-L6-v2 vocabulary
// (Fixtures/minilm: the golden cases and extra cases covering accents, CJK, control characters, Unicode
// punctuation and whitespace, long words, truncation), plus hand-checked rules on a toy vocabulary.
import AlignCore
import Foundation
import Testing

@Suite struct WordPieceTests {
    @Test func goldenIdsMatchHuggingFace() throws {
        guard let model = try MiniLM.model() else { return }
        var exact = 0, total = 0
        for file in ["cases.jsonl", "wordpiece_extra.jsonl"] {
            for c in try MiniLM.cases(file) {
                let ids = model.tokenizer.encode(c.text, maxLength: 256)
                #expect(ids == c.input_ids, "\(file): \(c.text.debugDescription.prefix(80))")
                total += 1
                if ids == c.input_ids { exact += 1 }
            }
        }
        #expect(total == 37)
        print("WordPiece: \(exact)/\(total) cases exact")
    }

    static let toy = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "aff", "a", "##a", "!", ",", "cafe",
                      "the", "##s", "東", "京", "-", "x", "«", "»"]

    func ids(_ text: String, maxLength: Int = 256) throws -> [String] {
        let t = try WordPieceTokenizer(vocab: Self.toy)
        return t.encode(text, maxLength: maxLength).map { t.vocab[Int($0)] }
    }

    @Test func greedyLongestMatchWithContinuation() throws {
        #expect(try ids("unaffable") == ["[CLS]", "un", "##aff", "##able", "[SEP]"])
        #expect(try ids("aff aaa") == ["[CLS]", "aff", "a", "##a", "##a", "[SEP]"])
        // An unmatched rest turns the whole word into [UNK], not a partial split.
        #expect(try ids("unaffz the") == ["[CLS]", "[UNK]", "the", "[SEP]"])
        #expect(try ids("") == ["[CLS]", "[SEP]"])
    }

    @Test func normalisationAndSplitting() throws {
        // Lower-casing, accent stripping (NFD + drop marks), punctuation split, control chars dropped.
        #expect(try ids("The CAFÉ,x!") == ["[CLS]", "the", "cafe", ",", "x", "!", "[SEP]"])
        #expect(try ids("the\u{0007}s\tx") == ["[CLS]", "the", "##s", "x", "[SEP]"])  // BEL removed, tab splits
        // CJK ideographs become single words; Unicode punctuation (Pi/Pf, Pd) splits.
        #expect(try ids("x東京x") == ["[CLS]", "x", "東", "京", "x", "[SEP]"])
        #expect(try ids("«x»-x") == ["[CLS]", "«", "x", "»", "-", "x", "[SEP]"])
        // Non-breaking and ideographic spaces are whitespace.
        #expect(try ids("x\u{00A0}x\u{3000}x") == ["[CLS]", "x", "x", "x", "[SEP]"])
        #expect(WordPieceTokenizer.isPunctuation("$") && WordPieceTokenizer.isPunctuation("`") && !WordPieceTokenizer.isPunctuation("a"))
    }

    @Test func longWordsAndTruncation() throws {
        #expect(try ids(String(repeating: "a", count: 101)) == ["[CLS]", "[UNK]", "[SEP]"])
        #expect(try ids(String(repeating: "a", count: 100)).count == 102)
        #expect(try ids("a a a a a a a a", maxLength: 5) == ["[CLS]", "a", "a", "a", "[SEP]"])
        #expect(try ids("aaaaaa", maxLength: 4) == ["[CLS]", "a", "##a", "[SEP]"])
    }

    @Test func badVocabularies() throws {
        #expect(throws: AlignError.self) { try WordPieceTokenizer(vocab: ["[PAD]", "[UNK]", "[CLS]"]) }
        #expect(throws: AlignError.self) { try WordPieceTokenizer(vocab: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "a"]) }
    }
}
