// Translation accuracy over the whole catalogue with the tasks' evaluation templates:
// - sid2title: greedy free generation (FreeGeneration over the text tokens: SID, padding and BOS tokens masked,
//   as no title contains them; until EOS) decoded to text must equal the item's display title exactly;
// - sid2title over the catalogue's titles: the same prompts, decoded by trie-constrained beam search over the token
//   ids of every catalogue title + EOS (the title2sid search's counterpart for text), top-1 must carry the item's
//   title (items sharing a title share a leaf; the title decides);
// - title2sid: trie-constrained beam search top-1 (beam 1 = constrained greedy) must return the item itself; a model
//   with item memory answers with the top item of its ranking mix (HybridRanking.swift) at its SID weight.
// In a data-parallel job (Cluster.world) each rank decodes a contiguous share of the batches and the per-item
// results are gathered in item order: the same batches as one process, so the same answers.
import Foundation

/// Exact-match accuracies over catalogue items.
public struct TranslationAccuracy: Codable, Sendable, Equatable {
    /// Items evaluated.
    public var items: Int
    /// Share of items whose generated title equals the display title.
    public var sid2title: Double
    /// Share of items whose top-1 title, decoded under the constraint of the catalogue's titles, is their title
    /// (nil in reports written before it was measured).
    public var sid2titleCatalogue: Double?
    /// " (over the catalogue's titles 0.9811)", or "" when not measured: how reports print it beside sid2title.
    public var catalogueText: String {
        sid2titleCatalogue.map { String(format: " (over the catalogue's titles %.4f)", $0) } ?? ""
    }
    /// Share of items whose top-1 constrained SID is their own.
    public var title2sid: Double
    /// Beam width used for title2sid.
    public var beam: Int
    /// A few sid2title misses (item, expected, generated) for inspection.
    public var sid2titleMisses: [String]

    enum CodingKeys: String, CodingKey { case items, sid2title, title2sid, beam, sid2titleMisses = "sid2title_misses"
                               case sid2titleCatalogue = "sid2title_catalogue" }
}

/// Runs the two translation evaluations.
public enum TranslationEval {
    /// Evaluates all catalogue items (or the first `maxItems` when > 0), `batch` prompts at a time.
    public static func run(model: RecModel, beam: Int = 1, maxItems: Int = 0, batch: Int = 64, progress: Bool) throws -> TranslationAccuracy {
        guard beam >= 1 else { throw AlignError.invalidArgument("translation beam must be ≥ 1 (got \(beam))") }
        let tok = model.instructionTokenizer
        var items = model.builder.itemIndices
        if maxItems > 0 && maxItems < items.count { items = Array(items.prefix(maxItems)) }
        let titleSearch = ConstrainedBeamSearch(trie: try titleTrie(model: model, tokenizer: tok))
        let maxTitle = titleSearch.trie.maxDepth   // the longest catalogue title's tokens + EOS
        let s2tPrompts = try items.map { try model.builder.encodePrompt(model.builder.evalExample(.sid2title, item: $0).prompt, tokenizer: tok) }
        let t2sPrompts = try items.map { try model.builder.encodePrompt(model.builder.evalExample(.title2sid, item: $0).prompt, tokenizer: tok) }
        let maxPrompt = max(s2tPrompts.map(\.count).max() ?? 1, t2sPrompts.map(\.count).max() ?? 1)
        let maxNew = maxTitle + 8
        let sidLen = model.sidMap.levels + 1
        guard maxPrompt + maxNew <= model.params.config.maxPositionEmbeddings else {
            throw AlignError.invalidArgument("translation prompts need \(maxPrompt + maxNew) positions, the model has \(model.params.config.maxPositionEmbeddings)")
        }
        let decoder = try LlamaDecoder.planned(params: model.params, maxGroups: batch, maxWidth: beam, maxPrompt: maxPrompt,
                                               maxSuffix: max(maxNew, sidLen), purpose: "translation evaluation with beam \(beam)",
                                               items: model.itemTable, precision: model.precision)
        let search = ConstrainedBeamSearch(trie: model.trie)
        let scorer = try model.itemTable.map { try ItemScorer(params: model.params, items: $0) }
        let sidWeight = model.itemMemoryInfo?.sidWeight ?? 0
        let cluster = Cluster.world, share = cluster.share(of: items.count, inBlocksOf: batch)
        let lo = share.lowerBound, hi = share.upperBound
        let bar = progress ? ProgressBar(total: 3 * (hi - lo), label: "translate", unit: "items", announce: false) : nil
        var hits: [UInt8] = []   // per item of this rank's share: 1 = sid2title hit, 2 = title2sid, 4 = catalogue sid2title
        var misses: [String] = []
        var rng = Rng(seed: 0)   // unused: greedy
        let textTokens = FreeGeneration.textMask(model.tokenizer, vocabSize: model.config.vocabSize)
        var start = lo
        while start < hi {
            let end = min(hi, start + batch)
            hits += [UInt8](repeating: 0, count: end - start)
            let gen = try FreeGeneration.generate(decoder: decoder, prompts: Array(s2tPrompts[start..<end]), maxNewTokens: maxNew,
                                                  eosId: tok.eosId, temperature: 0, allowed: textTokens, rng: &rng)
            for (j, ids) in gen.enumerated() {
                let item = items[start + j]
                let text = try model.tokenizer.decode(ids, skipSpecial: false)
                if text == model.builder.titles[item]! { hits[start - lo + j] |= 1 } else if misses.count < 20 {
                    misses.append("\(item): expected \"\(model.builder.titles[item]!)\", got \"\(text)\"")
                }
            }
            bar?.advance(end - start)
            let titled = try titleSearch.search(decoder: decoder, prompts: Array(s2tPrompts[start..<end]), beamWidth: beam, topK: 1)
            for (j, list) in titled.enumerated() {
                if let got = list.first?.item, model.builder.titles[got] == model.builder.titles[items[start + j]] { hits[start - lo + j] |= 4 }
            }
            bar?.advance(end - start)
            var top = try search.search(decoder: decoder, prompts: Array(t2sPrompts[start..<end]), beamWidth: beam, topK: 1)
            if let scorer {
                let logp = Array(decoder.promptHidden).withUnsafeBufferPointer { scorer.logProbs(hidden: $0.baseAddress!, rows: end - start) }
                let n = scorer.items.count
                top = logp.withUnsafeBufferPointer { lp in
                    top.enumerated().map { j, list in
                        HybridCandidates(beam: list, headLogProbs: UnsafeBufferPointer(rebasing: lp[(j * n)..<((j + 1) * n)]), exclude: [], k: 1)
                            .ranked(sidWeight: sidWeight, k: 1)
                    }
                }
            }
            for (j, list) in top.enumerated() where list.first?.item == items[start + j] { hits[start - lo + j] |= 2 }
            bar?.advance(end - start)
            start = end
        }
        bar?.finish()
        hits = try cluster.gather(hits)
        misses = Array(try cluster.gatherEncoded(misses).prefix(20))
        let n = Double(max(items.count, 1))
        let s2tHits = hits.filter { $0 & 1 != 0 }.count, t2sHits = hits.filter { $0 & 2 != 0 }.count
        let catHits = hits.filter { $0 & 4 != 0 }.count
        return TranslationAccuracy(items: items.count, sid2title: Double(s2tHits) / n, sid2titleCatalogue: Double(catHits) / n,
                                   title2sid: Double(t2sHits) / n, beam: beam, sid2titleMisses: misses)
    }

    /// Every catalogue title's token ids (as the sid2title response encodes them) + EOS as a trie; items with the same
    /// title share the first one's leaf, titles that encode to no tokens are left out.
    public static func titleTrie(model: RecModel, tokenizer tok: some TokenizerProtocol) throws -> SIDTrie {
        var seen = Set<[Int32]>()
        var entries: [(item: Int, tokens: [Int32])] = []
        for item in model.builder.itemIndices {
            let ids = try tok.encode(model.builder.titles[item]!)
            if !ids.isEmpty && seen.insert(ids).inserted { entries.append((item, ids)) }
        }
        return try SIDTrie(sids: entries, endToken: tok.eosId)
    }
}
