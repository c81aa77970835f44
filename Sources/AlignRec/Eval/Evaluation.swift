// `align eval`: ranking metrics of a trained recommender on a protocol split (HR@1/5/10/20, NDCG@5/10/20 from
// trie-constrained beam-search top-20 lists, history excluded, optionally re-ranked by MMR or diverse beam search),
// beside the most-popular baseline on the SAME examples; validity, coverage, Entropy@10 and the goal metrics
// (GoalMetrics.swift) of the lists; translation accuracy over the catalogue
// (EvaluationTranslation.swift). The report is `eval.json` (format "align-eval", version 1), written
// atomically into the run.
//
// Subsampling (`maxExamples` > 0 and below the split size): examples at indices ⌊i·n/m⌋ for i = 0..<m of the
// split's canonical order — deterministic, spread over the whole split (for chrono: over time).
import Foundation

/// Diversity and sanity of recommendation lists.
public struct ListStats: Codable, Sendable, Equatable {
    /// Items returned over all lists (top-20 each).
    public var returned: Int
    /// Returned items that are not catalogue items (index outside 1...N or without a SID).
    public var invalid: Int
    /// Repeated items inside one list.
    public var duplicates: Int
    /// Share of returned items that exist: (returned − invalid) / returned (1 when nothing was returned).
    public var validity: Double
    /// Share of the catalogue appearing in at least one top-10 list.
    public var coverage10: Double
    /// Entropy (natural log) of the first-genre distribution over all top-10 entries (TIGER's diversity).
    public var entropy10: Double

    enum CodingKeys: String, CodingKey {
        case returned, invalid, duplicates, validity, coverage10 = "coverage@10", entropy10 = "entropy@10"
    }

    /// Counts everything from the lists; `validItems` is the set of items that exist.
    public static func compute(lists: [[Int]], validItems: Set<Int>, catalogueSize: Int, category: (Int) -> String) -> ListStats {
        var returned = 0, invalid = 0, dup = 0
        var covered = Set<Int>()
        var genreCount: [String: Int] = [:]
        var top10Total = 0
        for list in lists {
            var seen = Set<Int>()
            for (r, item) in list.enumerated() {
                returned += 1
                let ok = validItems.contains(item)
                if !ok { invalid += 1 }
                if !seen.insert(item).inserted { dup += 1 }
                if r < 10 && ok {
                    covered.insert(item)
                    genreCount[category(item), default: 0] += 1
                    top10Total += 1
                }
            }
        }
        var h = 0.0
        for (_, c) in genreCount.sorted(by: { $0.key < $1.key }) {
            let p = Double(c) / Double(top10Total)
            h -= p * log(p)
        }
        return ListStats(returned: returned, invalid: invalid, duplicates: dup,
                         validity: returned == 0 ? 1 : Double(returned - invalid) / Double(returned),
                         coverage10: catalogueSize == 0 ? 0 : Double(covered.count) / Double(catalogueSize), entropy10: h)
    }
}

/// Ranking metrics of a subset of the evaluated examples (e.g. those whose target is a cold item).
public struct SubsetMetrics: Codable, Sendable, Equatable {
    public var examples: Int
    public var metrics: RankingMetrics
    public var mostPopular: RankingMetrics
    enum CodingKeys: String, CodingKey { case examples, metrics, mostPopular = "most_popular" }
}

/// `eval.json`.
public struct EvalReport: Codable, Sendable {
    public var format = "align-eval"
    public var version = 1
    /// Checkpoint evaluated.
    public var model: String
    public var evalProtocol: EvalProtocol
    public var split: Split
    public var beam: Int
    /// Examples evaluated and the split's full size.
    public var examples: Int
    public var splitSize: Int
    /// The model's ranking metrics.
    public var metrics: RankingMetrics
    /// Most-popular baseline on the same examples.
    public var mostPopular: RankingMetrics
    /// Validity, coverage, entropy of the model's lists.
    public var lists: ListStats
    /// Translation accuracy over the catalogue (nil when skipped).
    public var translation: TranslationAccuracy?
    /// Wall-clock seconds of the ranking evaluation and users per second.
    public var seconds: Double
    public var usersPerSecond: Double
    /// Beam-step rows (one token of one beam) the decoder computed per user, and the rows of every step
    /// (groups × beam per step) it would have computed without skipping; nil in reports written before.
    public var stepRowsPerUser: Double? = nil
    public var rowSlotsPerUser: Double? = nil
    /// On a dataset with cold items (ColdItems.swift): the examples whose target is cold, and the others.
    public var cold: SubsetMetrics? = nil
    public var warm: SubsetMetrics? = nil
    /// Long-tail share, coverage, distinct first-level codes and novelty of the top-10 lists (GoalMetrics.swift).
    public var goals: GoalMetrics? = nil
    /// MMR or diverse beam search when the lists were re-ranked (Reranking.swift); absent: the model's ranking.
    public var reranking: String? = nil

    enum CodingKeys: String, CodingKey {
        case format, version, model, evalProtocol = "protocol", split, beam, examples, splitSize = "split_size"
        case metrics, mostPopular = "most_popular", lists, translation, seconds, usersPerSecond = "users_per_second"
        case stepRowsPerUser = "step_rows_per_user", rowSlotsPerUser = "row_slots_per_user", cold, warm, goals, reranking
    }

    /// Atomic pretty JSON.
    public func write(to url: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(self), to: url)
    }
}

/// Ranking evaluation pieces shared by `align eval` and SFT validation.
public enum Evaluation {
    /// The deterministic subsample of a split (see the file header); all examples when `max` is 0 or ≥ n.
    public static func subsample(_ examples: [Example], max m: Int) -> [Example] {
        stridedSubset(examples.count, m).map { examples[$0] }
    }

    /// Top-`k` lists of the model for the examples (history = example.history, truncated to max_history in
    /// the prompt; excluded = the untruncated earlier history).
    public static func recommendLists(model: RecModel, dataset: Dataset, examples: [Example], beam: Int, k: Int = 20,
                                      reranking: Reranking = .none, progress: Bool) throws -> [[ScoredItem]] {
        try recommendListsCounting(model: model, dataset: dataset, examples: examples, beam: beam, k: k, reranking: reranking,
                                   progress: progress).lists
    }

    /// `recommendLists` and the beam search's row counts over all of its batches.
    public static func recommendListsCounting(model: RecModel, dataset: Dataset, examples: [Example], beam: Int, k: Int = 20,
                                              reranking: Reranking = .none,
                                              progress: Bool) throws -> (lists: [[ScoredItem]], stats: BeamSearchStats) {
        let rec = try Recommender(model: model, beam: beam, reranking: reranking)
        let requests = examples.map { RecommendRequest(history: $0.history, exclude: Array(dataset.excluded(for: $0))) }
        let bar = progress ? ProgressBar(total: requests.count, label: "rank", unit: "users", announce: false) : nil
        let lists = try rec.recommend(requests, k: k, progress: bar)
        bar?.finish()
        return (lists, rec.searchStats)
    }

    /// The hybrid candidates (HybridRanking.swift) of a model with item memory for the examples, from which every
    /// SID weight of the mix ranks exactly.
    public static func hybridCandidates(model: RecModel, dataset: Dataset, examples: [Example], beam: Int, k: Int = 20) throws -> [HybridCandidates] {
        let rec = try Recommender(model: model, beam: beam)
        return try rec.candidates(examples.map { RecommendRequest(history: $0.history, exclude: Array(dataset.excluded(for: $0))) }, k: k)
    }

    /// HR/NDCG of ranked lists against the examples' targets.
    public static func metrics(lists: [[Int]], examples: [Example]) -> RankingMetrics {
        var acc = MetricAccumulator()
        for (l, ex) in zip(lists, examples) { acc.add(rank: Ranking.rank(topK: l, target: ex.target)) }
        return acc.metrics
    }

    /// Most-popular baseline on exactly these examples.
    public static func mostPopular(dataset: Dataset, protocol p: EvalProtocol, examples: [Example]) -> RankingMetrics {
        let mp = MostPopular(dataset: dataset, protocol: p)
        var acc = MetricAccumulator()
        for ex in examples { acc.add(rank: Ranking.rank(scores: mp.scores, target: ex.target, excluded: dataset.excluded(for: ex))) }
        return acc.metrics
    }

    /// The full `align eval` report (translation accuracy only when `translation` is true).
    public static func run(model: RecModel, modelPath: String, dataset: Dataset, protocol p: EvalProtocol, split: Split,
                           beam: Int, maxExamples: Int, translation: Bool, translationBeam: Int = 1,
                           translationItems: Int = 0, reranking: Reranking = .none, progress: Bool) throws -> EvalReport {
        guard split != .train else { throw AlignError.invalidArgument("evaluate on valid or test, not train") }
        try model.sidMap.checkProtocol(p, what: "evaluation")
        let all = dataset.examples(p, split)
        let exs = subsample(all, max: maxExamples)
        let t0 = Date()
        let (scored, st) = try recommendListsCounting(model: model, dataset: dataset, examples: exs, beam: beam, reranking: reranking,
                                                      progress: progress)
        let secs = Date().timeIntervalSince(t0)
        let lists = scored.map { $0.map(\.item) }
        let valid = Set(model.trie.items).intersection(1...max(1, dataset.numItems))
        let stats = ListStats.compute(lists: lists, validItems: valid, catalogueSize: dataset.numItems) { i in
            dataset.items[i - 1].genres.first ?? "(none)"
        }
        var tr: TranslationAccuracy? = nil
        if translation { tr = try TranslationEval.run(model: model, beam: translationBeam, maxItems: translationItems, progress: progress) }
        let users = Double(max(1, st.prompts))
        var subsets: (cold: SubsetMetrics, warm: SubsetMetrics)? = nil
        let coldItems = dataset.coldItems
        if !coldItems.isEmpty {
            func subset(_ keep: (Example) -> Bool) -> SubsetMetrics {
                let idx = exs.indices.filter { keep(exs[$0]) }
                let ex = idx.map { exs[$0] }
                return SubsetMetrics(examples: ex.count, metrics: metrics(lists: idx.map { lists[$0] }, examples: ex),
                                     mostPopular: mostPopular(dataset: dataset, protocol: p, examples: ex))
            }
            subsets = (subset { coldItems.contains($0.target) }, subset { !coldItems.contains($0.target) })
        }
        var report = EvalReport(model: modelPath, evalProtocol: p, split: split, beam: beam, examples: exs.count,
                          splitSize: all.count, metrics: metrics(lists: lists, examples: exs),
                          mostPopular: mostPopular(dataset: dataset, protocol: p, examples: exs), lists: stats,
                          translation: tr, seconds: secs, usersPerSecond: Double(exs.count) / max(secs, 1e-9),
                          stepRowsPerUser: Double(st.stepRows) / users, rowSlotsPerUser: Double(st.rowSlots) / users)
        report.cold = subsets?.cold; report.warm = subsets?.warm
        report.goals = GoalMetrics.compute(lists: lists, catalogue: try GoalCatalogue(dataset: dataset, protocol: p, sidMap: model.sidMap))
        if reranking != .none { report.reranking = reranking.description }
        return report
    }

    /// A printable table: model vs most-popular.
    public static func table(_ r: EvalReport) -> String {
        var s = "protocol \(r.evalProtocol.rawValue), split \(r.split.rawValue): \(r.examples) of \(r.splitSize) examples, beam \(r.beam)\n"
        s += "metric      model    most-pop\n"
        for k in [1, 5, 10, 20] {
            s += String(format: "HR@%-2d     %.4f    %.4f\n", k, r.metrics.hr(at: k), r.mostPopular.hr(at: k))
        }
        for k in [5, 10, 20] {
            s += String(format: "NDCG@%-2d   %.4f    %.4f\n", k, r.metrics.ndcg(at: k), r.mostPopular.ndcg(at: k))
        }
        s += String(format: "validity %.4f (%d returned, %d invalid, %d duplicates)  coverage@10 %.4f  entropy@10 %.3f\n",
                    r.lists.validity, r.lists.returned, r.lists.invalid, r.lists.duplicates, r.lists.coverage10, r.lists.entropy10)
        if let g = r.goals {
            s += String(format: "goals@10: long-tail share %.4f (head: top %g%% of items by training interactions)  distinct first-level codes %.2f  novelty %.2f bits\n",
                        g.longTail10, 100 * g.headFraction, g.distinctCodes10, g.novelty10)
        }
        if let rr = r.reranking { s += "re-ranked: \(rr)\n" }
        for (name, m) in [("cold targets", r.cold), ("warm targets", r.warm)] {
            guard let m else { continue }
            s += String(format: "%@ (%d examples): HR@10 %.4f NDCG@10 %.4f (most-popular %.4f / %.4f)\n", name, m.examples,
                        m.metrics.hr(at: 10), m.metrics.ndcg(at: 10), m.mostPopular.hr(at: 10), m.mostPopular.ndcg(at: 10))
        }
        if let t = r.translation {
            s += String(format: "translation over %d items: sid2title exact %.4f%@  title2sid exact %.4f\n", t.items, t.sid2title, t.catalogueText, t.title2sid)
        }
        s += String(format: "%.1fs (%.1f users/s)", r.seconds, r.usersPerSecond)
        if let a = r.stepRowsPerUser, let b = r.rowSlotsPerUser {
            s += String(format: "; beam-step rows computed per user %.1f of %.0f", a, b)
        }
        return s
    }
}
