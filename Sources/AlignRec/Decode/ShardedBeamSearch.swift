// Trie-constrained beam search over both cores by data parallelism: a call's prompts are cut into contiguous
// shards, one per worker, and each worker runs `ConstrainedBeamSearch` on its own `LlamaDecoder` (its own KV
// cache and scratch) with OpenBLAS on one thread. With one shared decoder the per-beam trie bookkeeping and the
// KV-cache copies run on one core, and every sgemm of a small decode step pays a hand-off to a second OpenBLAS
// thread. Here all of it runs on both cores at once.
//
// Owns: the per-worker decoders (planned once, grown only when a longer prompt or a wider batch arrives) and
// the split. Leaves to ConstrainedBeamSearch: the search itself. Results come back in prompt order and are the
// same items and scores as one decoder gives up to the last bits of the matrix products: a shard's rows go
// through the same sgemm kernels, only the row count (and so OpenBLAS's blocking) of a call differs (tested).
// In bf16 the decoders share one bf16 copy of the weights, refreshed at each `search` call; their products run
// on one thread each while they run side by side.
//
// Across processes (`cluster` with several ranks, an MPI job, every rank calling `search` with the same prompts):
// a round's shards are those of one process with ranks × workers workers, rank k running shards k·W ..< (k+1)·W
// (W workers per rank), and the results of a call's rounds are gathered once, in prompt order. Each shard is the same prompts on a decoder
// planned the same way, so P ranks × 1 worker return exactly what 1 process × P workers returns (tested).
import AlignCore
import Dispatch
import Foundation

/// Beam search for many prompts at a time, one decoder per worker.
public final class ShardedBeamSearch {
    /// The search every shard runs (holds only the trie): constrained beam search, or diverse beam search.
    public let search: any TrieSearch
    /// Model weights, shared read-only by every worker's decoder.
    public let params: LlamaParameters
    /// Beams per prompt (B), the width each decoder is planned for.
    public let beamWidth: Int
    /// Prompts one worker decodes together.
    public let usersPerWorker: Int
    /// Worker count (1: one decoder, multi-threaded OpenBLAS, the plain path).
    public let workers: Int
    /// Continuation tokens each decoder plans for (deepest SID + 1).
    let maxSuffix: Int
    /// The model's item memory (nil: SID-only), given to every decoder.
    public let items: ItemTable?
    private var decoders: [LlamaDecoder] = []
    /// Precision of the decoders' products.
    public let precision: Precision
    private let weights16: BF16Weights?
    /// Step rows computed by every search so far (see `BeamSearchStats`), over every rank.
    public private(set) var stats = BeamSearchStats()
    /// The processes each round is split over (one: this process alone).
    public let cluster: any Collective

    /// A search over `trie` for `params`: `workers` decoders of `usersPerWorker` prompts each (ALIGN_THREADS
    /// or the active core count by default).
    public init(params: LlamaParameters, trie: SIDTrie, beamWidth: Int, usersPerWorker: Int = 16,
                workers: Int = Parallel.workers, scoring: SIDScoring = .renormalized, skipRows: Bool = true,
                items: ItemTable? = nil, precision: Precision = .fp32, cluster: any Collective = Cluster.world,
                algorithm: (any TrieSearch)? = nil) throws {
        guard beamWidth >= 1, usersPerWorker >= 1, workers >= 1 else {
            throw AlignError.invalidArgument("sharded beam search needs beam width, users per worker and workers ≥ 1 (got \(beamWidth), \(usersPerWorker), \(workers))")
        }
        self.params = params; self.beamWidth = beamWidth; self.usersPerWorker = usersPerWorker; self.workers = workers
        self.items = items
        self.cluster = cluster
        search = algorithm ?? ConstrainedBeamSearch(trie: trie, scoring: scoring, skipRows: skipRows)
        maxSuffix = trie.maxDepth + 1
        self.precision = precision
        weights16 = precision == .bf16 ? BF16Weights(layout: params.layout) : nil
    }

    /// Prompts one round decodes over the whole job, every worker of every rank (more are processed in successive
    /// rounds).
    public var usersPerCall: Int { workers * usersPerWorker * cluster.size }

    /// Worker w's decoder, with room for `groups` prompts of `promptLength` tokens.
    func decoder(_ w: Int, groups: Int, promptLength: Int) throws -> LlamaDecoder {
        if w < decoders.count, decoders[w].maxGroups >= groups, decoders[w].maxPrompt >= promptLength {
            return decoders[w]
        }
        let old = w < decoders.count ? decoders[w] : nil
        let d = try LlamaDecoder.planned(params: params, maxGroups: max(groups, old?.maxGroups ?? 0), maxWidth: beamWidth,
                                         maxPrompt: max(promptLength, old?.maxPrompt ?? 0), maxSuffix: maxSuffix,
                                         purpose: "beam search with beam \(beamWidth) on worker \(w + 1) of \(workers)", items: items,
                                         precision: precision, sharedWeights: weights16)
        if w < decoders.count { decoders[w] = d } else { decoders.append(d) }
        return d
    }

    /// Top-`topK` items per prompt (best first, distinct, valid, never in `exclude[i]`), in prompt order.
    /// `prompts` are token ids ([bos] + prompt). Any number of prompts: `usersPerCall` are decoded at a time.
    public func search(prompts: [[Int32]], topK: Int, exclude: [[Int]]? = nil) throws -> [[ScoredItem]] {
        try searchWithHidden(prompts: prompts, topK: topK, exclude: exclude).items
    }

    /// `search`, also returning each prompt's final-norm hidden state at its last position ([prompts, C], what the
    /// item head scores), in prompt order.
    public func searchWithHidden(prompts: [[Int32]], topK: Int, exclude: [[Int]]? = nil) throws -> (items: [[ScoredItem]], hidden: [Float]) {
        if let exclude, exclude.count != prompts.count {
            throw AlignError.invalidArgument("\(exclude.count) exclusion lists for \(prompts.count) prompts")
        }
        weights16?.refresh(from: params)
        var out: [[ScoredItem]] = []
        out.reserveCapacity(prompts.count)
        var hidden: [Float] = []
        hidden.reserveCapacity(prompts.count * params.config.hiddenSize)
        var local = BeamSearchStats()
        var counts: [[Int]] = []   // per round: the prompts each rank decoded
        var start = 0
        while start < prompts.count {
            let end = min(prompts.count, start + usersPerCall)
            let r = try round(Array(prompts[start..<end]), topK: topK, exclude: exclude.map { Array($0[start..<end]) })
            out += r.items; hidden += r.hidden; local = local + r.stats; counts.append(r.counts)
            start = end
        }
        guard cluster.isDistributed else { stats = stats + local; return (out, hidden) }
        return try gathered(out, hidden: hidden, stats: local, counts: counts, prompts: prompts.count)
    }

    /// Every rank's results of a call's rounds, in prompt order: one exchange per call, not per round, so a rank
    /// that falls behind in one round can catch up in the next. Lists travel as [count, item, item, …] with their
    /// scores beside.
    func gathered(_ mine: [[ScoredItem]], hidden: [Float], stats local: BeamSearchStats, counts: [[Int]],
                  prompts n: Int) throws -> (items: [[ScoredItem]], hidden: [Float]) {
        var flat: [Int] = [], scores: [Float] = []
        for list in mine { flat.append(list.count); for s in list { flat.append(s.item); scores.append(s.score) } }
        let allFlat = try cluster.gather(flat), allScores = try cluster.gather(scores), allHidden = try cluster.gather(hidden)
        let sums = try cluster.sum([local.prompts, local.stepRows, local.rowSlots])
        stats = stats + BeamSearchStats(prompts: sums[0], stepRows: sums[1], rowSlots: sums[2])
        // The gathered lists in rank order, each rank's rounds one after the other.
        var lists: [[ScoredItem]] = [], at = 0, sc = 0
        lists.reserveCapacity(n)
        while at < allFlat.count {
            let c = allFlat[at]; at += 1
            lists.append((0..<c).map { ScoredItem(item: allFlat[at + $0], score: allScores[sc + $0]) })
            at += c; sc += c
        }
        guard lists.count == n, allHidden.count == n * params.config.hiddenSize else {
            throw AlignError.invalidArgument("beam search across ranks gathered \(lists.count) result lists for \(n) prompts (the ranks were given different prompts)")
        }
        // Interleave: round by round, each rank's prompts of that round.
        let C = params.config.hiddenSize
        var cursor = [Int](repeating: 0, count: cluster.size)
        for k in 1..<cluster.size { cursor[k] = cursor[k - 1] + counts.reduce(0) { $0 + $1[k - 1] } }
        var items: [[ScoredItem]] = [], states: [Float] = []
        items.reserveCapacity(n); states.reserveCapacity(n * C)
        for round in counts {
            for (k, c) in round.enumerated() {
                items += lists[cursor[k]..<(cursor[k] + c)]
                states += allHidden[(cursor[k] * C)..<((cursor[k] + c) * C)]
                cursor[k] += c
            }
        }
        return (items, states)
    }

    /// One round of at most `usersPerCall` prompts: balanced contiguous shards, one per worker of the job. Returns
    /// this rank's shards' results (all of them in one process), their counts, and the prompts each rank decoded.
    func round(_ prompts: [[Int32]], topK: Int, exclude: [[Int]]?)
        throws -> (items: [[ScoredItem]], hidden: [Float], stats: BeamSearchStats, counts: [Int]) {
        let n = prompts.count
        let w = min(workers * cluster.size, n)
        let maxLen = prompts.map(\.count).max() ?? 1
        if w <= 1 && !cluster.isDistributed {
            let d = try decoder(0, groups: n, promptLength: maxLen)
            d.gemm.threads = Parallel.workers
            let r = try search.searchCounting(decoder: d, prompts: prompts, beamWidth: beamWidth, topK: topK, exclude: exclude)
            return (r.items, Array(d.promptHidden), r.stats, [n])
        }
        let bounds = (0...w).map { n * $0 / w }
        let perRank = (0..<cluster.size).map { k in bounds[min(w, (k + 1) * workers)] - bounds[min(w, k * workers)] }
        let first = min(cluster.rank * workers, w), mine = first..<min(first + workers, w)   // this rank's shards
        let decs = try mine.map { try decoder($0 - first, groups: bounds[$0 + 1] - bounds[$0], promptLength: maxLen) }
        for d in decs { d.gemm.threads = w == 1 ? Parallel.workers : 1 }
        var results = [Result<(items: [[ScoredItem]], stats: BeamSearchStats), Error>](repeating: .success(([], BeamSearchStats())), count: mine.count)
        let search = self.search, B = beamWidth
        results.withUnsafeMutableBufferPointer { res in
            let box = UncheckedSendable((res, decs, prompts, exclude))
            let run: @Sendable (Int) -> Void = { k in
                let (res, decs, prompts, exclude) = box.value
                let lo = bounds[first + k], hi = bounds[first + k + 1]
                res[k] = Result {
                    try search.searchCounting(decoder: decs[k], prompts: Array(prompts[lo..<hi]), beamWidth: B, topK: topK,
                                              exclude: exclude.map { Array($0[lo..<hi]) })
                }
            }
            if w == 1 {   // one shard in the whole job: the one-decoder path on the rank that has it
                for k in 0..<mine.count { run(k) }
            } else {
                withSingleThreadedBlas {
                    if mine.count == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: mine.count) { run($0) } }
                }
            }
        }
        var out: [[ScoredItem]] = []
        out.reserveCapacity(n)
        var hidden: [Float] = []
        var local = BeamSearchStats()
        for (k, r) in results.enumerated() { let v = try r.get(); out += v.items; local = local + v.stats; hidden += decs[k].promptHidden }
        return (out, hidden, local, perRank)
    }
}
