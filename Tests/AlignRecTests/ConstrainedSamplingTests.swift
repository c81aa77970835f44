// Constrained sampling and greedy decoding: frequencies follow the renormalised tempered distribution
// (chi-square bound, seeded), log-probs are exact, exclusions hold, greedy = per-step argmax = beam of 1,
// and the beam micro-benchmark runs.
import AlignRec
import Foundation
import Testing

@Test func samplingFrequenciesMatchRenormalisedDistribution() throws {
    // Variable-length SIDs with an end token; 7 items.
    let sids: [(item: Int, tokens: [Int32])] = [
        (1, [10, 13]), (2, [10, 14]), (3, [10, 14, 16]), (4, [11]), (5, [11, 13, 17]), (6, [12, 15]), (7, [12, 13]),
    ]
    let end: Int32 = 3
    let trie = try SIDTrie(sids: sids, endToken: end)
    let prompt: [Int32] = [1, 5, 6]
    let seed: UInt64 = 17
    for temperature in [1.0, 0.6] {
        let decoder = ReferenceDecoder.hashed(vocabSize: 20, seed: seed, scale: 1.5)
        var rng = Rng(seed: 123)
        let n = 4000
        let res = try ConstrainedSampler(trie: trie).sample(decoder: decoder, prompts: [prompt], samplesPerPrompt: n,
                                                            temperature: Float(temperature), rng: &rng)[0]
        let exact = exhaustiveScores(sids: sids, endToken: end, prompt: prompt, seed: seed, scale: 1.5, vocab: 20,
                                     temperature: temperature)
        let probs = Dictionary(uniqueKeysWithValues: exact.map { ($0.item, exp($0.score)) })
        #expect(abs(probs.values.reduce(0, +) - 1) < 1e-6)
        var counts = [Int: Int]()
        for s in res {
            counts[s.item, default: 0] += 1
            #expect(abs(Double(s.logProb) - log(probs[s.item]!)) < 1e-4)
            #expect(trie.tokens(of: s.item) == s.tokens)
        }
        var chi2 = 0.0
        for (item, p) in probs {
            let e = p * Double(n), o = Double(counts[item] ?? 0)
            chi2 += (o - e) * (o - e) / e
        }
        // 6 degrees of freedom: P(χ² > 22.5) ≈ 0.001.
        #expect(chi2 < 22.5, "chi2 \(chi2) at temperature \(temperature)")
    }
}

@Test func samplingIsSeededAndRespectsExclusion() throws {
    var r0 = Rng(seed: 3)
    let sids = randomSIDs(items: 20, levels: 3, codes: 3, base: 10, variable: false, rng: &r0)
    let trie = try SIDTrie(sids: sids)
    let sampler = ConstrainedSampler(trie: trie)
    let prompts: [[Int32]] = [[1, 2], [1, 4, 4]]
    let excluded = Array(sids.prefix(12).map(\.item))
    func draw(_ seed: UInt64) throws -> [[ConstrainedSample]] {
        var rng = Rng(seed: seed)
        return try sampler.sample(decoder: ReferenceDecoder.hashed(vocabSize: 20, seed: 1, scale: 1), prompts: prompts,
                                  samplesPerPrompt: 64, temperature: 1, rng: &rng, exclude: [excluded, []])
    }
    let a = try draw(5), b = try draw(5), c = try draw(6)
    #expect(a == b)
    #expect(a != c)
    #expect(a[0].allSatisfy { !excluded.contains($0.item) })
    #expect(Set(a[1].map(\.item)).count > 8)   // unexcluded user explores the catalogue
    var rng = Rng(seed: 1)
    #expect(throws: AlignError.self) {
        try sampler.sample(decoder: ReferenceDecoder.hashed(vocabSize: 20, seed: 1), prompts: [[1]], samplesPerPrompt: 2,
                           temperature: 1, rng: &rng, exclude: [sids.map(\.item)])
    }
}

@Test func greedyIsPerStepArgmaxAndBeamOfOne() throws {
    var r0 = Rng(seed: 8)
    for trial in 0..<10 {
        let sids = randomSIDs(items: 25, levels: 3, codes: 4, base: 10, variable: trial % 2 == 1, rng: &r0)
        let end: Int32? = trial % 2 == 1 ? 2 : nil
        let trie = try SIDTrie(sids: sids, endToken: end)
        let seed = UInt64(trial + 40)
        let prompts: [[Int32]] = [[1, Int32(trial)], [1, 9, 9]]
        let greedy = try ConstrainedSampler(trie: trie).greedy(decoder: ReferenceDecoder.hashed(vocabSize: 24, seed: seed), prompts: prompts)
        let beam = try ConstrainedBeamSearch(trie: trie).search(decoder: ReferenceDecoder.hashed(vocabSize: 24, seed: seed),
                                                                prompts: prompts, beamWidth: 1, topK: 1)
        let paths: [(Int, [Int32])] = sids.map { s in (s.item, end.map { e in s.tokens + [e] } ?? s.tokens) }
        for (g, p) in prompts.enumerated() {
            // Independent greedy walk over the SID list.
            var prefix: [Int32] = []
            var logits = [Float](repeating: 0, count: 24)
            while !paths.contains(where: { $0.1 == prefix }) {
                let d = prefix.count
                var allowed = Set<Int32>()
                for (_, path) in paths where path.count > d && Array(path[0..<d]) == prefix { allowed.insert(path[d]) }
                logits.withUnsafeMutableBufferPointer { ReferenceDecoder.hashedLogits(p + prefix, seed: seed, scale: 3, into: $0) }
                // Argmax; ties → smallest token.
                var best: Int32 = -1
                for t in allowed.sorted() where best < 0 || logits[Int(t)] > logits[Int(best)] { best = t }
                prefix.append(best)
            }
            let item: Int = paths.first { $0.1 == prefix }!.0
            #expect(greedy[g].item == item && greedy[g].tokens == prefix, "trial \(trial)")
            #expect(beam[g].map(\.item) == [item], "trial \(trial)")
        }
    }
}

@Test func freeGenerationGreedyMatchesIndependentWalk() throws {
    let V = 12, eos: Int32 = 2
    var rng = Rng(seed: 1)
    let prompts: [[Int32]] = [[1, 4], [1, 5, 6], [1]]
    let out = try FreeGeneration.generate(decoder: ReferenceDecoder.hashed(vocabSize: V, seed: 77), prompts: prompts,
                                          maxNewTokens: 6, eosId: eos, rng: &rng)
    var logits = [Float](repeating: 0, count: V)
    for (g, p) in prompts.enumerated() {
        var seq = p, gen: [Int32] = []
        for _ in 0..<6 {
            logits.withUnsafeMutableBufferPointer { ReferenceDecoder.hashedLogits(seq, seed: 77, scale: 3, into: $0) }
            let t = Int32(logits.indices.max { logits[$0] != logits[$1] ? logits[$0] < logits[$1] : $0 > $1 }!)
            if t == eos { break }
            gen.append(t); seq.append(t)
        }
        #expect(out[g] == gen)
    }
    // Sampling is seeded and stays in the vocabulary.
    var r1 = Rng(seed: 4), r2 = Rng(seed: 4)
    let s1 = try FreeGeneration.generate(decoder: ReferenceDecoder.hashed(vocabSize: V, seed: 77), prompts: prompts,
                                         maxNewTokens: 8, eosId: eos, temperature: 1, rng: &r1)
    let s2 = try FreeGeneration.generate(decoder: ReferenceDecoder.hashed(vocabSize: V, seed: 77), prompts: prompts,
                                         maxNewTokens: 8, eosId: eos, temperature: 1, rng: &r2)
    #expect(s1 == s2 && s1.allSatisfy { $0.count <= 8 && !$0.contains(eos) })
}

@Test func maskedFreeGenerationNeverEmitsAMaskedToken() throws {
    let V = 12, eos: Int32 = 2
    let prompts: [[Int32]] = [[1, 4], [1, 5, 6], [1], [3, 3]]
    var rng = Rng(seed: 1)
    let free = try FreeGeneration.generate(decoder: ReferenceDecoder.hashed(vocabSize: V, seed: 77), prompts: prompts,
                                           maxNewTokens: 6, eosId: eos, rng: &rng)
    // Mask every token the unmasked greedy walks chose (EOS kept): the masked walks must differ from them and equal
    // an independent greedy walk over the allowed tokens only.
    var allowed = [Bool](repeating: true, count: V)
    for t in free.joined() { allowed[Int(t)] = false }
    allowed[Int(eos)] = true
    #expect(allowed.contains(false), "the unmasked walks must use some token for this test to mean anything")
    let masked = try FreeGeneration.generate(decoder: ReferenceDecoder.hashed(vocabSize: V, seed: 77), prompts: prompts,
                                             maxNewTokens: 6, eosId: eos, allowed: allowed, rng: &rng)
    var logits = [Float](repeating: 0, count: V)
    for (g, p) in prompts.enumerated() {
        var seq = p, gen: [Int32] = []
        for _ in 0..<6 {
            logits.withUnsafeMutableBufferPointer { ReferenceDecoder.hashedLogits(seq, seed: 77, scale: 3, into: $0) }
            let t = Int32((0..<V).filter { allowed[$0] }.max { logits[$0] != logits[$1] ? logits[$0] < logits[$1] : $0 > $1 }!)
            if t == eos { break }
            gen.append(t); seq.append(t)
        }
        #expect(masked[g] == gen, "prompt \(g)")
        #expect(masked[g].allSatisfy { allowed[Int($0)] })
    }
    // Sampling under the mask also stays inside it.
    var r = Rng(seed: 9)
    let sampled = try FreeGeneration.generate(decoder: ReferenceDecoder.hashed(vocabSize: V, seed: 77), prompts: prompts,
                                              maxNewTokens: 8, eosId: eos, temperature: 2, allowed: allowed, rng: &r)
    #expect(sampled.joined().allSatisfy { allowed[Int($0)] })
    // A mask of the wrong size, or one without EOS, is refused.
    var noEos = allowed; noEos[Int(eos)] = false
    #expect(throws: AlignError.self) {
        _ = try FreeGeneration.generate(decoder: ReferenceDecoder.hashed(vocabSize: V, seed: 77), prompts: prompts,
                                        maxNewTokens: 2, eosId: eos, allowed: noEos, rng: &r)
    }
    #expect(throws: AlignError.self) {
        _ = try FreeGeneration.generate(decoder: ReferenceDecoder.hashed(vocabSize: V, seed: 77), prompts: prompts,
                                        maxNewTokens: 2, eosId: eos, allowed: [true, true, true], rng: &r)
    }
}

@Test func textMaskKeepsTextAndEOSOnly() throws {
    let m = try tinyRecModel()
    let t = m.tokenizer
    let mask = FreeGeneration.textMask(t, vocabSize: m.config.vocabSize + 3)   // a padded model vocabulary
    #expect(mask.count == m.config.vocabSize + 3)
    #expect(mask[t.eosId!] && !mask[t.bosId!] && !mask[t.padId!])
    for id in 0..<t.vocabSize where t.isSIDToken(id) { #expect(!mask[id]) }
    let sidCount = (0..<t.vocabSize).filter { t.isSIDToken($0) }.count
    #expect(sidCount == m.sidMap.vocabulary.count)
    #expect(mask.filter { $0 }.count == t.vocabSize - sidCount - 2)   // every other tokenizer id is text
    #expect(!mask[t.vocabSize...].contains(true))
}

@Test func referenceDecoderEnforcesTheContract() throws {
    let d = ReferenceDecoder.hashed(vocabSize: 10, seed: 1)
    #expect(throws: AlignError.self) { try d.step(parents: [0], tokens: [1]) }          // before prefill
    _ = try d.prefill([[1, 2], [3]], width: 2)
    #expect(throws: AlignError.self) { try d.step(parents: [0, 0, 0, 3], tokens: [1, 1, 1, 1]) }   // row 2 → group 0
    #expect(throws: AlignError.self) { try d.step(parents: [0, 1, 2], tokens: [1, 1, 1]) }        // wrong row count
    #expect(throws: AlignError.self) { try d.step(parents: [0, 1, 2, 3], tokens: [1, 1, 1, 10]) } // token range
    _ = try d.step(parents: [1, 1, 3, 2], tokens: [5, 6, 7, 8])
    #expect(d.sequence(row: 0) == [1, 2, 5] && d.sequence(row: 1) == [1, 2, 6] && d.sequence(row: 3) == [3, 8])
}
