// Item memory: the SID scan finds items exactly where their SIDs complete; the SFT objective with the item head
// (token CE + λ · item CE) matches central finite differences in every tensor, the residuals included; cold items'
// residuals are never added nor trained; the data-parallel trainer equals the plain one; the KV-cached decoder adds
// the same residuals (prompt and generated) as the trainer, and its prompt hidden state scores items as the head does.
import AlignCore
import Foundation
import TestSupport
import Testing

/// A small model over 30 tokens: 0–9 text, 10–17 level-0 codes, 18–25 level-1 codes, 26–29 spare; 12 items.
struct ItemWorld {
    static let sids: [[Int32]] = (0..<12).map { (k: Int) -> [Int32] in
        let a: Int = 10 + k % 8, b: Int = 18 + (k / 8 + k * 3) % 8
        return [Int32(a), Int32(b)]
    }
    let config = LlamaConfig(vocabSize: 30, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 2, numAttentionHeads: 2,
                             numKeyValueHeads: 1, maxPositionEmbeddings: 64, tieWordEmbeddings: true)
    let table: ItemTable
    let params: LlamaParameters

    init(warm: [Bool]? = nil, seed: UInt64 = 3, carry: Bool = false, untied: Bool = false) throws {
        table = try ItemTable(sids: ItemWorld.sids, vocabSize: 30, warm: warm, carry: carry)
        let base = LlamaParameters(config: config, seed: seed, std: 0.3)
        let zeros = [Float](repeating: 0, count: 12 * 8)
        params = try ItemMemoryFile.attach(zeros, input: untied ? zeros : nil, items: 12, to: base)
        ItemMemoryFile.initialise(params, items: table, seed: seed, std: 0.3)
    }

    /// Text, then items as consecutive SIDs; inputs/targets shifted, every SID token after the first text trained.
    static func sequence(_ items: [Int], text: [Int32] = [1, 4, 2]) -> (tokens: [Int32], targets: [Int32]) {
        var ids = text
        for i in items { ids += sids[i - 1] }
        ids.append(3)
        let inputs = Array(ids.dropLast())
        let targets = (0..<inputs.count).map { t -> Int32 in t + 1 >= text.count ? ids[t + 1] : ignoreIndex }
        return (inputs, targets)
    }
}

/// Central differences of `objective` at each probed parameter against the backward's gradient `g`.
func expectCentralDifferences(_ params: LlamaParameters, probes: [(String, Int)], grads g: [Float], h: Float,
                              _ objective: () throws -> Double) throws {
    for (name, i) in probes {
        let saved = params.data[i]
        params.data[i] = saved + h; let up = try objective()
        params.data[i] = saved - h; let down = try objective()
        params.data[i] = saved
        let fd = (up - down) / Double(2 * h)
        #expect(abs(fd - Double(g[i])) <= 1e-3 + 2e-2 * abs(fd), "\(name) @\(i): fd \(fd) vs \(g[i])")
    }
}

@Suite struct ItemMemoryTests {
    @Test func carryReachesTheTextAfterAnItemOnly() throws {
        let w = try ItemTable(sids: ItemWorld.sids, vocabSize: 30, carry: true)
        let tokens: [Int32] = [1, 10, 18, 4, 5, 11, 6, 11, 21, 12, 24, 3]
        var s = ItemTable.Scan()
        #expect(tokens.map { w.inputItem(&s, $0) } == [0, 0, 1, 1, 1, 0, 0, 0, 2, 0, 3, 3])
        let off = try ItemTable(sids: ItemWorld.sids, vocabSize: 30)
        var s2 = ItemTable.Scan()
        #expect(tokens.map { off.inputItem(&s2, $0) } == off.completions(tokens))
    }

    @Test func scanFindsItemsWhereTheirSIDsComplete() throws {
        let w = try ItemWorld()
        #expect(w.table.sid(1) == [10, 18] && w.table.sid(2) == [11, 21] && w.table.sid(3) == [12, 24])
        let tokens: [Int32] = [1, 10, 18, 11, 21, 5, 21, 11, 11, 21, 12]
        #expect(w.table.completions(tokens) == [0, 0, 1, 0, 2, 0, 0, 0, 0, 2, 0])
        var tgt = [Int32](repeating: ignoreIndex, count: tokens.count)
        for t in 0..<(tokens.count - 1) { tgt[t] = tokens[t + 1] }
        tgt[2] = ignoreIndex   // position 2 is not trained: no head row for item 2 there
        let comp = w.table.completions(tokens)
        var head = [Int32](repeating: -1, count: tokens.count)
        comp.withUnsafeBufferPointer { c in tokens.withUnsafeBufferPointer { tk in tgt.withUnsafeBufferPointer { tg in
            head.withUnsafeMutableBufferPointer { h in
                w.table.headTargets(completions: c.baseAddress!, tokens: tk.baseAddress!, targets: tg.baseAddress!,
                                    batch: 1, seq: tokens.count, into: h.baseAddress!)
            }
        } } }
        #expect(head == [1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0])
        #expect(throws: AlignError.self) { try ItemTable(sids: [[10, 18], [10, 18]], vocabSize: 30) }
        #expect(throws: AlignError.self) { try ItemTable(sids: [[10, 18], [18, 10]], vocabSize: 30) }
    }

    /// Central differences of token CE + λ · item CE against the backward, in every LLaMA tensor and in the rows of
    /// the items the batch uses.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func sftObjectiveMatchesFiniteDifferences(carry: Bool, untied: Bool) throws {
        let w = try ItemWorld(warm: (0..<12).map { $0 != 4 }, carry: carry, untied: untied)   // item 5 cold
        var a = ItemWorld.sequence([1, 2, 5, 3]), b = ItemWorld.sequence([6, 5, 7], text: [2, 2, 9])
        a.tokens += [4, 7]; a.targets += [7, 2]   // text after the last item: carried to with `carry`
        let T = a.tokens.count
        let tok = a.tokens + b.tokens + [Int32](repeating: 0, count: T - b.tokens.count)
        let tgt = a.targets + b.targets + [Int32](repeating: ignoreIndex, count: T - b.targets.count)
        let tr = LlamaTrainer(params: w.params, maxBatch: 2, maxSeq: T, items: w.table)
        tr.itemHead = true
        let lambda: Float = 0.7
        func objective() throws -> Double {
            try tr.forward(tokens: tok, targets: tgt, batch: 2, seq: T)
            return Double(tr.meanCrossEntropy()) + Double(lambda) * Double(tr.meanItemCrossEntropy())
        }
        _ = try objective()
        #expect(tr.itemHeadRows == 7)   // one per item occurrence (all trained)
        tr.zeroGrads()
        try tr.backwardMeanCrossEntropy(itemWeight: lambda)
        let g = Array(tr.grads)
        var rng = Rng(seed: 9)
        let h: Float = 2e-3
        var probes: [(String, Int)] = []
        for t in w.params.layout.tensors { for _ in 0..<3 { probes.append((t.name, t.offset + rng.int(below: t.count))) } }
        let im = w.params.layout.itemMemory!
        #expect((w.params.layout.itemInput != nil) == untied)
        for item in [1, 2, 3, 6, 7, 9] { for j in [0, 5] { probes.append(("residual[\(item)]", im.offset + (item - 1) * 8 + j)) } }
        if let u = w.params.layout.itemInput {
            for item in [1, 2, 3, 6, 7, 9] { for j in [0, 5] { probes.append(("input[\(item)]", u.offset + (item - 1) * 8 + j)) } }
        }
        try expectCentralDifferences(w.params, probes: probes, grads: g, h: h, objective)
        // Item 9 appears nowhere, but is a head negative: its warm residual gets a gradient; cold item 5 gets none.
        #expect(g[im.offset + 8 * 8] != 0)
        #expect(g[(im.offset + 4 * 8)..<(im.offset + 5 * 8)].allSatisfy { $0 == 0 })
        if let u = w.params.layout.itemInput {
            // Untied: the input residual of item 9 (never in an input) and of cold item 5 get no gradient at all.
            #expect(g[(u.offset + 8 * 8)..<(u.offset + 9 * 8)].allSatisfy { $0 == 0 })
            #expect(g[(u.offset + 4 * 8)..<(u.offset + 5 * 8)].allSatisfy { $0 == 0 })
            #expect(g[(u.offset + 0 * 8)..<(u.offset + 1 * 8)].contains { $0 != 0 })   // item 1 is an input
        }
    }

    /// Central differences of Σ a_t · logp_t + Σ_r c_r · log p_head(r) (random per-token and per-head-row weights, what
    /// DPO and GRPO back-propagate for the item-memory mix) against `backward(weights:itemHeadWeights:)`.
    @Test func perRowItemHeadWeightsMatchFiniteDifferences() throws {
        let w = try ItemWorld(warm: (0..<12).map { $0 != 6 })   // item 7 cold
        let a = ItemWorld.sequence([1, 2, 7]), b = ItemWorld.sequence([6, 3], text: [2, 9])
        let T = a.tokens.count
        let tok = a.tokens + b.tokens + [Int32](repeating: 0, count: T - b.tokens.count)
        let tgt = a.targets + b.targets + [Int32](repeating: ignoreIndex, count: T - b.targets.count)
        let tr = LlamaTrainer(params: w.params, maxBatch: 2, maxSeq: T, items: w.table)
        tr.itemHead = true
        try tr.forward(tokens: tok, targets: tgt, batch: 2, seq: T)
        let rows = tr.itemHeadRows
        #expect(rows == 5)
        var rng = Rng(seed: 21)
        let tw = (0..<(2 * T)).map { _ in Float(rng.normal()) }
        let hw = (0..<rows).map { _ in Float(rng.normal()) }
        func objective() throws -> Double {
            try tr.forward(tokens: tok, targets: tgt, batch: 2, seq: T)
            var s = 0.0
            for (i, x) in tr.tokenLogProbs.enumerated() where tgt[i] != ignoreIndex { s += Double(tw[i]) * Double(x) }
            for (r, h) in tr.itemHeadLogProbs.enumerated() { s += Double(hw[r]) * Double(h.logp) }
            return s
        }
        _ = try objective()
        tr.zeroGrads()
        try tr.backward(weights: tw, itemHeadWeights: hw)
        let g = Array(tr.grads)
        #expect(throws: AlignError.self) { try tr.backward(weights: tw, itemHeadWeights: [1]) }
        let h: Float = 2e-3
        var probes: [(String, Int)] = []
        for t in w.params.layout.tensors { for _ in 0..<3 { probes.append((t.name, t.offset + rng.int(below: t.count))) } }
        let im = w.params.layout.itemMemory!
        for item in [1, 2, 3, 6, 10] { for j in [1, 6] { probes.append(("residual[\(item)]", im.offset + (item - 1) * 8 + j)) } }
        try expectCentralDifferences(w.params, probes: probes, grads: g, h: h, objective)
        // Head weights alone (token weights 0) still reach the residuals of items that only appear as head negatives.
        try tr.forward(tokens: tok, targets: tgt, batch: 2, seq: T)
        tr.zeroGrads()
        try tr.backward(weights: [Float](repeating: 0, count: 2 * T), itemHeadWeights: hw)
        #expect(tr.grads[im.offset + 9 * 8] != 0)                                       // item 10: a negative only
        #expect(tr.grads[(im.offset + 6 * 8)..<(im.offset + 7 * 8)].allSatisfy { $0 == 0 })   // cold item 7
    }

    /// `itemHeadTrunkGradient` changes only the head's path into the transformer. `none`: every transformer tensor
    /// gets exactly the token loss's gradient. `balanced`: a sample whose token loss has no gradient passes none of its
    /// head's; a sample whose token gradient dwarfs its head's passes all of it (as `full`); otherwise something in
    /// between. The item vectors' gradients are the same in every mode.
    @Test func itemHeadTrunkGradientChangesOnlyTheTransformerPath() throws {
        let w = try ItemWorld(untied: true)
        let a = ItemWorld.sequence([1, 2, 5, 3]), b = ItemWorld.sequence([6, 4, 7], text: [2, 2, 9])
        let T = a.tokens.count
        let tok = a.tokens + b.tokens + [Int32](repeating: 0, count: T - b.tokens.count)
        let tgt = a.targets + b.targets + [Int32](repeating: ignoreIndex, count: T - b.targets.count)
        let tr = LlamaTrainer(params: w.params, maxBatch: 2, maxSeq: T, items: w.table)
        tr.itemHead = true
        var rng = Rng(seed: 5)
        let tw0 = (0..<(2 * T)).map { _ in Float(rng.normal()) }
        try tr.forward(tokens: tok, targets: tgt, batch: 2, seq: T)
        let hw0 = (0..<tr.itemHeadRows).map { _ in -Float(rng.uniform()) }
        func grads(_ mode: ItemHeadTrunkGradient, token: Float, head: Float) throws -> [Float] {
            tr.itemHeadTrunkGradient = mode
            try tr.forward(tokens: tok, targets: tgt, batch: 2, seq: T)
            tr.zeroGrads()
            try tr.backward(weights: tw0.map { $0 * token }, itemHeadWeights: hw0.map { $0 * head })
            return Array(tr.grads)
        }
        let lay = w.params.layout, vectors = lay.itemMemory!.range
        let trunk = lay.tensors.filter { $0.offset != lay.lmHead }.flatMap { Array($0.range) }   // all but the tied SID rows
        func same(_ x: [Float], _ y: [Float], _ idx: [Int]) -> Bool {
            idx.allSatisfy { abs(x[$0] - y[$0]) <= 1e-6 * max(1, abs(y[$0])) }
        }
        // none: the transformer gets the token loss's gradient only; the vectors get the head's.
        let tokenOnly = try grads(.full, token: 1, head: 0)
        let full = try grads(.full, token: 1, head: 1), none = try grads(.none, token: 1, head: 1)
        #expect(same(none, tokenOnly, trunk))
        #expect(!same(full, tokenOnly, trunk))   // the head does reach the transformer at full
        let balanced = try grads(.balanced, token: 1, head: 1)
        for g in [none, balanced] { #expect(same(g, full, Array(vectors))) }
        #expect(!same(balanced, full, trunk) && !same(balanced, none, trunk))
        // No token gradient: balanced passes nothing of the head into the transformer.
        #expect(same(try grads(.balanced, token: 0, head: 1), try grads(.none, token: 0, head: 1), trunk))
        // A token gradient far larger than the head's: balanced passes all of it.
        #expect(same(try grads(.balanced, token: 1e4, head: 1e-3), try grads(.full, token: 1e4, head: 1e-3), trunk))
    }

    @Test func coldItemsAreNeverAdded() throws {
        let warm = try ItemWorld(), cold = try ItemWorld(warm: [Bool](repeating: false, count: 12))
        // A cold table leaves the input as the plain LLaMA's: same log-probs as a trainer without item memory.
        let s = ItemWorld.sequence([1, 2, 3])
        let plain = LlamaParameters(config: warm.config)
        plain.data.baseAddress!.update(from: warm.params.data.baseAddress!, count: warm.params.layout.llamaCount)
        let t0 = LlamaTrainer(params: plain, maxBatch: 1, maxSeq: s.tokens.count)
        try t0.forward(tokens: s.tokens, targets: s.targets, batch: 1, seq: s.tokens.count)
        let t1 = LlamaTrainer(params: cold.params, maxBatch: 1, maxSeq: s.tokens.count, items: cold.table)
        try t1.forward(tokens: s.tokens, targets: s.targets, batch: 1, seq: s.tokens.count)
        let t2 = LlamaTrainer(params: warm.params, maxBatch: 1, maxSeq: s.tokens.count, items: warm.table)
        try t2.forward(tokens: s.tokens, targets: s.targets, batch: 1, seq: s.tokens.count)
        #expect(Array(t0.tokenLogProbs) == Array(t1.tokenLogProbs))
        #expect(maxAbsDiff(Array(t0.tokenLogProbs), Array(t2.tokenLogProbs)) > 1e-4)
    }

    @Test(arguments: ItemHeadTrunkGradient.allCases)
    func dataParallelEqualsThePlainTrainer(trunk: ItemHeadTrunkGradient) throws {
        let w = try ItemWorld()
        let seqs = [ItemWorld.sequence([1, 2, 3, 4]), ItemWorld.sequence([5, 6]), ItemWorld.sequence([7, 8, 9]), ItemWorld.sequence([10])]
        let T = seqs.map(\.tokens.count).max()!
        var tok: [Int32] = [], tgt: [Int32] = []
        for s in seqs {
            tok += s.tokens + [Int32](repeating: 0, count: T - s.tokens.count)
            tgt += s.targets + [Int32](repeating: ignoreIndex, count: T - s.targets.count)
        }
        let plain = LlamaTrainer(params: w.params, maxBatch: 4, maxSeq: T, items: w.table)
        plain.itemHead = true; plain.logitsForAllPositions = false; plain.itemHeadTrunkGradient = trunk
        try plain.forward(tokens: tok, targets: tgt, batch: 4, seq: T)
        plain.zeroGrads()
        try plain.backwardMeanCrossEntropy(itemWeight: 0.5)
        let dp = DataParallelTrainer(params: w.params, maxBatch: 4, maxSeq: T, items: w.table, workers: 2)
        dp.itemHead = true; dp.logitsForAllPositions = false; dp.itemHeadTrunkGradient = trunk
        dp.zeroGrads()
        try dp.forward(tokens: tok, targets: tgt, batch: 4, seq: T)
        #expect(dp.itemHeadRows == plain.itemHeadRows && dp.itemHeadRows == 10)
        #expect(abs(dp.meanItemCrossEntropy() - plain.meanItemCrossEntropy()) < 1e-5)
        try dp.backwardMeanCrossEntropy(itemWeight: 0.5)
        #expect(maxAbsDiff(Array(dp.grads), Array(plain.grads)) < 1e-5)
    }

    /// Prefill + steps through the KV cache give the trainer's logits, with items completing in the prompt and in the
    /// generated continuation; the prompt hidden state scores items as the trainer's head does.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func decoderAddsTheSameResidualsAsTheTrainer(carry: Bool, untied: Bool) throws {
        let w = try ItemWorld(carry: carry, untied: untied)
        let full = ItemWorld.sequence([3, 1, 2]).tokens + [5, 6, 7]   // [1,4,2, 12,24, 10,18, 11,21, 3, 5, 6, 7]
        let tr = LlamaTrainer(params: w.params, maxBatch: 1, maxSeq: full.count, items: w.table)
        try tr.forward(tokens: full, targets: [Int32](repeating: ignoreIndex, count: full.count), batch: 1, seq: full.count)
        let want = Array(tr.logits)
        let V = w.config.vocabSize, P = 6   // prompt ends inside item 1's SID: the scan state must carry over
        let dec = LlamaDecoder(params: w.params, maxGroups: 1, maxWidth: 2, maxPrompt: P, maxSuffix: 8, items: w.table)
        let first = Array(try dec.prefill([Array(full[0..<P])], width: 2))
        #expect(maxAbsDiff(first, Array(want[((P - 1) * V)..<(P * V)])) < 1e-4)
        for (k, t) in full[P...].enumerated() {
            let out = Array(try dec.step(parents: [0, 0], tokens: [t, 5]))
            #expect(maxAbsDiff(Array(out[0..<V]), Array(want[((P + k) * V)..<((P + k + 1) * V)])) < 1e-4, "step \(k)")
        }
        // The head at position 4 (before item 1's first token) against a decoder prefilled with full[0...4].
        let h = ItemWorld.sequence([3, 1])
        let tr2 = LlamaTrainer(params: w.params, maxBatch: 1, maxSeq: h.tokens.count, items: w.table)
        tr2.itemHead = true
        try tr2.forward(tokens: h.tokens, targets: h.targets, batch: 1, seq: h.tokens.count)
        let row = tr2.itemHeadLogProbs.first { $0.position == 4 }!
        _ = try dec.prefill([Array(h.tokens[0...4])], width: 1)
        let scorer = try ItemScorer(params: w.params, items: w.table)
        let lp = Array(dec.promptHidden).withUnsafeBufferPointer { scorer.logProbs(hidden: $0.baseAddress!, rows: 1) }
        #expect(abs(lp[0] - row.logp) < 1e-4)   // item 1 is the target there
    }

    @Test(arguments: [false, true])
    func itemMemoryFileRoundTrips(untied: Bool) throws {
        let w = try ItemWorld(warm: (0..<12).map { $0 % 3 != 0 }, untied: untied)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-im-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(ItemMemoryFile.fileName)
        try ItemMemoryFile.write(params: w.params, items: w.table, to: url)
        let (t, r, input) = try ItemMemoryFile.read(url, vocabSize: 30, hiddenSize: 8)
        #expect(t == w.table)
        let im = w.params.layout.itemMemory!
        #expect(r == Array(w.params.data[im.range]))
        #expect(input == w.params.layout.itemInput.map { Array(w.params.data[$0.range]) })
        if let input { #expect(input != r) }   // their own initialisation
        let back = try ItemMemoryFile.attach(r, input: input, items: 12, to: LlamaParameters(config: w.config, seed: 3, std: 0.3))
        #expect(Array(back.data) == Array(w.params.data))
        #expect(throws: AlignError.self) { _ = try ItemMemoryFile.read(url, vocabSize: 30, hiddenSize: 16) }
        #expect(throws: AlignError.self) { _ = try ItemMemoryFile.read(url, vocabSize: 20, hiddenSize: 8) }
    }
}
