// Byte-level BPE (tokenizer.json) against the `tokenizers` library: five tokenizers in the shapes of GPT-2,
// RoBERTa-style prefix space, Llama-3, Qwen2 and SmolLM2, and the ids `tokenizers` gives 1,100 varied strings
// (SID tokens, chat markers, numbers, whitespace runs, Unicode; scripts/reference/make_bpe_fixture.py). Decoding
// gives `tokenizers`' text; a write/read round trip keeps every id.
import AlignCore
import Foundation
import Testing
import TestSupport

struct BPECase: Decodable {
    let text: String
    let ids: [String: [Int32]]
    let decoded: [String: String]
}

private func cases() throws -> [BPECase] {
    let data = try Data(contentsOf: FixturePath.url("bpe/cases.jsonl", bundle: .module))
    return try data.split(separator: UInt8(ascii: "\n")).map { try JSONDecoder().decode(BPECase.self, from: Data($0)) }
}

@Suite struct BPETokenizerTests {
    static let kinds = ["gpt2", "prefix", "llama3", "qwen2", "smollm2"]

    @Test(arguments: kinds) func idsMatchTokenizersLibrary(kind: String) throws {
        let tok = try Tokenizer.load(from: FixturePath.url("bpe/\(kind)", bundle: .module))
        #expect(tok.bpe != nil)
        let all = try cases()
        #expect(all.count >= 1000)
        var wrong = 0, sids = 0
        for c in all {
            let got = try tok.encode(c.text)
            if got != c.ids[kind]! {
                wrong += 1
                if wrong <= 5 { Issue.record("\(kind): \(c.text.debugDescription) → \(got), tokenizers \(c.ids[kind]!)") }
            }
            sids += got.filter { tok.isSIDToken(Int($0)) }.count
            let text = try tok.decode(c.ids[kind]!)
            #expect(text == c.decoded[kind]!, "\(kind) decode of \(c.text.debugDescription)")
        }
        #expect(wrong == 0, "\(kind): \(wrong) of \(all.count) strings differ")
        #expect(sids > 500)
    }

    @Test func specialRolesAndBos() throws {
        let l3 = try Tokenizer.load(from: FixturePath.url("bpe/llama3", bundle: .module))
        #expect(l3.addsBos && l3.bosId == l3.id("<|begin_of_text|>") && l3.eosId == l3.id("<|eot_id|>"))
        let sm = try Tokenizer.load(from: FixturePath.url("bpe/smollm2", bundle: .module))
        #expect(!sm.addsBos && sm.eosId == 2 && sm.id("<|im_start|>") == 1)
        #expect(sm.sidLevelCount == 3 && sm.sidTokenIds(level: 2).count == 8)
    }

    @Test(arguments: kinds) func writeAndReadKeepsIds(kind: String) throws {
        let tok = try Tokenizer.load(from: FixturePath.url("bpe/\(kind)", bundle: .module))
        let grown = try tok.adding(["<d_0>", "<d_1>"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-\(kind)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try grown.write(to: dir)
        let back = try Tokenizer.load(from: dir)
        #expect(back.vocabSize == grown.vocabSize && back.addsBos == grown.addsBos && back.bosId == grown.bosId && back.eosId == grown.eosId)
        for c in try cases().prefix(200) { #expect(try back.encode(c.text + "<d_1>") == (try grown.encode(c.text + "<d_1>"))) }
    }

    @Test func regexSubset() throws {
        let re = try PreTokenizerRegex(ByteLevelBPE.gpt2Pattern)
        func pieces(_ s: String) -> [String] {
            let u = Array(s.unicodeScalars).map(\.value)
            return u.withUnsafeBufferPointer { re.matches($0) }.map { r in String(String.UnicodeScalarView(u[r].map { Unicode.Scalar($0)! })) }
        }
        #expect(pieces("Hello  world's 123!!") == ["Hello", " ", " world", "'s", " 123", "!!"])
        #expect(pieces("a   \nb") == ["a", "   ", "\n", "b"])   // as tokenizers splits it
        for bad in ["(ab)+", "a\\1", "^a", "[a", "(?<n>a)"] {
            #expect(throws: AlignError.self) { _ = try PreTokenizerRegex(bad) }
        }
    }
}
