// align's SentencePiece tokenizer as transformers reads it: the tokenizer.json align writes beside tokenizer.model
// makes AutoTokenizer give align's ids (scripts/reference/make_sp_interop_fixture.py recorded transformers' ids for
// 1,118 strings: the BPE fixture's and prompt-like ones with titles and SID tokens, through a checkpoint align wrote).
import AlignCore
import Foundation
import Testing
import TestSupport

@Suite struct SentencePieceInteropTests {
    struct Case: Decodable { let text: String; let ids: [Int32]; let with_bos: [Int32] }

    func tokenizer() throws -> Tokenizer {
        let sp = try SentencePieceModel(contentsOf: FixturePath.url("sentencepiece/botchan_en_unigram_1000.model", bundle: .module))
        let f = try JSONDecoder().decode(AddedTokensFile.self, from: Data(contentsOf: FixturePath.url("sp-interop/align_tokens.json", bundle: .module)))
        return try Tokenizer(sentencePiece: sp, addedTokens: f.tokens)
    }

    @Test func transformersGivesAlignsIds() throws {
        let tok = try tokenizer()
        let data = try Data(contentsOf: FixturePath.url("sp-interop/cases.jsonl", bundle: .module))
        let cases = try data.split(separator: UInt8(ascii: "\n")).map { try JSONDecoder().decode(Case.self, from: Data($0)) }
        #expect(cases.count >= 1100)
        var wrong = 0
        for c in cases where try tok.encode(c.text) != c.ids {
            wrong += 1
            if wrong <= 5 { Issue.record("\(c.text.debugDescription): align \(try tok.encode(c.text)), transformers \(c.ids)") }
        }
        #expect(wrong == 0, "\(wrong) of \(cases.count) strings differ")
        #expect(cases.allSatisfy { $0.with_bos == [Int32(tok.bosId!)] || $0.text.isEmpty })
    }

    @Test func tokenizerJSONDescribesTheModel() throws {
        let tok = try tokenizer()
        let obj = try #require(try tok.sentencePieceTokenizerJSON())
        let model = try #require(obj["model"] as? [String: Any])
        #expect(model["type"] as? String == "Unigram" && (model["vocab"] as? [Any])?.count == 1000)
        let added = try #require(obj["added_tokens"] as? [[String: Any]])
        #expect(added.count == 27 && added.contains { $0["content"] as? String == "<c_7>" && $0["id"] as? Int == 1024 })
        // A BPE-type SentencePiece model gets none.
        let bpe = try Tokenizer(sentencePiece: SentencePieceModel(contentsOf: FixturePath.url("sentencepiece/botchan_en_bpe_1000.model", bundle: .module)), adding: [])
        #expect(try bpe.sentencePieceTokenizerJSON() == nil)
    }
}
