// What `align report` shows, gathered from disk: the stage runs (a run directory and the runs it descends
// from through `run.json` "parent" links, or an explicit list), each run's metrics.jsonl and eval.json, and
// the SID build report of the dataset (sid/report.json, plus per-code usage counted from a sid_map.json).
// Reading is tolerant: a missing or unreadable optional file becomes a note shown in the report, never a
// crash; a path that is not a run directory at all is an error. Rendering is ReportHTML's job.
import Foundation

/// One stage run as the report sees it.
public struct ReportRun {
    /// Directory name ("sft-small").
    public var name: String
    /// The run directory.
    public var url: URL
    /// run.json "stage" (sft, dpo, grpo, …), else "run".
    public var stage: String
    /// run.json when present.
    public var info: RunInfo?
    /// metrics.jsonl lines, typed (empty when absent).
    public var metrics: [MetricLine]
    /// eval.json flattened to numbers ("test.hr@10" → 0.071), in file order.
    public var eval: [(key: String, value: Double)]
    /// eval.json text fields (protocol, split, …).
    public var evalText: [(key: String, value: String)]
    /// Problems met while reading (shown in the report).
    public var notes: [String]

    /// A run as read (or built for a report without files).
    public init(name: String, url: URL, stage: String, info: RunInfo? = nil, metrics: [MetricLine] = [],
                eval: [(key: String, value: Double)] = [], evalText: [(key: String, value: String)] = [], notes: [String] = []) {
        self.name = name; self.url = url; self.stage = stage; self.info = info; self.metrics = metrics
        self.eval = eval; self.evalText = evalText; self.notes = notes
    }
}

/// Everything a report needs.
public struct ReportData {
    /// Stage runs, oldest ancestor first.
    public var runs: [ReportRun]
    /// The dataset directory used for the SID section, when found.
    public var dataDir: URL?
    /// The dataset's sid/report.json, when found.
    public var sidReport: SIDReport?
    /// counts[level][code] = items whose SID has `code` at `level`, when a SID map was found.
    public var sidCounts: [[Int]]?
    /// Where the SID data came from, and problems.
    public var sidNotes: [String]

    /// Gathers a report for `run`. `stages` (explicit run directories) replaces the parent-link discovery;
    /// `data` overrides the dataset found from the runs' command lines or config.
    public static func gather(run: URL, stages: [URL]? = nil, data: URL? = nil) throws -> ReportData {
        let dirs = try stages ?? discoverChain(run)
        var runs: [ReportRun] = []
        for d in dirs { runs.append(try readRun(d)) }
        if stages == nil, var oldest = runs.first, let parent = oldest.info?.parent,
           resolveRunDir(parent, from: oldest.url) == nil {
            // The chain ends here because the link is broken, not because this is the first stage: say so.
            oldest.notes.append("parent \(parent) (run.json) is not a run directory; earlier stages are not shown")
            runs[0] = oldest
        }
        var notes: [String] = []
        let dataDir = data ?? runs.lazy.compactMap(dataDirectory).first
        var report: SIDReport? = nil
        var counts: [[Int]]? = nil
        if let dataDir {
            let rp = dataDir.appendingPathComponent("sid/report.json")
            if FileManager.default.fileExists(atPath: rp.path) {
                do { report = try JSONDecoder().decode(SIDReport.self, from: Data(contentsOf: rp)) } catch {
                    notes.append("\(rp.path): unreadable SID report (\(error))")
                }
            } else { notes.append("no SID report at \(rp.path)") }
        } else { notes.append("dataset not found (pass --data DIR)") }
        // Usage counts from the model's own SID map, else the dataset's.
        var mapCandidates: [URL] = []
        for r in runs.reversed() { for sub in ["best", "last", ""] { mapCandidates.append(r.url.appendingPathComponent(sub).appendingPathComponent("sid_map.json")) } }
        if let dataDir { mapCandidates.append(dataDir.appendingPathComponent("sid/sid_map.json")) }
        if let mp = mapCandidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) {
            do {
                let map = try SIDMap.read(mp)
                counts = map.codebookSizes.enumerated().map { level, size in
                    var c = [Int](repeating: 0, count: size)
                    for row in map.codesByRow { c[row[level]] += 1 }
                    return c
                }
                notes.append("code usage from \(mp.path)")
            } catch { notes.append("\(mp.path): \(error)") }
        }
        return ReportData(runs: runs, dataDir: dataDir, sidReport: report, sidCounts: counts, sidNotes: notes)
    }

    /// `run` and its ancestors through run.json "parent" (a run directory or a checkpoint inside one),
    /// oldest first. A missing directory is an error; a broken parent link stops the chain (`gather` notes
    /// it on the oldest run; an unreadable run.json is noted by `readRun`).
    public static func discoverChain(_ run: URL) throws -> [URL] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: run.path, isDirectory: &isDir), isDir.boolValue else {
            throw AlignError.io(path: run.path, message: "no such run directory")
        }
        var chain = [run.standardizedFileURL]
        var cur = run.standardizedFileURL
        while chain.count < 16, let info = try? readRunInfo(cur), let parent = info.parent,
              let p = resolveRunDir(parent, from: cur), !chain.contains(p) {
            chain.append(p); cur = p
        }
        return chain.reversed()
    }

    /// A parent reference → the run directory: as given, relative to the cwd or to the child's parent
    /// folder; a checkpoint folder (best/, last/, step-N/) maps to the run containing it.
    static func resolveRunDir(_ ref: String, from child: URL) -> URL? {
        let fm = FileManager.default
        let tries = [URL(fileURLWithPath: ref), child.deletingLastPathComponent().appendingPathComponent(ref),
                     child.deletingLastPathComponent().appendingPathComponent((ref as NSString).lastPathComponent)]
        for t in tries {
            let u = t.standardizedFileURL
            if fm.fileExists(atPath: u.appendingPathComponent("run.json").path) { return u }
            let up = u.deletingLastPathComponent()
            if fm.fileExists(atPath: u.path), fm.fileExists(atPath: up.appendingPathComponent("run.json").path) { return up }
        }
        return nil
    }

    static func readRunInfo(_ dir: URL) throws -> RunInfo {
        let url = dir.appendingPathComponent("run.json")
        do { return try JSONDecoder().decode(RunInfo.self, from: Data(contentsOf: url)) } catch {
            throw AlignError.format(path: url.path, line: nil, message: "not an align run.json: \(error)")
        }
    }

    /// Reads one run directory; optional files that are missing or malformed become notes.
    public static func readRun(_ dir: URL) throws -> ReportRun {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw AlignError.io(path: dir.path, message: "no such run directory")
        }
        var notes: [String] = []
        var info: RunInfo? = nil
        let runJSON = dir.appendingPathComponent("run.json")
        if fm.fileExists(atPath: runJSON.path) {
            do { info = try readRunInfo(dir) } catch { notes.append("\(error)") }
        }
        var metrics: [MetricLine] = []
        let ml = dir.appendingPathComponent("metrics.jsonl")
        if fm.fileExists(atPath: ml.path) {
            do {
                let read = try MetricsLog.records(ml)
                metrics = read.lines
                if let first = read.unread.first {
                    notes.append("\(ml.path): \(read.unread.count) line\(read.unread.count == 1 ? "" : "s") not shown (\(first))")
                }
            } catch { notes.append("\(error)") }
        } else { notes.append("no metrics.jsonl") }
        var eval: [(String, Double)] = [], evalText: [(String, String)] = []
        let ev = dir.appendingPathComponent("eval.json")
        if fm.fileExists(atPath: ev.path) {
            do {
                let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: ev))
                flatten(obj, prefix: "", numbers: &eval, texts: &evalText)
            } catch { notes.append("\(ev.path): not JSON (\(error.localizedDescription))") }
        } else if let summary = try readSummary(dir, notes: &notes) {
            eval = summary
        } else { notes.append("no eval.json (run `align eval --model \(dir.path)`)") }
        guard info != nil || !metrics.isEmpty || !eval.isEmpty else {
            throw AlignError.invalidArgument("\(dir.path) is not a run directory (no run.json, metrics.jsonl or eval.json)")
        }
        return ReportRun(name: dir.lastPathComponent, url: dir, stage: info?.stage ?? "run", info: info,
                         metrics: metrics, eval: eval, evalText: evalText, notes: notes)
    }

    /// The aligned model's scores from an alignment run's summary.json (`align dpo`/`align grpo`), named as
    /// eval.json names them: test_hr10 → hr@10, valid_ndcg10 → valid.ndcg@10. Nil when there is none.
    static func readSummary(_ dir: URL, notes: inout [String]) throws -> [(String, Double)]? {
        let url = dir.appendingPathComponent("summary.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any],
              let aligned = obj["aligned"] as? [String: Any] else {
            notes.append("\(url.path): not an alignment summary (no \"aligned\" scores)")
            return nil
        }
        var out: [(String, Double)] = []
        for key in aligned.keys.sorted() {
            guard let v = (aligned[key] as? NSNumber)?.doubleValue else { continue }
            var name = key
            for (p, q) in [("test_", ""), ("valid_", "valid.")] where key.hasPrefix(p) { name = q + String(key.dropFirst(p.count)) }
            for m in ["hr", "ndcg"] where name.hasSuffix(m + "10") { name = String(name.dropLast(m.count + 2)) + m + "@10" }
            out.append((name, v))
        }
        notes.append("scores from summary.json (eval.json absent)")
        return out
    }

    /// Flattens JSON to dotted keys. Arrays of numbers next to a "ks" array of the same length become
    /// "name@k" (RankingMetrics' {ks, hr, ndcg}); other arrays of numbers are indexed "name[i]".
    static func flatten(_ obj: Any, prefix: String, numbers: inout [(String, Double)], texts: inout [(String, String)]) {
        func join(_ k: String) -> String { prefix.isEmpty ? k : prefix + "." + k }
        guard let dict = obj as? [String: Any] else {
            if let n = obj as? NSNumber, !isBool(n) { numbers.append((prefix, n.doubleValue)) }
            return
        }
        let ks = (dict["ks"] as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue }
        for key in dict.keys.sorted() where key != "ks" {
            let v = dict[key]!
            if let n = v as? NSNumber {
                if isBool(n) { texts.append((join(key), n.boolValue ? "true" : "false")) }
                else { numbers.append((join(key), n.doubleValue)) }
            } else if let s = v as? String {
                texts.append((join(key), s))
            } else if let arr = v as? [Any], arr.allSatisfy({ $0 is NSNumber }) {
                let vals = arr.map { ($0 as! NSNumber).doubleValue }
                if let ks, ks.count == vals.count {
                    for (k, x) in zip(ks, vals) { numbers.append((join("\(key)@\(k)"), x)) }
                } else if vals.count <= 8 {
                    for (i, x) in vals.enumerated() { numbers.append((join("\(key)[\(i)]"), x)) }
                }
            } else if v is [String: Any] {
                flatten(v, prefix: join(key), numbers: &numbers, texts: &texts)
            }
        }
    }

    /// Whether a JSONSerialization number was a JSON true/false.
    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    /// The dataset a run trained on: "--data D" in its command line, else a `data:` line in config.yaml.
    static func dataDirectory(_ run: ReportRun) -> URL? {
        let fm = FileManager.default
        var refs: [String] = []
        if let cl = run.info?.commandLine, let i = cl.firstIndex(of: "--data"), i + 1 < cl.count { refs.append(cl[i + 1]) }
        if let cl = run.info?.commandLine { refs += cl.filter { $0.hasPrefix("--data=") }.map { String($0.dropFirst(7)) } }
        if let cfg = try? String(contentsOf: run.url.appendingPathComponent("config.yaml"), encoding: .utf8) {
            for line in cfg.split(separator: "\n") {
                let t = line.trimmingCharacters(in: .whitespaces)
                for key in ["data:", "data_dir:", "dataset:"] where t.hasPrefix(key) {
                    refs.append(t.dropFirst(key.count).trimmingCharacters(in: CharacterSet(charactersIn: " \"'")))
                }
            }
        }
        for r in refs where !r.isEmpty {
            for base in [URL(fileURLWithPath: r), run.url.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(r)]
            where fm.fileExists(atPath: base.appendingPathComponent("items.jsonl").path) { return base.standardizedFileURL }
        }
        return nil
    }
}
