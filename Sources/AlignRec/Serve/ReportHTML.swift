// The run report as one self-contained HTML file (inline CSS and SVG; no scripts, fonts or network):
// stage comparison table (from eval.json), training/validation curves per stage (from metrics.jsonl),
// SID build report (codebook usage per level), timings, and every note met while reading. Owns layout and
// the choice of what to plot; ReportData owns reading.
import Foundation

/// Renders `ReportData` to HTML.
public enum ReportHTML {
    /// The complete HTML document.
    /// `tradeoff`: points of the accuracy-against-goal plot (TradeOff.swift), with `goal` on its x axis.
    public static func render(_ data: ReportData, title: String? = nil, generated: Date = Date(),
                              tradeoff: [TradeOffPoint] = [], goal: GoalMetric = .longtail10) -> String {
        let main = data.runs.last?.name ?? "run"
        var h = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        h += "<title>\(esc(title ?? "align report — \(main)"))</title><style>\(css)</style></head><body>"
        h += "<h1>\(esc(title ?? "align report — \(main)"))</h1>"
        let chain = data.runs.map { "\(esc($0.stage)) <span class=\"dim\">(\(esc($0.name)))</span>" }.joined(separator: " → ")
        h += "<p class=\"sub\">stages: \(chain)<br>generated \(esc(ISO8601DateFormatter().string(from: generated)))"
        if let c = data.runs.last?.info?.gitCommit { h += " · commit <code>\(esc(String(c.prefix(12))))</code>" }
        if let d = data.dataDir { h += " · data <code>\(esc(d.path))</code>" }
        h += "</p>"
        h += comparisonSection(data.runs)
        h += TradeOffSection.render(tradeoff, goal: goal)
        h += curvesSection(data.runs)
        h += sidSection(data)
        h += timingsSection(data.runs)
        let notes = data.runs.flatMap { r in r.notes.map { "\(r.name): \($0)" } } + data.sidNotes
        if !notes.isEmpty {
            h += "<h2>Notes</h2><ul class=\"notes\">" + notes.map { "<li>\(esc($0))</li>" }.joined() + "</ul>"
        }
        return h + "</body></html>\n"
    }

    static let css = """
    body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px 32px;color:#222;background:#fff;max-width:1400px}
    h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
    h3{font-size:14px;margin:14px 0 6px}.sub{color:#555;font-size:13px;margin:0 0 8px}.dim{color:#888}
    table{border-collapse:collapse;font-size:12px;margin:6px 0}.tw{overflow-x:auto}th,td{padding:4px 8px;border-bottom:1px solid #e4e4e4;text-align:right}
    th{background:#f5f5f5;font-weight:600}td:first-child,th:first-child,td.l,th.l{text-align:left}td.best{font-weight:700;color:#0b5394}
    .grid{stroke:#eee}.ax{stroke:#888}.tk{font-size:10px;fill:#555}.ct{font-size:12px;font-weight:600;fill:#222}.lg{font-size:10px;fill:#333}
    .na{font-size:12px;fill:#999}.charts{display:flex;flex-wrap:wrap;gap:10px}.chart{background:#fff;border:1px solid #eee;border-radius:4px}
    code{font-size:12px;background:#f3f3f3;padding:1px 4px;border-radius:3px}.notes{font-size:12px;color:#666}.empty{color:#888;font-size:13px}
    """

    static func esc(_ s: String) -> String { SVGPlot.escape(s) }
    static func num(_ v: Double) -> String {
        guard v.isFinite else { return "–" }
        if v != v.rounded() || abs(v) < 1 { return abs(v) < 1 ? String(format: "%.4f", v) : String(format: "%.3f", v) }
        return String(format: "%.0f", v)
    }

    // MARK: comparison table

    /// Column order: HR@K, NDCG@K (by K), coverage, diversity/entropy, validity, MRR, then the rest.
    static func columnRank(_ key: String) -> (Int, Int, String) {
        let k = key.lowercased()
        let last = k.split(separator: ".").last.map(String.init) ?? k
        let atK = last.split(separator: "@").last.flatMap { Int($0) } ?? 0
        let group: Int
        if last.hasPrefix("hr@") || last.hasPrefix("recall@") { group = 0 }
        else if last.hasPrefix("ndcg@") { group = 1 }
        else if last.contains("coverage") { group = 2 }
        else if last.contains("divers") || last.contains("entropy") { group = 3 }
        else if last.contains("valid") { group = 4 }
        else if last.contains("mrr") { group = 5 }
        else if last.contains("seconds") || last.contains("count") || last == "n" || last.contains("examples") { group = 7 }
        else { group = 6 }
        return (group, atK, k)
    }

    /// eval.json keys that describe the run rather than measure it.
    static let metaKeys: Set<String> = ["version", "format", "seed", "beam", "examples", "split_size", "returned",
                                        "duplicates", "invalid", "items", "count", "k", "max_examples"]
    /// First key components naming a baseline evaluated alongside the model (shown as its own row).
    static let baselinePrefixes = ["most_popular", "popularity", "popular", "baseline"]

    /// Rows of the comparison table: each run, then any baseline found in its eval.json.
    static func comparisonRows(_ runs: [ReportRun]) -> [(stage: String, name: String, values: [String: Double])] {
        var rows: [(String, String, [String: Double])] = []
        for r in runs {
            var main: [String: Double] = [:]
            var baselines: [String: [String: Double]] = [:]
            for (k, v) in r.eval {
                let parts = k.split(separator: ".").map(String.init)
                let last = parts.last ?? k
                // Timings go to the timings table.
                if metaKeys.contains(last) || k.hasSuffix("_misses") || last.contains("second") { continue }
                if let b = baselinePrefixes.first(where: { parts.first == $0 }), parts.count > 1 {
                    baselines[b, default: [:]][displayKey(parts.dropFirst().joined(separator: "."))] = v
                } else if main[displayKey(k)] == nil {
                    main[displayKey(k)] = v
                }
            }
            rows.append((r.stage, r.name, main))
            // The same baseline evaluated again by a later stage's eval is shown once.
            for b in baselinePrefixes where baselines[b] != nil && !rows.contains(where: { $0.0 == "baseline" && $0.2 == baselines[b]! }) {
                rows.append(("baseline", "\(b) (\(r.name))", baselines[b]!))
            }
        }
        return rows
    }

    /// Metric columns per comparison table: with the stage and run columns a table stays inside a 1,200-px page.
    public static let columnsPerTable = 9

    /// The "Stage comparison" section: ranking metrics, then the other measures, in tables that fit the page.
    public static func comparisonSection(_ runs: [ReportRun]) -> String {
        var h = "<h2>Stage comparison</h2>"
        let rows = comparisonRows(runs)
        var keys: [String] = []
        for r in rows { for k in r.values.keys.sorted() where !keys.contains(k) { keys.append(k) } }
        guard !keys.isEmpty else { return h + "<p class=\"empty\">No eval.json in these runs (run <code>align eval</code>).</p>" }
        keys.sort { columnRank($0) < columnRank($1) }
        // Ranking metrics first, then the lists' other measures; each group cut into tables that fit the page.
        let ranking = keys.filter { [0, 1, 5].contains(columnRank($0).0) }, other = keys.filter { ![0, 1, 5].contains(columnRank($0).0) }
        for group in [ranking, other] where !group.isEmpty {
            for start in stride(from: 0, to: group.count, by: columnsPerTable) {
                h += comparisonTable(rows, Array(group[start..<min(group.count, start + columnsPerTable)]))
            }
        }
        let texts = runs.flatMap { r in r.evalText.filter { ["protocol", "split"].contains($0.key) }.map { "\(r.name): \($0.key) = \($0.value)" } }
        if !texts.isEmpty { h += "<p class=\"sub\">" + texts.prefix(12).map(esc).joined(separator: " · ") + "</p>" }
        return h
    }

    /// One comparison table: a row per run (and baseline), the given metric columns, the best value in bold.
    static func comparisonTable(_ rows: [(stage: String, name: String, values: [String: Double])], _ cols: [String]) -> String {
        let lower: (String) -> Bool = { k in let l = k.lowercased(); return l.contains("loss") || l.contains("seconds") }
        var h = "<div class=\"tw\"><table><tr><th>stage</th><th class=\"l\">run</th>"
        // Break long keys only after "_" or "." (never inside a word or number).
        h += cols.map { c in "<th>" + esc(c).replacingOccurrences(of: "_", with: "_<wbr>").replacingOccurrences(of: ".", with: ".<wbr>") + "</th>" }.joined() + "</tr>"
        for r in rows where cols.contains(where: { r.values[$0] != nil }) {
            h += "<tr><td>\(esc(r.stage))</td><td class=\"l\">\(esc(r.name))</td>"
            for c in cols {
                guard let v = r.values[c] else { h += "<td class=\"dim\">–</td>"; continue }
                let all = rows.compactMap { $0.values[c] }.filter(\.isFinite)
                let best = all.count > 1 && all.min() != all.max() && v == (lower(c) ? all.min() : all.max())
                h += "<td\(best ? " class=\"best\"" : "")>\(num(v))</td>"
            }
            h += "</tr>"
        }
        return h + "</table></div>"
    }

    static func displayKey(_ k: String) -> String {
        for p in ["metrics.", "ranking.", "result.", "results.", "lists.", "translation."] where k.hasPrefix(p) { return String(k.dropFirst(p.count)) }
        return k
    }

    // MARK: curves

    /// A quantity a metrics line measured: a point of `series` in the chart of `quantity`.
    struct Measured { var quantity: String; var series: String; var value: Double }

    /// The points of a validation line (SFT and alignment stages write the same keys).
    static func validationPoints(_ v: ValidationScores) -> [Measured?] {
        func m(_ q: String, _ s: String, _ x: Double?) -> Measured? { x.map { Measured(quantity: q, series: s, value: $0) } }
        return [m("hr10", "valid", v.hr10), m("ndcg10", "valid", v.ndcg10),
                m("hr10", "valid (SID beam)", v.sidHR10), m("ndcg10", "valid (SID beam)", v.sidNDCG10), m("sid_weight", "valid", v.sidWeight)]
            + v.mix.map { m("ndcg10", String(format: "valid (sid weight %g)", Double($0.sidWeight)), $0.ndcg10) }
    }

    /// What a metrics line adds to the curves; one-off lines (DPO pairs, final scores, divergences) add nothing.
    static func measured(_ e: MetricEntry) -> [Measured] {
        func m(_ q: String, _ s: String, _ v: Double?) -> Measured? { v.map { Measured(quantity: q, series: s, value: $0) } }
        let points: [Measured?]
        switch e {
        case .sftTrain(let r):
            points = [m("loss", "train", r.loss), m("item_loss", "train", r.itemLoss), m("lr", "train", r.lr),
                      m("grad_norm", "train", r.gradNorm), m("tokens_per_s", "train", r.tokensPerSecond)]
        case .sftValid(let r):
            points = validationPoints(r.scores) + [m("hr10", "valid (raw weights)", r.rawHR10), m("ndcg10", "valid (raw weights)", r.rawNDCG10)]
        case .alignStart(let r):
            points = [m("hr10", "valid", r.validHR10), m("ndcg10", "valid", r.validNDCG10), m("hr10", "test", r.testHR10),
                      m("ndcg10", "test", r.testNDCG10), m("check_ndcg10", "start", r.checkNDCG10)]
        case .alignValid(let r):
            points = validationPoints(r.scores)
        case .dpoTrain(let r):
            points = [m("loss", "train", r.loss), m("rewards_chosen", "train", r.rewardsChosen),
                      m("rewards_rejected", "train", r.rewardsRejected), m("rewards_margin", "train", r.rewardsMargin),
                      m("rewards_accuracy", "train", r.rewardsAccuracy), m("chosen_logratio", "train", r.chosenLogratio),
                      m("grad_norm", "train", r.gradNorm), m("lr", "train", r.lr)]
        case .grpoTrain(let r):
            points = [m("mean_reward", "train", r.meanReward), m("hit_rate", "train", r.hitRate),
                      m("frac_zero_std", "train", r.fracZeroStd), m("active", "train", Double(r.active)),
                      m("loss", "train", r.loss), m("kl", "train", r.kl), m("clip_fraction", "train", r.clipFraction),
                      m("entropy", "train", r.entropy), m("grad_norm", "train", r.gradNorm), m("lr", "train", r.lr)]
        case .sftDiverged, .alignFinal, .alignDiverged, .dpoPairs:
            points = []
        }
        return points.compactMap { $0 }.filter { $0.value.isFinite }
    }

    /// Charts of one run's metrics against the training step: one per quantity, one series per kind of line.
    public static func curves(_ lines: [MetricLine]) -> [(key: String, series: [PlotSeries], xLabel: String)] {
        var byKey: [String: [String: [(x: Double, y: Double)]]] = [:]
        var order: [String] = []
        for line in lines {
            guard let step = line.entry.step else { continue }
            for p in measured(line.entry) {
                if byKey[p.quantity] == nil { order.append(p.quantity) }
                byKey[p.quantity, default: [:]][p.series, default: []].append((Double(step), p.value))
            }
        }
        func rank(_ k: String) -> (Int, String) {
            let l = k.lowercased()
            if l.contains("loss") { return (0, l) }
            if l.contains("reward") || l.hasPrefix("hr") || l.hasPrefix("ndcg") { return (1, l) }
            if l == "lr" || l.contains("grad") { return (3, l) }
            return (2, l)
        }
        return order.sorted { rank($0) < rank($1) }.map { key in
            let groups = byKey[key]!.keys.sorted { ($0.contains("train") ? 0 : 1, $0) < ($1.contains("train") ? 0 : 1, $1) }
            let series = groups.enumerated().map { i, g in
                PlotSeries(name: g, points: byKey[key]![g]!, color: SVGPlot.palette[i % SVGPlot.palette.count],
                           markers: !g.contains("train") && byKey[key]![g]!.count < 60)
            }
            return (key, series, "step")
        }
    }

    static func curvesSection(_ runs: [ReportRun]) -> String {
        var h = "<h2>Training and validation curves</h2>"
        for r in runs {
            h += "<h3>\(esc(r.stage)) — \(esc(r.name))</h3>"
            let charts = curves(r.metrics)
            if charts.isEmpty { h += "<p class=\"empty\">No metrics logged.</p>"; continue }
            h += "<div class=\"charts\">"
            for c in charts.prefix(12) { h += SVGPlot.lineChart(title: c.key, xLabel: c.xLabel, series: c.series, width: 360, height: 240) }
            h += "</div>"
        }
        return h
    }

    // MARK: SIDs

    static func sidSection(_ data: ReportData) -> String {
        var h = "<h2>Semantic IDs</h2>"
        if let r = data.sidReport {
            h += "<p class=\"sub\">\(r.items) items × \(r.dim) dims · method <b>\(esc(r.method))</b> · dedup \(esc(r.dedup)) · seed \(r.seed)"
            h += " · collision rate before dedup \(num(r.collisionRateBeforeDedup)) (largest group \(r.maxGroupSizeBeforeDedup))"
            h += " · reconstruction error \(num(r.reconstructionError)) (mean ‖x‖² \(num(r.meanSquaredNorm)))"
            if let p = r.firstLevelGenrePurity { h += " · first-level genre purity \(num(p))" }
            h += " · unique: \(r.unique ? "yes" : "NO") · \(num(r.seconds)) s</p>"
            h += "<table><tr><th>level</th><th>codebook</th><th>used</th><th>utilisation</th><th>perplexity</th></tr>"
            for l in r.levelStats {
                h += "<tr><td>\(esc(l.letter))\(l.extra ? " (dedup)" : "")</td><td>\(l.codebookSize)</td><td>\(l.used)</td>"
                h += "<td>\(String(format: "%.1f%%", l.utilisation * 100))</td><td>\(String(format: "%.1f", l.perplexity))</td></tr>"
            }
            h += "</table><div class=\"charts\">"
            h += SVGPlot.barChart(title: "codebook utilisation per level (%)", values: r.levelStats.map { $0.utilisation * 100 },
                                  labels: r.levelStats.map { $0.letter + ($0.extra ? "*" : "") }, width: 300)
            h += SVGPlot.barChart(title: "perplexity / codebook size per level", values: r.levelStats.map { $0.perplexity / Double(max($0.codebookSize, 1)) },
                                  labels: r.levelStats.map { $0.letter + ($0.extra ? "*" : "") }, color: SVGPlot.palette[2], width: 300)
            if !r.lossHistory.isEmpty {
                h += SVGPlot.lineChart(title: "RQ-VAE loss", xLabel: "epoch",
                                       series: [PlotSeries(name: "loss", points: r.lossHistory.enumerated().map { (Double($0.offset + 1), $0.element) }, color: SVGPlot.palette[0])],
                                       width: 360, height: 220)
            }
            h += "</div>"
        }
        if let counts = data.sidCounts {
            h += "<h3>Items per code, by level (dashed: uniform share)</h3><div class=\"charts\">"
            for (level, c) in counts.enumerated() {
                let n = c.reduce(0, +)
                h += SVGPlot.barChart(title: "level \(SIDMap.letter(level)): \(c.filter { $0 > 0 }.count)/\(c.count) codes used",
                                      values: c.map(Double.init), color: SVGPlot.palette[level % SVGPlot.palette.count],
                                      reference: c.isEmpty ? nil : Double(n) / Double(c.count), yLabel: "items", width: 440)
            }
            h += "</div>"
        }
        if data.sidReport == nil && data.sidCounts == nil { h += "<p class=\"empty\">No SID report or SID map found.</p>" }
        return h
    }

    // MARK: timings

    /// Wall time a run's metrics span (last − first "time"), seconds.
    static func span(_ lines: [MetricLine]) -> Double? {
        let t = lines.compactMap(\.time)
        guard let a = t.min(), let b = t.max() else { return nil }
        return b - a
    }

    static func timingsSection(_ runs: [ReportRun]) -> String {
        var h = "<h2>Timings</h2><table><tr><th>stage</th><th class=\"l\">run</th><th class=\"l\">started</th><th>logged span</th><th>steps</th><th>tokens/s (median)</th><th>eval seconds</th><th>eval users/s</th></tr>"
        for r in runs {
            let steps = r.metrics.compactMap(\.entry.step).max().map(Double.init)
            let rates = r.metrics.compactMap { line -> Double? in
                if case .sftTrain(let t) = line.entry { return t.tokensPerSecond } else { return nil }
            }.sorted()
            let evalSec = r.eval.first { $0.key.lowercased().hasSuffix("seconds") }?.value
            let evalRate = r.eval.first { $0.key.lowercased().contains("users_per_s") }?.value
            h += "<tr><td>\(esc(r.stage))</td><td class=\"l\">\(esc(r.name))</td><td class=\"l\">\(esc(r.info?.started ?? "–"))</td>"
            h += "<td>\(span(r.metrics).map(duration) ?? "–")</td><td>\(steps.map(num) ?? "–")</td>"
            h += "<td>\(rates.isEmpty ? "–" : SVGPlot.format(rates[rates.count / 2]))</td><td>\(evalSec.map(num) ?? "–")</td><td>\(evalRate.map(SVGPlot.format) ?? "–")</td></tr>"
        }
        return h + "</table>"
    }

    static func duration(_ s: Double) -> String {
        if s < 120 { return String(format: "%.1f s", s) }
        if s < 7200 { return String(format: "%.1f min", s / 60) }
        return String(format: "%.2f h", s / 3600)
    }
}
