// `align report runs/X`: one self-contained HTML page for a run and the stage runs it descends from
// (curves, stage comparison, SID report, timings). Reading and rendering live in AlignRec/Serve.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report of a run (curves per stage, stage comparison, SID report, timings).",
        discussion: """
        Stages are found by following "parent" in each run.json (an aligned run points at the run it started \
        from), or given explicitly with --runs (oldest first). The SID section uses <data>/sid/report.json of \
        the dataset named by --data in the runs' command lines (or --data here). --tradeoff adds a plot of \
        NDCG@10 against a goal metric (--goal) with one point per eval.json: SFT, aligned stages, a reward-weight \
        sweep, `align eval --mmr-lambda` or `--diverse-groups` evaluations (label=path names a point).
        """
    )

    @Argument(help: "Run directory (runs/X).")
    var runDirectory: String
    @Option(name: .long, help: "Comma-separated run directories to show, oldest first (replaces parent-link discovery).")
    var runs: String?
    @Option(name: .long, help: "Dataset directory for the SID section (default: the one the runs were trained on).")
    var data: String?
    @Option(name: .long, help: "Output HTML file (default <run>/report.html).")
    var out: String?
    @Option(name: .long, help: "Page title.")
    var title: String?
    @Option(name: .long, help: "Comma-separated eval.json files or run directories ([label=]path) for the accuracy-against-goal plot.")
    var tradeoff: String?
    @Option(name: .long, help: "Goal metric on the plot's x axis: \(GoalMetric.allCases.map(\.rawValue).joined(separator: ", ")).")
    var goal: GoalMetric = .longtail10

    func run() throws {
        do {
            let runURL = URL(fileURLWithPath: runDirectory)
            let stages = runs.map { $0.split(separator: ",").map { URL(fileURLWithPath: $0.trimmingCharacters(in: .whitespaces)) } }
            if let s = stages, s.isEmpty { throw AlignError.invalidArgument("--runs is empty") }
            let report = try ReportData.gather(run: runURL, stages: stages, data: data.map { URL(fileURLWithPath: $0) })
            let points = try tradeoff.map { try TradeOffPoint.readAll($0) } ?? []
            let html = ReportHTML.render(report, title: title, tradeoff: points, goal: goal)
            let outURL = out.map { URL(fileURLWithPath: $0) } ?? runURL.appendingPathComponent("report.html")
            try AtomicFile.write(html, to: outURL)
            print("stages: " + report.runs.map { "\($0.stage) (\($0.name))" }.joined(separator: " → "))
            for r in report.runs { for n in r.notes { print("note: \(r.name): \(n)") } }
            for n in report.sidNotes { print("note: \(n)") }
            for p in points { print(String(format: "tradeoff: %@: NDCG@10 %.4f, %@ %.4f", p.label, p.ndcg10, goal.rawValue, p.goals.value(goal))) }
            print("wrote \(outURL.path) (\(html.utf8.count / 1024) KiB)")
        }
    }
}
