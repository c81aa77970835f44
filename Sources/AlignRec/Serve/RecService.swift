// The serving facade over a RecModel: recommendations from item histories (Recommender, trie-constrained
// beam search), a title generated for a SID (sid2title prompt, free generation) and the SID predicted for a
// title (title2sid prompt, constrained beam search), each answer carrying the catalogue's own truth (title,
// year, original id, SID) so users can compare. Owns the display record `Recommendation`; parsing what
// users type is TextMentions'/ChatIntent's job.
import Foundation

/// One recommended (or looked-up) item as shown and exported.
public struct Recommendation: Codable, Sendable, Equatable {
    /// 1-based position in the list.
    public var rank: Int
    /// Dense catalogue index.
    public var item: Int
    /// The source's own id (MovieLens movieId, ASIN, …).
    public var id: String
    /// Catalogue title (MovieLens form, e.g. "American President, The").
    public var title: String
    /// Release year when known.
    public var year: Int?
    /// "<a_3><b_17><c_250>".
    public var sid: String
    /// Summed renormalised log-probability of the SID (higher is better).
    public var score: Double
}

/// Answer to "what is <a_…><b_…>?".
public struct SIDAnswer: Codable, Sendable, Equatable {
    /// The SID asked about.
    public var sid: String
    /// The title the model generates for the SID (nil when the model was not asked: invalid SID).
    public var generatedTitle: String?
    /// The catalogue item with this SID, if any.
    public var item: Recommendation?
}

/// Answer to "which item is <title>?".
public struct TitleAnswer: Codable, Sendable, Equatable {
    /// The catalogue item the title resolved to, with its true SID.
    public var item: Recommendation
    /// The SIDs the model generates for the title, best first (constrained to valid SIDs).
    public var predicted: [Recommendation]
}

/// Serving operations on one model.
public final class RecService {
    /// The loaded bundle.
    public let model: RecModel
    /// Title lookup over the model's catalogue.
    public let titles: TitleIndex
    /// Beam width of every search.
    public let beam: Int
    /// Histories decoded together in one beam search.
    public let usersPerBatch: Int
    /// MMR or diverse beam search for every recommendation (Reranking.swift).
    public let reranking: Reranking
    var recommenders: [PromptTask: Recommender] = [:]
    var decoder: LlamaDecoder?

    /// Serves `model` with beam width `beam` (≥ the list length asked for).
    public init(model: RecModel, beam: Int = 20, usersPerBatch: Int = 16, reranking: Reranking = .none) throws {
        guard beam >= 1, usersPerBatch >= 1 else { throw AlignError.invalidArgument("--beam and users per batch must be ≥ 1") }
        self.model = model; self.beam = beam; self.usersPerBatch = usersPerBatch; self.reranking = reranking
        titles = TitleIndex(items: model.items)
    }

    /// Loads a model directory with serving-oriented messages.
    public static func load(_ dir: URL, beam: Int = 20, usersPerBatch: Int = 16, precision: Precision = .fp32,
                            reranking: Reranking = .none) throws -> RecService {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw AlignError.io(path: dir.path, message: "no such model directory (pass a run directory such as runs/X or a checkpoint inside it)")
        }
        let model = try RecModel.load(dir)
        model.precision = precision
        return try RecService(model: model, beam: beam, usersPerBatch: usersPerBatch, reranking: reranking)
    }

    /// Whether the model was trained on `task` (true when align.json does not say).
    public func trained(_ task: PromptTask) -> Bool { model.info.tasks.map { $0.contains(task.rawValue) } ?? true }

    /// The history task to use: `preferred` when the model learned it, else nextitem.
    public func historyTask(preferred: PromptTask) -> PromptTask { trained(preferred) ? preferred : .nextitem }

    /// The display record of an item.
    public func recommendation(item: Int, rank: Int, score: Double) -> Recommendation {
        let it = model.items[item - 1]
        return Recommendation(rank: rank, item: item, id: it.id, title: it.title, year: it.year,
                              sid: model.sidMap.tokenString(item) ?? "", score: score)
    }

    func recommender(_ task: PromptTask) throws -> Recommender {
        if let r = recommenders[task] { return r }
        let r = try Recommender(model: model, beam: beam, usersPerBatch: usersPerBatch, task: task, reranking: reranking)
        recommenders[task] = r
        return r
    }

    /// Top-k per history (oldest first). `exclude` per request (e.g. the history itself). Empty histories
    /// and items outside the catalogue are errors naming the request.
    public func recommend(_ requests: [RecommendRequest], k: Int, task: PromptTask = .nextitem,
                          progress: ProgressBar? = nil) throws -> [[Recommendation]] {
        guard k >= 1 else { throw AlignError.invalidArgument("k must be ≥ 1 (got \(k))") }
        for (i, r) in requests.enumerated() {
            guard !r.history.isEmpty else {
                throw AlignError.invalidArgument("request \(i + 1): the history is empty; give at least one item")
            }
            for it in r.history where it < 1 || it > model.items.count {
                throw AlignError.invalidArgument("request \(i + 1): item \(it) is not in the catalogue (1...\(model.items.count))")
            }
        }
        let lists = try recommender(task).recommend(requests, k: k, progress: progress)
        return lists.map { list in list.enumerated().map { recommendation(item: $0.element.item, rank: $0.offset + 1, score: Double($0.element.score)) } }
    }

    /// A decoder sized for one prompt (grown when needed).
    func singleDecoder(promptLength: Int, width: Int, suffix: Int) throws -> LlamaDecoder {
        if let d = decoder, d.maxPrompt >= promptLength, d.maxWidth >= width, d.maxSuffix >= suffix { return d }
        let d = try LlamaDecoder.planned(params: model.params, maxGroups: 1, maxWidth: max(width, decoder?.maxWidth ?? 0),
                                         maxPrompt: max(promptLength, decoder?.maxPrompt ?? 0),
                                         maxSuffix: max(suffix, decoder?.maxSuffix ?? 0), purpose: "decoding with beam \(width)",
                                         items: model.itemTable, precision: model.precision)
        decoder = d
        return d
    }

    /// The model's title for a SID (greedy, sid2title evaluation prompt) and the catalogue's item for it.
    /// Codes outside the codebooks or of the wrong length get no generation (the model never saw them).
    public func title(forSID codes: [Int], maxNewTokens: Int = 48) throws -> SIDAnswer {
        let sid = SIDMap.tokenString(codes)
        let item = model.sidMap.item(forCodes: codes).map { recommendation(item: $0, rank: 1, score: 0) }
        let valid = codes.count == model.sidMap.levels && codes.enumerated().allSatisfy { $0.element < model.sidMap.codebookSizes[$0.offset] }
        guard valid else { return SIDAnswer(sid: sid, generatedTitle: nil, item: item) }
        let prompt = try model.prompts.renderEval(.sid2title, slots: ["item": sid])
        let ids = try model.builder.encodePrompt(prompt, tokenizer: model.instructionTokenizer)
        let ctx = model.config.maxPositionEmbeddings
        let budget = max(1, min(maxNewTokens, ctx - ids.count))
        guard ids.count < ctx else { throw AlignError.invalidArgument("the sid2title prompt (\(ids.count) tokens) does not fit the model's context (\(ctx))") }
        let dec = try singleDecoder(promptLength: ids.count, width: 1, suffix: budget + 1)
        var rng = Rng(seed: 0)
        let out = try FreeGeneration.generate(decoder: dec, prompts: [ids], maxNewTokens: budget,
                                              eosId: model.instructionTokenizer.eosId,
                                              allowed: FreeGeneration.textMask(model.tokenizer, vocabSize: model.config.vocabSize), rng: &rng)
        let text = try model.tokenizer.decode(out[0], skipSpecial: true).trimmingCharacters(in: .whitespacesAndNewlines)
        return SIDAnswer(sid: sid, generatedTitle: text, item: item)
    }

    /// The catalogue SID of `item` and the model's top-k SIDs for its title (title2sid evaluation prompt).
    public func sid(forItem item: Int, k: Int = 3) throws -> TitleAnswer {
        guard item >= 1, item <= model.items.count else { throw AlignError.invalidArgument("item \(item) is not in the catalogue") }
        let ex = try model.builder.evalExample(.title2sid, item: item)
        let ids = try model.builder.encodePrompt(ex.prompt, tokenizer: model.instructionTokenizer)
        let width = max(beam, k)
        let dec = try singleDecoder(promptLength: ids.count, width: width, suffix: model.trie.maxDepth + 1)
        let lists = try ConstrainedBeamSearch(trie: model.trie).search(decoder: dec, prompts: [ids], beamWidth: width, topK: k)
        let predicted = lists[0].enumerated().map { recommendation(item: $0.element.item, rank: $0.offset + 1, score: Double($0.element.score)) }
        return TitleAnswer(item: recommendation(item: item, rank: 1, score: 0), predicted: predicted)
    }
}
