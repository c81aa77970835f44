// Tokenizer = SentencePiece + added whole tokens: splitting, ids, exact inversion, SID lookups, files.
import AlignCore
import Foundation
import Testing
import TestSupport

private func llamaSP() throws -> SentencePieceModel {
    try SentencePieceModel(contentsOf: FixturePath.url("sentencepiece/llama_32000.model", bundle: .module))
}

private func sidTokenizer() throws -> Tokenizer {
    try Tokenizer(sentencePiece: llamaSP(), adding: ["<s>", "</s>", "<pad>"] + (try Tokenizer.sidTokens(levels: 3, codesPerLevel: 32)))
}

@Suite struct TokenizerAddedTokens {
    @Test func idsAreAppendedAfterSentencePiece() throws {
        let t = try sidTokenizer()
        // <s> and </s> are the LLaMA model's own control pieces; <pad> and the 96 SID tokens are appended.
        #expect(t.id("<s>") == 1 && t.id("</s>") == 2)
        #expect(t.id("<pad>") == 32000)
        #expect(t.id("<a_0>") == 32001 && t.id("<a_31>") == 32032 && t.id("<b_0>") == 32033 && t.id("<c_31>") == 32096)
        #expect(t.vocabSize == 32097)
        #expect(t.bosId == 1 && t.eosId == 2 && t.padId == 32000 && t.unkId == 0)
        #expect(t.sidLevelCount == 3)
        #expect(t.sidTokenIds(level: 1) == Array(32033..<32065))
        #expect(t.sidTokenId(level: 2, code: 5) == 32001 + 64 + 5)
        #expect(t.isSIDToken(32001) && !t.isSIDToken(32000) && !t.isSIDToken(15043))
        #expect(t.sid(ofId: 32040)! == (level: 1, code: 7))
        #expect(try t.token(32040) == "<b_7>" && t.token(15043) == "▁Hello")
        #expect(t.isSpecial(32000) && !t.isSpecial(32001))
    }

    @Test func mixedTextSplitsOnAddedTokensFirst() throws {
        let t = try sidTokenizer()
        let sp = t.sentencePiece!
        let text = "Item <a_1><b_22><c_3> is Heat (1995)"
        let ids = try t.encode(text, addBos: true)
        // Independent expectation: each text span through SentencePiece, each SID token its own id.
        let want: [Int32] = [1] + (try sp.encode("Item ")) + [32002, 32033 + 22, 32065 + 3] + (try sp.encode(" is Heat (1995)"))
        #expect(ids == want)
        #expect(try t.decode(ids) == "<s>" + text)
        #expect(try t.decode(ids, skipSpecial: true) == text)
        #expect(try t.encode(text, addEos: true).last == 2)
    }

    @Test(arguments: [
        "Item <a_1><b_22><c_3> is Heat (1995)",
        "<a_0>", "<a_0><a_0>", "x<c_31>y", "  two  spaces <b_3>  and\ttabs\n",
        "<a_", "<a_1", "<<a_1>>", "<a_99> is not added", "<s>Hello</s><pad><pad>",
        "Ünïcödé <a_5> 日本語 🦙 <b_6>", "", " ", "The user has interacted with items <a_12><b_7><c_20> in chronological order.",
    ])
    func decodeInvertsEncode(text: String) throws {
        let t = try sidTokenizer()
        #expect(try t.decode(t.encode(text)) == text)
    }

    @Test func longestMatchWins() throws {
        let t = try Tokenizer(sentencePiece: llamaSP(), adding: ["<a_1>", "<a_12>", "<a_1><b_2>"])
        #expect(try t.encode("<a_12>") == [32001])
        #expect(try t.encode("<a_1><b_2>") == [32002])
        #expect(try t.encode("<a_1>2") == [32000] + (try t.sentencePiece!.encode("2")))
    }

    @Test func sidTokenSpelling() {
        #expect(Tokenizer.sidToken(level: 0, code: 12) == "<a_12>")
        #expect(Tokenizer.sidToken(level: 3, code: 0) == "<d_0>")
        #expect(Tokenizer.parseSID("<c_201>")! == (level: 2, code: 201))
        for bad in ["<a_01>", "<A_1>", "<a_>", "<a-1>", "a_1", "<ab_1>", "<a_1 >", "<pad>"] {
            #expect(Tokenizer.parseSID(bad) == nil, "\(bad)")
        }
    }

    @Test func invalidTokenListsAreErrors() throws {
        let sp = try llamaSP()
        #expect(throws: AlignError.self) { try Tokenizer(sentencePiece: sp, adding: ["<x>", "<x>"]) }
        #expect(throws: AlignError.self) { try Tokenizer(sentencePiece: sp, addedTokens: [AddedToken(content: "<x>", id: 32001, special: false)]) }
        #expect(throws: AlignError.self) { try Tokenizer(sentencePiece: sp, addedTokens: [AddedToken(content: "<x>", id: 5, special: false)]) }
        // A normal SentencePiece piece cannot double as an added token.
        #expect(throws: AlignError.self) { try Tokenizer(sentencePiece: sp, adding: ["▁Hello"]) }
        let t = try sidTokenizer()
        #expect(throws: AlignError.self) { try t.decode([5, 40000]) }
        #expect(throws: AlignError.self) { try t.token(-3) }
        let grown = try t.adding(["<d_0>", "<a_0>"])
        #expect(grown.vocabSize == t.vocabSize + 1 && grown.id("<d_0>") == 32097)
    }
}

@Suite struct TokenizerFiles {
    private func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    @Test func writeThenLoadRoundTrips() throws {
        let t = try sidTokenizer()
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try t.write(to: dir)
        let back = try Tokenizer.load(from: dir)
        #expect(back.addedTokens == t.addedTokens && back.vocabSize == t.vocabSize)
        let text = "Item <a_1><b_22><c_3> is Heat (1995)"
        #expect(try back.encode(text) == t.encode(text))

        // HF files: added_tokens.json holds appended ids; tokenizer_config.json lists every added token.
        let added = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("added_tokens.json"))) as! [String: Int]
        #expect(added["<pad>"] == 32000 && added["<c_31>"] == 32096 && added["<s>"] == nil && added.count == 97)
        let cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json"))) as! [String: Any]
        let dec = cfg["added_tokens_decoder"] as! [String: [String: Any]]
        #expect(dec["32001"]?["content"] as? String == "<a_0>" && dec["0"]?["content"] as? String == "<unk>")
        #expect(cfg["pad_token"] as? String == "<pad>" && cfg["bos_token"] as? String == "<s>")

        // Without align_tokens.json, HF's added_tokens_decoder alone gives the same tokenizer (specials by HF flag).
        try FileManager.default.removeItem(at: dir.appendingPathComponent(AddedTokensFile.fileName))
        let hf = try Tokenizer.load(from: dir)
        #expect(hf.addedTokens == t.addedTokens)
        // And with only added_tokens.json.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("tokenizer_config.json"))
        let legacy = try Tokenizer.load(from: dir)
        #expect(legacy.vocabSize == t.vocabSize && legacy.id("<b_4>") == t.id("<b_4>"))
    }

    @Test func badAddedTokenFilesAreFormatErrors() throws {
        let t = try sidTokenizer()
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try t.write(to: dir)
        let url = dir.appendingPathComponent(AddedTokensFile.fileName)
        var f = try JSONDecoder().decode(AddedTokensFile.self, from: Data(contentsOf: url))
        f.version = 99
        try JSONEncoder().encode(f).write(to: url)
        #expect(throws: AlignError.self) { try Tokenizer.load(from: dir) }
        f.version = 1; f.sentencepieceVocabSize = 1000
        try JSONEncoder().encode(f).write(to: url)
        #expect(throws: AlignError.self) { try Tokenizer.load(from: dir) }
        f.sentencepieceVocabSize = 32000; f.tokens[5].id = 40000
        try JSONEncoder().encode(f).write(to: url)
        #expect(throws: AlignError.self) { try Tokenizer.load(from: dir) }
        try Data("{not json".utf8).write(to: url)
        #expect(throws: AlignError.self) { try Tokenizer.load(from: dir) }
    }

    @Test func newRowsStartAtTheMean() throws {
        let w: [Float] = [1, 2, 3, 5, -1, 0.5]   // 3 rows × 2
        let g = try growRowsWithMean(w, rows: 3, dim: 2, newRows: 5)
        #expect(g.count == 10 && Array(g[0..<6]) == w)
        #expect(Array(g[6..<8]) == [1, 2.5] && Array(g[8..<10]) == [1, 2.5])
        #expect(throws: AlignError.self) { try growRowsWithMean(w, rows: 3, dim: 2, newRows: 2) }
    }
}

@Suite struct TokenizerSIDListErrors {
    @Test func badSIDLayoutsAreErrors() {
        #expect(throws: AlignError.self) { try Tokenizer.sidTokens(levels: 0, codesPerLevel: 8) }
        #expect(throws: AlignError.self) { try Tokenizer.sidTokens(levels: 27, codesPerLevel: 8) }
        #expect(throws: AlignError.self) { try Tokenizer.sidTokens(levels: 3, codesPerLevel: 0) }
        #expect((try? Tokenizer.sidTokens(levels: 2, codesPerLevel: 2)) == ["<a_0>", "<a_1>", "<b_0>", "<b_1>"])
    }
}
