// `align export`: top-K recommendations for many users to JSONL or CSV (batched beam search, progress bar,
// streamed to a temporary file and renamed into place). Logic in AlignRec/Serve/RecExport.swift.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct ExportCommand: DataParallelCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export top-K recommendations per user (rank, item, original id, title, year, SID, score) as JSONL or CSV.",
        discussion: """
        --users all: every user's whole sequence (what comes next); test: the leave-one-out test histories \
        (as evaluation sees them); FILE: one user id per line. History items are never returned.
        """
    )

    @Option(name: .long, help: "Run or checkpoint directory (runs/X).")
    var model: String
    @Option(name: .long, help: "Dataset directory (the one the model was trained on).")
    var data: String
    @Option(name: .long, help: "all | test | FILE with one user id per line.")
    var users: String = "all"
    @Option(name: .long, help: "Items per user.")
    var k: Int = 20
    @Option(name: .long, help: "jsonl | csv")
    var format: String = "jsonl"
    @Option(name: .long, help: "Output file.")
    var out: String
    @Option(name: .long, help: "Beam width (at least k).")
    var beam: Int = 20
    @Option(name: .customLong("users-per-batch"), help: "Users decoded together in one beam search.")
    var usersPerBatch: Int = 16
    @Option(name: .long, help: "nextitem | titlehist2sid")
    var task: String = "nextitem"
    @Flag(name: .customLong("no-progress"), help: "No progress bar.")
    var noProgress = false

    @OptionGroup var rerank: RerankOptions
    @OptionGroup var precisionOptions: PrecisionOptions

    func run() throws {
        do {
            guard let fmt = ExportFormat(rawValue: format) else {
                throw AlignError.invalidArgument("--format must be jsonl or csv (got \(format))")
            }
            guard let t = PromptTask(rawValue: task), t == .nextitem || t == .titlehist2sid else {
                throw AlignError.invalidArgument("--task must be nextitem or titlehist2sid (got \(task))")
            }
            let service = try ServeCLI.load(model: model, k: k, beam: beam, usersPerBatch: usersPerBatch,
                                            precision: precisionOptions.resolve(announce: false),
                                            reranking: try rerank.resolve(beam: max(beam, k), k: k))
            let ds = try Dataset.load(from: URL(fileURLWithPath: data))
            try ServeInputs.checkCatalogue(model: service.model, dataset: ds, dataPath: data)
            let sel = try ServeInputs.selection(users, dataset: ds)
            let bar = noProgress ? nil : ProgressBar(total: sel.count, label: "export", unit: "users")
            let outURL = URL(fileURLWithPath: out)
            // In a data-parallel job every rank decodes its share of each batch and rank 0 writes the file.
            let stats = try RecExport.run(service: service, users: sel, k: k, format: fmt, out: Cluster.world.isRoot ? outURL : nil,
                                          task: t, progress: bar)
            bar?.finish()
            print("exported \(sel.description): \(stats.rows) rows → \(outURL.path) in \(String(format: "%.1f", stats.seconds)) s (\(String(format: "%.1f", stats.usersPerSecond)) users/s)")
        }
    }
}
