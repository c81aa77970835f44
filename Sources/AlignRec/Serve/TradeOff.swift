// The accuracy-against-goal plot of `align report --tradeoff`: one point per eval.json (an SFT run, aligned stages,
// a sweep of a goal reward's weight, MMR or diverse-beam evaluations of one model), NDCG@10 on the y axis and one
// goal metric (GoalMetrics.swift) on the x axis, so a goal reward can be compared with the decoding-time remedies at
// the same accuracy. Points are read from eval.json files as `align eval` writes them; a file without goal metrics
// (written before they existed) is an error naming the file, as is any unreadable file.
import Foundation

/// One evaluated model or decoding on the trade-off plot.
public struct TradeOffPoint: Sendable, Equatable {
    /// Legend label.
    public var label: String
    /// Test (or validation) NDCG@10.
    public var ndcg10: Double
    /// The goal metrics of the same lists.
    public var goals: GoalMetrics
    /// eval.json's re-ranking, when the lists were re-ranked.
    public var reranking: String?
    /// The split and protocol evaluated ("loo test").
    public var split: String

    public init(label: String, ndcg10: Double, goals: GoalMetrics, reranking: String? = nil, split: String) {
        self.label = label; self.ndcg10 = ndcg10; self.goals = goals; self.reranking = reranking; self.split = split
    }

    /// Reads one point from `spec`: `[label=]path`, the path an eval.json file or a run directory holding one. The
    /// default label: the run directory's name, and the re-ranking when there is one.
    public static func read(_ spec: String) throws -> TradeOffPoint {
        var label: String? = nil, path = spec
        if let eq = spec.firstIndex(of: "="), !spec[..<eq].contains("/") {
            label = String(spec[..<eq]); path = String(spec[spec.index(after: eq)...])
        }
        guard !path.isEmpty else { throw AlignError.invalidArgument("--tradeoff: empty path in '\(spec)'") }
        var url = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            url = url.appendingPathComponent("eval.json")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read the eval report for --tradeoff (run `align eval` first)")
        }
        let r: EvalReport
        do { r = try JSONDecoder().decode(EvalReport.self, from: data) } catch {
            throw AlignError.io(path: url.path, message: "not an align eval report (\(error))")
        }
        guard let g = r.goals else {
            throw AlignError.io(path: url.path, message: "field goals: absent (written before goal metrics; re-run `align eval`)")
        }
        guard let at = r.metrics.ks.firstIndex(of: 10), at < r.metrics.ndcg.count else {
            throw AlignError.io(path: url.path, message: "field metrics.ndcg: no NDCG@10")
        }
        let run = url.deletingLastPathComponent().lastPathComponent
        let name = label ?? (r.reranking.map { "\(run) (\($0))" } ?? run)
        return TradeOffPoint(label: name, ndcg10: r.metrics.ndcg[at], goals: g, reranking: r.reranking,
                             split: "\(r.evalProtocol.rawValue) \(r.split.rawValue)")
    }

    /// The points of a comma-separated list of specs.
    public static func readAll(_ list: String) throws -> [TradeOffPoint] {
        let specs = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !specs.isEmpty else { throw AlignError.invalidArgument("--tradeoff is empty") }
        return try specs.map(read)
    }
}

/// The report section of the trade-off points.
public enum TradeOffSection {
    /// A scatter chart (NDCG@10 against `goal`, one legend entry per point) and a table of every goal metric.
    public static func render(_ points: [TradeOffPoint], goal: GoalMetric) -> String {
        guard !points.isEmpty else { return "" }
        var h = "<h2>Accuracy against \(SVGPlot.escape(goal.rawValue))</h2>"
        let splits = Set(points.map(\.split))
        if splits.count > 1 {
            h += "<p class=\"sub\">note: the points come from different splits (\(SVGPlot.escape(splits.sorted().joined(separator: ", ")))); compare like with like.</p>"
        }
        let series = points.enumerated().map { i, p in
            PlotSeries(name: p.label, points: [(x: p.goals.value(goal), y: p.ndcg10)],
                       color: SVGPlot.palette[i % SVGPlot.palette.count], markers: true)
        }
        h += "<div class=\"charts\">" + SVGPlot.lineChart(title: "NDCG@10 against \(goal.rawValue)", xLabel: goal.rawValue,
                                                           series: series, width: 520, height: 320, padX: true) + "</div>"
        h += "<div class=\"tw\"><table><tr><th class=\"l\">point</th><th class=\"l\">split</th><th>NDCG@10</th>"
        h += GoalMetric.allCases.map { "<th>\(SVGPlot.escape($0.rawValue))</th>" }.joined() + "<th class=\"l\">re-ranking</th></tr>"
        for p in points {
            h += "<tr><td>\(SVGPlot.escape(p.label))</td><td class=\"l\">\(SVGPlot.escape(p.split))</td><td>\(String(format: "%.4f", p.ndcg10))</td>"
            h += GoalMetric.allCases.map { "<td>\(String(format: "%.4f", p.goals.value($0)))</td>" }.joined()
            h += "<td class=\"l\">\(SVGPlot.escape(p.reranking ?? "none"))</td></tr>"
        }
        return h + "</table></div>"
    }
}
