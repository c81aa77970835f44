// `align recommend`: top-K items for one user of a dataset, a history of titles, or a history of item ids.
// Input resolution and decoding live in AlignRec/Serve (ServeInputs, RecService).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct RecommendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommend",
        abstract: "Recommend items for a user (--user), a history of titles (--history) or of item ids (--history-ids).",
        discussion: """
        --user takes the source's user id and uses that user's whole sequence (needs --data). --history takes \
        titles separated by ';' ("Toy Story; Heat (1995)"); unknown or ambiguous titles are an error that lists \
        the closest candidates. --history-ids takes the source's item ids (items.jsonl "id").
        """
    )

    @Option(name: .long, help: "Run or checkpoint directory (runs/X).")
    var model: String
    @Option(name: .long, help: "A user id of the dataset (whole sequence as history).")
    var user: String?
    @Option(name: .long, help: "Titles separated by ';', oldest first.")
    var history: String?
    @Option(name: .customLong("history-ids"), help: "Item ids separated by ',', oldest first.")
    var historyIds: String?
    @Option(name: .long, help: "Dataset directory (for --user).")
    var data: String?
    @Option(name: .long, help: "List length.")
    var k: Int = 10
    @Option(name: .long, help: "Beam width (at least k).")
    var beam: Int = 20
    @Flag(name: .customLong("exclude-history"), help: "Never return items of the history (always on for --user).")
    var excludeHistory = false
    @Option(name: .long, help: "nextitem (history as SIDs) | titlehist2sid (history as titles).")
    var task: String = "nextitem"
    @Flag(name: .long, help: "JSON output.")
    var json = false

    func validate() throws {
        let given = [user != nil, history != nil, historyIds != nil].filter { $0 }.count
        guard given == 1 else { throw ValidationError("give exactly one of --user, --history, --history-ids") }
        if user != nil && data == nil { throw ValidationError("--user needs --data (the dataset the user is in)") }
    }

    @OptionGroup var rerank: RerankOptions
    @OptionGroup var precisionOptions: PrecisionOptions

    func run() throws {
        do {
            guard let t = PromptTask(rawValue: task), t == .nextitem || t == .titlehist2sid else {
                throw AlignError.invalidArgument("--task must be nextitem or titlehist2sid (got \(task))")
            }
            let service = try ServeCLI.load(model: model, k: k, beam: beam, usersPerBatch: 1,
                                            precision: precisionOptions.resolve(announce: false),
                                            reranking: try rerank.resolve(beam: max(beam, k), k: k))
            let target = try ServeCLI.resolveUser(user: user, history: history, historyIds: historyIds, data: data,
                                                  service: service, excludeHistory: excludeHistory)
            let list = try service.recommend([RecommendRequest(history: target.history, exclude: target.exclude)], k: k, task: t)[0]
            if json {
                struct Out: Encodable { var format = "align-recs"; var version = 1; var user: String?; var history: [Recommendation]; var task: String; var items: [Recommendation] }
                let hist = target.history.enumerated().map { service.recommendation(item: $0.element, rank: $0.offset + 1, score: 0) }
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try e.encode(Out(user: user, history: hist, task: t.rawValue, items: list)), as: UTF8.self))
            } else {
                let shown = target.history.suffix(service.model.taskConfig.maxHistory).map(service.model.displayTitle)
                let more = target.history.count > shown.count ? "… (\(target.history.count - shown.count) earlier), " : ""
                print("history (\(target.history.count) items, \(t.rawValue)): \(more)\(shown.joined(separator: "; "))")
                print(ChatEngine.renderList(list))
            }
        }
    }
}

/// What the serving commands share: loading a model with checked --k / --beam, and resolving a user.
enum ServeCLI {
    /// Loads the model at `model` for lists of `k` items with beam width max(beam, k): --k must lie within the
    /// catalogue and --beam be ≥ 1 (its memory is checked when the decoder is planned).
    static func load(model: String, k: Int, beam: Int, usersPerBatch: Int, precision: Precision = .fp32,
                     reranking: Reranking = .none) throws -> RecService {
        let o = CLIErrors.option
        try o.int("--k", k, 1...FieldCheck.maxCount)
        try o.int("--beam", beam, 1...FieldCheck.maxCount)
        try o.int("--users-per-batch", usersPerBatch, 1...FieldCheck.maxCount)
        let service = try RecService.load(URL(fileURLWithPath: model), beam: max(beam, k), usersPerBatch: usersPerBatch, precision: precision,
                                          reranking: reranking)
        try o.int("--k", k, 1...max(1, service.model.items.count), "at most the catalogue's \(service.model.items.count) items")
        try o.beam("--beam", beam, items: service.model.items.count)
        return service
    }

    /// The history and exclusions for --user / --history / --history-ids.
    static func resolveUser(user: String?, history: String?, historyIds: String?, data: String?,
                            service: RecService, excludeHistory: Bool) throws -> ServeUser {
        if let user {
            let path = data ?? ""
            let ds = try Dataset.load(from: URL(fileURLWithPath: path))
            try ServeInputs.checkCatalogue(model: service.model, dataset: ds, dataPath: path)
            return try ServeInputs.user(user, dataset: ds)
        }
        let items = try history.map { try ServeInputs.history(titles: $0, index: service.titles) }
            ?? ServeInputs.history(ids: historyIds ?? "", items: service.model.items)
        return ServeUser(userId: "", history: items, exclude: excludeHistory ? items : [])
    }
}
