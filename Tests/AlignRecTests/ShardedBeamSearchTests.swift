// ShardedBeamSearch: one decoder per worker must give what one shared decoder gives (same items in the same
// order, scores equal up to the last bits of the matrix products), for any number of prompts — fewer than the
// workers, not a multiple of the shard size, several rounds — with per-prompt exclusions; and the beam
// benchmark runs on it.
import AlignCore
@testable import AlignRec
import Testing

private func tinyLlama(vocab: Int, seed: UInt64) -> LlamaParameters {
    let cfg = LlamaConfig(vocabSize: vocab, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2,
                          numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 64)
    return LlamaParameters(config: cfg, seed: seed, std: 0.3)
}

@Suite struct ShardedBeamSearchTests {
    @Test func shardsGiveTheSingleDecoderResults() throws {
        let first: Int32 = 40, levels = 3, codes = 8
        let vocab = Int(first) + levels * codes
        let sids = try BeamBench.syntheticSIDs(items: 150, levels: levels, codes: codes, firstToken: first, seed: 4)
        let trie = try SIDTrie(sids: sids)
        let params = tinyLlama(vocab: vocab, seed: 11)
        var rng = Rng(seed: 5)
        for count in [1, 2, 3, 7, 13] {
            let prompts = (0..<count).map { g in
                [Int32(1)] + (0..<(5 + g % 4)).map { _ in Int32(3 + rng.int(below: vocab - 3)) }
            }
            let exclude = (0..<count).map { g in (0..<(g % 3 * 4)).map { _ in 1 + rng.int(below: sids.count) } }
            let one = try ShardedBeamSearch(params: params, trie: trie, beamWidth: 6, usersPerWorker: 4, workers: 1)
            let two = try ShardedBeamSearch(params: params, trie: trie, beamWidth: 6, usersPerWorker: 2, workers: 2)
            let three = try ShardedBeamSearch(params: params, trie: trie, beamWidth: 6, usersPerWorker: 1, workers: 3)
            let want = try one.search(prompts: prompts, topK: 6, exclude: exclude)
            #expect(want.count == count)
            for got in [try two.search(prompts: prompts, topK: 6, exclude: exclude),
                        try three.search(prompts: prompts, topK: 6, exclude: exclude)] {
                #expect(got.count == count)
                for (g, (a, b)) in zip(want, got).enumerated() {
                    #expect(a.map(\.item) == b.map(\.item), "prompt \(g) of \(count)")
                    #expect(!b.contains { exclude[g].contains($0.item) }, "prompt \(g) of \(count) returned an excluded item")
                    #expect(Set(b.map(\.item)).count == b.count && b.count == 6)
                    for (x, y) in zip(a, b) { #expect(abs(x.score - y.score) < 1e-5, "prompt \(g): \(x.score) vs \(y.score)") }
                }
            }
        }
    }

    @Test func mismatchedExclusionsAreAnError() throws {
        let sids = try BeamBench.syntheticSIDs(items: 20, levels: 2, codes: 8, firstToken: 20, seed: 1)
        let s = try ShardedBeamSearch(params: tinyLlama(vocab: 36, seed: 1), trie: try SIDTrie(sids: sids), beamWidth: 3)
        #expect(throws: AlignError.self) { try s.search(prompts: [[1, 4], [1, 5]], topK: 2, exclude: [[1]]) }
        #expect(throws: AlignError.self) { try ShardedBeamSearch(params: tinyLlama(vocab: 36, seed: 1), trie: try SIDTrie(sids: sids), beamWidth: 0) }
    }

    @Test func beamBenchRunsOnSyntheticShapes() throws {
        let sids = try BeamBench.syntheticSIDs(items: 300, levels: 3, codes: 16, firstToken: 50, seed: 1)
        let trie = try SIDTrie(sids: sids)
        let vocab = 50 + 3 * 16
        let prompts = BeamBench.syntheticPrompts(count: 6, length: 12, bos: 1, firstToken: 50, vocabSize: vocab, seed: 2)
        let search = try ShardedBeamSearch(params: tinyLlama(vocab: vocab, seed: 3), trie: trie, beamWidth: 5,
                                           usersPerWorker: 2, workers: 2)
        let r = try BeamBench.run(search: search, prompts: prompts, topK: 5)
        #expect(r.users == 6 && r.items == 300 && r.usersPerSecond > 0 && r.meanPromptLength == 12 && r.workers == 2)
        #expect(throws: AlignError.self) { try BeamBench.syntheticSIDs(items: 100, levels: 2, codes: 8, firstToken: 0, seed: 1) }
    }
}
