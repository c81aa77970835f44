// SIDTrie: flattened structure matches the SID list (checked by brute force), rejects ambiguous inputs,
// supports variable lengths through an end token.
import AlignRec
import Foundation
import Testing

@Test func trieMatchesSIDListByBruteForce() throws {
    var rng = Rng(seed: 11)
    let sids = randomSIDs(items: 40, levels: 3, codes: 4, base: 20, variable: false, rng: &rng)
    let trie = try SIDTrie(sids: sids)
    #expect(trie.itemCount == 40 && trie.maxDepth == 3)
    // Every prefix's allowed tokens = sorted distinct next tokens of SIDs sharing it.
    var prefixes = Set<[Int32]>([[]])
    for (_, t) in sids { for d in 1..<t.count { prefixes.insert(Array(t[0..<d])) } }
    for prefix in prefixes {
        var node = 0
        for tok in prefix { node = try #require(trie.child(node, tok)) }
        let expected = Set(sids.filter { Array($0.tokens.prefix(prefix.count)) == prefix }.map { $0.tokens[prefix.count] }).sorted()
        #expect(trie.allowedTokens(node) == expected)
        #expect(Int(trie.subtreeItems[node]) == sids.filter { Array($0.tokens.prefix(prefix.count)) == prefix }.count)
        #expect(trie.item(at: node) == nil)
    }
    for (item, t) in sids {
        #expect(trie.item(forTokens: t) == item)
        #expect(trie.tokens(of: item) == t)
        #expect(trie.item(at: try #require(trie.leaf(of: item))) == item)
    }
    #expect(trie.item(forTokens: [20, 24]) == nil)
    #expect(trie.item(forTokens: [99, 99, 99]) == nil)
    #expect(trie.items == Array(1...40))
}

@Test func trieRejectsAmbiguousInput() throws {
    #expect(throws: AlignError.self) { try SIDTrie(sids: [(1, [1, 2]), (2, [1, 2])]) }           // same SID
    #expect(throws: AlignError.self) { try SIDTrie(sids: [(1, [1, 2]), (2, [1, 2, 3])]) }        // prefix
    #expect(throws: AlignError.self) { try SIDTrie(sids: [(1, [1, 2, 3]), (2, [1, 2])]) }        // prefix, other order
    #expect(throws: AlignError.self) { try SIDTrie(sids: [(1, [1]), (1, [2])]) }                 // item twice
    #expect(throws: AlignError.self) { try SIDTrie(sids: [(1, [])]) }
    #expect(throws: AlignError.self) { try SIDTrie(sids: []) }
    // With an end token, prefixes are fine and lengths vary.
    let t = try SIDTrie(sids: [(1, [1, 2]), (2, [1, 2, 3]), (3, [4])], endToken: 9)
    #expect(t.maxDepth == 4)
    #expect(t.item(forTokens: [1, 2, 9]) == 1 && t.item(forTokens: [1, 2, 3, 9]) == 2 && t.item(forTokens: [4, 9]) == 3)
    #expect(t.item(forTokens: [1, 2]) == nil)
    #expect(t.allowedTokens(t.child(t.child(0, 1)!, 2)!) == [3, 9])
}

@Test func trieFromSIDStringsUsesTheTokenizer() throws {
    let trie = try SIDTrie(sids: [1: "<a_1><b_2>", 2: "<a_1><b_3>", 3: "<a_0><b_2>"], tokenizer: TinyTokenizer())
    #expect(trie.allowedTokens(0) == [1000, 1001])
    #expect(trie.item(forTokens: [1001, 1000 + 256 + 3]) == 2)
}
