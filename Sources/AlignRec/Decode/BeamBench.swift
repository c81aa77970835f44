// Micro-benchmark of trie-constrained beam search: users/s of a ShardedBeamSearch (`usersPerBatch` users per
// decoder, one decoder per worker) over prompts (beam 20, top-20, 100-token prompts, 10k/50k items of 4 levels
// × 256 codes: the shape README's beam-search figures use). Also builds synthetic tries and prompts of those shapes for `align bench`.
import Foundation

/// Beam-search throughput measurement.
public enum BeamBench {
    /// One measurement. JSON keys snake_case.
    public struct Result: Codable, Sendable {
        public var users: Int
        public var seconds: Double
        public var usersPerSecond: Double
        public var beamWidth: Int
        public var topK: Int
        /// Users one decoder batches together, and decoders running side by side.
        public var usersPerBatch: Int
        public var workers: Int
        public var items: Int
        public var meanPromptLength: Double
        /// Beam-step rows (one token of one beam) computed per user, and what computing every row would take.
        public var stepRowsPerUser: Double
        public var rowSlotsPerUser: Double

        enum CodingKeys: String, CodingKey {
            case users, seconds, items
            case stepRowsPerUser = "step_rows_per_user", rowSlotsPerUser = "row_slots_per_user"
            case usersPerSecond = "users_per_second", beamWidth = "beam_width", topK = "top_k"
            case usersPerBatch = "users_per_batch", workers, meanPromptLength = "mean_prompt_length"
        }
    }

    /// Runs constrained beam search over all `prompts`, `search.usersPerCall` users per call (after one untimed
    /// warm-up call when `warmup`), and reports users/s. Checks every result list is non-empty.
    public static func run(search: ShardedBeamSearch, prompts: [[Int32]], topK: Int = 20, warmup: Bool = true) throws -> Result {
        guard !prompts.isEmpty else { throw AlignError.invalidArgument("beam bench needs prompts") }
        let per = search.usersPerCall
        if warmup { _ = try search.search(prompts: Array(prompts.prefix(per)), topK: topK) }
        let before = search.stats
        let start = DispatchTime.now().uptimeNanoseconds
        var i = 0
        while i < prompts.count {
            let res = try search.search(prompts: Array(prompts[i..<min(prompts.count, i + per)]), topK: topK)
            if res.contains(where: { $0.isEmpty }) {
                throw AlignError.invalidArgument("beam bench: a search returned no items")
            }
            i += per
        }
        let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let meanLen = Double(prompts.map(\.count).reduce(0, +)) / Double(prompts.count)
        let st = search.stats, users = Double(max(1, st.prompts - before.prompts))
        return Result(users: prompts.count, seconds: secs, usersPerSecond: Double(prompts.count) / max(secs, 1e-9),
                      beamWidth: search.beamWidth, topK: topK, usersPerBatch: search.usersPerWorker, workers: search.workers,
                      items: search.search.trie.itemCount, meanPromptLength: meanLen,
                      stepRowsPerUser: Double(st.stepRows - before.stepRows) / users,
                      rowSlotsPerUser: Double(st.rowSlots - before.rowSlots) / users)
    }

    /// Random distinct SIDs: `items` codes of `levels` levels × `codes` codes; level l's code c is token
    /// firstToken + l·codes + c (the layout of SID tokens appended after the text vocabulary).
    public static func syntheticSIDs(items: Int, levels: Int, codes: Int, firstToken: Int32,
                                     seed: UInt64) throws -> [(item: Int, tokens: [Int32])] {
        let space = pow(Double(codes), Double(levels))
        guard items >= 1, levels >= 1, codes >= 1, Double(items) <= space / 2 else {
            throw AlignError.invalidArgument("synthetic SIDs: \(items) items do not fit comfortably in \(codes)^\(levels) codes")
        }
        var rng = Rng(seed: seed)
        var seen = Set<[Int32]>()
        var out: [(item: Int, tokens: [Int32])] = []
        out.reserveCapacity(items)
        while out.count < items {
            let sid = (0..<levels).map { l in firstToken + Int32(l * codes + rng.int(below: codes)) }
            if seen.insert(sid).inserted { out.append((out.count + 1, sid)) }
        }
        return out
    }

    /// `count` prompts of `length` tokens: BOS then SID-like tokens drawn from [firstToken, vocabSize).
    public static func syntheticPrompts(count: Int, length: Int, bos: Int32, firstToken: Int32, vocabSize: Int,
                                        seed: UInt64) -> [[Int32]] {
        var rng = Rng(seed: seed)
        let span = max(1, vocabSize - Int(firstToken))
        return (0..<count).map { _ in
            [bos] + (1..<max(1, length)).map { _ in firstToken + Int32(rng.int(below: span)) }
        }
    }
}
