// The run report: stage discovery through run.json parent links, metrics.jsonl read back as typed records (lines
// of no known kind noted, not fatal), tolerant reading of eval.json (RankingMetrics' {ks, hr, ndcg} expands to
// hr@K), SID usage counts from a SID map, and an HTML page with no external resources. Synthetic runs written
// here as the stages write them; numbers checked against the inputs.
import AlignRec
import Foundation
import Testing

/// Writes a synthetic run directory: run.json (stage, parent, --data), metrics.jsonl (SFT lines: a training line
/// per step, a validation line every 5), optional eval.json.
func writeSyntheticRun(_ dir: URL, stage: String, parent: String?, data: String, steps: Int, eval: String?) throws {
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let parentField = parent.map { "\"parent\": \"\($0)\"," } ?? ""
    try """
    {"format": "align-run", "version": 1, "stage": "\(stage)", "seed": 1, \(parentField)
     "command_line": ["align", "\(stage)", "--data", "\(data)"], "started": "2026-11-23T10:00:00Z"}
    """.write(to: dir.appendingPathComponent("run.json"), atomically: true, encoding: .utf8)
    var lines: [String] = []
    for s in 1...steps {
        lines.append("{\"stage\":\"sft_train\",\"step\":\(s),\"loss\":\(3.0 / Double(s)),\"lr\":0.001,\"grad_norm\":1,\"epoch\":0,\"tokens\":\(100 * s),\"tokens_per_s\":\(1000 + s),\"time\":\(1000.0 + Double(s) * 2)}")
        if s % 5 == 0 {
            lines.append("{\"stage\":\"sft_valid\",\"step\":\(s),\"hr10\":\(0.01 * Double(s)),\"ndcg10\":\(0.005 * Double(s)),\"users\":50,\"seconds\":1.5,\"best\":true,\"time\":\(1000.0 + Double(s) * 2)}")
        }
    }
    lines.append(#"{"stage":"sft_train","step":"three","time":1}"#)   // a known kind with a field of the wrong type
    lines.append(#"{"stage":"custom","step":3,"value":1}"#)             // no kind align writes
    try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
    if let eval { try eval.write(to: dir.appendingPathComponent("eval.json"), atomically: true, encoding: .utf8) }
}

@Test func reportFollowsParentsAndRendersSelfContainedHTML() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("align-report-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: root) }
    let data = root.appendingPathComponent("data/tiny")
    try FileManager.default.createDirectory(at: data.appendingPathComponent("sid"), withIntermediateDirectories: true)
    try "{}\n".write(to: data.appendingPathComponent("items.jsonl"), atomically: true, encoding: .utf8)
    let map = try SIDMap(codebookSizes: [2, 3], method: "rqkmeans", dedup: "none", codesByRow: [[0, 0], [0, 1], [1, 1], [0, 2]])
    try map.write(data.appendingPathComponent("sid/sid_map.json"))
    let sft = root.appendingPathComponent("runs/sft"), dpo = root.appendingPathComponent("runs/dpo")
    try writeSyntheticRun(sft, stage: "sft", parent: nil, data: data.path, steps: 20, eval: """
        {"format": "align-eval", "version": 1, "protocol": "leave-one-out", "split": "test",
         "metrics": {"ks": [1, 5, 10, 20], "hr": [0.01, 0.04, 0.07, 0.1], "ndcg": [0.01, 0.02, 0.03, 0.04], "count": 610},
         "most_popular": {"ks": [1, 5, 10, 20], "hr": [0, 0.01, 0.02, 0.03], "ndcg": [0, 0.005, 0.01, 0.012]}, "coverage": 0.3, "diversity": 2.5, "seconds": 12.5}
        """)
    try writeSyntheticRun(dpo, stage: "dpo", parent: sft.appendingPathComponent("best").path, data: data.path, steps: 10, eval: """
        {"metrics": {"ks": [1, 5, 10, 20], "hr": [0.02, 0.05, 0.08, 0.11], "ndcg": [0.02, 0.03, 0.04, 0.05]}, "most_popular": {"ks": [1, 5, 10, 20], "hr": [0, 0.01, 0.02, 0.03], "ndcg": [0, 0.005, 0.01, 0.012]}, "coverage": 0.25}
        """)
    try FileManager.default.createDirectory(at: sft.appendingPathComponent("best"), withIntermediateDirectories: true)

    let report = try ReportData.gather(run: dpo)
    #expect(report.runs.map(\.stage) == ["sft", "dpo"])
    #expect(report.dataDir?.standardizedFileURL.path.hasSuffix("data/tiny") == true || report.dataDir?.standardizedFileURL.path.hasSuffix("data/tiny/") == true)
    #expect(report.sidCounts == [[3, 1], [1, 2, 1]])
    let sftEval = Dictionary(report.runs[0].eval.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    #expect(sftEval["metrics.hr@10"] == 0.07 && sftEval["metrics.ndcg@20"] == 0.04 && sftEval["coverage"] == 0.3)
    #expect(report.runs[0].evalText.contains { $0.key == "protocol" && $0.value == "leave-one-out" })
    // Curves from the typed lines: "loss" (train), "hr10" and "ndcg10" (valid, one point per validation), "lr".
    let sftLines = report.runs[0].metrics
    #expect(sftLines.count == 24 && sftLines.filter { if case .sftValid = $0.entry { true } else { false } }.count == 4)
    #expect(report.runs[0].notes.contains { $0.contains("2 lines not shown") && $0.contains("line 25: step:") }, "\(report.runs[0].notes)")
    let curves = ReportHTML.curves(sftLines)
    #expect(curves.first?.key == "loss")
    #expect(curves.first?.series.map(\.name) == ["train"])
    #expect(curves.first?.series[0].points.last?.y == 3.0 / 20)
    let hr = try #require(curves.first { $0.key == "hr10" })
    #expect(hr.series.map(\.name) == ["valid"] && hr.series[0].points.map(\.x) == [5, 10, 15, 20] && hr.series[0].points.last?.y == 0.2)
    #expect(curves.contains { $0.key == "lr" } && !curves.contains { $0.key == "users" || $0.key == "seconds" || $0.key == "best" })

    let html = ReportHTML.render(report)
    #expect(html.contains("<svg") && html.contains("hr@10") && html.contains("0.0800"))
    #expect(!html.contains("http://") || !html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
    #expect(!html.contains("<script") && !html.contains("<link"))
    #expect(html.components(separatedBy: "most_popular (").count == 2)   // the shared baseline once
    #expect(html.contains("no SID report at"))   // report.json missing: a note, not a failure
    // Explicit stage list; a missing directory is an error; a non-run directory is an error.
    #expect(try ReportData.gather(run: dpo, stages: [dpo]).runs.count == 1)
    #expect(report.runs.allSatisfy { !$0.notes.contains { $0.contains("earlier stages are not shown") } })
    // A parent link to a run that is gone: the chain stops there and the oldest run found says why.
    try FileManager.default.removeItem(at: sft)
    let broken = try ReportData.gather(run: dpo)
    #expect(broken.runs.map(\.stage) == ["dpo"])
    #expect(broken.runs[0].notes.contains { $0.contains("runs/sft/best") && $0.contains("earlier stages are not shown") })
    #expect(throws: AlignError.self) { try ReportData.gather(run: root.appendingPathComponent("nope")) }
    #expect(throws: AlignError.self) { try ReportData.gather(run: data.appendingPathComponent("sid")) }
}

@Test func svgTicksAreRoundAndCoverTheRange() {
    let u = SVGPlot.ticks(0, 1, count: 5)
    #expect(u.count == 6 && u.first == 0 && abs(u.last! - 1) < 1e-12)
    let t = SVGPlot.ticks(0.13, 2.9, count: 5)
    #expect(t.first! >= 0.13 && t.last! <= 2.9 && t == [0.5, 1.0, 1.5, 2.0, 2.5])
    #expect(SVGPlot.escape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;")
    #expect(SVGPlot.tickLabels([0.6920, 0.6925, 0.6930]) == ["0.6920", "0.6925", "0.6930"])
    #expect(SVGPlot.tickLabels([0, 0.002, 0.004]) == ["0", "2.0e-03", "4.0e-03"])
    #expect(SVGPlot.tickLabels([0, 50, 100]) == ["0", "50", "100"])
    #expect(SVGPlot.tickLabels([0, 0.025, 0.05, 0.075]) == ["0.000", "0.025", "0.050", "0.075"])   // never 0.03 for 0.025
    #expect(SVGPlot.tickLabels([-0.15, -0.125, -0.1]) == ["-0.150", "-0.125", "-0.100"])
}

@Test func alignmentLogsAndSummaryAreRead() throws {
    // `align dpo` lines as the stage writes them: one stage name, an "event" per line, a final line without a step.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-summary-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let log = try MetricsLog(url: dir.appendingPathComponent("metrics.jsonl"), append: false)
    log.log(AlignStartRecord(validHR10: 0.05, validNDCG10: 0.02, testHR10: 0.04, testNDCG10: 0.015, checkNDCG10: 0.02), stage: "dpo")
    log.log(DPOPairsRecord(pairs: 10, negatives: .beam, numNegatives: 1, sftTrainTop1: 0.3, maxSeq: 40, seconds: 2), stage: "dpo")
    var st = DPOStepStats(); st.loss = 0.69; st.margin = .nan
    log.log(DPOTrainRecord(step: 1, st, lr: 1e-5, seconds: 0.5), stage: "dpo")
    log.log(AlignValidRecord(step: 1, validHR10: 0.06, validNDCG10: 0.03, best: true, examples: 100), stage: "dpo")
    log.log(AlignFinalRecord(bestStep: 1, validNDCG10: 0.1, testNDCG10: 0.09, minutes: 3), stage: "dpo")
    let read = try MetricsLog.records(dir.appendingPathComponent("metrics.jsonl"))
    #expect(read.unread.isEmpty && read.lines.count == 5 && read.lines.allSatisfy { $0.stage == "dpo" && $0.time != nil })
    guard case .dpoTrain(let train) = read.lines[2].entry else { Issue.record("not a DPO training line"); return }
    #expect(train.loss == 0.69 && train.rewardsMargin.isNaN && train.lr == 1e-5)   // non-finite values survive as "nan"
    let charts = Dictionary(uniqueKeysWithValues: ReportHTML.curves(read.lines).map { ($0.key, $0.series) })
    #expect(charts["hr10"]?.first { $0.name == "valid" }?.points.map(\.x) == [0, 1])
    #expect(charts["hr10"]?.first { $0.name == "test" }?.points.count == 1)
    #expect(charts["loss"]?.map(\.name) == ["train"] && charts["rewards_margin"] == nil)
    #expect(charts["minutes"] == nil && charts["examples"] == nil && charts["best"] == nil && charts["pairs"] == nil)
    try """
    {"format": "align-alignment-summary", "version": 1, "stage": "dpo",
     "sft": {"test_hr10": 0.07, "test_ndcg10": 0.03, "valid_hr10": 0.08, "valid_ndcg10": 0.04},
     "aligned": {"test_hr10": 0.075, "test_ndcg10": 0.035, "valid_hr10": 0.085, "valid_ndcg10": 0.045}}
    """.write(to: dir.appendingPathComponent("summary.json"), atomically: true, encoding: .utf8)
    let run = try ReportData.readRun(dir)
    let ev = Dictionary(run.eval.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    #expect(ev == ["hr@10": 0.075, "ndcg@10": 0.035, "valid.hr@10": 0.085, "valid.ndcg@10": 0.045])
}

@Test func legendsSitAboveThePlotAndTablesFitThePage() throws {
    // Five series with long names at the report's chart width: the legend wraps into rows, and every legend
    // label lies above the top of the y axis (the plot area), so no label covers a data point.
    let names = ["train", "valid", "test", "raw weights (valid)", "moving average (valid)"]
    let series = names.enumerated().map { i, n in
        PlotSeries(name: n, points: (0..<10).map { (Double($0), Double($0 * (i + 1))) }, color: SVGPlot.palette[i])
    }
    let svg = SVGPlot.lineChart(title: "ndcg10", xLabel: "step", series: series, width: 360, height: 240)
    func numbers(_ pattern: String) throws -> [Double] {
        let re = try NSRegularExpression(pattern: pattern)
        return re.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).compactMap {
            Range($0.range(at: 1), in: svg).flatMap { Double(svg[$0]) }
        }
    }
    let axisTop = try #require(try numbers(#"<line x1="56.0" x2="56.0" y1="([0-9.]+)""#).first)
    let legendY = try numbers(#"<text x="[0-9.]+" y="([0-9.]+)" class="lg">"#)
    #expect(legendY.count == 5)
    #expect(legendY.allSatisfy { $0 < axisTop - 6 }, "legend at \(legendY), plot from \(axisTop)")
    #expect(Set(legendY).count > 1, "five long names need more than one row at 360 px")
    let layout = SVGPlot.legendLayout(names, left: 56, width: 292)
    #expect(layout.allSatisfy { $0.x >= 56 && $0.x < 56 + 292 })

    // 20 metric columns: cut into tables of at most 9 metrics beside stage and run.
    var values: [String: Double] = [:]
    for k in [1, 5, 10, 20] { values["hr@\(k)"] = 0.1; values["ndcg@\(k)"] = 0.05 }
    for i in 0..<12 { values["extra_measure_\(i)"] = Double(i) }
    let run = ReportRun(name: "q-sft", url: URL(fileURLWithPath: "/tmp/q-sft"), stage: "sft",
                        eval: values.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) })
    let html = ReportHTML.comparisonSection([run])
    let tables = html.components(separatedBy: "<table>").dropFirst()
    #expect(tables.count == 3)
    #expect(tables.allSatisfy { $0.components(separatedBy: "<th").count - 1 <= 2 + ReportHTML.columnsPerTable })
    #expect(tables.first?.contains("hr@10") == true && tables.first?.contains("extra_measure") == false)
}
