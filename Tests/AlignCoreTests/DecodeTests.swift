// KV-cache decoding: golden greedy decoding for both fixtures, batched groups/width/parents reordering
// against independent full forwards, the decode attention kernels against references, and the samplers.
import AlignCore
import Foundation
import TestSupport
import Testing

@Suite struct DecodeTests {
    @Test(arguments: LlamaGoldenTests.models) func greedyThroughKVCache(model: String) throws {
        let f = try LlamaFixture(model)
        let prompt = try f.golden.int32s("greedy.prompt"), expected = try f.golden.int32s("greedy.output")
        let dec = LlamaDecoder(params: f.params, maxGroups: 1, maxWidth: 1, maxPrompt: prompt.count, maxSuffix: expected.count)
        var logits = try dec.prefill([prompt], width: 1)
        var out: [Int32] = []
        for _ in 0..<expected.count {
            let t = TokenSampler.argmax(logits)
            out.append(t)
            logits = try dec.step(parents: [0], tokens: [t])
        }
        #expect(out == expected)
        let err = maxAbsDiff(Array(logits), try f.golden.floats("greedy.last_logits"))
        print("\(model): KV-cache greedy last-logits error \(err)")
        #expect(err <= 1e-4)
        // The generate helper gives the same tokens.
        var rng = Rng(seed: 1)
        let g = try generate(dec, prompt: prompt, maxNewTokens: expected.count,
                             sampler: TokenSampler(mode: .greedy, vocabSize: f.config.vocabSize), rng: &rng)
        #expect(g == expected)
    }

    @Test(arguments: LlamaGoldenTests.models) func batchedBeamsMatchFullForward(model: String) throws {
        let f = try LlamaFixture(model)
        let V = f.config.vocabSize, width = 3, steps = 4
        var rng = Rng(seed: 11)
        let prompts: [[Int32]] = [5, 11, 2].map { n in (0..<n).map { _ in Int32(rng.int(below: V)) } }
        let dec = LlamaDecoder(params: f.params, maxGroups: 4, maxWidth: 4, maxPrompt: 12, maxSuffix: steps)
        let tr = LlamaTrainer(params: f.params, maxBatch: 1, maxSeq: 12 + steps)
        func fullLogits(_ seq: [Int32]) throws -> [Float] {
            try tr.forward(tokens: seq, targets: [Int32](repeating: ignoreIndex, count: seq.count), batch: 1, seq: seq.count)
            return Array(tr.logits[(seq.count - 1) * V..<seq.count * V])
        }
        let pre = try dec.prefill(prompts, width: width)
        var worst: Float = 0
        for (g, p) in prompts.enumerated() {
            worst = max(worst, maxAbsDiff(Array(pre[g * V..<(g + 1) * V]), try fullLogits(p)))
        }
        var rows: [[Int32]] = (0..<(prompts.count * width)).map { prompts[$0 / width] }
        for _ in 0..<steps {
            let parents = rows.indices.map { r in (r / width) * width + rng.int(below: width) }
            let tokens = rows.indices.map { _ in Int32(rng.int(below: V)) }
            rows = rows.indices.map { r in rows[parents[r]] + [tokens[r]] }
            let logits = try dec.step(parents: parents, tokens: tokens)
            for r in rows.indices {
                worst = max(worst, maxAbsDiff(Array(logits[r * V..<(r + 1) * V]), try fullLogits(rows[r])))
            }
        }
        print("\(model): batched KV-cache vs full forward worst logit error \(worst)")
        #expect(worst <= 1e-4)
        #expect(throws: AlignError.self) { _ = try dec.step(parents: Array(0..<9), tokens: [Int32](repeating: 0, count: 9)) }
    }

    @Test(arguments: LlamaGoldenTests.models) func rangeRestrictedLogitsEqualFullSlice(model: String) throws {
        let f = try LlamaFixture(model)
        let V = f.config.vocabSize, width = 3, steps = 3
        var rng = Rng(seed: 17)
        let prompts: [[Int32]] = [4, 1, 9].map { n in (0..<n).map { _ in Int32(rng.int(below: V)) } }
        let full = LlamaDecoder(params: f.params, maxGroups: 3, maxWidth: 3, maxPrompt: 9, maxSuffix: steps)
        let part = LlamaDecoder(params: f.params, maxGroups: 3, maxWidth: 3, maxPrompt: 9, maxSuffix: steps)
        var worst: Float = 0
        func compare(_ all: UnsafeBufferPointer<Float>, _ sub: LogitRows, rows: Int, _ range: Range<Int>) {
            #expect(sub.tokens.lowerBound <= range.lowerBound && sub.tokens.upperBound >= range.upperBound)
            for r in 0..<rows {
                for v in range { worst = max(worst, abs(all[r * V + v] - sub[r, v])) }
            }
        }
        let r0 = 3..<(V / 2)
        compare(try full.prefill(prompts, width: width), try part.prefill(prompts, width: width, logitRange: r0), rows: 3, r0)
        for s in 0..<steps {
            let parents = (0..<9).map { r in (r / width) * width + rng.int(below: width) }
            let tokens = (0..<9).map { _ in Int32(rng.int(below: V)) }
            let range = [0..<V, (V - 5)..<V, 7..<8][s]
            compare(try full.step(parents: parents, tokens: tokens),
                    try part.step(parents: parents, tokens: tokens, logitRange: range), rows: 9, range)
        }
        print("\(model): range-restricted vs full logits worst error \(worst)")
        #expect(worst <= 1e-5)
        #expect(throws: AlignError.self) { _ = try part.prefill(prompts, width: 1, logitRange: 0..<(V + 1)) }
        #expect(throws: AlignError.self) { _ = try part.prefill(prompts, width: 1, logitRange: 5..<5) }
    }

    @Test(arguments: LlamaGoldenTests.models) func liveRowStepsEqualFullSteps(model: String) throws {
        // Rows drop out over the steps (never to return), the others keep continuing live rows of their group:
        // the live rows' logits equal those of a decoder computing every row.
        let f = try LlamaFixture(model)
        let V = f.config.vocabSize, width = 4, steps = 4, R = 3 * width
        var rng = Rng(seed: 23)
        let prompts: [[Int32]] = [5, 2, 8].map { n in (0..<n).map { _ in Int32(rng.int(below: V)) } }
        let full = LlamaDecoder(params: f.params, maxGroups: 3, maxWidth: width, maxPrompt: 8, maxSuffix: steps)
        let part = LlamaDecoder(params: f.params, maxGroups: 3, maxWidth: width, maxPrompt: 8, maxSuffix: steps)
        let range = 2..<(V - 3)
        _ = try full.prefill(prompts, width: width, logitRange: range)
        _ = try part.prefill(prompts, width: width, logitRange: range)
        var live = [Bool](repeating: true, count: R)
        var worst: Float = 0, checked = 0
        for s in 0..<steps {
            let wasLive = live
            // Each row continues a live row of its group (if any), then some rows stop for good.
            let parents = (0..<R).map { r -> Int in
                let g = r / width, cands = (0..<width).map { g * width + $0 }.filter { wasLive[$0] }
                return cands.isEmpty ? r : cands[rng.int(below: cands.count)]
            }
            for r in 0..<R where live[r] && (s > 0 && rng.int(below: 3) == 0 || r == 5) { live[r] = false }
            for r in 0..<R where !wasLive[parents[r]] { live[r] = false }
            let tokens = (0..<R).map { _ in Int32(rng.int(below: V)) }
            let a = try full.step(parents: parents, tokens: tokens, logitRange: range)
            let b = try part.step(parents: parents, tokens: tokens, logitRange: range, live: live)
            for r in 0..<R where live[r] {
                for v in range { worst = max(worst, abs(a[r, v] - b[r, v])) }
                checked += 1
            }
        }
        print("\(model): live-row vs every-row step worst logit error \(worst) over \(checked) rows")
        #expect(checked >= 12 && checked < steps * R)
        #expect(worst <= 1e-5)
        // A live row may not continue a row the last step skipped.
        _ = try part.prefill(prompts, width: width, logitRange: range)
        var l2 = [Bool](repeating: true, count: R); l2[1] = false
        _ = try part.step(parents: Array(0..<R), tokens: [Int32](repeating: 1, count: R), logitRange: range, live: l2)
        var p2 = Array(0..<R); p2[2] = 1
        #expect(throws: AlignError.self) {
            _ = try part.step(parents: p2, tokens: [Int32](repeating: 1, count: R), logitRange: range, live: [Bool](repeating: true, count: R))
        }
        #expect(throws: AlignError.self) {
            _ = try part.step(parents: Array(0..<R), tokens: [Int32](repeating: 1, count: R), logitRange: range, live: [true])
        }
    }

    @Test func decoderRejectsBadRequests() throws {
        let f = try LlamaFixture("llama-tiny")
        let dec = LlamaDecoder(params: f.params, maxGroups: 2, maxWidth: 2, maxPrompt: 4, maxSuffix: 2)
        #expect(throws: AlignError.self) { _ = try dec.step(parents: [0], tokens: [1]) }
        #expect(throws: AlignError.self) { _ = try dec.prefill([[1, 2, 3, 4, 5]], width: 1) }
        #expect(throws: AlignError.self) { _ = try dec.prefill([[1, 99999]], width: 1) }
        #expect(throws: AlignError.self) { _ = try dec.prefill([[1], []], width: 1) }
        _ = try dec.prefill([[1, 2], [3]], width: 2)
        #expect(throws: AlignError.self) { _ = try dec.step(parents: [2, 1, 2, 3], tokens: [1, 1, 1, 1]) }
    }

    @Test func stepAttentionMatchesReference() {
        var rng = Rng(seed: 12)
        let groups = 2, width = 3, H = 4, KV = 2, hd = 4, kvW = KV * hd, pStride = 6, sStride = 3, S = 2
        let pk = randn(groups * pStride * kvW, &rng), pv = randn(groups * pStride * kvW, &rng)
        let sk = randn(groups * width * sStride * kvW, &rng), sv = randn(groups * width * sStride * kvW, &rng)
        let qStride = H * hd + 5
        let q = randn(groups * width * qStride, &rng)
        let lens = [6, 2]
        var o1 = [Float](repeating: 0, count: groups * width * H * hd), o2 = o1
        var scratch = [Float](repeating: 0, count: groups * H * width * (pStride + sStride))
        lens.withUnsafeBufferPointer { lp in
            let view = DecodeCacheView(promptK: pk, promptV: pv, promptStride: pStride, promptLengths: lp.baseAddress!,
                                       suffixK: sk, suffixV: sv, suffixStride: sStride, suffixLength: S)
            attentionStep(&o1, &scratch, q, qStride, view, groups: groups, width: width, heads: H, kvHeads: KV, headDim: hd)
            attentionStepNaive(&o2, q, qStride, view, groups: groups, width: width, heads: H, kvHeads: KV, headDim: hd)
        }
        #expect(maxAbsDiff(o1, o2) < 1e-5)
        // Compact rows: group 0 keeps rows 0 and 2, group 1 only row 4; their queries packed in that order.
        let rowIds: [Int32] = [0, 2, 4], groupStart = [0, 2, 3]
        var qc = [Float](repeating: 0, count: 3 * qStride)
        for (i, r) in rowIds.enumerated() { for c in 0..<qStride { qc[i * qStride + c] = q[Int(r) * qStride + c] } }
        var o3 = [Float](repeating: .nan, count: 3 * H * hd)
        lens.withUnsafeBufferPointer { lp in
            let view = DecodeCacheView(promptK: pk, promptV: pv, promptStride: pStride, promptLengths: lp.baseAddress!,
                                       suffixK: sk, suffixV: sv, suffixStride: sStride, suffixLength: S)
            attentionStep(&o3, &scratch, qc, qStride, view, groups: groups, groupStart: groupStart, rowIds: rowIds,
                          heads: H, kvHeads: KV, headDim: hd)
        }
        var worst: Float = 0
        for (i, r) in rowIds.enumerated() {
            for c in 0..<(H * hd) { worst = max(worst, abs(o3[i * H * hd + c] - o2[Int(r) * H * hd + c])) }
        }
        #expect(worst < 1e-5)
    }

    @Test func prefillAttentionMatchesTrainingReference() {
        var rng = Rng(seed: 13)
        let H = 4, KV = 2, hd = 4, W = (H + 2 * KV) * hd, lens = [3, 7], starts = [0, 3]
        let qkv = randn(10 * W, &rng)
        var out = [Float](repeating: 0, count: 10 * H * hd), scratch = [Float](repeating: 0, count: 2 * H * 49)
        attentionPrefill(&out, &scratch, qkv, starts, lens, heads: H, kvHeads: KV, headDim: hd, maxLen: 7)
        for (s, T) in lens.enumerated() {
            var ref = [Float](repeating: 0, count: T * H * hd), p = [Float](repeating: 0, count: H * T * T)
            let shape = AttentionShape(batch: 1, seq: T, heads: H, kvHeads: KV, headDim: hd)
            attentionForwardNaive(&ref, &p, Array(qkv[(starts[s] * W)..<((starts[s] + T) * W)]), shape)
            #expect(maxAbsDiff(Array(out[(starts[s] * H * hd)..<((starts[s] + T) * H * hd)]), ref) < 1e-5)
        }
    }

    @Test func samplers() throws {
        let logits: [Float] = [1.0, 2.0, 0.5, 2.0, -1.0]
        var rng = Rng(seed: 5)
        try logits.withUnsafeBufferPointer { row in
            #expect(TokenSampler.argmax(row) == 1)
            let greedy = try TokenSampler(mode: .greedy, vocabSize: 5)
            #expect(greedy.sample(row, rng: &rng) == 1)
            // Temperature 0.7 over the full vocabulary: frequencies follow softmax(logits / 0.7).
            let s = try TokenSampler(mode: .sample(temperature: 0.7, topK: 0, topP: 1), vocabSize: 5)
            var counts = [Int](repeating: 0, count: 5)
            let n = 20000
            for _ in 0..<n { counts[Int(s.sample(row, rng: &rng))] += 1 }
            let e = logits.map { exp(Double($0) / 0.7) }, z = e.reduce(0, +)
            for i in 0..<5 { #expect(abs(Double(counts[i]) / Double(n) - e[i] / z) < 0.015, "token \(i)") }
            // top-k 2 keeps only the two best (ids 1 and 3).
            let k2 = try TokenSampler(mode: .sample(temperature: 1, topK: 2, topP: 1), vocabSize: 5)
            for _ in 0..<500 { #expect([1, 3].contains(k2.sample(row, rng: &rng))) }
            // top-p 0.5: token 1 alone has ~0.36, 1+3 reach 0.72 → {1, 3}.
            let p5 = try TokenSampler(mode: .sample(temperature: 1, topK: 0, topP: 0.5), vocabSize: 5)
            for _ in 0..<500 { #expect([1, 3].contains(p5.sample(row, rng: &rng))) }
            // Same seed, same draws.
            var a = Rng(seed: 9), b = Rng(seed: 9)
            #expect((0..<50).map { _ in s.sample(row, rng: &a) } == (0..<50).map { _ in s.sample(row, rng: &b) })
        }
        #expect(throws: AlignError.self) { _ = try TokenSampler(mode: .sample(temperature: 0, topK: 0, topP: 1), vocabSize: 5) }
        #expect(throws: AlignError.self) { _ = try TokenSampler(mode: .sample(temperature: 1, topK: 0, topP: 1.5), vocabSize: 5) }
    }

    @Test func generateStopsAtEos() throws {
        let f = try LlamaFixture("llama-tiny")
        let dec = LlamaDecoder(params: f.params, maxGroups: 1, maxWidth: 1, maxPrompt: 32, maxSuffix: 16)
        let prompt = try f.golden.int32s("greedy.prompt"), expected = try f.golden.int32s("greedy.output")
        var rng = Rng(seed: 0)
        let g = try generate(dec, prompt: prompt, maxNewTokens: 10, sampler: TokenSampler(mode: .greedy, vocabSize: f.config.vocabSize),
                             rng: &rng, eos: expected[2])
        #expect(g == Array(expected[0...2]))
    }
}
