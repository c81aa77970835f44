// Catalogue translation: sid2title decoded over the catalogue's titles ranks titles as an exhaustive enumeration of
// full (uncached) forward passes ranks them, items that share a title share one leaf of the titles' trie, and reports
// written before the figure existed still decode.
import AlignRec
import Foundation
import Testing

@Suite struct CatalogueTitleDecoding {
    /// Summed log-probs of `path` after `prompt`, each step renormalised over the trie's allowed tokens, from one
    /// forward pass of the trainer.
    func score(_ m: RecModel, trie: SIDTrie, prompt: [Int32], path: [Int32]) throws -> Double {
        try renormalizedPathScore(m, trie: trie, prompt: prompt, path: path) { trie.allowedTokens($0) }
    }

    /// Per catalogue item, the item whose leaf scores best over every leaf of the titles' trie (ties: lower item).
    func exhaustiveTop(_ m: RecModel) throws -> [(item: Int, top: Int)] {
        let tok = m.instructionTokenizer
        let trie = try TranslationEval.titleTrie(model: m, tokenizer: tok)
        let leaves = m.items.map(\.item).filter { trie.tokens(of: $0) != nil }
        return try m.items.map { it in
            let prompt = try m.builder.encodePrompt(m.builder.evalExample(.sid2title, item: it.item).prompt, tokenizer: tok)
            let best = try leaves.map { c in (c, try score(m, trie: trie, prompt: prompt, path: trie.tokens(of: c)!)) }
                .max { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 > $1.0 }!
            return (it.item, best.0)
        }
    }

    @Test func catalogueSid2titleEqualsTheExhaustiveRanking() throws {
        // A seed whose random model gets some titles right and some wrong, so the count is informative.
        for seed: UInt64 in 1...30 {
            let m = try tinyRecModel(seed: seed)
            #expect(try TranslationEval.titleTrie(model: m, tokenizer: m.instructionTokenizer).itemCount == m.items.count)
            let hits = try exhaustiveTop(m).filter { $0.item == $0.top }.count
            guard hits > 0 && hits < m.items.count else { continue }
            // A beam as wide as the catalogue prunes nothing: top-1 is the exhaustive argmax.
            let t = try TranslationEval.run(model: m, beam: m.items.count, progress: false)
            #expect(t.items == m.items.count)
            #expect(t.sid2titleCatalogue == Double(hits) / Double(m.items.count), "seed \(seed)")
            return
        }
        Issue.record("no seed in 1...30 gives a model between all and no catalogue titles right")
    }

    @Test func itemsWithOneTitleShareALeafAndAreJudgedByTheTitle() throws {
        for seed: UInt64 in 1...30 {
            let base = try tinyRecModel(seed: seed)
            // An item a that decodes to another item b's title; a then gets b's title, and a's decoding counts as a hit.
            guard let (a, b) = try exhaustiveTop(base).first(where: { $0.item != $0.top }) else { continue }
            var items = base.items
            items[a - 1].title = items[b - 1].title; items[a - 1].year = items[b - 1].year
            let m = try RecModel(params: base.params, tokenizer: base.tokenizer, sidMap: base.sidMap, items: items,
                                 prompts: base.prompts, taskConfig: TaskConfig(), info: AlignInfo(stage: "test"))
            let tok = m.instructionTokenizer
            let trie = try TranslationEval.titleTrie(model: m, tokenizer: tok)
            let (first, second) = (min(a, b), max(a, b))
            #expect(trie.itemCount == items.count - 1)
            #expect(trie.tokens(of: first) == (try tok.encode(m.builder.titles[first]!)) + [tok.eosId])
            #expect(trie.tokens(of: second) == nil, "the second item with a title has no leaf of its own")
            let top = try exhaustiveTop(m)
            guard m.builder.titles[top[a - 1].top] == m.builder.titles[a] else { continue }
            let hits = top.filter { m.builder.titles[$0.top] == m.builder.titles[$0.item] }.count
            let t = try TranslationEval.run(model: m, beam: items.count, progress: false)
            #expect(t.sid2titleCatalogue == Double(hits) / Double(items.count), "seed \(seed)")
            return
        }
        Issue.record("no seed in 1...30 decodes an item to a title it shares with another")
    }

    @Test func reportsWrittenBeforeTheCatalogueFigureStillDecode() throws {
        let old = #"{"items": 3, "sid2title": 0.5, "title2sid": 1, "beam": 1, "sid2title_misses": []}"#
        let t = try JSONDecoder().decode(TranslationAccuracy.self, from: Data(old.utf8))
        #expect(t.sid2titleCatalogue == nil && t.sid2title == 0.5 && t.items == 3)
        let now = #"{"items": 3, "sid2title": 0.5, "sid2title_catalogue": 0.75, "title2sid": 1, "beam": 1, "sid2title_misses": []}"#
        #expect(try JSONDecoder().decode(TranslationAccuracy.self, from: Data(now.utf8)).sid2titleCatalogue == 0.75)
    }
}
