// A run directory (`runs/NAME`): how a stage's output was made (resolved config, git commit, seed, every
// command line that wrote into it) and what it measured (`metrics.jsonl`, one JSON object per line, appended and
// flushed as it goes). Checkpoints inside it are written by the stages themselves (atomically).
//
// A stage never writes into a directory that already holds a run unless told to: `--resume` continues it
// (metrics.jsonl is cut back to the resumed checkpoint's step, run.json gains the new invocation) and
// `--overwrite` replaces it. `prepare` runs first, before anything is loaded: it repairs checkpoint writes a kill
// interrupted and removes leftovers of dead processes (AtomicFile.recover), then applies that rule. The
// directory itself is created only once the stage has checked everything it can (`RunDirectory.init`), so a
// start that fails leaves nothing behind.
//
// In a data-parallel job of several ranks (Cluster.world) rank 0 alone touches the directory: it runs `prepare`
// while the others wait for it (so a resume reads repaired checkpoints), writes run.json, config.yaml and
// metrics.jsonl, and is the only rank whose `writes` is true (the stages save checkpoints and reports only then).
import Foundation
import Yams

/// One command that wrote into a run directory.
public struct RunInvocation: Codable, Sendable {
    public var commandLine: [String]
    public var started: String
    public var gitCommit: String?
    /// The checkpoint step it resumed from (nil: it started the run).
    public var resumedAtStep: Int?

    enum CodingKeys: String, CodingKey {
        case commandLine = "command_line", started, gitCommit = "git_commit", resumedAtStep = "resumed_at_step"
    }
}

/// Provenance of a run, saved as `run.json` (versioned). The top-level command line, start and commit are the
/// invocation that started the run; `invocations` lists every one (runs of earlier align versions lack it).
public struct RunInfo: Codable, Sendable {
    public var format = "align-run"
    public var version = 1
    public var stage: String
    public var seed: UInt64
    public var gitCommit: String?
    public var commandLine: [String]
    public var started: String
    public var parent: String?
    public var invocations: [RunInvocation]?
    /// Precision of the run's matrix products (fp32 or bf16; absent in runs made before it was recorded).
    public var precision: Precision?

    enum CodingKeys: String, CodingKey {
        case format, version, stage, seed, gitCommit = "git_commit", commandLine = "command_line", started, parent, invocations
        case precision
    }
}

/// How a stage treats its output directory.
public enum RunMode: Sendable, Equatable {
    /// A new run: the directory must not hold one.
    case fresh
    /// Continue the run in the directory from its checkpoint.
    case resume
    /// Replace the run in the directory.
    case overwrite
}

/// Creates and owns a run directory.
public final class RunDirectory {
    public let url: URL
    public let metrics: MetricsLog

    /// What a stage, `align eval` and `align report` write into a run directory (removed by `--overwrite`).
    public static let runFiles = ["run.json", "config.yaml", "metrics.jsonl", "summary.json", "eval.json", "report.html", "best", "last"]

    /// The entries of `url` that make it a run (nil when the directory does not exist or holds none).
    public static func existingRun(_ url: URL) -> [String]? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: url.path) else { return nil }
        let found = runFiles.filter { names.contains($0) }
        return found.isEmpty ? nil : found
    }

    /// Runs before a stage loads anything: repairs interrupted checkpoint writes in `url` and removes what
    /// killed processes left there, then refuses a fresh start in a directory that holds a run (naming
    /// `--resume`/`--overwrite`), and a resume of a directory that holds none.
    /// Across ranks, rank 0 does this and the others wait for it.
    public static func prepare(_ url: URL, mode: RunMode, canResume: Bool = true) throws {
        if Cluster.world.isRoot { try prepareHere(url, mode: mode, canResume: canResume) }
        try Cluster.world.barrier()
    }

    static func prepareHere(_ url: URL, mode: RunMode, canResume: Bool) throws {
        try AtomicFile.recoverAll(in: url)
        let found = existingRun(url)
        switch mode {
        case .fresh:
            if let found {
                let how = canResume ? "pass --resume to continue it or --overwrite to replace it" : "pass --overwrite to replace it or choose another --out"
                throw AlignError.io(path: url.path, message: "already holds a run (\(found.joined(separator: ", "))); \(how)")
            }
        case .resume:
            guard found != nil else { throw AlignError.io(path: url.path, message: "no run to resume here; drop --resume to start one") }
        case .overwrite:
            break
        }
    }

    /// Whether this process writes the run's files: always, except on the ranks other than 0 of a data-parallel job.
    public let writes: Bool

    /// Opens `url` for a stage that has passed its checks: `.fresh` and `.overwrite` start a new run (removing an
    /// old one's files), `.resume` keeps the run, cuts metrics.jsonl back to `resumeStep` and appends this
    /// invocation to run.json. Writes run.json and the resolved config (`config.yaml`) atomically.
    public init(url: URL, stage: String, seed: UInt64, resolvedConfig: String?, parent: String? = nil,
                mode: RunMode = .fresh, resumeStep: Int? = nil, precision: Precision? = nil) throws {
        self.url = url
        writes = Cluster.world.isRoot
        guard writes else { metrics = MetricsLog(discardingFor: url.appendingPathComponent("metrics.jsonl")); return }
        try AtomicFile.createDirectory(url)
        let fm = FileManager.default
        if mode == .overwrite {
            for name in Self.runFiles where fm.fileExists(atPath: url.appendingPathComponent(name).path) {
                try AtomicFile.fileSystem.remove(url.appendingPathComponent(name))
            }
        }
        let now = RunInvocation(commandLine: CommandLine.arguments, started: ISO8601DateFormatter().string(from: Date()),
                                gitCommit: RunDirectory.gitCommit(), resumedAtStep: mode == .resume ? resumeStep : nil)
        let runJSON = url.appendingPathComponent("run.json")
        var info = RunInfo(stage: stage, seed: seed, gitCommit: now.gitCommit, commandLine: now.commandLine, started: now.started,
                           parent: parent, invocations: [now], precision: precision)
        if mode == .resume, let data = fm.contents(atPath: runJSON.path) {
            var old: RunInfo
            do { old = try JSONDecoder().decode(RunInfo.self, from: data) } catch {
                throw AlignError.format(path: runJSON.path, line: nil, message: "not a readable run record (\(error)); restore it or start over with --overwrite")
            }
            old.invocations = (old.invocations ?? [RunInvocation(commandLine: old.commandLine, started: old.started,
                                                                 gitCommit: old.gitCommit, resumedAtStep: nil)]) + [now]
            old.precision = precision ?? old.precision
            info = old
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(info), to: runJSON)
        if let cfg = resolvedConfig { try AtomicFile.write(cfg, to: url.appendingPathComponent("config.yaml")) }
        let metricsURL = url.appendingPathComponent("metrics.jsonl")
        if mode == .resume, let step = resumeStep { try MetricsLog.truncate(metricsURL, afterStep: step) }
        metrics = try MetricsLog(url: metricsURL, append: mode == .resume)
    }

    /// The current git commit of the working directory, when it is a git checkout.
    public static func gitCommit() -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "rev-parse", "HEAD"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        let s = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return s.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Appends one JSON object per line; each line is written with a single write(2) and flushed.
public final class MetricsLog {
    /// nil: lines are dropped (the ranks of a data-parallel job other than 0).
    let handle: FileHandle?
    public let url: URL

    /// A log that writes nothing.
    init(discardingFor url: URL) { self.url = url; handle = nil }

    public init(url: URL, append: Bool) throws {
        self.url = url
        let fm = FileManager.default
        if !append || !fm.fileExists(atPath: url.path) {
            guard fm.createFile(atPath: url.path, contents: nil) else {
                throw AlignError.io(path: url.path, message: "cannot create metrics log")
            }
        }
        let h: FileHandle
        do { h = try FileHandle(forWritingTo: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot open metrics log: \(error.localizedDescription)")
        }
        h.seekToEndOfFile()
        handle = h
    }

    deinit { try? handle?.close() }

    /// Cuts a metrics log back to what a checkpoint at `step` had seen: lines whose "step" is larger go, and so
    /// does a last line a kill left unfinished. Lines without a step stay. Rewritten atomically.
    public static func truncate(_ url: URL, afterStep step: Int) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else { return }
        let text = String(decoding: data, as: UTF8.self)
        var kept: [Substring] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, line) in lines.enumerated() where !line.isEmpty {
            let complete = i < lines.count - 1   // the last piece has no newline after it
            guard complete, let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { continue }
            if let s = obj["step"] as? Int, s > step { continue }
            kept.append(line)
        }
        try AtomicFile.write(kept.map { $0 + "\n" }.joined(), to: url)
    }

    /// Logs a line of a kind whose stage names it (SFT lines).
    public func log<R: StageMetricRecord>(_ record: R) { log(record, stage: R.stage) }

    /// Logs `record`'s fields plus the stage, the record's event and a timestamp, keys sorted. Non-finite numbers
    /// are not JSON: they are written as the strings "nan", "inf", "-inf" so the line stays parseable.
    public func log<R: MetricRecord>(_ record: R, stage: String) {
        guard let handle else { return }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data: Data
        do { data = try e.encode(StampedRecord(record: record, stage: stage, time: Date().timeIntervalSince1970)) } catch {
            // Only a record that cannot encode gets here: say so instead of dropping the line unseen.
            FileHandle.standardError.write(Data("warning: \(url.path): metrics line of stage \(stage) (\(R.self)) was not written: \(error)\n".utf8))
            return
        }
        handle.write(data + Data("\n".utf8))
    }

    /// The non-empty lines of a metrics log with their 1-based numbers.
    static func lines(_ url: URL) throws -> [(number: Int, data: Data)] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .filter { !$0.element.isEmpty }.map { ($0.offset + 1, Data($0.element.utf8)) }
    }

    /// Reads every line of a metrics log as a JSON object; a malformed line is an error naming file:line. The
    /// report reads the lines typed (`records`, Serve/MetricEntry.swift).
    public static func read(_ url: URL) throws -> [[String: Any]] {
        try lines(url).map { n, line in
            guard let obj = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else {
                throw AlignError.format(path: url.path, line: n, message: "not a JSON object")
            }
            return obj
        }
    }
}
