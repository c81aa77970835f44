// `align tokenizer train`: deterministic output, SID tokens as whole tokens after the SentencePiece ids,
// specials present, text round-trips, and the corpus holds titles, genres and template text.
import AlignCore
import AlignRec
import Foundation
import Testing

@Test func tokenizerTrainingIsDeterministicAndAddsSIDTokensWhole() throws {
    let w = try TinySFTWorld.make(users: 2)
    let again = try TokenizerTraining.train(items: w.items, prompts: w.prompts, sidMap: w.sidMap, vocabSize: 60)
    #expect(try again.sentencePiece!.serialized() == (try w.tokenizer.sentencePiece!.serialized()))
    #expect(again.addedTokens == w.tokenizer.addedTokens)

    let t = w.tokenizer, sp = t.text.vocabSize
    // <s>, </s> are SentencePiece control pieces; <pad> and the 4 + 6 SID tokens are appended in order.
    #expect(t.bosId == 1 && t.eosId == 2 && t.padId == sp)
    #expect(t.vocabSize == sp + 1 + 10)
    #expect(t.id("<a_0>") == sp + 1 && t.id("<a_3>") == sp + 4 && t.id("<b_0>") == sp + 5 && t.id("<b_5>") == sp + 10)
    let ids = try t.encode("id of <a_2><b_5>:", addBos: false, addEos: false)
    let sidIds = ids.filter { t.isSIDToken(Int($0)) }
    #expect(sidIds == [Int32(t.id("<a_2>")!), Int32(t.id("<b_5>")!)])
    #expect(try t.decode(ids).contains("<a_2><b_5>"))
    for it in w.items {
        let title = TaskSampleBuilder.displayTitle(it)
        #expect(try t.decode(try t.encode(title, addBos: false, addEos: false)) == title)
    }
    // Checked coverage: a map with a code the tokenizer lacks is refused with a hint.
    let bigger = try SIDMap(codebookSizes: [4, 7], method: "test", dedup: "none", codesByRow: [[0, 6]])
    #expect(throws: AlignError.self) { try TokenizerTraining.checkCovers(t, sidMap: bigger, path: "tok") }
}

@Test func tokenizerCorpusHasTitlesGenresAndTemplateText() throws {
    let w = try TinySFTWorld.make(users: 1)
    let c = TokenizerTraining.corpus(items: w.items, prompts: w.prompts)
    #expect(c.contains(TaskSampleBuilder.displayTitle(w.items[0])))
    #expect(c.contains("Comedy") && c.contains("Drama"))
    #expect(c.contains("next after") && c.contains("title of"))
    #expect(!c.contains { $0.contains("{") })
    #expect(throws: AlignError.self) {
        _ = try TokenizerTraining.train(items: w.items, prompts: w.prompts, sidMap: w.sidMap, vocabSize: 8)
    }
}
