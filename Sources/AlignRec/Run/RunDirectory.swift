// A run directory (`runs/NAME`): how a stage's output was made (resolved config, git commit, seed, command
// line) and what it measured (`metrics.jsonl`, one JSON object per line, appended and flushed as it goes).
// Checkpoints inside it are written by the stages themselves (atomically).
import Foundation

/// Provenance of a run, saved as `run.json` (versioned).
public struct RunInfo: Codable, Sendable {
    public var format = "align-run"
    public var version = 1
    public var stage: String
    public var seed: UInt64
    public var gitCommit: String?
    public var commandLine: [String]
    public var started: String
    public var parent: String?
    /// Precision of the run's matrix products (fp32 or bf16; absent in runs made before it was recorded).
    public var precision: Precision?

    enum CodingKeys: String, CodingKey {
        case format, version, stage, seed, gitCommit = "git_commit", commandLine = "command_line", started, parent, precision
    }
}

/// Creates and owns a run directory.
public final class RunDirectory {
    public let url: URL
    public let metrics: MetricsLog

    /// Opens (creating if needed) `url`; writes `run.json` and the resolved config (`config.yaml`) atomically.
    public init(url: URL, stage: String, seed: UInt64, resolvedConfig: String?, parent: String? = nil, append: Bool = false,
                precision: Precision? = nil) throws {
        self.url = url
        try AtomicFile.createDirectory(url)
        let info = RunInfo(stage: stage, seed: seed, gitCommit: RunDirectory.gitCommit(),
                           commandLine: CommandLine.arguments, started: ISO8601DateFormatter().string(from: Date()), parent: parent,
                           precision: precision)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(info), to: url.appendingPathComponent("run.json"))
        if let cfg = resolvedConfig { try AtomicFile.write(cfg, to: url.appendingPathComponent("config.yaml")) }
        metrics = try MetricsLog(url: url.appendingPathComponent("metrics.jsonl"), append: append)
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
    let handle: FileHandle
    public let url: URL

    public init(url: URL, append: Bool) throws {
        self.url = url
        let fm = FileManager.default
        if !append || !fm.fileExists(atPath: url.path) {
            guard fm.createFile(atPath: url.path, contents: nil) else {
                throw AlignError.io(path: url.path, message: "cannot create metrics log")
            }
        }
        do { handle = try FileHandle(forWritingTo: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot open metrics log: \(error.localizedDescription)")
        }
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    /// Logs `fields` (numbers, strings, bools) plus the stage and a timestamp.
    public func log(_ stage: String, _ fields: [String: Any]) {
        var obj = fields
        obj["stage"] = stage
        obj["time"] = Date().timeIntervalSince1970
        // Non-finite numbers are not JSON: write them as strings so the line stays parseable.
        for (k, v) in obj {
            if let d = v as? Double, !d.isFinite { obj[k] = "\(d)" }
            if let f = v as? Float, !f.isFinite { obj[k] = "\(f)" }
        }
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) } catch {
            // Only a caller passing a non-JSON value gets here: say so instead of dropping the line unseen.
            FileHandle.standardError.write(Data("warning: \(url.path): metrics line of stage \(stage) (keys \(obj.keys.sorted().joined(separator: ", "))) is not JSON-serializable and was not written\n".utf8))
            return
        }
        handle.write(data + Data("\n".utf8))
    }

    /// Reads every line of a metrics log (for reports); a malformed line is an error naming file:line.
    public static func read(_ url: URL) throws -> [[String: Any]] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        var out: [[String: Any]] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw AlignError.format(path: url.path, line: i + 1, message: "not a JSON object")
            }
            out.append(obj)
        }
        return out
    }
}

extension RunDirectory {
    private struct ConfigHead: Decodable { var format: String }

    /// The protocol a run was trained with, from its resolved `config.yaml` — an SFT (`align-config`), DPO
    /// (`align-dpo-config`) or GRPO (`align-grpo-config`) config; nil when the directory has no config.yaml
    /// (e.g. a bare checkpoint directory).
    public static func configuredProtocol(_ runDir: URL) throws -> String? {
        let url = runDir.appendingPathComponent("config.yaml")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let head: ConfigHead = try loadYAML(url)
        switch head.format {
        case "align-config": return try TrainConfig.load(url).protocolName
        case "align-dpo-config": return try DPOConfig.load(url).protocolName
        case "align-grpo-config": return try GRPOConfig.load(url).protocolName
        default:
            throw AlignError.format(path: url.path, line: nil, message: "format '\(head.format)' is not an align-config, align-dpo-config or align-grpo-config; pass --protocol")
        }
    }
}
