// Recommendation with a RecModel: renders each history with the task's fixed evaluation template in the
// shared wrapper, prefills a KV-cached LlamaDecoder once per user, and runs trie-constrained beam search
// (ConstrainedBeamSearch) over many users at a time, one decoder per core (ShardedBeamSearch). Also the
// ranking evaluation on a dataset split (beam top-20 lists → HR/NDCG@K under the protocol's exclusion rule).
// A model with item memory ranks by the mix of its item head and the beam (HybridRanking.swift).
import Foundation

/// One recommendation query: the history (oldest first) and the items never to return.
public struct RecommendRequest: Sendable {
    public var history: [Int]
    public var exclude: [Int]
    public init(history: [Int], exclude: [Int] = []) { self.history = history; self.exclude = exclude }
}

/// Batched trie-constrained beam search for a model: `usersPerBatch` users per decoder, one decoder per
/// worker (ShardedBeamSearch), so a round decodes `workers × usersPerBatch` users.
public final class Recommender {
    public let model: RecModel
    public let beam: Int
    public let usersPerBatch: Int
    public let task: PromptTask
    let sharded: ShardedBeamSearch
    /// The item head (nil: SID-only model).
    public let scorer: ItemScorer?
    /// SID weight of the hybrid ranking (default: the checkpoint's).
    public var sidWeight: Float
    /// MMR re-ranking or diverse beam search (Reranking.swift); `.none` ranks as the model does.
    public let reranking: Reranking
    let mmr: MMRReranker?

    public init(model: RecModel, beam: Int = 20, usersPerBatch: Int = 16, task: PromptTask = .nextitem,
                workers: Int = Parallel.workers, reranking: Reranking = .none) throws {
        guard beam >= 1, usersPerBatch >= 1 else { throw AlignError.invalidArgument("beam and users per batch must be ≥ 1") }
        guard task == .nextitem || task == .titlehist2sid else {
            throw AlignError.invalidArgument("recommendation uses the nextitem or titlehist2sid task, not \(task.rawValue)")
        }
        self.model = model; self.beam = beam; self.usersPerBatch = usersPerBatch; self.task = task
        self.reranking = reranking
        var algorithm: (any TrieSearch)? = nil
        switch reranking {
        case .none: mmr = nil
        case let .mmr(lambda, _): mmr = MMRReranker(lambda: lambda, sidMap: model.sidMap)
        case let .diverseBeam(groups, penalty):
            try reranking.validate(beam: beam, k: 1)
            algorithm = try DiverseBeamSearch(trie: model.trie, groups: groups, penalty: penalty); mmr = nil
        }
        sharded = try ShardedBeamSearch(params: model.params, trie: model.trie, beamWidth: beam,
                                        usersPerWorker: usersPerBatch, workers: workers, items: model.itemTable,
                                        precision: model.precision, algorithm: algorithm)
        scorer = try model.itemTable.map { try ItemScorer(params: model.params, items: $0) }
        sidWeight = model.itemMemoryInfo?.sidWeight ?? 0
    }

    /// Decoder rows computed by every recommendation so far.
    public var searchStats: BeamSearchStats { sharded.stats }

    /// [bos] + the wrapped evaluation prompt for a history (truncated to the most recent max_history items).
    public func promptIds(history: [Int]) throws -> [Int32] { try promptIds(task: task, history: history) }

    /// [bos] + the wrapped evaluation prompt of a sequence task (nextitem, titlehist2sid) for a history, truncated to
    /// the most recent max_history items; a titlehist2sid prompt also drops its oldest titles until it fits the model.
    public func promptIds(task: PromptTask, history: [Int]) throws -> [Int32] {
        guard let last = history.last else { throw AlignError.invalidArgument("a recommendation needs a non-empty history") }
        for it in history where it < 1 || it > model.items.count {
            throw AlignError.invalidArgument("history item \(it) is not in the catalogue (1...\(model.items.count))")
        }
        var h = Array(history.suffix(model.taskConfig.maxHistory))
        while true {
            // The response slot is not part of the prompt; `last` only satisfies the example builder.
            let ex = try model.builder.evalExample(task, item: last, history: h)
            let ids = try model.builder.encodePrompt(ex.prompt, tokenizer: model.instructionTokenizer)
            if task == .titlehist2sid && ids.count > model.maxPromptTokens && h.count > 1 { h.removeFirst(); continue }
            try model.checkPromptFits(ids.count, what: "the \(task.rawValue) prompt for a history of \(h.count) items")
            return ids
        }
    }

    /// [bos] + the wrapped title2sid evaluation prompt for an item's title.
    public func promptIds(title2sid item: Int) throws -> [Int32] {
        guard item >= 1 && item <= model.items.count else {
            throw AlignError.invalidArgument("item \(item) is not in the catalogue (1...\(model.items.count))")
        }
        let ex = try model.builder.evalExample(.title2sid, item: item)
        let ids = try model.builder.encodePrompt(ex.prompt, tokenizer: model.instructionTokenizer)
        try model.checkPromptFits(ids.count, what: "the title2sid prompt of item \(item)")
        return ids
    }

    /// Beam-search rounds per `ShardedBeamSearch` call: a data-parallel job exchanges results once per call.
    static let roundsPerCall = 8

    /// Top-k distinct valid items per request with their summed renormalised log-prob scores.
    /// With item memory: the mix of item head and beam at `sidWeight`; otherwise the beam's lists.
    /// With `reranking` set: MMR over the top `pool` items, or the diverse beam's items (the mix ranks those only).
    public func recommend(_ requests: [RecommendRequest], k: Int, progress: ProgressBar? = nil) throws -> [[ScoredItem]] {
        guard k >= 1 else { throw AlignError.invalidArgument("k must be ≥ 1") }
        try reranking.validate(beam: beam, k: k)
        let n = listLength(k)
        var out: [[ScoredItem]]
        if scorer != nil {
            out = try candidates(requests, k: n, progress: progress).map { rank($0, k: n) }
        } else {
            out = []
            out.reserveCapacity(requests.count)
            var start = 0
            while start < requests.count {
                let chunk = requests[start..<min(requests.count, start + Self.roundsPerCall * sharded.usersPerCall)]
                let prompts = try chunk.map { try promptIds(history: $0.history) }
                out.append(contentsOf: try sharded.search(prompts: prompts, topK: n, exclude: chunk.map(\.exclude)))
                progress?.advance(chunk.count)
                start += chunk.count
            }
        }
        return mmr.map { m in out.map { m.rerank($0, k: k) } } ?? out
    }

    /// Items decoded per request for a list of `k`: MMR's pool, else k.
    func listLength(_ k: Int) -> Int { if case let .mmr(_, pool) = reranking { max(pool, k) } else { k } }

    /// The mix's top k of one request's candidates (over the diverse beam's items only under diverse beam search).
    func rank(_ c: HybridCandidates, k: Int) -> [ScoredItem] {
        if case .diverseBeam = reranking { return c.ranked(sidWeight: sidWeight, k: k, poolOnly: true) }
        return c.ranked(sidWeight: sidWeight, k: k)
    }

    /// `recommend` for prompts already built (any task whose response is a SID: nextitem, titlehist2sid, title2sid).
    public func recommend(prompts: [[Int32]], exclude: [[Int]], k: Int) throws -> [[ScoredItem]] {
        guard k >= 1 else { throw AlignError.invalidArgument("k must be ≥ 1") }
        guard exclude.count == prompts.count else { throw AlignError.invalidArgument("\(exclude.count) exclusion lists for \(prompts.count) prompts") }
        try reranking.validate(beam: beam, k: k)
        let n = listLength(k)
        let out = scorer != nil ? try candidates(prompts: prompts, exclude: exclude, k: n).map { rank($0, k: n) }
            : try sharded.search(prompts: prompts, topK: n, exclude: exclude)
        return mmr.map { m in out.map { m.rerank($0, k: k) } } ?? out
    }

    /// The hybrid candidates of each request (beam pool of `k`, head top `k`; HybridRanking.swift), from which any
    /// SID weight ranks exactly. Needs item memory.
    public func candidates(_ requests: [RecommendRequest], k: Int, progress: ProgressBar? = nil) throws -> [HybridCandidates] {
        var out: [HybridCandidates] = []
        out.reserveCapacity(requests.count)
        var start = 0
        while start < requests.count {
            let chunk = Array(requests[start..<min(requests.count, start + Self.roundsPerCall * sharded.usersPerCall)])
            out += try candidates(prompts: try chunk.map { try promptIds(history: $0.history) }, exclude: chunk.map(\.exclude), k: k)
            progress?.advance(chunk.count)
            start += chunk.count
        }
        return out
    }

    /// `candidates` for prompts already built.
    public func candidates(prompts: [[Int32]], exclude: [[Int]], k: Int) throws -> [HybridCandidates] {
        guard let scorer else { throw AlignError.invalidArgument("this model has no item memory (no item head to rank with)") }
        guard k >= 1 else { throw AlignError.invalidArgument("k must be ≥ 1") }
        let C = model.config.hiddenSize, n = scorer.items.count
        var out: [HybridCandidates] = []
        out.reserveCapacity(prompts.count)
        var start = 0
        while start < prompts.count {
            let end = min(prompts.count, start + Self.roundsPerCall * sharded.usersPerCall)
            let (lists, hidden) = try sharded.searchWithHidden(prompts: Array(prompts[start..<end]), topK: k,
                                                               exclude: Array(exclude[start..<end]))
            precondition(hidden.count == (end - start) * C)
            // The head's log-probs over the catalogue, a round's rows at a time (rows × items floats each).
            var r = 0
            while r < end - start {
                let rows = min(end - start - r, sharded.usersPerCall)
                let logp = hidden.withUnsafeBufferPointer { scorer.logProbs(hidden: $0.baseAddress! + r * C, rows: rows) }
                logp.withUnsafeBufferPointer { lp in
                    for j in 0..<rows {
                        out.append(HybridCandidates(beam: lists[r + j], headLogProbs: UnsafeBufferPointer(rebasing: lp[(j * n)..<((j + 1) * n)]),
                                                    exclude: Set(exclude[start + r + j]), k: k))
                    }
                }
                r += rows
            }
            start = end
        }
        return out
    }
}

/// Deterministic subset of `n` of `count` indices, evenly strided (all when n ≤ 0 or n ≥ count).
public func stridedSubset(_ count: Int, _ n: Int) -> [Int] {
    guard n > 0, n < count else { return Array(0..<count) }
    return (0..<n).map { $0 * count / n }
}
