// Decoding-time remedies for list diversity (Reranking.swift, DiverseBeamSearch.swift): MMR and diverse beam search
// by hand-computed cases; MMR with λ = 1 is the model's ranking and diverse beam search with one group is plain
// beam search; neither ever returns an invalid, duplicate or excluded item, on tiny hashed decoders and through
// the Recommender on tiny models (SID-only and with item memory); eval.json records the re-ranking and the goals;
// `align report --tradeoff` reads eval.json files into points of NDCG@10 against a goal metric.
import AlignCore
import AlignRec
import Foundation
import Testing

@Suite struct MMRTests {
    /// Items 1…4 with SIDs (1,2,3), (1,2,4), (1,5,6), (7,8,9).
    let mmr = { (l: Double) in MMRReranker(lambda: l, codes: [[], [1, 2, 3], [1, 2, 4], [1, 5, 6], [7, 8, 9]]) }
    let list = [ScoredItem(item: 1, score: 4), ScoredItem(item: 2, score: 3.5), ScoredItem(item: 3, score: 2), ScoredItem(item: 4, score: 1)]

    @Test func similarityIsTheSharedPrefixShare() {
        let m = mmr(0.5)
        #expect(abs(m.similarity(1, 2) - 2.0 / 3) < 1e-12)
        #expect(abs(m.similarity(1, 3) - 1.0 / 3) < 1e-12)
        #expect(m.similarity(1, 4) == 0 && m.similarity(2, 2) == 1)
        let short = MMRReranker(lambda: 0.5, codes: [[], [1, 2], [1, 2, 3]])
        #expect(abs(short.similarity(1, 2) - 2.0 / 3) < 1e-12)   // divided by the longer SID's length
    }

    /// rel = (1, 5/6, 1/3, 0). λ = 0.3, after item 1: item 2 scores 0.3·5/6 − 0.7·2/3 = −0.217, item 3
    /// 0.3/3 − 0.7/3 = −0.133, item 4 0 → item 4; then item 3 (−0.133) before item 2 (−0.217).
    /// λ = 0.7: item 2 0.583 − 0.2 = 0.383 beats item 3 (0.233 − 0.1) and item 4 (0): the model's order.
    @Test func handComputedOrders() {
        #expect(mmr(0.3).rerank(list, k: 4).map(\.item) == [1, 4, 3, 2])
        #expect(mmr(0.3).rerank(list, k: 2).map(\.item) == [1, 4])
        #expect(mmr(0.7).rerank(list, k: 4).map(\.item) == [1, 2, 3, 4])
        #expect(mmr(0).rerank(list, k: 4).map(\.item) == [1, 4, 3, 2])   // pure diversity; the first pick: the best item
        // Scores are the model's, carried along.
        #expect(mmr(0.3).rerank(list, k: 4).map(\.score) == [4, 1, 2, 3.5])
        #expect(mmr(0.3).rerank([], k: 3).isEmpty)
        #expect(mmr(0.3).rerank(list, k: 9).count == 4)
    }

    /// λ = 1 keeps the model's ranking: random lists (with ties) come back as their first k.
    @Test func lambdaOneIsThePlainRanking() {
        var rng = Rng(seed: 3)
        for _ in 0..<200 {
            let n = 1 + rng.int(below: 30)
            let codes: [[Int]] = [[]] + (0..<n).map { _ in (0..<3).map { _ in rng.int(below: 3) } }
            let scores = (0..<n).map { _ in Float(-rng.uniform() * 6).rounded() / 2 }.sorted(by: >)
            var items = Array(1...n); rng.shuffle(&items)
            let l = zip(items, scores).map { ScoredItem(item: $0, score: $1) }
            let k = 1 + rng.int(below: n + 2)
            #expect(MMRReranker(lambda: 1, codes: codes).rerank(l, k: k) == Array(l.prefix(k)))
        }
    }
}

@Suite struct DiverseBeamTests {
    /// SIDs (10,20), (10,21), (11,20), (11,21) for items 1…4. p(10) = 0.9, p(11) = 0.1; after 10: p(20) = 0.6,
    /// p(21) = 0.4; after 11: p(20) = 0.7, p(21) = 0.3 (logits = log p, so the renormalised scores are log p).
    func handModel() throws -> (SIDTrie, ReferenceDecoder) {
        let trie = try SIDTrie(sids: [(1, [10, 20]), (2, [10, 21]), (3, [11, 20]), (4, [11, 21])])
        let dec = ReferenceDecoder(vocabSize: 24) { seq, out in
            for v in 0..<out.count { out[v] = -20 }
            switch seq.last! {
            case 10: out[20] = logf(0.6); out[21] = logf(0.4)
            case 11: out[20] = logf(0.7); out[21] = logf(0.3)
            default: out[10] = logf(0.9); out[11] = logf(0.1)
            }
        }
        return (trie, dec)
    }

    /// Plain beam (B = K = 2): items 1 (log 0.54), 2 (log 0.36). Two groups of one beam, λ = 3: group 0 keeps node 10;
    /// group 1 sees 10 at log 0.9 − 3 = −3.105 < log 0.1 = −2.303 and keeps 11, so its best item is 3 (log 0.07).
    /// The list takes each group's best: [1, 3]. λ = 1 (−1.105 > −2.303): both groups on 10, the list is [1, 2].
    @Test func handComputedGroups() throws {
        let (trie, dec) = try handModel()
        let plain = try ConstrainedBeamSearch(trie: trie).search(decoder: dec, prompts: [[1]], beamWidth: 2, topK: 2)[0]
        #expect(plain.map(\.item) == [1, 2])
        let diverse = try DiverseBeamSearch(trie: trie, groups: 2, penalty: 3)
            .searchCounting(decoder: dec, prompts: [[1]], beamWidth: 2, topK: 2, exclude: nil).items[0]
        #expect(diverse.map(\.item) == [1, 3])
        #expect(abs(diverse[0].score - logf(0.54)) < 1e-5 && abs(diverse[1].score - logf(0.07)) < 1e-5)
        let mild = try DiverseBeamSearch(trie: trie, groups: 2, penalty: 1)
            .searchCounting(decoder: dec, prompts: [[1]], beamWidth: 2, topK: 2, exclude: nil).items[0]
        #expect(mild.map(\.item) == [1, 2])
        // History excluded: item 1 gone, group 0 returns 2, group 1 still 3.
        let ex = try DiverseBeamSearch(trie: trie, groups: 2, penalty: 3)
            .searchCounting(decoder: dec, prompts: [[1]], beamWidth: 2, topK: 2, exclude: [[1]]).items[0]
        #expect(ex.map(\.item) == [2, 3])
    }

    /// Group quotas, duplicates across groups and filling: pools (best first) [a: 1, 2, 3], [b: 1, 4]; k = 3 takes
    /// 1, 2 from group 0 (quota 2), 4 from group 1 (1 is taken), sorted by score.
    @Test func mergeTakesEveryGroupsBestThenFills() {
        let s = { (i: Int, x: Float) in ScoredItem(item: i, score: x) }
        let m = DiverseBeamSearch.merge(pools: [[s(1, -1), s(2, -2), s(3, -3)], [s(1, -4), s(4, -5)]], k: 3)
        #expect(m == [s(1, -1), s(2, -2), s(4, -5)])
        // Too few distinct items in the quotas (group 1's best is taken): the best remaining item fills the list.
        #expect(DiverseBeamSearch.merge(pools: [[s(1, -1)], [s(1, -2)], [s(6, -3), s(5, -9)]], k: 3) == [s(1, -1), s(6, -3), s(5, -9)])
        #expect(DiverseBeamSearch.merge(pools: [[s(2, -1), s(3, -1), s(1, -2)]], k: 2) == [s(2, -1), s(3, -1)])
    }

    /// One group is plain beam search: same items, order and scores on random tries, widths and exclusions.
    @Test func oneGroupIsPlainBeamSearch() throws {
        var rng = Rng(seed: 17)
        for trial in 0..<30 {
            let variable = trial % 3 == 0
            let sids = randomSIDs(items: 6 + rng.int(below: 20), levels: 3, codes: 3, base: 20, variable: variable, rng: &rng)
            let trie = try SIDTrie(sids: sids, endToken: variable ? 5 : nil)
            let dec = ReferenceDecoder.hashed(vocabSize: 40, seed: UInt64(trial), scale: 3)
            let prompts: [[Int32]] = [[1, 7], [1, 3, 9], [1]]
            let exclude = prompts.indices.map { g in g == 1 ? Array(sids.map(\.item).shuffled(using: &rng).prefix(3)) : [] }
            let B = 1 + rng.int(below: 6), K = 1 + rng.int(below: 8)
            let plain = try ConstrainedBeamSearch(trie: trie).search(decoder: dec, prompts: prompts, beamWidth: B, topK: K, exclude: exclude)
            let one = try DiverseBeamSearch(trie: trie, groups: 1, penalty: 2)
                .searchCounting(decoder: dec, prompts: prompts, beamWidth: B, topK: K, exclude: exclude).items
            #expect(one.map { $0.map(\.item) } == plain.map { $0.map(\.item) }, "trial \(trial) B \(B) K \(K)")
            for (x, y) in zip(one.joined(), plain.joined()) { #expect(abs(x.score - y.score) < 1e-5) }
        }
    }

    /// Any groups and penalty: valid, distinct, never excluded, sorted, and at least as many items as group 0 finds
    /// alone (group 0 is unpenalised: a plain beam search of width B / D, whose items all reach the list).
    @Test func listsAreValidDistinctAndNeverExcluded() throws {
        var rng = Rng(seed: 23)
        for trial in 0..<40 {
            let sids = randomSIDs(items: 5 + rng.int(below: 25), levels: 1 + rng.int(below: 3), codes: 2 + rng.int(below: 3),
                                  base: 20, variable: false, rng: &rng)
            let trie = try SIDTrie(sids: sids)
            let dec = ReferenceDecoder.hashed(vocabSize: 40, seed: UInt64(100 + trial), scale: 3)
            let D = 2 + rng.int(below: 3), B = D * (1 + rng.int(below: 3)), K = 1 + rng.int(below: 10)
            let prompts: [[Int32]] = [[1, 2], [1, 4, 4]]
            let exclude = [Array(sids.map(\.item).shuffled(using: &rng).prefix(rng.int(below: sids.count))), []]
            let got = try DiverseBeamSearch(trie: trie, groups: D, penalty: Float(rng.uniform() * 4))
                .searchCounting(decoder: dec, prompts: prompts, beamWidth: B, topK: K, exclude: exclude).items
            let plain = try ConstrainedBeamSearch(trie: trie).search(decoder: dec, prompts: prompts, beamWidth: B / D, topK: K, exclude: exclude)
            let valid = Set(sids.map(\.item))
            for g in 0..<2 {
                let items = got[g].map(\.item)
                #expect(Set(items).count == items.count, "trial \(trial): duplicates")
                #expect(items.allSatisfy { valid.contains($0) && !exclude[g].contains($0) }, "trial \(trial): invalid or excluded")
                #expect(zip(got[g], got[g].dropFirst()).allSatisfy { $0.score >= $1.score })
                #expect(items.count <= K && items.count >= min(plain[g].count, K), "trial \(trial): \(items.count) items")
                #expect(plain[g].prefix((K + D - 1) / D).allSatisfy { p in items.contains(p.item) }, "trial \(trial): group 0's best missing")
            }
        }
    }
}

@Suite struct RerankingRecommenderTests {
    let requests = [RecommendRequest(history: [1, 5], exclude: [1, 5]), RecommendRequest(history: [2, 3, 9], exclude: [2, 3, 9]),
                    RecommendRequest(history: [12], exclude: [12])]

    func check(_ lists: [[ScoredItem]], k: Int, items: Int) {
        for (r, l) in zip(requests, lists) {
            let ids = l.map(\.item)
            #expect(ids.count == k && Set(ids).count == k)
            #expect(ids.allSatisfy { (1...items).contains($0) && !r.exclude.contains($0) })
        }
    }

    @Test func mmrAndDiverseBeamThroughTheRecommender() throws {
        for model in [try tinyRecModel(), try tinyHybridModel()] {
            let n = model.items.count, k = 4
            let plain = try Recommender(model: model, beam: 4, usersPerBatch: 2).recommend(requests, k: k)
            let plainPool = try Recommender(model: model, beam: 4, usersPerBatch: 2).recommend(requests, k: 6)
            let one = try Recommender(model: model, beam: 4, usersPerBatch: 2, reranking: .mmr(lambda: 1, pool: 6)).recommend(requests, k: k)
            // λ = 1: the model's top-6 list cut to 4 (for a SID-only model, the plain top 4 itself).
            #expect(one.map { $0.map(\.item) } == plainPool.map { Array($0.prefix(k)).map(\.item) })
            if model.itemTable == nil { #expect(one.map { $0.map(\.item) } == plain.map { $0.map(\.item) }) }
            let mixed = try Recommender(model: model, beam: 4, usersPerBatch: 2, reranking: .mmr(lambda: 0, pool: 8)).recommend(requests, k: k)
            check(mixed, k: k, items: n)
            // λ = 0 spreads the list over first-level codes: the first three picks cover min(3, codes in the pool) codes
            // (items sharing a first code have similarity ≥ 1/2, others 0), starting from the model's best item.
            let pool8 = try Recommender(model: model, beam: 4, usersPerBatch: 2).recommend(requests, k: 8)
            let code = { (i: Int) in model.sidMap.codes(for: i)![0] }
            for (l, p) in zip(mixed, pool8) {
                #expect(l[0].item == p[0].item && Set(l.map(\.item)).isSubset(of: p.map(\.item)))
                #expect(Set(l.prefix(3).map { code($0.item) }).count == min(3, Set(p.map { code($0.item) }).count))
            }
            let diverse = try Recommender(model: model, beam: 4, usersPerBatch: 2, reranking: .diverseBeam(groups: 2, penalty: 5))
                .recommend(requests, k: k)
            check(diverse, k: k, items: n)
            // The serving path (align recommend, align export) ranks the same way.
            for rr in [Reranking.mmr(lambda: 0, pool: 8), .diverseBeam(groups: 2, penalty: 5)] {
                let served = try RecService(model: model, beam: 4, usersPerBatch: 2, reranking: rr).recommend(requests, k: k)
                let direct = rr == .diverseBeam(groups: 2, penalty: 5) ? diverse : mixed
                #expect(served.map { $0.map(\.item) } == direct.map { $0.map(\.item) })
            }
            #expect(throws: AlignError.self) {
                _ = try Recommender(model: model, beam: 4, reranking: .diverseBeam(groups: 3, penalty: 1))
            }
            #expect(throws: AlignError.self) {
                _ = try Recommender(model: model, beam: 4, reranking: .mmr(lambda: 0.5, pool: 3)).recommend(requests, k: k)
            }
        }
    }

    @Test func rerankingValuesAreChecked() {
        #expect(throws: AlignError.self) { try Reranking.mmr(lambda: 1.5, pool: 10).validate(beam: 4, k: 2) }
        #expect(throws: AlignError.self) { try Reranking.mmr(lambda: 0.5, pool: 1).validate(beam: 4, k: 2) }
        #expect(throws: AlignError.self) { try Reranking.diverseBeam(groups: 1, penalty: 1).validate(beam: 4, k: 2) }
        #expect(throws: AlignError.self) { try Reranking.diverseBeam(groups: 2, penalty: -1).validate(beam: 4, k: 2) }
        #expect(throws: AlignError.self) { try Reranking.diverseBeam(groups: 2, penalty: .nan).validate(beam: 4, k: 2) }
        #expect((try? Reranking.diverseBeam(groups: 2, penalty: 0).validate(beam: 4, k: 2)) != nil)
        #expect(Reranking.mmr(lambda: 0.7, pool: 50).description == "mmr λ 0.7 pool 50")
        #expect(Reranking.diverseBeam(groups: 4, penalty: 1).description == "diverse beam 4 groups λ 1")
    }
}

@Suite struct RerankingEvalTests {
    /// eval.json names the re-ranking and carries the goal metrics; lists stay valid and duplicate-free.
    @Test func evalReportRecordsRerankingAndGoals() throws {
        let model = try tinyRecModel(), ds = try tinyServeDataset()
        let plain = try Evaluation.run(model: model, modelPath: "tiny", dataset: ds, protocol: .loo, split: .test, beam: 4,
                                       maxExamples: 0, translation: false, progress: false)
        #expect(plain.reranking == nil && plain.goals != nil)
        for rr in [Reranking.mmr(lambda: 0.2, pool: 20), .diverseBeam(groups: 2, penalty: 4)] {
            let r = try Evaluation.run(model: model, modelPath: "tiny", dataset: ds, protocol: .loo, split: .test, beam: 4,
                                       maxExamples: 0, translation: false, reranking: rr, progress: false)
            #expect(r.reranking == rr.description)
            #expect(r.lists.invalid == 0 && r.lists.duplicates == 0)
            let g = try #require(r.goals)
            #expect(g.coverage10 == r.lists.coverage10 && g.distinctCodes10 >= 1 && g.distinctCodes10 <= 3)
            let json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(r)) as! [String: Any]
            #expect(json["reranking"] as? String == rr.description)
            #expect((json["goals"] as? [String: Any])?["longtail@10"] is Double)
        }
    }
}

@Suite struct TradeOffReportTests {
    /// eval.json files (a run directory or the file itself, optionally labelled) become points of NDCG@10 against a
    /// goal; a report without goals or an unreadable path is an error naming the file.
    @Test func pointsAreReadFromEvalReportsAndPlotted() throws {
        let model = try tinyRecModel(), ds = try tinyServeDataset()
        let root = tempDir("tradeoff")
        defer { try? FileManager.default.removeItem(at: root) }
        let runs = [("sft", Reranking.none), ("sft-mmr", .mmr(lambda: 0.3, pool: 20))]
        var reports: [EvalReport] = []
        for (name, rr) in runs {
            let r = try Evaluation.run(model: model, modelPath: name, dataset: ds, protocol: .loo, split: .test, beam: 4,
                                       maxExamples: 0, translation: false, reranking: rr, progress: false)
            try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
            try r.write(to: root.appendingPathComponent("\(name)/eval.json"))
            reports.append(r)
        }
        let pts = try TradeOffPoint.readAll("SFT=\(root.path)/sft, \(root.path)/sft-mmr/eval.json")
        #expect(pts.map(\.label) == ["SFT", "sft-mmr (mmr λ 0.3 pool 20)"])
        #expect(pts.map(\.ndcg10) == reports.map { $0.metrics.ndcg(at: 10) })
        #expect(pts.map(\.goals) == reports.map { $0.goals! })
        #expect(pts[0].reranking == nil && pts[1].reranking == "mmr λ 0.3 pool 20" && pts[0].split == "loo test")
        let html = TradeOffSection.render(pts, goal: .coverage10)
        #expect(html.contains("<h2>Accuracy against coverage@10</h2>"))
        #expect(html.components(separatedBy: "<circle").count - 1 == 2)
        #expect(html.contains(String(format: "%.4f", pts[1].goals.coverage10)))
        #expect(TradeOffSection.render([], goal: .coverage10).isEmpty)
        // Without goals (an older eval.json), missing, or not an eval report: errors.
        var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("sft/eval.json"))) as! [String: Any]
        obj["goals"] = nil
        let old = root.appendingPathComponent("old.json")
        try JSONSerialization.data(withJSONObject: obj).write(to: old)
        #expect(throws: AlignError.self) { _ = try TradeOffPoint.read(old.path) }
        #expect(throws: AlignError.self) { _ = try TradeOffPoint.read(root.appendingPathComponent("none").path) }
        try Data("{}".utf8).write(to: root.appendingPathComponent("bad.json"))
        #expect(throws: AlignError.self) { _ = try TradeOffPoint.read(root.appendingPathComponent("bad.json").path) }
        #expect(throws: AlignError.self) { _ = try TradeOffPoint.readAll(" , ") }
    }
}
